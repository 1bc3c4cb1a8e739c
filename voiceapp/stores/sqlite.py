"""The embedded store: one SQLite file in WAL mode.

Every thread of every process gets its own connection (made on first use, never
shared), so the store works under threads, forked workers and spawned processes.
Writes are single statements in autocommit mode; each takes SQLite's write lock
when it starts and waits up to ``busy_timeout`` seconds for it.

A claim is a primary-key insert: ``INSERT ... ON CONFLICT(key) DO UPDATE ... WHERE
the old row has expired``.  Exactly one concurrent inserter of a key gets a row
back; the others read the winner's record.  Expired rows are ignored by every
read and purged now and then by writes.

Durability: ``synchronous = NORMAL`` in WAL mode.  A commit survives the crash or
kill of any process; only a power loss or kernel crash may roll back the last
commits (SQLite syncs the WAL at checkpoints).  That is the durability of the Redis
store under its default persistence, and it keeps an fsync out of every claim.

Writers queue on a lock file (``<path>-lock``, ``flock``) before they write.
SQLite itself only lets one writer in at a time, but a writer that finds the
database locked *sleeps* in SQLite's busy handler (1 ms, then 2, 5, 10 ms...) even
when the lock is released a few microseconds later; a writer waiting for the lock
file tries again after 25 microseconds, then 50, 100... (at most 1 ms).  The lock
file only orders cooperating writers: SQLite's own locking still decides who may
write, so another program writing the same file without it is merely slower, never
unsafe.  Reads take no lock.  (A memory map, ``mmap_size``, does not pay here: SQLite
unmaps it whenever another process has written, i.e. on nearly every request.)
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from voiceapp.errors import ConfigError, StoreError
from voiceapp.stores.base import Claim, IdempotencyRecord, Session, Store

__all__ = ["SQLiteStore"]

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


_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


# Cheaper than a getpid() system call on every store operation.
os.register_at_fork(after_in_child=_after_fork)

# Connections a forked child inherited from its parent.  SQLite must not close them
# in the child (the parent still uses the same file handles), so they are kept here,
# unused, for the life of the child.
_INHERITED: list[sqlite3.Connection] = []


class _Connection(sqlite3.Connection):
    """A connection that remembers its process and its writer lock file."""

    pid: int = 0
    lock_fd: int = -1

    def release(self) -> None:
        """Close the connection and its lock file (in the process that opened them)."""
        if self.pid != _pid:
            return
        self.close()
        fd, self.lock_fd = self.lock_fd, -1
        if fd >= 0:
            os.close(fd)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _close_if_ours(conn: _Connection) -> None:
    conn.release()


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
        self.path = os.fspath(path)
        if not self.path or self.path == ":memory:" or self.path.startswith("file:"):
            raise ConfigError(
                "the SQLite store needs a file path (an in-memory database is not shared "
                "between threads and processes)",
                code="config-store-url",
                field="STORE_URL",
            )
        self.clock = clock
        self.busy_timeout = busy_timeout
        self.lock_path = self.path + "-lock"
        self._local = threading.local()
        self._lock = threading.Lock()
        # Weak: a connection belongs to its thread and goes away with it.
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._generation = 0
        self._last_purge = float("-inf")
        parent = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(parent, exist_ok=True)
            conn = self._conn()
            # In line with the other writers: processes starting together on a new file
            # would otherwise race to switch it to WAL, and the loser of that race gets
            # "database is locked" at once (the busy handler does not cover it).
            with self._writer(conn):
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the SQLite store at {self.path}: {exc}", code="store-unavailable"
            ) from exc

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float] = time.time) -> SQLiteStore:
        """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (three slashes, a path)."""
        prefix = "sqlite:///"
        if not url.lower().startswith(prefix) or len(url) == len(prefix):
            raise ConfigError(
                f"a SQLite STORE_URL is sqlite:///<path>, got {url!r}",
                code="config-store-url",
                field="STORE_URL",
            )
        return cls(url[len(prefix) :], clock=clock)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- connections ---------------------------------------------------------------------

    def _conn(self) -> _Connection:
        local = self._local
        conn: _Connection | None = getattr(local, "conn", None)
        pid = _pid
        if conn is None or conn.pid != pid or local.generation != self._generation:
            # First use in this thread, a store closed since, or a thread of a forked
            # child that inherited the parent's connection object: never reuse (nor
            # close) an inherited one, open our own.
            if conn is not None and conn.pid != pid:
                _INHERITED.append(conn)
            new = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,  # only so that close() may close it
                factory=_Connection,
            )
            new.pid = pid
            new.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            new.execute("PRAGMA synchronous = NORMAL")
            # Each thread opens the lock file itself: flock() locks belong to an open
            # file, so a shared descriptor would not keep two threads apart.
            try:
                new.lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                new.lock_fd = -1  # e.g. a read-only folder: SQLite's busy handler alone
            local.conn = conn = new
            local.generation = self._generation
            with self._lock:
                self._connections.add(new)
            # Close it when its thread is gone (a threaded server makes many threads).
            finalizer = weakref.finalize(threading.current_thread(), _close_if_ours, new)
            finalizer.atexit = False
        return conn

    @contextmanager
    def _errors(self, what: str) -> Iterator[_Connection]:
        try:
            yield self._conn()
        except sqlite3.Error as exc:
            raise StoreError(
                f"SQLite store {what} failed: {exc}", code="store-unavailable"
            ) from exc

    @contextmanager
    def _writer(self, conn: _Connection) -> Iterator[None]:
        """Wait in line (the lock file) for a write; see the module docstring.

        The wait is bounded like SQLite's own (``busy_timeout``): after that the write
        goes ahead without the lock file and SQLite's locking decides.
        """
        fd = conn.lock_fd
        locked = fd >= 0 and _try_flock(fd)
        if not locked and fd >= 0:
            deadline = time.monotonic() + self.busy_timeout
            pause = 25e-6  # a write holds the lock for tens of microseconds
            while not locked and time.monotonic() < deadline:
                time.sleep(pause)
                pause = min(pause * 2, 1e-3)
                locked = _try_flock(fd)
        try:
            yield
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close this process's connections (other threads reconnect on next use)."""
        with self._lock:
            mine = [conn for conn in self._connections if conn.pid == _pid]
            for conn in mine:
                self._connections.discard(conn)
            self._generation += 1
        for conn in mine:
            conn.release()

    # -- housekeeping --------------------------------------------------------------------

    def _maybe_purge(self, conn: _Connection, now: float) -> None:
        if now - self._last_purge < self.purge_interval:
            return
        self._last_purge = now
        for table in ("sessions", "claims", "counters", "idempotency"):
            conn.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))

    def purge(self) -> None:
        """Delete every expired row now."""
        with self._errors("purge") as conn, self._writer(conn):
            self._last_purge = float("-inf")
            self._maybe_purge(conn, self.clock())

    # -- the Store contract --------------------------------------------------------------

    def put_session(self, session: Session) -> None:
        data = json.dumps(asdict(session), separators=(",", ":"), ensure_ascii=False)
        with self._errors("put_session") as conn, self._writer(conn):
            now = self.clock()
            conn.execute(
                "INSERT OR REPLACE INTO sessions (id, data, expires_at) VALUES (?, ?, ?)",
                (session.id, data, session.expires_at),
            )
            self._maybe_purge(conn, now)

    def get_session(self, session_id: str) -> Session | None:
        with self._errors("get_session") as conn:
            row = conn.execute(
                "SELECT data FROM sessions WHERE id = ? AND expires_at > ?",
                (session_id, self.clock()),
            ).fetchone()
        if row is None:
            return None
        fields: dict[str, Any] = json.loads(row[0])
        return Session(**fields)

    def claim(self, key: str, owner: str, body: bytes, ttl: int) -> tuple[bool, Claim]:
        with self._errors("claim") as conn:
            # Bounded: a second round is only needed if the winner's row expired and
            # was purged between our insert and our read.
            for _ in range(3):
                with self._writer(conn):
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
        with self._errors("incr") as conn, self._writer(conn):
            now = self.clock()
            row = conn.execute(_INCR, {"key": key, "expires_at": now + ttl, "now": now}).fetchall()
        return int(row[0][0])

    def begin_idempotent(
        self, key: str, fingerprint: str, owner: str, ttl: float
    ) -> IdempotencyRecord | None:
        with self._errors("begin_idempotent") as conn:
            # Bounded, as claim(): another round only if the holder's row expired and
            # was purged between our insert and our read.
            for _ in range(3):
                with self._writer(conn):
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
        with self._errors("finish_idempotent") as conn, self._writer(conn):
            cur = conn.execute(
                "UPDATE idempotency SET done = 1, status = ?, content_type = ?, body = ?, "
                "expires_at = ? WHERE key = ? AND owner = ? AND done = 0",
                (status, content_type, body, self.clock() + ttl, key, owner),
            )
            return cur.rowcount == 1

    def release_idempotent(self, key: str, owner: str) -> None:
        with self._errors("release_idempotent") as conn, self._writer(conn):
            conn.execute(
                "DELETE FROM idempotency WHERE key = ? AND owner = ? AND done = 0", (key, owner)
            )
