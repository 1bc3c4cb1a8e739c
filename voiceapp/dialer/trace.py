"""The call trace: what happened on each leg, when, as structured data.

Every part of the dialer (the state machine driver, the simulated network, the
interpreter, callback delivery) appends :class:`TraceEntry` rows to one
:class:`Trace` per call.  A row is ``(ms, leg, kind, detail)``:

* ``ms`` — clock milliseconds since the trace started (the call was dialed);
* ``leg`` — ``"a"`` for the called party of the API call, ``"b1"``, ``"b2"``, ...
  for legs a ``<Dial>`` placed (what a simulated callee does is traced on its leg);
* ``kind`` — a short stable word (``status``, ``say``, ``play``, ``digits-sent``,
  ``digit-heard``, ``fetch``, ``unsupported``, ...; docs/dialer.md lists them);
* ``detail`` — a JSON-able dict.

:meth:`TraceEntry.format` renders one line of the CLI timeline.

What leaves the dialer (the call store, ``GET /v1/calls/<sid>``, logs) goes through
:func:`redact` first: no session token, no ``apikey`` (or other secret-named)
value.  :func:`error_of` says which rows are the call's error (a failed fetch, a bad
document, the loop guard, a bug), with a stable ``code``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

__all__ = [
    "ERROR_KINDS",
    "HIDDEN",
    "Trace",
    "TraceEntry",
    "error_of",
    "redact",
    "redact_url",
    "redacted_json",
]

#: What a secret is replaced with.
HIDDEN: Final = "…"
#: Parameter names whose values are secrets wherever they appear (compared in lower case).
SECRET_NAMES: Final = frozenset(
    {"apikey", "api_key", "api-key", "x-api-key", "secretkey", "secret", "token", "password",
     "authorization", "signature", "auth_token"}
)  # fmt: skip
#: A path segment or query value this long, of token characters with upper and lower
#: case letters and a digit or ``._-`` (signed tokens have them; file names rarely), is
#: taken for a token.
TOKEN_LENGTH: Final = 24
_TOKEN = re.compile(rf"(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9._-])[A-Za-z0-9_\-.=~]{{{TOKEN_LENGTH},}}")
_URL = re.compile(r"https?://[^\s'\"<>]+")
#: Secret names as JSON strings: JSON text holding none of them and no ``/`` (no URL,
#: no path) needs no redaction.
_QUOTED_NAMES: Final = tuple(f'"{name}"' for name in sorted(SECRET_NAMES))
#: Trace kinds that are the call's error (the first one is ``GET /v1/calls/<sid>``'s ``error``).
ERROR_KINDS: Final = frozenset({"fetch-error", "document-error", "internal-error"})


def redact_url(url: str) -> str:
    """``url`` with tokens in its path, secret or token-like query values and a password
    replaced by ``…``: ``http://h/voice/…``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return HIDDEN
    segments = [HIDDEN if _TOKEN.fullmatch(seg) else seg for seg in parts.path.split("/")]
    query = parts.query
    if query:
        pairs = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            hidden = name.lower() in SECRET_NAMES or _TOKEN.fullmatch(value)
            pairs.append(f"{quote(name, safe='')}={HIDDEN if hidden else quote(value, safe='')}")
        query = "&".join(pairs)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc, path="/".join(segments), query=query))


def _redact_match(match: re.Match[str]) -> str:
    """A URL found in a message, without the punctuation that ends the sentence."""
    url = match.group(0)
    tail = len(url) - len(url.rstrip(":,;.)"))
    return redact_url(url[: len(url) - tail]) + url[len(url) - tail :]


def redact(value: Any, name: str = "") -> Any:
    """Plain data with secrets hidden: values of secret-named keys, tokens in URLs
    (also inside messages)."""
    if name.lower() in SECRET_NAMES and value is not None:
        return HIDDEN
    if isinstance(value, str):
        if "://" in value:
            return _URL.sub(_redact_match, value)
        return redact_url(value) if value.startswith("/") else value  # a relative URL
    if isinstance(value, Mapping):
        return {key: redact(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if len(value) == 2 and isinstance(value[0], str):  # a (name, value) pair
            return [value[0], redact(value[1], value[0])]
        return [redact(item) for item in value]
    return value


def redacted_json(value: Any) -> str:
    """``value`` as compact JSON text, redacted (:func:`redact`); most trace rows hold
    nothing to hide and are dumped once."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    if "/" not in text:
        lower = text.lower()
        if not any(name in lower for name in _QUOTED_NAMES):
            return text
    return json.dumps(redact(value), separators=(",", ":"), ensure_ascii=False, default=str)


def error_of(leg: str, kind: str, detail: Mapping[str, Any]) -> dict[str, Any] | None:
    """The call error a trace row stands for (``code``, ``message``, ``leg``, and
    ``status``/``url``/``line``/``column``/``path`` when known), else None.  Redacted."""
    if kind not in ERROR_KINDS:
        return None
    error: dict[str, Any]
    if kind == "fetch-error":
        error = {"code": detail.get("code") or "fetch-failed", "message": detail.get("error")}
        for key in ("status", "url"):
            if detail.get(key) is not None:
                error[key] = detail[key]
    elif kind == "document-error":
        error = {"code": detail.get("code") or "document", "message": detail.get("message")}
        for key in ("line", "column", "path", "url"):
            if detail.get(key) not in (None, ""):
                error[key] = detail[key]
    else:
        error = {"code": "internal-error", "message": detail.get("error")}
    error["leg"] = leg
    redacted: dict[str, Any] = redact(error)
    return redacted


@dataclass(frozen=True, slots=True)
class TraceEntry:
    ms: int
    leg: str
    kind: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"ms": self.ms, "leg": self.leg, "kind": self.kind, "detail": self.detail}

    def format(self) -> str:
        """``  4.350s  b1      digits-sent  {"digits": "wwww101"}``."""
        detail = json.dumps(self.detail, ensure_ascii=False, sort_keys=True, default=str)
        return f"{self.ms / 1000:8.3f}s  {self.leg:<8} {self.kind:<14} {detail}"


@dataclass
class Trace:
    """An append-only list of entries, timed by ``now`` (seconds)."""

    now: Callable[[], float]
    entries: list[TraceEntry] = field(default_factory=list)
    origin: float = 0.0
    listeners: list[Callable[[TraceEntry], None]] = field(default_factory=list)

    def add(self, leg: str, kind: str, **detail: Any) -> TraceEntry:
        entry = TraceEntry(round((self.now() - self.origin) * 1000), leg, kind, detail)
        self.entries.append(entry)
        for listener in self.listeners:
            listener(entry)
        return entry

    def __iter__(self) -> Iterator[TraceEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def of(self, kind: str, leg: str | None = None) -> list[TraceEntry]:
        """The entries of one ``kind`` (and one ``leg`` when given), in order."""
        return [e for e in self.entries if e.kind == kind and (leg is None or e.leg == leg)]

    def to_list(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.entries]

    def format(self) -> str:
        return "\n".join(e.format() for e in self.entries)
