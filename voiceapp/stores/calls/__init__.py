"""Durable call records and the call queue; :func:`open_call_store` picks one by URL.

The same ``STORE_URL`` as sessions: ``sqlite:///path.db`` (tables next to the
session tables, in the same file) or ``redis://host:port/db[?prefix=...]``.
What a call is (records, statuses, writes) is :mod:`voiceapp.calls`.  See ``docs/calls.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from voiceapp.errors import ConfigError
from voiceapp.stores.calls.base import CallStore


def open_call_store(
    url: str,
    *,
    clock: Callable[[], float] = time.time,
    retention: float | None = 7200.0,
    sqlite_synchronous: str = "NORMAL",
) -> CallStore:
    """Open the call store named by ``url`` (the ``STORE_URL`` setting).

    ``retention``: seconds a finished call is kept (``None``: forever).  ``clock``
    (seconds since the epoch) stamps records and decides leases.
    ``sqlite_synchronous``: ``NORMAL`` (default; WAL: a committed write survives a
    killed process, a power cut may lose the last commits) or ``FULL`` (an fsync per
    commit: it survives a power cut too, at a few times the cost per commit).  Raises
    ``ConfigError`` ``config-store-url`` for a URL no store understands.
    """
    if retention is not None and not retention > 0:
        raise ConfigError(
            f"call retention must be a positive number of seconds, got {retention!r}",
            code="config-call-retention",
            field="CALL_RETENTION",
        )
    if not isinstance(url, str) or not url:
        raise ConfigError("STORE_URL is empty", code="config-store-url", field="STORE_URL")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from voiceapp.stores.calls.sqlite import SQLiteCallStore

        return SQLiteCallStore.from_url(
            url, clock=clock, retention=retention, synchronous=sqlite_synchronous
        )
    if scheme in ("redis", "rediss", "unix"):
        from voiceapp.stores.calls.redis import RedisCallStore

        return RedisCallStore.from_url(url, clock=clock, retention=retention)
    raise ConfigError(
        f"STORE_URL {url!r} is not a sqlite:/// or redis:// URL",
        code="config-store-url",
        field="STORE_URL",
    )
