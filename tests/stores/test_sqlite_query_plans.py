"""The dialer polls the SQLite call store several times a second for each worker
(``take_many``, ``cancel_requests``, ``change_requests``, ``expired_leases``): none of
those reads may scan the calls table, which holds every call ever made.  Each statement
the poll runs is captured with sqlite3's trace callback and its plan read back with
``EXPLAIN QUERY PLAN``; the results are checked too."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.stores import Clock

from voiceapp.calls.records import CallChange, CallSpec
from voiceapp.stores.calls.sqlite import SQLiteCallStore

FROM = "+19499300360"


@pytest.fixture
def calls(tmp_path: Path, clock: Clock) -> Iterator[SQLiteCallStore]:
    store = SQLiteCallStore(tmp_path / "calls.db", clock=clock)
    yield store
    store.close()


def plans(conn: sqlite3.Connection, statements: list[str]) -> list[str]:
    """The plan rows of each captured statement that reads the calls table."""
    found = []
    for sql in statements:
        if "calls" not in sql or sql.lstrip().upper().startswith(("BEGIN", "COMMIT")):
            continue
        # the trace callback shows statements with their parameters bound
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        found.extend(f"{sql[:60]}... -> {row[3]}" for row in rows)
    return found


def test_the_worker_poll_reads_no_whole_table(calls: SQLiteCallStore, clock: Clock) -> None:
    for i in range(40):  # calls of another worker, ended and running, and one queued
        calls.create(
            CallSpec(
                sid=f"CA{i:032x}",
                from_=FROM,
                to=f"+8869123456{i:02d}",
                url="https://example.com/a.xml",
            )
        )
    for i in range(39):
        taken = calls.take("w2", 60)
        assert taken is not None
        calls.set_status(taken.sid, "initiated", expect="queued")
        if i % 2:
            calls.set_status(taken.sid, "canceled", expect="initiated")
    mine = calls.take_many("w1", 60, 10)
    assert [r.sid for r in mine] == [f"CA{39:032x}"]
    calls.set_status(mine[0].sid, "initiated", expect="queued")
    calls.request_change(mine[0].sid, CallChange(url="https://example.com/b.xml", method="POST"))
    calls.cancel(mine[0].sid)

    conn = calls.db.connection()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        assert calls.take_many("w1", 60, 10) == []
        assert calls.cancel_requests("w1") == [mine[0].sid]
        assert calls.cancel_requests("w2") == []
        assert [sid for sid, _ in calls.change_requests("w1")] == [mine[0].sid]
        assert calls.change_requests("w1") == []
        assert calls.expired_leases() == []
    finally:
        conn.set_trace_callback(None)
    found = plans(conn, statements)
    assert found, statements  # the poll's reads were captured
    # a scan of the queue's partial index reads only the waiting calls: that one is fine
    whole = re.compile(r"\bSCAN calls\b(?! USING (COVERING )?INDEX calls_waiting\b)")
    scans = [p for p in found if whole.search(p)]
    assert not scans, scans
