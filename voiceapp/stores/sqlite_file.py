"""One SQLite database file, opened the same way by every store on it.

The session store (:mod:`voiceapp.stores.sqlite`) and the call store
(:mod:`voiceapp.stores.calls.sqlite`) keep their tables in the same file (one
``STORE_URL``); both open it through :class:`SQLiteFile`:

* every thread of every process gets its own connection (made on first use, never
  shared, closed when its thread is gone), so the stores work under threads, forked
  workers and spawned processes.  A forked child never uses nor closes a connection it
  inherited (the parent still uses the same file handles);
* WAL mode, ``busy_timeout``, and ``synchronous`` ``NORMAL`` (a commit survives the
  crash or kill of any process; a power loss may roll back the last commits) or
  ``FULL`` (an fsync per commit);
* writers queue on a lock file (``<path>-lock``, ``flock``) before they write.  SQLite
  itself only lets one writer in at a time, but a writer that finds the database
  locked *sleeps* in SQLite's busy handler (1 ms, then 2, 5, 10 ms...) even when the
  lock is released a few microseconds later; a writer waiting for the lock file tries
  again after 25 microseconds, then 50, 100... (at most 1 ms).  The lock file only
  orders cooperating writers: SQLite's own locking still decides who may write, so
  another program writing the same file without it is merely slower, never unsafe.
  Reads take no lock.  (A memory map, ``mmap_size``, does not pay here: SQLite unmaps
  it whenever another process has written, i.e. on nearly every request.)

:meth:`SQLiteFile.locked` is a write in autocommit mode (single statements);
:meth:`SQLiteFile.transaction` is one ``BEGIN IMMEDIATE`` transaction (or a savepoint
inside the thread's open one); :meth:`SQLiteFile.snapshot` is a consistent read.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from voiceapp.errors import ConfigError, StoreError

_pid = os.getpid()


def path_of_url(url: str) -> str:
    """The file of a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` STORE_URL
    (three slashes, then a path); else ``config-store-url``."""
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(
            f"a SQLite STORE_URL is sqlite:///<path>, got {url!r}",
            code="config-store-url",
            field="STORE_URL",
        )
    return url[len(prefix) :]


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


class SQLiteFile:
    """Connections, the writer queue and transactions of one SQLite file.

    ``label`` names the store in errors (``"SQLite call store"``); ``synchronous`` is
    ``NORMAL`` or ``FULL``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        label: str = "SQLite store",
        busy_timeout: float = 30.0,
        synchronous: str = "NORMAL",
    ) -> None:
        self.path = os.fspath(path)
        self.label = label
        if not self.path or self.path == ":memory:" or self.path.startswith("file:"):
            raise ConfigError(
                f"the {label} needs a file path (an in-memory database is not shared "
                "between threads and processes)",
                code="config-store-url",
                field="STORE_URL",
            )
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous.upper()
        self.lock_path = self.path + "-lock"
        self._local = threading.local()
        self._lock = threading.Lock()
        # Weak: a connection belongs to its thread and goes away with it.
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._generation = 0

    def setup(self, schema: str, added: Iterable[tuple[str, str, str]] = ()) -> None:
        """Make the folder, switch the file to WAL and create ``schema`` (statements
        separated by ``;``); ``added``: ``(table, column, declaration)`` columns that
        files made by an older release lack (``ALTER TABLE ... ADD COLUMN``).

        In line with the other writers (the lock file): processes starting together on a
        new file would otherwise race to switch it to WAL, and the loser of that race
        gets "database is locked" at once (the busy handler does not cover it); that
        step is also retried, bounded, for writers that do not use the lock file.
        """
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            conn = self.connection()
            for attempt in range(40):
                try:
                    with self.writer(conn):
                        conn.execute("PRAGMA journal_mode = WAL")
                        self._create(conn, schema, added)
                    return
                except sqlite3.OperationalError as exc:
                    if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == 39:
                        raise
                    time.sleep(min(0.25, 0.01 * (attempt + 1)))
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the {self.label} at {self.path}: {exc}", code="store-unavailable"
            ) from exc

    @staticmethod
    def _create(conn: _Connection, schema: str, added: Iterable[tuple[str, str, str]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in schema.split(";"):
                if statement.strip():
                    conn.execute(statement)
            for table, column, declaration in added:
                have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- connections ---------------------------------------------------------------------

    def connection(self) -> _Connection:
        """This thread's connection (opened on first use, and again after :meth:`close`)."""
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
            new.execute(f"PRAGMA synchronous = {self.synchronous}")
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

    def close(self) -> None:
        """Close this process's connections (other threads reconnect on next use)."""
        with self._lock:
            mine = [conn for conn in self._connections if conn.pid == _pid]
            for conn in mine:
                self._connections.discard(conn)
            self._generation += 1
        for conn in mine:
            conn.release()

    # -- reads and writes ----------------------------------------------------------------

    @contextmanager
    def errors(self, what: str) -> Iterator[_Connection]:
        """This thread's connection; SQLite errors inside become ``StoreError``."""
        try:
            yield self.connection()
        except sqlite3.Error as exc:
            raise StoreError(
                f"{self.label} {what} failed: {exc}", code="store-unavailable"
            ) from exc

    @contextmanager
    def locked(self, what: str) -> Iterator[_Connection]:
        """:meth:`errors`, in line for the write lock (autocommit statements)."""
        with self.errors(what) as conn, self.writer(conn):
            yield conn

    @contextmanager
    def transaction(self, what: str) -> Iterator[_Connection]:
        """One write transaction, or a savepoint inside this thread's open one (undone on
        its own when the block raises); SQLite errors become ``StoreError``."""
        with self.errors(what) as conn:
            if conn.in_transaction:
                conn.execute("SAVEPOINT op")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    raise
                conn.execute("RELEASE op")
                return
            with self.writer(conn):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")

    @contextmanager
    def snapshot(self, what: str) -> Iterator[_Connection]:
        """A consistent read: one deferred transaction (one WAL snapshot); inside this
        thread's open transaction it sees that transaction's writes."""
        with self.errors(what) as conn:
            if conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    @contextmanager
    def writer(self, conn: _Connection) -> Iterator[None]:
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
