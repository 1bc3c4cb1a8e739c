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

__all__ = [
    "ERROR_KINDS",
    "HIDDEN",
    "Trace",
    "TraceEntry",
    "error_of",
    "redact",
    "redact_text",
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
_NAMES = "|".join(re.escape(n) for n in sorted(SECRET_NAMES, key=len, reverse=True))
#: ``"apikey": "..."`` and ``["apikey", "..."]`` in JSON text
_NAMED_VALUE = re.compile(rf'("(?:{_NAMES})"\s*[:,]\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE)
#: ``?apikey=...`` / ``&token=...`` in a URL
_NAMED_QUERY = re.compile(rf"([?&](?:{_NAMES})=)[^&#\"\s]*", re.IGNORECASE)
#: ``://user:password@``
_PASSWORD = re.compile(r'(://[^/:@"\s]*):[^/@"\s]*@')
#: a path segment or a query value made of token characters (after its ``/`` or ``=``)
_TOKENISH = re.compile(rf"([/=])([A-Za-z0-9_\-.~]{{{TOKEN_LENGTH},}})")
_QUOTED_NAMES: Final = tuple(f'"{name}"' for name in sorted(SECRET_NAMES))
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
_MARK = re.compile(r"[0-9._-]")
#: Trace kinds that are the call's error (the first one is ``GET /v1/calls/<sid>``'s ``error``).
ERROR_KINDS: Final = frozenset({"fetch-error", "document-error", "internal-error"})


def _token(match: re.Match[str]) -> str:
    text = match.group(2)
    if _UPPER.search(text) and _LOWER.search(text) and _MARK.search(text):
        return match.group(1) + HIDDEN
    return match.group(0)


def redact_text(text: str) -> str:
    """``text`` (a URL, a message, or JSON text) with its secrets replaced by ``…``:
    values of secret-named keys and query parameters, token-like path segments and
    query values (``http://h/voice/…``), and a URL's password (``***``)."""
    if "/" in text or "=" in text:
        text = _TOKENISH.sub(_token, text)
        if "?" in text or "&" in text:
            text = _NAMED_QUERY.sub(rf"\1{HIDDEN}", text)
        if "@" in text:
            text = _PASSWORD.sub(r"\1:***@", text)
    lower = text.lower()
    if any(name in lower for name in _QUOTED_NAMES):
        text = _NAMED_VALUE.sub(rf'\1"{HIDDEN}"', text)
    return text


def redact_url(url: str) -> str:
    """``url`` without its secrets (:func:`redact_text`): ``http://h/voice/…``."""
    return redact_text(url)


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def redacted_json(value: Any) -> str:
    """``value`` as compact JSON text, its secrets replaced (:func:`redact_text`)."""
    return redact_text(_ENCODE(value))


def redact(value: Any) -> Any:
    """Plain data with its secrets replaced (:func:`redact_text` on its JSON form)."""
    return json.loads(redacted_json(value))


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
