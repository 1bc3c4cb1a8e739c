"""The Store contract, run against SQLite and a real redis-server alike."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support.net import free_port
from support.stores import Clock, make_session

from voiceapp.errors import ConfigError, StoreError
from voiceapp.stores import open_store
from voiceapp.stores.base import Session, Store
from voiceapp.stores.redis import RedisStore
from voiceapp.stores.sqlite import SQLiteStore


def test_open_store_picks_the_implementation(store: Store, store_url: str) -> None:
    expected = SQLiteStore if store_url.startswith("sqlite") else RedisStore
    assert isinstance(store, expected)


# -- sessions ------------------------------------------------------------------------------


def test_session_round_trip_keeps_every_field(store: Store, clock: Clock) -> None:
    session = make_session(
        clock,
        variables={"pin": "8970", "menu": {"1": ["say", "華語"]}, "n": 3, "ok": True},
        language="zh-TW",
    )
    store.put_session(session)
    assert store.get_session("s1") == session


def test_unknown_session_is_none(store: Store) -> None:
    assert store.get_session("nope") is None


def test_put_session_replaces_the_same_id(store: Store, clock: Clock) -> None:
    store.put_session(make_session(clock))
    newer = make_session(clock, variables={"pin": "1234"})
    store.put_session(newer)
    assert store.get_session("s1") == newer


def test_session_expires_by_the_store_clock(store: Store, clock: Clock) -> None:
    store.put_session(make_session(clock, ttl=600))
    clock.advance(599)
    assert store.get_session("s1") is not None
    clock.advance(1)
    assert store.get_session("s1") is None


def test_sessions_are_shared_between_store_instances(
    make_store: Callable[..., Store], clock: Clock
) -> None:
    first, second = make_store(clock), make_store(clock)
    first.put_session(make_session(clock))
    assert second.get_session("s1") == first.get_session("s1")


# -- claims --------------------------------------------------------------------------------


def test_first_claim_wins_and_later_ones_see_the_record(store: Store, clock: Clock) -> None:
    won, claim = store.claim("voice:n1", "CA1", b"<Response/>", 60)
    assert won
    assert (claim.owner, claim.body, claim.claimed_at) == ("CA1", b"<Response/>", clock.now)
    clock.advance(5)
    won, seen = store.claim("voice:n1", "CA2", b"<Other/>", 60)
    assert not won
    assert seen == claim


def test_claims_of_different_keys_are_independent(store: Store) -> None:
    assert store.claim("voice:a", "CA1", b"a", 60)[0]
    assert store.claim("voice:b", "CA1", b"b", 60)[0]
    assert store.claim("step:a", "CA1", b"c", 60)[0]


@pytest.mark.parametrize(
    "body",
    [b"", b"\n\n\x00\xff binary\r\n", "<Say>你好 \u2028</Say>".encode(), bytes(range(256)) * 40],
)
def test_claim_keeps_the_body_bytes_exactly(store: Store, body: bytes) -> None:
    store.claim("k", "CA\n{json}", body, 60)
    won, claim = store.claim("k", "other", b"x", 60)
    assert not won
    assert claim.body == body
    assert claim.owner == "CA\n{json}"


def test_claim_with_an_empty_owner(store: Store) -> None:
    store.claim("k", "", b"doc", 60)
    assert store.claim("k", "", b"again", 60)[1].owner == ""


def test_claim_is_atomic_under_threads(store: Store) -> None:
    def attempt(i: int) -> bool:
        return store.claim("contested", f"CA{i}", str(i).encode(), 60)[0]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(attempt, range(48)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert store.claim("contested", "late", b"", 60)[1].owner == f"CA{winner}"


# -- counters ------------------------------------------------------------------------------


def test_incr_counts_from_one_per_key(store: Store) -> None:
    assert [store.incr("count:s1:pin", 600) for _ in range(3)] == [1, 2, 3]
    assert store.incr("count:s2:pin", 600) == 1
    assert store.incr("count:s1:other", 600) == 1


def test_incr_under_threads_loses_no_update(store: Store) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        values = sorted(pool.map(lambda _: store.incr("count:t", 600), range(40)))
    assert values == list(range(1, 41))


# -- real-time expiry (Redis expires keys on its own clock, so use the real one) -------------


def test_claims_and_counters_expire_after_their_ttl(make_store: Callable[..., Store]) -> None:
    store = make_store()  # real clock
    assert store.claim("short", "CA1", b"one", 1)[0]
    assert store.incr("count:short", 1) == 1
    assert store.incr("count:short", 1) == 2
    assert not store.claim("short", "CA2", b"two", 1)[0]
    deadline = time.monotonic() + 5
    won = False
    while not won and time.monotonic() < deadline:
        time.sleep(0.25)
        won = store.claim("short", "CA3", b"three", 1)[0]
    assert won, "the claim never expired"
    assert store.incr("count:short", 1) == 1


# -- processes -----------------------------------------------------------------------------


def _child_uses_inherited_store(store: Store, queue: Any) -> None:
    won, claim = store.claim("forked", "child", b"from child", 60)
    queue.put((won, claim.owner, store.incr("count:forked", 60)))


def test_a_forked_child_can_use_the_parents_store(store: Store, clock: Clock) -> None:
    store.put_session(Session(id="warm", app="pin", to="+1", expires_at=clock.now + 600))
    assert store.incr("count:forked", 60) == 1  # the parent has live connections now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_uses_inherited_store, args=(store, queue))
    child.start()
    try:
        assert queue.get(timeout=30) == (True, "child", 2)
    finally:
        child.join(timeout=30)
    assert child.exitcode == 0
    # and the parent's connections still work after the fork
    assert store.claim("forked", "parent", b"", 60)[1].owner == "child"
    assert store.get_session("warm") is not None


# -- URLs and failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["", "postgres://x/y", "sqlite://", "sqlite:///", "sqlite:///:memory:", "memory://"],
)
def test_unusable_store_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_store(url)
    assert info.value.code == "config-store-url"
    assert info.value.field == "STORE_URL"


def test_an_unreachable_redis_is_a_store_error() -> None:
    store = open_store(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(StoreError) as info:
            store.get_session("x")
        assert info.value.code == "store-unavailable"
        assert info.value.status == 503
    finally:
        store.close()


def test_sqlite_store_is_in_wal_mode_and_purges_expired_rows(tmp_path: Any) -> None:
    clock = Clock()
    path = tmp_path / "sub" / "dir" / "voice.db"
    store = open_store(f"sqlite:///{path}", clock=clock)
    assert isinstance(store, SQLiteStore)
    try:
        store.put_session(make_session(clock, "old", ttl=10))
        store.claim("old-claim", "CA", b"x", 10)
        store.incr("old-count", 10)
        clock.advance(3600)
        store.put_session(make_session(clock, "new", ttl=10))  # a write triggers the purge
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            tables = ("sessions", "claims", "counters")
            counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables]
        db.close()
        assert counts == [1, 0, 0]
    finally:
        store.close()


def test_sqlite_absolute_and_relative_urls(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel/here.db")
    try:
        assert isinstance(absolute, SQLiteStore) and isinstance(relative, SQLiteStore)
        assert absolute.path == f"{tmp_path}/abs.db"
        assert (tmp_path / "rel" / "here.db").exists()
    finally:
        absolute.close()
        relative.close()


def _open_fds_to(path: Any) -> int:
    fds = os.listdir("/proc/self/fd")
    count = 0
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
    return count


def test_sqlite_connections_of_finished_threads_are_released(tmp_path: Any) -> None:
    path = tmp_path / "threads.db"
    store = open_store(f"sqlite:///{path}")
    try:
        rounds = 30
        for round_ in range(rounds):  # like a threaded dev server: a new thread per request
            threads = [
                threading.Thread(target=store.incr, args=(f"count:{round_}:{i}", 60))
                for i in range(10)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        del threads
        gc.collect()
        # A connection closes when its thread is gone.  SQLite parks the files of closed
        # connections for reuse while another connection of the process holds a lock, so
        # about one round's worth stays open; but not one per thread (300 here).
        assert _open_fds_to(path) < 20
        assert store.incr("count:0:0", 60) == 2
        store.close()
        assert _open_fds_to(path) == 0
        assert store.incr("count:0:0", 60) == 3  # a closed store reconnects on use
    finally:
        store.close()


def _open_fresh_and_count(path: str, barrier: Any, queue: Any) -> None:
    barrier.wait(60)
    try:
        store = open_store(f"sqlite:///{path}")
        store.incr("count:boot", 60)
        store.close()
        queue.put("ok")
    except Exception as exc:  # reported to the parent
        queue.put(repr(exc))


def test_sqlite_workers_booting_at_once_on_a_new_file(tmp_path: Any) -> None:
    """Like gunicorn workers starting together: 16 processes create the same new database."""
    ctx = multiprocessing.get_context("fork")
    for trial in range(3):
        path = tmp_path / f"boot{trial}.db"
        barrier, queue = ctx.Barrier(16), ctx.Queue()
        workers = [
            ctx.Process(target=_open_fresh_and_count, args=(str(path), barrier, queue))
            for _ in range(16)
        ]
        for worker in workers:
            worker.start()
        results = [queue.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert results == ["ok"] * 16
        store = open_store(f"sqlite:///{path}")
        try:
            assert store.incr("count:boot", 60) == 17
        finally:
            store.close()


def test_redis_claims_without_set_nx_get_as_on_redis_6(redis_server: str) -> None:
    store = open_store(f"{redis_server}?prefix=legacy{uuid.uuid4().hex}:")
    assert isinstance(store, RedisStore)
    store._set_nx_get = False  # what the store falls back to when Redis < 7 refuses NX GET
    try:
        won, first = store.claim("k", "CA1", b"one", 60)
        assert won
        won, seen = store.claim("k", "CA2", b"two", 60)
        assert not won
        assert seen == first
    finally:
        store.close()
