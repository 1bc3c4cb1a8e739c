"""voiceapp's log lines: text or JSON (setting ``LOG_FORMAT``), the call sid on call lines.

:func:`configure` puts one handler on the ``voiceapp`` logger (stderr, looked up at
each line, so a swapped ``sys.stderr`` is followed) and sets its level
(``LOG_LEVEL``).  Calling it again replaces that handler, never adds a second one.
Records still propagate to the root logger, so a host application's handlers (and
pytest's ``caplog``) see them too.

A line about a call carries the call's sid as the record attribute ``call_sid``:
log through :func:`call_logger` (a :class:`logging.LoggerAdapter`).  Formats:

* ``text``: ``2026-01-01T12:00:00.123Z WARNING voiceapp.dialer [CA0123…] message``
  (the sid in brackets only on call lines);
* ``json``: one object per line, keys ``time`` (RFC 3339 UTC, milliseconds),
  ``level``, ``logger``, ``message``, ``call_sid`` (call lines), ``worker`` (dialer
  lines that have one) and ``exception`` (the formatted traceback, when there is one).

No secret is ever logged: store URLs are logged without their password and API
keys, secrets and tokens never.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, Final, TextIO

FORMATS: Final = ("text", "json")
#: record attributes carried into a JSON line when present
_EXTRA_KEYS: Final = ("call_sid", "worker")


def _time(record: logging.LogRecord) -> str:
    stamp = datetime.fromtimestamp(record.created, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [call sid] message``, then the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        sid = getattr(record, "call_sid", None)
        where = f" [{sid}]" if sid else ""
        line = f"{_time(record)} {record.levelname} {record.name}{where} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring for its keys)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _EXTRA_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler writing to whatever ``sys.stderr`` is at each line."""

    _voiceapp = True

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        return None


def configure(log_format: str = "text", level: str = "info") -> logging.Handler:
    """Send the ``voiceapp`` loggers' lines to stderr in ``log_format`` at ``level``."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    logger = logging.getLogger("voiceapp")
    for handler in list(logger.handlers):
        if getattr(handler, "_voiceapp", False):
            logger.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    return handler


class _CallAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


def call_logger(logger: logging.Logger, call_sid: str, **extra: Any) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """``logger`` with ``call_sid`` (and ``extra``) on every record it makes."""
    return _CallAdapter(logger, {"call_sid": call_sid, **extra})
