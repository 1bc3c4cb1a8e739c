"""The call store across OS processes: several workers draining one queue, and a
writer killed with SIGKILL in the middle of its writes.  SQLite and Redis alike."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from typing import Any

import pytest

from voiceapp.calls.records import AttemptRecord, CallSpec
from voiceapp.errors import ConfigError
from voiceapp.stores.calls import open_call_store

CALLS = 200
WORKERS = 3


def _worker(url: str, name: str, barrier: Any, outbox: Any) -> None:
    """Take calls until the queue is empty, 'dial' each one, report the sids."""
    store = open_call_store(url)
    taken: list[str] = []
    try:
        barrier.wait(60)
        while (call := store.take(name, 30)) is not None:
            taken.append(call.sid)
            time.sleep(0.002)  # dialing takes a moment: the workers interleave
            store.set_status(call.sid, "initiated", expect="queued")
            store.set_status(call.sid, "completed", expect="initiated", duration=0)
    except BaseException as exc:
        outbox.put((name, taken, repr(exc)))
        raise
    finally:
        store.close()
    outbox.put((name, taken, None))


def test_workers_in_separate_processes_take_each_call_exactly_once(store_url: str) -> None:
    store = open_call_store(store_url)
    sids = [f"CA{i:04d}" for i in range(CALLS)]
    started = time.perf_counter()
    for i, sid in enumerate(sids):
        store.create(CallSpec(sid=sid, from_="+19499300360", to=f"+8869120{i:05d}"))
    created = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WORKERS)
    outbox = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(store_url, f"w{n}", barrier, outbox), daemon=True)
        for n in range(WORKERS)
    ]
    try:
        for worker in workers:
            worker.start()
        results = [outbox.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=10)
        outbox.close()
        outbox.join_thread()
    drained = time.perf_counter()
    assert [error for _, _, error in results] == [None] * WORKERS
    assert all(worker.exitcode == 0 for worker in workers)
    taken = [sid for _, mine, _ in results for sid in mine]
    assert sorted(taken) == sids  # none lost, none twice
    assert sum(1 for _, mine, _ in results if mine) >= 2, "one worker took every call"
    for sid in sids[:: CALLS // 20]:
        record = store.require(sid)
        assert (record.status, record.takes, record.lease_owner) == ("completed", 1, None)
    assert store.take("late", 30) is None
    store.close()
    print(
        f"\n{store_url.split(':')[0]}: created {CALLS} calls in {created - started:.2f} s; "
        f"{WORKERS} processes drained them (take + 2 statuses each) in {drained - created:.2f} s"
        f"; per worker {[len(mine) for _, mine, _ in results]}"
    )


# -- SIGKILL in the middle of writing -------------------------------------------------------


def _writer(url: str, fd: int) -> None:
    """Write calls, events, statuses and attempts forever; acknowledge each after it returns."""
    store = open_call_store(url)

    def ack(line: str) -> None:
        os.write(fd, (line + "\n").encode())  # < PIPE_BUF: one atomic write

    i = 0
    while True:
        sid = f"CA{i:06d}"
        store.create(CallSpec(sid=sid, from_="+19499300360", to=f"+8869{i:08d}"))
        ack(f"call {sid}")
        store.add_event(
            sid,
            f"{sid}:initiated",
            leg_sid=sid,
            sequence=0,
            name="initiated",
            url="http://127.0.0.1:9/cb",
            method="POST",
            params=[("CallSid", sid), ("CallStatus", "initiated")],
        )
        ack(f"event {sid}")
        store.set_status(sid, "failed", expect="queued", duration=0)
        ack(f"status {sid}")
        store.record_attempt(
            sid, f"{sid}:initiated", AttemptRecord(1, time.time(), False, 503), state="pending"
        )
        ack(f"attempt {sid}")
        i += 1


def test_acknowledged_writes_survive_sigkill_of_the_writer(store_url: str) -> None:
    ctx = multiprocessing.get_context("fork")
    read_fd, write_fd = os.pipe()
    writer = ctx.Process(target=_writer, args=(store_url, write_fd), daemon=True)
    writer.start()
    os.close(write_fd)
    acks: list[str] = []
    buffer = b""
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            # let it write for a while, then kill it wherever it is
            deadline = time.monotonic() + 60
            while len(acks) < 300 and time.monotonic() < deadline:
                chunk = pipe.read(4096)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                acks.extend(line.decode() for line in lines)
            os.kill(writer.pid or 0, signal.SIGKILL)
            writer.join(timeout=30)
            while chunk := pipe.read(4096):  # acks sent before it died
                buffer += chunk
            acks.extend(line.decode() for line in buffer.split(b"\n")[:-1])
    finally:
        if writer.is_alive():
            writer.kill()
            writer.join(timeout=10)
    assert writer.exitcode == -signal.SIGKILL
    assert len(acks) >= 300

    if store_url.startswith("sqlite"):
        path = store_url[len("sqlite:///") :]
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = open_call_store(store_url)  # "after the restart"
    try:
        seen = {"call": 0, "event": 0, "status": 0, "attempt": 0}
        for line in acks:
            kind, sid = line.split()
            record = store.require(sid)
            seen[kind] += 1
            if kind == "event":
                assert [e.event_id for e in record.events] == [f"{sid}:initiated"]
            elif kind == "status":
                assert (record.status, record.duration) == ("failed", 0)
            elif kind == "attempt":
                (event,) = record.events
                assert [(a.number, a.status) for a in event.attempts] == [(1, 503)]
        assert min(seen.values()) >= 70, seen
        # the last acknowledged call's event is still pending: a restart resumes it
        last_attempted = max(line.split()[1] for line in acks if line.startswith("attempt"))
        assert f"{last_attempted}:initiated" in {e.event_id for e in store.undelivered(10_000)}
    finally:
        store.close()


# -- a worker process that dies holding calls -----------------------------------------------


def _taker(url: str, fd: int) -> None:
    store = open_call_store(url)
    for _ in range(2):
        call = store.take("doomed", 3.0)
        assert call is not None
        os.write(fd, f"{call.sid}\n".encode())
    time.sleep(60)  # "dialing" until killed


def test_a_killed_worker_s_calls_are_found_when_its_lease_runs_out(store_url: str) -> None:
    store = open_call_store(store_url)
    for i in range(3):
        store.create(CallSpec(sid=f"CA{i}", from_="+19499300360", to=f"+88691200000{i}"))
    ctx = multiprocessing.get_context("fork")
    read_fd, write_fd = os.pipe()
    worker = ctx.Process(target=_taker, args=(store_url, write_fd), daemon=True)
    worker.start()
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            held = b""
            deadline = time.monotonic() + 30
            while held.count(b"\n") < 2 and time.monotonic() < deadline:
                held += pipe.read(64)
        os.kill(worker.pid or 0, signal.SIGKILL)
        worker.join(timeout=30)
        assert held.split() == [b"CA0", b"CA1"]
        assert store.expired_leases() == []  # not yet: the lease still runs
        deadline = time.monotonic() + 10
        # the two leases end a moment apart (one take after the other)
        while len(expired := store.expired_leases()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(expired) == ["CA0", "CA1"]
        again = store.reclaim("CA0", "rescuer", 30)
        assert again is not None and (again.lease_owner, again.takes) == ("rescuer", 2)
        taken = store.take("rescuer", 30)
        assert taken is not None and taken.sid == "CA2"  # the queue moved on
    finally:
        if worker.is_alive():
            worker.kill()
            worker.join(timeout=10)
        store.close()


def test_sqlite_call_store_is_wal_with_synchronous_normal_or_full(tmp_path: Any) -> None:
    from voiceapp.stores.calls.sqlite import SQLiteCallStore

    store = SQLiteCallStore(tmp_path / "calls.db")
    try:
        conn = store.db.connection()
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    finally:
        store.close()
    strict = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}", sqlite_synchronous="full")
    try:
        conn = strict.db.connection()  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    finally:
        strict.close()
    with pytest.raises(ConfigError) as info:
        SQLiteCallStore(tmp_path / "calls.db", synchronous="OFF")
    assert info.value.code == "config-call-synchronous"


def _boot(path: str, index: int, barrier: Any, outbox: Any) -> None:
    try:
        barrier.wait(60)
        store = open_call_store(f"sqlite:///{path}")
        store.create(CallSpec(sid=f"CA{index}", from_="+19499300360", to=f"+88691200000{index}"))
        store.close()
        outbox.put("ok")
    except BaseException as exc:
        outbox.put(repr(exc))


def test_sqlite_workers_opening_a_new_file_at_once(tmp_path: Any) -> None:
    """Like gunicorn workers starting together on a fresh database."""
    ctx = multiprocessing.get_context("fork")
    for trial in range(3):
        path = str(tmp_path / f"boot{trial}.db")
        barrier, outbox = ctx.Barrier(8), ctx.Queue()
        workers = [ctx.Process(target=_boot, args=(path, i, barrier, outbox)) for i in range(8)]
        for worker in workers:
            worker.start()
        results = [outbox.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert results == ["ok"] * 8
        store = open_call_store(f"sqlite:///{path}")
        assert [store.take("w", 10) is not None for _ in range(9)] == [True] * 8 + [False]
        store.close()
