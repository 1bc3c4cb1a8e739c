"""The call trace: what happened on each leg, when, as structured data.

Every part of the dialer (the state machine driver, the simulated network, the
interpreter, callback delivery) appends :class:`TraceEntry` rows to one
:class:`Trace` per call.  A row is ``(ms, leg, kind, detail)``:

* ``ms`` — clock milliseconds since the trace started (the call was dialed);
* ``leg`` — ``"a"`` for the called party of the API call, ``"b1"``, ``"b2"``, ...
  for legs a ``<Dial>`` placed (what a simulated callee does is traced on its leg);
* ``kind`` — a short stable word (``status``, ``say``, ``play``, ``digits-sent``,
  ``digit-heard``, ``fetch``, ``unsupported``, ...; docs/dialer.md lists them);
* ``detail`` — a JSON-able dict, passed through the trace's ``redact`` (by default
  :data:`voiceapp.redact.DEFAULT`: no URL token, userinfo or ``apikey``; the dialer
  gives each call a redactor that also knows its secret variables) before it is kept.

:meth:`TraceEntry.format` renders one line of the CLI timeline.

Rows are redacted when they are added, so what leaves the dialer (the call store,
``GET /v1/calls/<sid>``, logs) holds no secret.  :func:`error_of` says which rows
are the call's error (a failed fetch, a bad document, the loop guard, a bug), with a
stable ``code``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from voiceapp.redact import DEFAULT

#: Trace kinds that are the call's error (the first one is ``GET /v1/calls/<sid>``'s ``error``).
ERROR_KINDS: Final = frozenset({"fetch-error", "document-error", "internal-error", "carrier-error"})

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def entry_json(value: Any) -> str:
    """A trace row as compact JSON text (rows are redacted when they are added)."""
    return _ENCODE(value)


def error_of(leg: str, kind: str, detail: Mapping[str, Any]) -> dict[str, Any] | None:
    """The call error a trace row stands for (``code``, ``message``, ``leg``, and
    ``status``/``url``/``line``/``column``/``path`` when known), else None."""
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
    elif kind == "carrier-error":
        error = {"code": detail.get("code") or "carrier-failed", "message": detail.get("error")}
        if detail.get("status") is not None:
            error["status"] = detail["status"]
    else:
        error = {"code": "internal-error", "message": detail.get("error")}
    error["leg"] = leg
    return error


@dataclass(frozen=True, slots=True)
class TraceEntry:
    ms: int
    leg: str
    kind: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"ms": self.ms, "leg": self.leg, "kind": self.kind, "detail": self.detail}

    def format(self) -> str:
        """``  4.350s  b1      digits-sent  {"digits": "wwww101"}`` (a document's text,
        ``body``, is left out of the line: the console and the API show it)."""
        shown = {k: v for k, v in self.detail.items() if k != "body"}
        detail = json.dumps(shown, ensure_ascii=False, sort_keys=True, default=str)
        return f"{self.ms / 1000:8.3f}s  {self.leg:<8} {self.kind:<14} {detail}"


@dataclass
class Trace:
    """An append-only list of entries, timed by ``now`` (seconds)."""

    now: Callable[[], float]
    entries: list[TraceEntry] = field(default_factory=list)
    origin: float = 0.0
    listeners: list[Callable[[TraceEntry], None]] = field(default_factory=list)
    redact: Callable[[dict[str, Any]], dict[str, Any]] = DEFAULT

    def add(self, leg: str, kind: str, **detail: Any) -> TraceEntry:
        entry = TraceEntry(round((self.now() - self.origin) * 1000), leg, kind, self.redact(detail))
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
