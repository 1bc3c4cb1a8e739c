"""Stores for sessions, single-use claims and counters; :func:`open_store` picks one by URL.

``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (the embedded
default) and ``redis://host:port/db`` (several processes or machines).  See
``docs/sessions.md``.  Call records and the call queue: :func:`open_call_store`
on the same URL (``docs/calls.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from voiceapp.errors import ConfigError
from voiceapp.stores.base import Store


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> Store:
    """Open the store named by ``url`` (the ``STORE_URL`` setting).

    ``clock`` (seconds since the epoch) decides session expiry and claim times;
    tests pass a controlled one.  Raises :class:`~voiceapp.errors.ConfigError`
    (field ``STORE_URL``) for a URL no store understands.
    """
    if not isinstance(url, str) or not url:
        raise ConfigError("STORE_URL is empty", code="config-store-url", field="STORE_URL")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from voiceapp.stores.sqlite import SQLiteStore

        return SQLiteStore.from_url(url, clock=clock)
    if scheme in ("redis", "rediss", "unix"):
        from voiceapp.stores.redis import RedisStore

        return RedisStore.from_url(url, clock=clock)
    raise ConfigError(
        f"STORE_URL {url!r} is not a sqlite:/// or redis:// URL",
        code="config-store-url",
        field="STORE_URL",
    )
