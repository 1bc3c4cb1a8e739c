"""The embedded store: sessions, claims, counters and idempotency records in one SQLite
file (WAL), opened through :class:`~voiceapp.stores.sqlite_file.SQLiteFile` (connections
per thread, the writer queue, durability: see there).  Writes are single statements in
autocommit mode, each in line for the write lock.

A claim is a primary-key insert: ``INSERT ... ON CONFLICT(key) DO UPDATE ... WHERE
the old row has expired``.  Exactly one concurrent inserter of a key gets a row
back; the others read the winner's record.  Expired rows are ignored by every
read and purged now and then by writes.

Durability: ``synchronous = NORMAL`` in WAL mode.  A commit survives the crash or
kill of any process; only a power loss or kernel crash may roll back the last
commits (SQLite syncs the WAL at checkpoints).  That is the durability of the Redis
store under its default persistence, and it keeps an fsync out of every claim.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from voiceapp.errors import StoreError
from voiceapp.stores.base import Claim, IdempotencyRecord, Session, Store
from voiceapp.stores.sqlite_file import SQLiteFile, path_of_url

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    body BLOB NOT NULL,
    claimed_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS claims_expires_at ON claims (expires_at);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS counters_expires_at ON counters (expires_at);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    owner TEXT NOT NULL,
    done INTEGER NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_expires_at ON idempotency (expires_at);
"""

_BEGIN_IDEMPOTENT = """
INSERT INTO idempotency (key, fingerprint, owner, done, status, content_type, body, created_at,
                         expires_at)
VALUES (?, ?, ?, 0, 0, '', x'', ?, ?)
ON CONFLICT (key) DO UPDATE SET
    fingerprint = excluded.fingerprint, owner = excluded.owner, done = 0, status = 0,
    content_type = '', body = x'', created_at = excluded.created_at,
    expires_at = excluded.expires_at
WHERE idempotency.expires_at <= excluded.created_at
RETURNING owner
"""

_CLAIM = """
INSERT INTO claims (key, owner, body, claimed_at, expires_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    owner = excluded.owner, body = excluded.body,
    claimed_at = excluded.claimed_at, expires_at = excluded.expires_at
WHERE claims.expires_at <= excluded.claimed_at
RETURNING owner
"""

_INCR = """
INSERT INTO counters (key, value, expires_at) VALUES (:key, 1, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    value = CASE WHEN counters.expires_at <= :now THEN 1 ELSE counters.value + 1 END,
    expires_at = CASE WHEN counters.expires_at <= :now
                      THEN excluded.expires_at ELSE counters.expires_at END
RETURNING value
"""


class SQLiteStore(Store):
    """Sessions, claims and counters in one SQLite database file."""

    #: seconds (of the store clock) between purges of expired rows
    purge_interval: float = 60.0

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
    ) -> None:
        self.db = SQLiteFile(path, label="SQLite store", busy_timeout=busy_timeout)
        self.path = self.db.path
        self.clock = clock
        self._last_purge = float("-inf")
        self.db.setup(_SCHEMA)

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float] = time.time) -> SQLiteStore:
        """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (three slashes, a path)."""
        return cls(path_of_url(url), clock=clock)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def close(self) -> None:
        """Close this process's connections (other threads reconnect on next use)."""
        self.db.close()

    # -- housekeeping --------------------------------------------------------------------

    def _maybe_purge(self, conn: sqlite3.Connection, now: float) -> None:
        if now - self._last_purge < self.purge_interval:
            return
        self._last_purge = now
        for table in ("sessions", "claims", "counters", "idempotency"):
            conn.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))

    def purge(self) -> None:
        """Delete every expired row now."""
        with self.db.locked("purge") as conn:
            self._last_purge = float("-inf")
            self._maybe_purge(conn, self.clock())

    # -- the Store contract --------------------------------------------------------------

    def put_session(self, session: Session) -> None:
        data = session.to_json()
        with self.db.locked("put_session") as conn:
            now = self.clock()
            conn.execute(
                "INSERT OR REPLACE INTO sessions (id, data, expires_at) VALUES (?, ?, ?)",
                (session.id, data, session.expires_at),
            )
            self._maybe_purge(conn, now)

    def get_session(self, session_id: str) -> Session | None:
        with self.db.errors("get_session") as conn:
            row = conn.execute(
                "SELECT data FROM sessions WHERE id = ? AND expires_at > ?",
                (session_id, self.clock()),
            ).fetchone()
        if row is None:
            return None
        fields: dict[str, Any] = json.loads(row[0])
        return Session(**fields)

    def claim(self, key: str, owner: str, body: bytes, ttl: int) -> tuple[bool, Claim]:
        with self.db.errors("claim") as conn:
            # Bounded: a second round is only needed if the winner's row expired and
            # was purged between our insert and our read.
            for _ in range(3):
                with self.db.writer(conn):
                    now = self.clock()
                    won = conn.execute(_CLAIM, (key, owner, body, now, now + ttl)).fetchall()
                if won:
                    return True, Claim(owner=owner, body=body, claimed_at=now)
                row = conn.execute(
                    "SELECT owner, body, claimed_at FROM claims WHERE key = ? AND expires_at > ?",
                    (key, now),
                ).fetchone()
                if row is not None:
                    return False, Claim(owner=row[0], body=bytes(row[1]), claimed_at=row[2])
        raise StoreError(f"claim of {key!r} did not settle", code="store-claim-unsettled")

    def incr(self, key: str, ttl: int) -> int:
        with self.db.locked("incr") as conn:
            now = self.clock()
            row = conn.execute(_INCR, {"key": key, "expires_at": now + ttl, "now": now}).fetchall()
        return int(row[0][0])

    def begin_idempotent(
        self, key: str, fingerprint: str, owner: str, ttl: float
    ) -> IdempotencyRecord | None:
        with self.db.errors("begin_idempotent") as conn:
            # Bounded, as claim(): another round only if the holder's row expired and
            # was purged between our insert and our read.
            for _ in range(3):
                with self.db.writer(conn):
                    now = self.clock()
                    won = conn.execute(
                        _BEGIN_IDEMPOTENT, (key, fingerprint, owner, now, now + ttl)
                    ).fetchall()
                if won:
                    return None
                row = conn.execute(
                    "SELECT fingerprint, owner, done, status, content_type, body, created_at "
                    "FROM idempotency WHERE key = ? AND expires_at > ?",
                    (key, now),
                ).fetchone()
                if row is not None:
                    return IdempotencyRecord(
                        row[0], row[1], bool(row[2]), row[3], row[4], bytes(row[5]), row[6]
                    )
        raise StoreError(f"idempotency key {key!r} did not settle", code="store-claim-unsettled")

    def finish_idempotent(
        self, key: str, owner: str, status: int, content_type: str, body: bytes, ttl: float
    ) -> bool:
        with self.db.locked("finish_idempotent") as conn:
            cur = conn.execute(
                "UPDATE idempotency SET done = 1, status = ?, content_type = ?, body = ?, "
                "expires_at = ? WHERE key = ? AND owner = ? AND done = 0",
                (status, content_type, body, self.clock() + ttl, key, owner),
            )
            return cur.rowcount == 1

    def release_idempotent(self, key: str, owner: str) -> None:
        with self.db.locked("release_idempotent") as conn:
            conn.execute(
                "DELETE FROM idempotency WHERE key = ? AND owner = ? AND done = 0", (key, owner)
            )
