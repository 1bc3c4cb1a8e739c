"""Call records and the call queue in the embedded SQLite file.

The tables live in the same file as sessions (one ``STORE_URL``).  Every write
is one ``BEGIN IMMEDIATE`` transaction (the write lock is taken first, so a
writer never has to retry on a stale snapshot), in WAL mode, through
:class:`~voiceapp.stores.sqlite_file.SQLiteFile` (the connection manager of the
session store too).  With
``synchronous = NORMAL`` (the default, as for sessions) a committed call survives
a killed process; ``FULL`` (setting ``CALL_SYNCHRONOUS``) adds an fsync per commit
so that it survives a power cut too.

* the per-number lock is a partial unique index,
  ``UNIQUE (dest) WHERE ended_at IS NULL``: a second unfinished call to the same
  number cannot be inserted, and ending the call frees it;
* the queue is ``waiting = 1`` in insertion order; ``take`` is one
  ``UPDATE ... WHERE id = (oldest waiting) RETURNING`` under the write lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from voiceapp.calls.api_json import spec_from_json, spec_json
from voiceapp.calls.records import (
    AttemptRecord,
    CallChange,
    CallQuery,
    CallRecord,
    CallSpec,
    EventRecord,
    LegRecord,
    RecordingRecord,
    StatusChange,
)
from voiceapp.calls.refusals import (
    event_not_found,
    leg_not_found,
    not_cancelable,
    not_changeable,
    not_deletable,
    not_found,
    recording_not_found,
    sid_exists,
    status_conflict,
    to_busy,
)
from voiceapp.calls.states import CANCELABLE, QUEUED, TERMINAL
from voiceapp.calls.writes import (
    SKIPPED,
    AddEvent,
    AddLeg,
    AppendTrace,
    RecordAttempt,
    Renew,
    SaveRecording,
    SetStatus,
    Write,
    WriteHandler,
    expected,
)
from voiceapp.errors import ConfigError
from voiceapp.stores.calls.base import HEARTBEAT_KEEP, CallStore, StoreStats
from voiceapp.stores.sqlite_file import SQLiteFile, path_of_url

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    dest TEXT NOT NULL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ended_at REAL,
    duration INTEGER,
    waiting INTEGER NOT NULL DEFAULT 1,
    lease_owner TEXT,
    lease_until REAL,
    takes INTEGER NOT NULL DEFAULT 0,
    cancel_requested_at REAL,
    heartbeat_at REAL,
    recovered INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS calls_busy_dest ON calls (dest) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS calls_waiting ON calls (id) WHERE waiting = 1;
CREATE INDEX IF NOT EXISTS calls_lease ON calls (lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX IF NOT EXISTS calls_ended ON calls (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS calls_cancel_requested ON calls (lease_owner, id)
    WHERE cancel_requested_at IS NOT NULL AND ended_at IS NULL;
CREATE TABLE IF NOT EXISTS call_legs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    call_sid TEXT NOT NULL,
    parent_sid TEXT,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    direction TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    ended_at REAL,
    duration INTEGER
);
CREATE INDEX IF NOT EXISTS call_legs_call ON call_legs (call_sid);
CREATE TABLE IF NOT EXISTS call_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid TEXT NOT NULL,
    leg_sid TEXT NOT NULL,
    status TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS call_history_call ON call_history (call_sid);
CREATE TABLE IF NOT EXISTS call_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    call_sid TEXT NOT NULL,
    leg_sid TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    method TEXT NOT NULL,
    params TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS call_events_call ON call_events (call_sid);
CREATE INDEX IF NOT EXISTS call_events_pending ON call_events (id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS calls_created ON calls (created_at, sid);
CREATE TABLE IF NOT EXISTS call_traces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid TEXT NOT NULL,
    seq INTEGER NOT NULL,
    rows TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS call_traces_call ON call_traces (call_sid, seq);
CREATE TABLE IF NOT EXISTS call_attempts (
    event_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    at REAL NOT NULL,
    ok INTEGER NOT NULL,
    status INTEGER,
    error TEXT,
    PRIMARY KEY (event_id, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS call_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid TEXT NOT NULL,
    change TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS call_changes_call ON call_changes (call_sid);
CREATE TABLE IF NOT EXISTS call_recordings (
    sid TEXT PRIMARY KEY,
    call_sid TEXT NOT NULL,
    started_at REAL NOT NULL,
    data TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS call_recordings_call ON call_recordings (call_sid, started_at);
CREATE TABLE IF NOT EXISTS dialer_heartbeats (
    worker TEXT PRIMARY KEY,
    at REAL NOT NULL
) WITHOUT ROWID;
"""

_CALL_COLUMNS = (
    "spec, status, created_at, updated_at, ended_at, duration, lease_owner, lease_until, "
    "takes, cancel_requested_at, heartbeat_at, recovered, error"
)
#: Columns of ``calls`` added since the first release: (name, declaration), added to older
#: files at open (``ALTER TABLE ... ADD COLUMN``).
_ADDED = (
    ("heartbeat_at", "REAL"),
    ("recovered", "INTEGER NOT NULL DEFAULT 0"),
    ("error", "TEXT"),
    ("trace_count", "INTEGER NOT NULL DEFAULT 0"),
)

#: The tables of a call's parts (column ``call_sid``), deleted with it.
_CALL_TABLES = (
    "call_events",
    "call_history",
    "call_legs",
    "call_traces",
    "call_changes",
    "call_recordings",
)

_TAKE = """
UPDATE calls SET waiting = 0, lease_owner = ?, lease_until = ?, takes = takes + 1, updated_at = ?
WHERE id = (SELECT id FROM calls WHERE waiting = 1 ORDER BY id LIMIT 1)
RETURNING sid
"""

_TAKE_MANY = f"""
UPDATE calls SET waiting = 0, lease_owner = ?, lease_until = ?, takes = takes + 1, updated_at = ?
WHERE id IN (SELECT id FROM calls WHERE waiting = 1 ORDER BY id LIMIT ?)
RETURNING id, sid, {_CALL_COLUMNS}
"""


class SQLiteCallStore(CallStore, WriteHandler[object]):
    """Calls, legs, events and the queue in one SQLite file (WAL; synchronous NORMAL or FULL)."""

    #: seconds (store clock) between automatic purges of old finished calls
    purge_interval: float = 60.0

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        retention: float | None = 7200.0,
        busy_timeout: float = 30.0,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL"):
            raise ConfigError(
                f"synchronous must be FULL or NORMAL, got {synchronous!r}",
                code="config-call-synchronous",
                field="CALL_SYNCHRONOUS",
            )
        self.db = SQLiteFile(
            path, label="SQLite call store", busy_timeout=busy_timeout, synchronous=synchronous
        )
        self.path = self.db.path
        self.synchronous = self.db.synchronous
        self.clock = clock
        self.retention = retention
        self._last_purge = float("-inf")
        self.db.setup(_SCHEMA, [("calls", name, declaration) for name, declaration in _ADDED])

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        retention: float | None = 7200.0,
        synchronous: str = "NORMAL",
    ) -> SQLiteCallStore:
        return cls(path_of_url(url), clock=clock, retention=retention, synchronous=synchronous)

    def __repr__(self) -> str:
        return f"SQLiteCallStore({self.path!r})"

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction (one fsync) for every write of this thread inside the block."""
        with self.db.transaction("batch"):
            yield

    def close(self) -> None:
        self.db.close()

    # -- calls and the queue ---------------------------------------------------------------

    def _insert(self, spec: CallSpec, now: float) -> None:
        data = _dump(spec_json(spec))
        with self.db.transaction("create") as conn:
            self._maybe_purge(conn, now)
            try:
                conn.execute(
                    "INSERT INTO calls (sid, dest, status, spec, created_at, updated_at) "
                    "VALUES (?, ?, 'queued', ?, ?, ?)",
                    (spec.sid, spec.to, data, now, now),
                )
                conn.execute(
                    "INSERT INTO call_legs (sid, call_sid, parent_sid, from_number, to_number, "
                    "direction, status, created_at) VALUES (?, ?, NULL, ?, ?, ?, 'queued', ?)",
                    (spec.sid, spec.sid, spec.from_, spec.to, spec.direction, now),
                )
            except sqlite3.IntegrityError as exc:
                if "calls.dest" in str(exc):
                    row = conn.execute(
                        "SELECT sid FROM calls WHERE dest = ? AND ended_at IS NULL", (spec.to,)
                    ).fetchone()
                    raise to_busy(spec.to, row[0] if row else None) from None
                raise sid_exists(spec.sid) from None
            conn.execute(
                "INSERT INTO call_history (call_sid, leg_sid, status, at) VALUES (?, ?, ?, ?)",
                (spec.sid, spec.sid, QUEUED, now),
            )

    def get(self, sid: str) -> CallRecord | None:
        with self.db.snapshot("get") as conn:
            row = conn.execute(
                f"SELECT {_CALL_COLUMNS} FROM calls WHERE sid = ?", (sid,)
            ).fetchone()
            if row is None:
                return None
            record = self._records(conn, [(sid, row)])[0]
            chunks = conn.execute(
                "SELECT rows FROM call_traces WHERE call_sid = ? ORDER BY seq", (sid,)
            ).fetchall()
            if chunks:
                trace = tuple(row for chunk in chunks for row in json.loads(chunk[0]))
                record = replace(record, trace=trace)
            return record

    def _list(self, query: CallQuery) -> list[CallRecord]:
        filters = (
            ("status = ?", query.status),
            ("dest = ?", query.to),
            ("json_extract(spec, '$.from') = ?", query.from_),
            ("created_at >= ?", query.created_after),
            ("created_at < ?", query.created_before),
            ("json_extract(spec, '$.accountSid') = ?", query.account_sid),
        )
        where = [sql for sql, value in filters if value is not None]
        args: list[Any] = [value for _, value in filters if value is not None]
        if query.after is not None:
            where.append("(created_at < ? OR (created_at = ? AND sid < ?))")
            args += [query.after[0], query.after[0], query.after[1]]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self.db.snapshot("list_calls") as conn:
            rows = conn.execute(
                f"SELECT sid, {_CALL_COLUMNS} FROM calls {clause} "
                "ORDER BY created_at DESC, sid DESC LIMIT ?",
                (*args, query.limit),
            ).fetchall()
            return self._records(conn, [(row[0], row[1:]) for row in rows]) if rows else []

    def _delete(self, sid: str) -> None:
        with self.db.transaction("delete") as conn:
            row = conn.execute("SELECT ended_at FROM calls WHERE sid = ?", (sid,)).fetchone()
            if row is None:
                raise not_found(sid)
            if row[0] is None:
                raise not_deletable(sid, "it has not ended")
            pending = conn.execute(
                "SELECT 1 FROM call_events WHERE call_sid = ? AND state = 'pending' LIMIT 1",
                (sid,),
            ).fetchone()
            if pending is not None:
                raise not_deletable(sid, "status callbacks are still being delivered")
            conn.execute(
                "DELETE FROM call_attempts WHERE event_id IN "
                "(SELECT event_id FROM call_events WHERE call_sid = ?)",
                (sid,),
            )
            for table in _CALL_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE call_sid = ?", (sid,))
            conn.execute("DELETE FROM calls WHERE sid = ?", (sid,))

    def _records(
        self, conn: sqlite3.Connection, rows: list[tuple[str, tuple[Any, ...]]]
    ) -> list[CallRecord]:
        """The records of calls whose ``calls`` rows (``_CALL_COLUMNS``) were read, by sid:
        their legs, history and events in three more queries, inside ``conn``'s snapshot."""
        sids = [sid for sid, _ in rows]
        marks = ", ".join("?" * len(sids))
        legs = conn.execute(
            "SELECT call_sid, sid, parent_sid, from_number, to_number, direction, status, "
            f"created_at, ended_at, duration FROM call_legs WHERE call_sid IN ({marks}) "
            "ORDER BY id",
            sids,
        ).fetchall()
        history = conn.execute(
            f"SELECT leg_sid, status, at FROM call_history WHERE call_sid IN ({marks}) ORDER BY id",
            sids,
        ).fetchall()
        events = self._events(conn, f"e.call_sid IN ({marks})", tuple(sids))
        changes: dict[str, list[StatusChange]] = {}
        for leg_sid, status, at in history:
            changes.setdefault(leg_sid, []).append(StatusChange(status, at))
        legs_of: dict[str, list[LegRecord]] = {}
        for leg in legs:
            legs_of.setdefault(leg[0], []).append(
                LegRecord(
                    sid=leg[1],
                    parent_sid=leg[2],
                    from_=leg[3],
                    to=leg[4],
                    direction=leg[5],
                    status=leg[6],
                    created_at=leg[7],
                    ended_at=leg[8],
                    duration=leg[9],
                    history=tuple(changes.get(leg[1], ())),
                )
            )
        events_of: dict[str, list[EventRecord]] = {}
        for event in events:
            events_of.setdefault(event.call_sid, []).append(event)
        return [
            _call(row, legs=tuple(legs_of.get(sid, ())), events=tuple(events_of.get(sid, ())))
            for sid, row in rows
        ]

    def _events(
        self, conn: sqlite3.Connection, where: str, args: tuple[Any, ...], limit: int = -1
    ) -> list[EventRecord]:
        rows = conn.execute(
            "SELECT e.event_id, e.call_sid, e.leg_sid, e.sequence, e.name, e.url, e.method, "
            "e.params, e.created_at, e.state, a.number, a.at, a.ok, a.status, a.error "
            "FROM (SELECT * FROM call_events e WHERE "
            + where
            + " ORDER BY id LIMIT ?) e LEFT JOIN call_attempts a ON a.event_id = e.event_id "
            "ORDER BY e.id, a.number",
            (*args, limit),
        ).fetchall()
        out: list[EventRecord] = []
        attempts: dict[str, list[AttemptRecord]] = {}
        for row in rows:
            if not out or out[-1].event_id != row[0]:
                params = tuple((str(k), str(v)) for k, v in json.loads(row[7]))
                out.append(
                    EventRecord(
                        event_id=row[0],
                        call_sid=row[1],
                        leg_sid=row[2],
                        sequence=row[3],
                        name=row[4],
                        url=row[5],
                        method=row[6],
                        params=params,
                        created_at=row[8],
                        state=row[9],
                    )
                )
                attempts[row[0]] = []
            if row[10] is not None:
                attempts[row[0]].append(
                    AttemptRecord(row[10], row[11], bool(row[12]), row[13], row[14])
                )
        return [replace(e, attempts=tuple(attempts[e.event_id])) for e in out]

    def _take(self, worker: str, until: float, now: float) -> str | None:
        with self.db.transaction("take") as conn:
            row = conn.execute(_TAKE, (worker, until, now)).fetchone()
        return None if row is None else str(row[0])

    def take_many(self, worker: str, lease: float, limit: int) -> list[CallRecord]:
        """One ``UPDATE ... RETURNING`` takes up to ``limit`` calls; three reads complete
        them, in the same transaction."""
        if limit <= 0:
            return []
        now = self.clock()
        with self.db.transaction("take_many") as conn:
            rows = conn.execute(_TAKE_MANY, (worker, now + lease, now, limit)).fetchall()
            rows.sort(key=lambda row: row[0])  # RETURNING comes in no set order
            return self._records(conn, [(row[1], row[2:]) for row in rows]) if rows else []

    def on_renew(self, op: Renew) -> bool:
        now = self.clock()
        with self.db.transaction("renew") as conn:
            cur = conn.execute(
                "UPDATE calls SET lease_until = ?, heartbeat_at = ? "
                "WHERE sid = ? AND lease_owner = ? AND ended_at IS NULL",
                (now + op.lease, self._stamp(op.at), op.call_sid, op.worker),
            )
            return cur.rowcount == 1

    def expired_leases(self, limit: int = 100) -> list[str]:
        with self.db.snapshot("expired_leases") as conn:
            rows = conn.execute(
                "SELECT sid FROM calls WHERE lease_until IS NOT NULL AND lease_until <= ? "
                "AND ended_at IS NULL ORDER BY lease_until LIMIT ?",
                (self.clock(), limit),
            ).fetchall()
        return [row[0] for row in rows]

    def _reclaim(self, sid: str, worker: str, until: float, now: float) -> bool:
        with self.db.transaction("reclaim") as conn:
            cur = conn.execute(
                "UPDATE calls SET lease_owner = ?, lease_until = ?, takes = takes + 1, "
                "updated_at = ? WHERE sid = ? AND lease_until IS NOT NULL AND lease_until <= ? "
                "AND ended_at IS NULL",
                (worker, until, now, sid, now),
            )
            return cur.rowcount == 1

    def cancel_requests(self, worker: str) -> list[str]:
        with self.db.snapshot("cancel_requests") as conn:
            rows = conn.execute(
                "SELECT sid FROM calls WHERE lease_owner = ? AND cancel_requested_at IS NOT NULL "
                "AND ended_at IS NULL ORDER BY id",
                (worker,),
            ).fetchall()
        return [row[0] for row in rows]

    def _cancel(self, sid: str, now: float) -> None:
        with self.db.transaction("cancel") as conn:
            row = conn.execute("SELECT status FROM calls WHERE sid = ?", (sid,)).fetchone()
            if row is None:
                raise not_found(sid)
            status = row[0]
            if status not in CANCELABLE:
                raise not_cancelable(sid, status)
            if status == QUEUED:
                self._set_status(conn, sid, sid, "canceled", now, 0)
            else:
                conn.execute(
                    "UPDATE calls SET cancel_requested_at = coalesce(cancel_requested_at, ?), "
                    "updated_at = ? WHERE sid = ?",
                    (now, now, sid),
                )

    def _request_change(self, sid: str, change: CallChange, now: float) -> None:
        with self.db.transaction("request_change") as conn:
            row = conn.execute(
                "SELECT status, waiting, spec FROM calls WHERE sid = ?", (sid,)
            ).fetchone()
            if row is None:
                raise not_found(sid)
            status, waiting, data = row
            if status in TERMINAL:
                raise not_changeable(sid, status)
            if change.status is not None:
                if status == QUEUED:
                    self._set_status(conn, sid, sid, "canceled", now, 0)
                elif status in CANCELABLE:
                    conn.execute(
                        "UPDATE calls SET cancel_requested_at = coalesce(cancel_requested_at, "
                        "?), updated_at = ? WHERE sid = ?",
                        (now, now, sid),
                    )
                elif change.status == "completed":
                    self._store_change(conn, sid, change, now)
                return
            if status == QUEUED and waiting:
                spec = change.applied_to(spec_from_json(json.loads(data)))
                conn.execute(
                    "UPDATE calls SET spec = ?, updated_at = ? WHERE sid = ?",
                    (_dump(spec_json(spec)), now, sid),
                )
                return
            self._store_change(conn, sid, change, now)

    def _store_change(
        self, conn: sqlite3.Connection, sid: str, change: CallChange, now: float
    ) -> None:
        conn.execute(
            "INSERT INTO call_changes (call_sid, change, created_at) VALUES (?, ?, ?)",
            (sid, _dump(change.as_dict()), now),
        )
        conn.execute("UPDATE calls SET updated_at = ? WHERE sid = ?", (now, sid))

    def change_requests(self, worker: str) -> list[tuple[str, CallChange]]:
        """A read first (no write lock while there is nothing for ``worker``), then one
        ``DELETE ... RETURNING`` takes them."""
        # read from call_changes (empty but for the changes not yet taken), each looked
        # up in calls by sid: listing the worker's calls first would scan the calls table
        mine = (
            "EXISTS (SELECT 1 FROM calls WHERE calls.sid = call_changes.call_sid "
            "AND calls.lease_owner = ? AND calls.ended_at IS NULL)"
        )
        with self.db.snapshot("change_requests") as conn:
            if (
                conn.execute(
                    f"SELECT 1 FROM call_changes WHERE {mine} LIMIT 1", (worker,)
                ).fetchone()
                is None
            ):
                return []
        with self.db.transaction("change_requests") as conn:
            rows = conn.execute(
                f"DELETE FROM call_changes WHERE {mine} RETURNING id, call_sid, change",
                (worker,),
            ).fetchall()
        rows.sort(key=lambda row: (row[1], row[0]))  # by call, then as asked
        return [(str(sid), CallChange.of(json.loads(data))) for _, sid, data in rows]

    # -- legs and statuses -----------------------------------------------------------------

    def _apply_one(self, write: Write) -> object:
        return write.handled_by(self)

    def apply(self, writes: Sequence[Write]) -> list[object]:
        """As :meth:`CallStore.apply`; a run of :class:`AppendTrace` writes (the dialer puts
        them at the end of its group, one per call) is carried out together, in three
        statements instead of four per write."""
        results: list[object] = []
        failed: set[str] = set()
        with self.batch():
            index = 0
            while index < len(writes):
                write = writes[index]
                if isinstance(write, AppendTrace):
                    end = index
                    while end < len(writes) and isinstance(writes[end], AppendTrace):
                        end += 1
                    group = [w for w in writes[index:end] if isinstance(w, AppendTrace)]
                    results += self._append_traces(group, failed)
                    index = end
                    continue
                index += 1
                results.append(self._carry_one(write, failed))
        return results

    def _append_traces(self, group: list[AppendTrace], failed: set[str]) -> list[object]:
        """Several :class:`AppendTrace` writes as one step: one read of the counts, one
        ``executemany`` of the updates and one of the inserts."""
        results: list[object] = [SKIPPED] * len(group)
        todo: list[tuple[int, AppendTrace]] = []
        for i, op in enumerate(group):
            if op.call_sid in failed:
                continue
            try:
                op.check()
            except Exception as exc:
                failed.add(op.call_sid)
                results[i] = exc
                continue
            todo.append((i, op))
        if not todo:
            return results
        sids = sorted({op.call_sid for _, op in todo})
        try:
            with self.db.transaction("append_trace") as conn:
                counts: dict[str, int] = {}
                for start in range(0, len(sids), 500):
                    chunk = sids[start : start + 500]
                    marks = ", ".join("?" * len(chunk))
                    counts.update(
                        conn.execute(
                            f"SELECT sid, trace_count FROM calls WHERE sid IN ({marks})", chunk
                        ).fetchall()
                    )
                updates: dict[str, tuple[int, str | None]] = {}
                inserts: list[tuple[str, int, str]] = []
                for i, op in todo:
                    if op.call_sid in failed:
                        continue
                    if op.call_sid not in counts:
                        failed.add(op.call_sid)
                        results[i] = not_found(op.call_sid)
                        continue
                    count = counts[op.call_sid]
                    rows = op.kept(count)
                    counts[op.call_sid] = count + len(rows)
                    error = updates.get(op.call_sid, (0, None))[1] or op.error
                    updates[op.call_sid] = (count + len(rows), error)
                    if rows:
                        inserts.append((op.call_sid, count, "[" + ",".join(rows) + "]"))
                    results[i] = count + len(rows)
                conn.executemany(
                    "UPDATE calls SET trace_count = ?, error = coalesce(error, ?) WHERE sid = ?",
                    [(n, error, sid) for sid, (n, error) in updates.items()],
                )
                conn.executemany(
                    "INSERT INTO call_traces (call_sid, seq, rows) VALUES (?, ?, ?)", inserts
                )
        except Exception as exc:  # the group changed nothing
            for i, op in todo:
                failed.add(op.call_sid)
                results[i] = exc
        return results

    def on_append_trace(self, op: AppendTrace) -> int:
        """The rows of one write are one ``call_traces`` row (a JSON array, ``seq`` its
        first row's number); ``calls.trace_count`` counts the rows.  Two statements
        unless the trace is full."""
        offered = len(op.entries)
        with self.db.transaction("append_trace") as conn:
            found = conn.execute(
                "UPDATE calls SET trace_count = trace_count + ?, error = coalesce(error, ?) "
                "WHERE sid = ? RETURNING trace_count",
                (offered, op.error, op.call_sid),
            ).fetchone()
            if found is None:
                raise not_found(op.call_sid)
            count = int(found[0]) - offered
            rows = op.kept(count)
            if len(rows) != offered:
                conn.execute(
                    "UPDATE calls SET trace_count = ? WHERE sid = ?",
                    (count + len(rows), op.call_sid),
                )
            if rows:
                conn.execute(
                    "INSERT INTO call_traces (call_sid, seq, rows) VALUES (?, ?, ?)",
                    (op.call_sid, count, "[" + ",".join(rows) + "]"),
                )
            return count + len(rows)

    def on_add_leg(self, op: AddLeg) -> bool:
        call_sid, leg_sid = op.call_sid, op.leg_sid
        now = self._stamp(op.at)
        with self.db.transaction("add_leg") as conn:
            _require_call(conn, call_sid)
            cur = conn.execute(
                "INSERT INTO call_legs (sid, call_sid, parent_sid, from_number, to_number, "
                "direction, status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?) "
                "ON CONFLICT (sid) DO NOTHING",
                (leg_sid, call_sid, op.parent_sid, op.from_, op.to, op.direction, now),
            )
            if cur.rowcount != 1:
                return False
            conn.execute(
                "INSERT INTO call_history (call_sid, leg_sid, status, at) VALUES (?, ?, ?, ?)",
                (call_sid, leg_sid, QUEUED, now),
            )
            return True

    def on_set_status(self, op: SetStatus) -> str:
        call_sid, status = op.call_sid, op.status
        allowed = expected(op.expect)
        leg = op.leg_sid or call_sid
        now = self._stamp(op.at)
        with self.db.transaction("set_status") as conn:
            row = conn.execute(
                "SELECT status FROM call_legs WHERE sid = ? AND call_sid = ?", (leg, call_sid)
            ).fetchone()
            if row is None:
                _require_call(conn, call_sid)
                raise leg_not_found(leg)
            current = row[0]
            if current in TERMINAL or (allowed and current not in allowed):
                raise status_conflict(leg, current, status)
            self._set_status(conn, call_sid, leg, status, now, op.duration, op.recovered)
            return str(current)

    def _set_status(
        self,
        conn: sqlite3.Connection,
        call_sid: str,
        leg: str,
        status: str,
        now: float,
        duration: int | None,
        recovered: bool = False,
    ) -> None:
        ended = now if status in TERMINAL else None
        conn.execute(
            "UPDATE call_legs SET status = ?, ended_at = ?, duration = ? WHERE sid = ?",
            (status, ended, duration if ended is not None else None, leg),
        )
        conn.execute(
            "INSERT INTO call_history (call_sid, leg_sid, status, at) VALUES (?, ?, ?, ?)",
            (call_sid, leg, status, now),
        )
        if leg != call_sid:
            return
        if ended is None:
            conn.execute(
                "UPDATE calls SET status = ?, updated_at = ?, waiting = 0 WHERE sid = ?",
                (status, now, call_sid),
            )
        else:  # the call is over: its number is free, nobody holds it any more
            conn.execute("DELETE FROM call_changes WHERE call_sid = ?", (call_sid,))
            conn.execute(
                "UPDATE calls SET status = ?, updated_at = ?, waiting = 0, ended_at = ?, "
                "duration = ?, lease_owner = NULL, lease_until = NULL, "
                "recovered = max(recovered, ?) WHERE sid = ?",
                (status, now, now, duration, int(recovered), call_sid),
            )

    # -- status-callback events ------------------------------------------------------------

    def on_add_event(self, op: AddEvent) -> bool:
        call_sid = op.call_sid
        params = [list(p) for p in op.params]
        data = json.dumps(params, separators=(",", ":"), ensure_ascii=False)
        now = self._stamp(op.at)
        with self.db.transaction("add_event") as conn:
            _require_call(conn, call_sid)
            cur = conn.execute(
                "INSERT INTO call_events (event_id, call_sid, leg_sid, sequence, name, url, "
                "method, params, created_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending') "
                "ON CONFLICT (event_id) DO NOTHING",
                (
                    op.event_id,
                    call_sid,
                    op.leg_sid,
                    op.sequence,
                    op.name,
                    op.url,
                    op.method,
                    data,
                    now,
                ),
            )
            return cur.rowcount == 1

    def on_record_attempt(self, op: RecordAttempt) -> None:
        event_id, attempt = op.event_id, op.attempt
        with self.db.transaction("record_attempt") as conn:
            cur = conn.execute(
                "UPDATE call_events SET state = CASE WHEN state = 'delivered' THEN state "
                "ELSE ? END WHERE event_id = ? AND call_sid = ?",
                (op.state, event_id, op.call_sid),
            )
            if cur.rowcount != 1:
                raise event_not_found(event_id)
            conn.execute(
                "INSERT INTO call_attempts (event_id, number, at, ok, status, error) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    event_id,
                    attempt.number,
                    attempt.at,
                    int(attempt.ok),
                    attempt.status,
                    attempt.error,
                ),
            )

    def on_save_recording(self, op: SaveRecording) -> None:
        recording = op.recording
        with self.db.transaction("save_recording") as conn:
            _require_call(conn, op.call_sid)
            conn.execute(
                "INSERT INTO call_recordings (sid, call_sid, started_at, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (sid) DO UPDATE SET data = excluded.data",
                (recording.sid, op.call_sid, recording.started_at, recording.to_json()),
            )

    def get_recording(self, sid: str) -> RecordingRecord | None:
        with self.db.snapshot("get_recording") as conn:
            row = conn.execute("SELECT data FROM call_recordings WHERE sid = ?", (sid,)).fetchone()
        return None if row is None else RecordingRecord.from_json(row[0])

    def recordings_of(self, call_sid: str) -> list[RecordingRecord]:
        with self.db.snapshot("recordings_of") as conn:
            rows = conn.execute(
                "SELECT data FROM call_recordings WHERE call_sid = ? ORDER BY started_at, sid",
                (call_sid,),
            ).fetchall()
        return [RecordingRecord.from_json(row[0]) for row in rows]

    def delete_recording(self, sid: str) -> RecordingRecord:
        with self.db.transaction("delete_recording") as conn:
            row = conn.execute(
                "DELETE FROM call_recordings WHERE sid = ? RETURNING data", (sid,)
            ).fetchone()
        if row is None:
            raise recording_not_found(sid)
        return RecordingRecord.from_json(row[0])

    def undelivered(self, limit: int = 1000) -> list[EventRecord]:
        with self.db.snapshot("undelivered") as conn:
            return self._events(conn, "e.state = 'pending'", (), limit)

    # -- housekeeping ----------------------------------------------------------------------

    def _maybe_purge(self, conn: sqlite3.Connection, now: float) -> int:
        if self.retention is None or now - self._last_purge < self.purge_interval:
            return 0
        self._last_purge = now
        before = now - self.retention
        old = "SELECT sid FROM calls WHERE ended_at IS NOT NULL AND ended_at < ?"
        conn.execute(
            "DELETE FROM call_attempts WHERE event_id IN "
            f"(SELECT event_id FROM call_events WHERE call_sid IN ({old}))",
            (before,),
        )
        for table in _CALL_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE call_sid IN ({old})", (before,))
        return conn.execute(
            "DELETE FROM calls WHERE ended_at IS NOT NULL AND ended_at < ?", (before,)
        ).rowcount

    # -- operations ------------------------------------------------------------------------

    def ping(self) -> None:
        with self.db.snapshot("ping") as conn:
            conn.execute("SELECT 1 FROM dialer_heartbeats LIMIT 1").fetchall()

    def beat(self, worker: str, at: float) -> None:
        with self.db.transaction("beat") as conn:
            conn.execute(
                "INSERT INTO dialer_heartbeats (worker, at) VALUES (?, ?) "
                "ON CONFLICT (worker) DO UPDATE SET at = excluded.at",
                (worker, at),
            )
            conn.execute("DELETE FROM dialer_heartbeats WHERE at < ?", (at - HEARTBEAT_KEEP,))

    def heartbeats(self) -> dict[str, float]:
        with self.db.snapshot("heartbeats") as conn:
            rows = conn.execute("SELECT worker, at FROM dialer_heartbeats").fetchall()
        return {str(worker): float(at) for worker, at in rows}

    def stats(self) -> StoreStats:
        with self.db.snapshot("stats") as conn:
            rows = conn.execute("SELECT status, count(*) FROM calls GROUP BY status").fetchall()
            waiting, oldest = conn.execute(
                "SELECT count(*), min(created_at) FROM calls WHERE waiting = 1"
            ).fetchone()
        return StoreStats({str(s): int(n) for s, n in rows}, int(waiting), oldest)

    def purge(self) -> int:
        with self.db.transaction("purge") as conn:
            self._last_purge = float("-inf")
            return self._maybe_purge(conn, self.clock())


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _require_call(conn: sqlite3.Connection, sid: str) -> None:
    """``NotFoundError`` ``call-not-found`` unless the call ``sid`` exists."""
    if conn.execute("SELECT 1 FROM calls WHERE sid = ?", (sid,)).fetchone() is None:
        raise not_found(sid)


def _call(
    row: tuple[Any, ...], *, legs: tuple[LegRecord, ...], events: tuple[EventRecord, ...]
) -> CallRecord:
    spec = spec_from_json(json.loads(row[0]))
    return CallRecord(
        spec=spec,
        status=row[1],
        created_at=row[2],
        updated_at=row[3],
        ended_at=row[4],
        duration=row[5],
        lease_owner=row[6],
        lease_until=row[7],
        takes=row[8],
        cancel_requested_at=row[9],
        legs=legs,
        events=events,
        heartbeat_at=row[10],
        recovered=bool(row[11]),
        error=None if row[12] is None else json.loads(row[12]),
    )
