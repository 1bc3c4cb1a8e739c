"""The CallStore contract, run against SQLite and a real redis-server alike."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support.stores import Clock

from voiceapp.calls import states
from voiceapp.calls.api_json import call_json
from voiceapp.calls.records import AttemptRecord, CallSpec
from voiceapp.calls.states import ACTIVE, CANCELABLE, TERMINAL
from voiceapp.calls.writes import SKIPPED, AddEvent, AddLeg, RecordAttempt, Renew, SetStatus
from voiceapp.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore
from voiceapp.stores.calls.redis import RedisCallStore
from voiceapp.stores.calls.sqlite import SQLiteCallStore

FROM = "+19499300360"


def spec(sid: str, to: str = "+886912345678", **extra: Any) -> CallSpec:
    return CallSpec(sid=sid, from_=FROM, to=to, **extra)


@pytest.fixture
def make_calls(store_url: str) -> Iterator[Callable[..., CallStore]]:
    opened: list[CallStore] = []

    def make(clock: Callable[[], float], **kwargs: Any) -> CallStore:
        store = open_call_store(store_url, clock=clock, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def calls(make_calls: Callable[..., CallStore], clock: Clock) -> CallStore:
    return make_calls(clock)


def drive(calls: CallStore, sid: str, *path: str, worker: str = "w1", lease: float = 60) -> None:
    """Take ``sid`` (it must be next) and move its a-leg through ``path``."""
    taken = calls.take(worker, lease)
    assert taken is not None and taken.sid == sid
    previous = "queued"
    for status in path:
        assert calls.set_status(sid, status, expect=previous) == previous
        previous = status


# -- opening -------------------------------------------------------------------------------


def test_open_call_store_picks_the_implementation(calls: CallStore, store_url: str) -> None:
    expected = SQLiteCallStore if store_url.startswith("sqlite") else RedisCallStore
    assert isinstance(calls, expected)


@pytest.mark.parametrize("url", ["", "mysql://x", "sqlite:///", "sqlite:///:memory:"])
def test_unusable_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_call_store(url)
    assert (info.value.code, info.value.field) == ("config-store-url", "STORE_URL")


@pytest.mark.parametrize("retention", [0, -5.0])
def test_retention_must_be_positive(tmp_path: Path, retention: float) -> None:
    with pytest.raises(ConfigError) as info:
        open_call_store(f"sqlite:///{tmp_path / 'x.db'}", retention=retention)
    assert info.value.code == "config-call-retention"


def test_status_sets_agree_with_the_dialer_state_machine() -> None:
    assert {s.value for s in states.TERMINAL} == TERMINAL
    assert {s.value for s in states.ACTIVE} == ACTIVE
    assert {s.value for s in states.CANCELABLE} == CANCELABLE


# -- create, the queue and the per-number lock -----------------------------------------------


def test_create_stores_every_field_and_queues(calls: CallStore, clock: Clock) -> None:
    full = CallSpec(
        sid="CA1",
        from_=FROM,
        to="+886912345678",
        url=None,
        app="pin",
        session_id="sess-1",
        variables={"pin": "8970", "menu": {"1": ["say", "華語"]}},
        send_digits="wwww101",
        status_callback="http://127.0.0.1:9/cb",
        status_callback_events=("initiated", "completed"),
        status_callback_method="GET",
        secret_key="s3cret",
        optional="token=123456",
        extra={"timeout": 30},
    )
    made = calls.create(full)
    assert (made.status, made.created_at, made.sid) == ("queued", clock.now, "CA1")
    clock.advance(1)
    got = calls.require("CA1")
    assert got == made
    assert got.spec == full
    assert got.timestamps == {"queued": clock.now - 1}
    (leg,) = got.legs
    assert (leg.sid, leg.parent_sid, leg.direction, leg.from_, leg.to) == (
        "CA1",
        None,
        "outbound-api",
        FROM,
        "+886912345678",
    )
    plain = call_json(got)
    json.dumps(plain)  # plain data all the way down
    assert plain["secretKey"] == "***" and call_json(got, secrets=True)["secretKey"] == "s3cret"
    assert (plain["status"], plain["senddigits"], plain["optional"]) == (
        "queued",
        "wwww101",
        "token=123456",
    )


def test_unknown_call(calls: CallStore) -> None:
    assert calls.get("CAnope") is None
    with pytest.raises(NotFoundError) as info:
        calls.require("CAnope")
    assert (info.value.code, info.value.status, info.value.field) == ("call-not-found", 404, "sid")


def test_a_reused_sid_is_refused(calls: CallStore) -> None:
    calls.create(spec("CA1"))
    with pytest.raises(ConflictError) as info:
        calls.create(spec("CA1", to="+886912000111"))
    assert (info.value.code, info.value.status) == ("call-sid-exists", 409)


@pytest.mark.parametrize("bad", ["", "CA 1", "CA:1", "x" * 65])
def test_a_malformed_sid_is_refused(calls: CallStore, bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        calls.create(spec(bad))
    assert info.value.code == "call-bad-sid"


def test_missing_numbers_are_refused(calls: CallStore) -> None:
    for bad, field in ((spec("CA1", to=""), "to"), (CallSpec("CA1", "", "+886912345678"), "from")):
        with pytest.raises(ValidationError) as info:
            calls.create(bad)
        assert (info.value.code, info.value.field) == ("missing", field)
    assert calls.get("CA1") is None


@pytest.mark.parametrize("path", [(), ("initiated",), ("initiated", "ringing"), ("in-progress",)])
def test_second_call_to_a_queued_or_active_number_is_409(
    calls: CallStore, path: tuple[str, ...]
) -> None:
    calls.create(spec("CA1"))
    if path:
        drive(calls, "CA1", *path)
    with pytest.raises(ConflictError) as info:
        calls.create(spec("CA2"))
    err = info.value
    assert (err.code, err.status, err.field) == ("call-to-busy", 409, "to")
    assert "CA1" in err.message
    assert calls.get("CA2") is None  # nothing written
    calls.create(spec("CA3", to="+886912000111"))  # other numbers are free


@pytest.mark.parametrize(
    "path",
    [
        ("initiated", "ringing", "in-progress", "completed"),
        ("initiated", "busy"),
        ("initiated", "ringing", "no-answer"),
        ("failed",),
    ],
)
def test_number_is_free_again_once_the_call_ends(calls: CallStore, path: tuple[str, ...]) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", *path)
    again = calls.create(spec("CA2"))
    assert again.status == "queued"
    with pytest.raises(ConflictError):
        calls.create(spec("CA3"))


def test_create_is_atomic_under_threads(calls: CallStore) -> None:
    barrier = threading.Barrier(12, timeout=30)

    def attempt(i: int) -> str:
        barrier.wait()
        try:
            calls.create(spec(f"CA{i}"))
        except ConflictError as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(attempt, range(12)))
    assert results.count("ok") == 1
    assert results.count("call-to-busy") == 11


def test_threads_take_each_call_once(calls: CallStore) -> None:
    sids = [f"CA{i:03d}" for i in range(60)]
    for i, sid in enumerate(sids):
        calls.create(spec(sid, to=f"+1415555{i:04d}"))
    barrier = threading.Barrier(6, timeout=30)

    def drain(worker: int) -> list[str]:
        barrier.wait()
        mine = []
        while (call := calls.take(f"w{worker}", 30)) is not None:
            mine.append(call.sid)
        return mine

    with ThreadPoolExecutor(max_workers=6) as pool:
        taken = [sid for mine in pool.map(drain, range(6)) for sid in mine]
    assert sorted(taken) == sids


def test_take_is_fifo_with_a_lease(calls: CallStore, clock: Clock) -> None:
    for i in range(3):
        calls.create(spec(f"CA{i}", to=f"+88691234567{i}"))
        clock.advance(1)
    first = calls.take("w1", 30)
    assert first is not None
    assert (first.sid, first.status, first.lease_owner, first.lease_until, first.takes) == (
        "CA0",
        "queued",
        "w1",
        clock.now + 30,
        1,
    )
    assert [c.sid for c in (calls.take("w2", 30), calls.take("w1", 30)) if c] == ["CA1", "CA2"]
    assert calls.take("w1", 30) is None


# -- statuses and legs ------------------------------------------------------------------------


def test_status_changes_are_timestamped_and_completion_has_a_duration(
    calls: CallStore, clock: Clock
) -> None:
    start = clock.now
    calls.create(spec("CA1"))
    calls.take("w1", 60)
    for status, previous in [
        ("initiated", "queued"),
        ("ringing", "initiated"),
        ("in-progress", "ringing"),
    ]:
        clock.advance(2)
        assert calls.set_status("CA1", status, expect=previous) == previous
    clock.advance(9)
    calls.set_status("CA1", "completed", expect="in-progress", duration=9)
    record = calls.require("CA1")
    assert record.status == "completed"
    assert (record.ended_at, record.duration) == (start + 15, 9)
    assert record.timestamps == {
        "queued": start,
        "initiated": start + 2,
        "ringing": start + 4,
        "in-progress": start + 6,
        "completed": start + 15,
    }
    assert (record.lease_owner, record.lease_until) == (None, None)
    assert record.legs[0].duration == 9 and record.legs[0].ended_at == start + 15


def test_unexpected_status_is_a_conflict_and_terminal_is_final(calls: CallStore) -> None:
    calls.create(spec("CA1"))
    with pytest.raises(ConflictError) as info:
        calls.set_status("CA1", "in-progress", expect=("initiated", "ringing"))
    assert info.value.code == "call-status-conflict"
    assert calls.require("CA1").status == "queued"
    calls.set_status("CA1", "failed")
    for status in ("initiated", "completed", "failed"):
        with pytest.raises(ConflictError):
            calls.set_status("CA1", status)
    with pytest.raises(ValidationError):
        calls.set_status("CA1", "exploded")
    with pytest.raises(NotFoundError):
        calls.set_status("CAnope", "initiated")


def test_b_legs_with_parent_call_sid(calls: CallStore, clock: Clock) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", "initiated", "in-progress")
    assert calls.add_leg("CA1", "CB1", from_=FROM, to="+18005797676", parent_sid="CA1")
    assert not calls.add_leg("CA1", "CB1", from_=FROM, to="+18005797676", parent_sid="CA1")
    calls.add_leg("CA1", "CB2", from_=FROM, to="+18005550100", parent_sid="CA1")
    clock.advance(1)
    calls.set_status("CA1", "initiated", leg_sid="CB1", expect="queued")
    calls.set_status("CA1", "initiated", leg_sid="CB2", expect="queued")
    clock.advance(2)
    calls.set_status("CA1", "in-progress", leg_sid="CB1", expect="initiated")
    calls.set_status("CA1", "canceled", leg_sid="CB2", expect="initiated", duration=0)
    clock.advance(5)
    calls.set_status("CA1", "completed", leg_sid="CB1", duration=5)
    record = calls.require("CA1")
    assert record.status == "in-progress"  # b-legs do not end the call
    a, b1, b2 = record.legs
    assert a.sid == "CA1" and a.parent_sid is None
    assert (b1.sid, b1.parent_sid, b1.direction, b1.to, b1.status, b1.duration) == (
        "CB1",
        "CA1",
        "outbound-dial",
        "+18005797676",
        "completed",
        5,
    )
    assert [c.status for c in b1.history] == ["queued", "initiated", "in-progress", "completed"]
    assert [c.status for c in b2.history] == ["queued", "initiated", "canceled"]
    with pytest.raises(ConflictError):  # the a-leg's number is still busy
        calls.create(spec("CA2"))
    with pytest.raises(NotFoundError) as info:
        calls.set_status("CA1", "initiated", leg_sid="CBnope")
    assert info.value.code == "call-leg-not-found"
    with pytest.raises(NotFoundError):
        calls.add_leg("CAnope", "CB9", from_=FROM, to="+18005797676")


# -- events and delivery attempts -----------------------------------------------------------


def add_event(calls: CallStore, sid: str, name: str, seq: int, leg: str | None = None) -> bool:
    leg = leg or sid
    return calls.add_event(
        sid,
        f"{leg}:{name}",
        leg_sid=leg,
        sequence=seq,
        name=name,
        url="http://127.0.0.1:9/cb",
        method="POST",
        params=[("CallSid", leg), ("CallStatus", name), ("optional", "a=b&c=華")],
    )


def test_events_and_attempts_round_trip(calls: CallStore, clock: Clock) -> None:
    calls.create(spec("CA1"))
    assert add_event(calls, "CA1", "initiated", 0)
    assert not add_event(calls, "CA1", "initiated", 0)  # the stable id is stored once
    clock.advance(1)
    assert add_event(calls, "CA1", "answered", 1)
    calls.add_leg("CA1", "CB1", from_=FROM, to="+18005797676", parent_sid="CA1")
    assert add_event(calls, "CA1", "initiated", 0, leg="CB1")
    first = AttemptRecord(1, clock.now, False, status=500)
    calls.record_attempt("CA1", "CA1:initiated", first, state="pending")
    calls.record_attempt("CA1", "CA1:initiated", first, state="pending")  # idempotent
    clock.advance(2)
    second = AttemptRecord(2, clock.now, False, error="ConnectionError: refused")
    calls.record_attempt("CA1", "CA1:initiated", second, state="pending")
    clock.advance(4)
    third = AttemptRecord(3, clock.now, True, status=204)
    calls.record_attempt("CA1", "CA1:initiated", third, state="delivered")
    calls.record_attempt("CA1", "CA1:initiated", third, state="pending")  # delivered stays
    gone = AttemptRecord(1, clock.now, False, status=404)
    calls.record_attempt("CA1", "CB1:initiated", gone, state="failed")

    record = calls.require("CA1")
    assert [e.event_id for e in record.events] == ["CA1:initiated", "CA1:answered", "CB1:initiated"]
    initiated, answered, b_initiated = record.events
    assert initiated.attempts == (first, second, third)
    assert initiated.delivered and initiated.state == "delivered"
    assert (answered.state, answered.attempts, answered.sequence) == ("pending", (), 1)
    assert (b_initiated.leg_sid, b_initiated.state) == ("CB1", "failed")
    assert initiated.params == (
        ("CallSid", "CA1"),
        ("CallStatus", "initiated"),
        ("optional", "a=b&c=華"),
    )
    plain = call_json(record)["events"][0]
    assert plain["delivered"] is True
    assert [a["status"] for a in plain["attempts"]] == [500, None, 204]
    assert json.loads(json.dumps(plain)) == plain
    with pytest.raises(NotFoundError):
        calls.record_attempt("CA1", "CA1:nope", first, state="pending")
    with pytest.raises(NotFoundError):
        add_event(calls, "CAnope", "initiated", 0)


def test_undelivered_lists_pending_events_oldest_first(
    make_calls: Callable[..., CallStore], calls: CallStore, clock: Clock
) -> None:
    calls.create(spec("CA1"))
    calls.create(spec("CA2", to="+886912000111"))
    add_event(calls, "CA1", "initiated", 0)
    add_event(calls, "CA2", "initiated", 0)
    add_event(calls, "CA1", "completed", 1)
    calls.record_attempt(
        "CA1", "CA1:initiated", AttemptRecord(1, clock.now, True, 200), state="delivered"
    )
    calls.record_attempt(
        "CA2", "CA2:initiated", AttemptRecord(1, clock.now, False, 503), state="pending"
    )
    # a restarted process (a new store on the same URL) sees what is left to deliver
    restarted = make_calls(clock)
    pending = restarted.undelivered()
    assert [e.event_id for e in pending] == ["CA2:initiated", "CA1:completed"]
    assert pending[0].attempts == (AttemptRecord(1, clock.now, False, 503),)
    assert [e.event_id for e in restarted.undelivered(limit=1)] == ["CA2:initiated"]


# -- cancel --------------------------------------------------------------------------------


def test_cancel_a_queued_call_at_once(calls: CallStore, clock: Clock) -> None:
    calls.create(spec("CA1"))
    calls.create(spec("CA2", to="+886912000111"))
    clock.advance(3)
    record = calls.cancel("CA1")
    assert (record.status, record.ended_at, record.duration) == ("canceled", clock.now, 0)
    assert [c.status for c in record.legs[0].history] == ["queued", "canceled"]
    taken = calls.take("w1", 30)
    assert taken is not None and taken.sid == "CA2"  # the canceled one left the queue
    assert calls.take("w1", 30) is None
    calls.create(spec("CA3"))  # its number is free


def test_cancel_a_taken_but_not_dialed_call(calls: CallStore) -> None:
    calls.create(spec("CA1"))
    calls.take("w1", 30)
    assert calls.cancel("CA1").status == "canceled"
    with pytest.raises(ConflictError) as info:  # the worker finds out when it dials
        calls.set_status("CA1", "initiated", expect="queued")
    assert info.value.code == "call-status-conflict"


@pytest.mark.parametrize("path", [("initiated",), ("initiated", "ringing")])
def test_cancel_a_dialing_call_is_a_request_to_its_worker(
    calls: CallStore, clock: Clock, path: tuple[str, ...]
) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", *path, worker="w1")
    clock.advance(1)
    record = calls.cancel("CA1")
    assert (record.status, record.cancel_requested_at) == (path[-1], clock.now)
    assert call_json(record)["cancelRequested"] is True
    assert calls.cancel_requests("w1") == ["CA1"]
    assert calls.cancel_requests("w2") == []
    calls.set_status("CA1", "canceled", expect=path[-1], duration=0)
    assert calls.cancel_requests("w1") == []


@pytest.mark.parametrize("path", [("in-progress",), ("in-progress", "completed"), ("busy",)])
def test_cancel_refused_after_answer_or_end(calls: CallStore, path: tuple[str, ...]) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", "initiated", *path)
    with pytest.raises(ConflictError) as info:
        calls.cancel("CA1")
    err = info.value
    assert (err.code, err.status, err.field) == ("call-not-cancelable", 409, "sid")
    assert path[-1] in err.message


def test_cancel_unknown_call_is_404(calls: CallStore) -> None:
    with pytest.raises(NotFoundError) as info:
        calls.cancel("CAnope")
    assert info.value.code == "call-not-found"


# -- leases --------------------------------------------------------------------------------


def test_lease_expiry_finds_the_calls_of_a_dead_worker(calls: CallStore, clock: Clock) -> None:
    calls.create(spec("CA1"))
    calls.create(spec("CA2", to="+886912000111"))
    calls.create(spec("CA3", to="+886912000222"))
    drive(calls, "CA1", "initiated", "in-progress", worker="dead", lease=30)
    calls.take("dead", 30)  # CA2 taken, never dialed
    drive(calls, "CA3", "initiated", worker="alive", lease=30)
    clock.advance(29)
    assert calls.expired_leases() == []
    assert calls.renew("CA3", "alive", 30)
    clock.advance(1)
    assert sorted(calls.expired_leases()) == ["CA1", "CA2"]
    assert calls.reclaim("CA3", "w2", 30) is None  # its lease is current
    reclaimed = calls.reclaim("CA1", "w2", 30)
    assert reclaimed is not None
    assert (reclaimed.lease_owner, reclaimed.takes, reclaimed.status) == ("w2", 2, "in-progress")
    assert calls.reclaim("CA1", "w3", 30) is None  # taken over once
    assert not calls.renew("CA1", "dead", 30)  # the old owner lost it
    assert calls.expired_leases() == ["CA2"]
    calls.set_status("CA2", "failed")  # the recovering worker gives up on it
    assert calls.expired_leases() == []
    clock.advance(31)
    assert sorted(calls.expired_leases()) == ["CA1", "CA3"]
    assert not calls.renew("CA2", "dead", 30)  # finished calls have no lease


def test_renewal_records_the_heartbeat_and_recovery_marks_the_call(
    calls: CallStore, clock: Clock
) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", "initiated", "in-progress", worker="w1", lease=30)
    fresh = calls.require("CA1")
    assert fresh.heartbeat_at is None and fresh.recovered is False
    clock.advance(10)
    assert calls.renew("CA1", "w1", 30)  # no time given: the store clock's
    assert calls.require("CA1").heartbeat_at == clock.now
    assert calls.apply([Renew("CA1", "w1", 30, at=clock.now + 0.25)]) == [True]
    record = calls.require("CA1")
    assert record.heartbeat_at == clock.now + 0.25  # the worker's own time of the renewal
    assert record.lease_until == clock.now + 30  # the lease stays on the store clock
    assert not calls.renew("CA1", "w2", 30, at=clock.now + 5)  # not the holder: no heartbeat
    assert calls.require("CA1").heartbeat_at == clock.now + 0.25
    # a b-leg settled by recovery does not mark the call; its a-leg does, in the same write
    calls.add_leg("CA1", "CA1b", from_=FROM, to="+886912000111", parent_sid="CA1")
    calls.set_status("CA1", "completed", leg_sid="CA1b", duration=3, recovered=True)
    assert calls.require("CA1").recovered is False
    settle = SetStatus("CA1", "completed", expect=("in-progress",), duration=10, recovered=True)
    calls.apply([settle])
    done = calls.require("CA1")
    assert (done.status, done.duration, done.recovered) == ("completed", 10, True)
    assert call_json(done)["recovered"] is True
    assert call_json(done)["heartbeatAt"] == clock.now + 0.25
    # a call ended by its own worker is not recovered
    calls.create(spec("CA2", to="+886912000222"))
    drive(calls, "CA2", "initiated", "in-progress", "completed", worker="w1", lease=30)
    assert calls.require("CA2").recovered is False


# -- retention -----------------------------------------------------------------------------


def test_finished_calls_expire_after_the_retention(
    make_calls: Callable[..., CallStore], clock: Clock
) -> None:
    calls = make_calls(clock, retention=600)
    calls.create(spec("CA1"))
    calls.create(spec("CA2", to="+886912000111"))
    add_event(calls, "CA1", "initiated", 0)
    calls.set_status("CA1", "failed", duration=0)
    add_event(calls, "CA1", "completed", 1)  # written after the end: expires with it
    if isinstance(calls, RedisCallStore):
        client, p = calls.client, calls.prefix
        for key in (f"{p}call:CA1", f"{p}call:CA1:history", f"{p}call:CA1:events"):
            assert 595_000 < client.pttl(key) <= 600_000, key
        for key in (f"{p}call:CA2", f"{p}call:CA2:history", f"{p}calls:to:+886912000111"):
            assert client.pttl(key) == -1, key  # active: no expiry
    else:
        clock.advance(599)
        assert calls.purge() == 0
        clock.advance(2)
        assert calls.purge() == 1
        assert calls.get("CA1") is None
        assert calls.undelivered() == []
        assert calls.require("CA2").status == "queued"


# -- batch ---------------------------------------------------------------------------------


def test_batch_groups_writes_and_keeps_them_after_a_caught_error(
    make_calls: Callable[..., CallStore], calls: CallStore, clock: Clock
) -> None:
    other = make_calls(clock)  # another process, in effect
    calls.create(spec("CA1"))
    calls.take("w1", 60)
    with calls.batch():
        calls.set_status("CA1", "initiated", expect="queued")
        add_event(calls, "CA1", "initiated", 0)
        with pytest.raises(ConflictError):  # caught: only this operation is undone
            calls.set_status("CA1", "in-progress", expect="ringing")
        calls.create(spec("CA2", to="+886912000111"))
        with pytest.raises(ConflictError):
            calls.create(spec("CA3", to="+886912000111"))
        calls.set_status("CA1", "ringing", expect="initiated")
        assert calls.require("CA1").status == "ringing"  # reads see the batch's writes
        if isinstance(calls, SQLiteCallStore):
            assert other.require("CA1").status == "queued"  # nobody else sees them yet
    record = other.require("CA1")
    assert [c.status for c in record.legs[0].history] == ["queued", "initiated", "ringing"]
    assert [e.event_id for e in record.events] == ["CA1:initiated"]
    assert other.require("CA2").status == "queued"
    assert other.get("CA3") is None


def test_take_many_takes_the_oldest_each_once(calls: CallStore, clock: Clock) -> None:
    for i in range(5):
        calls.create(spec(f"CA{i}", to=f"+88691234567{i}"))
        clock.advance(1)
    calls.cancel("CA1")  # a canceled call is never taken
    assert calls.take_many("w1", 30, 0) == []
    first = calls.take_many("w1", 30, 2)
    assert [(c.sid, c.status, c.lease_owner, c.lease_until, c.takes) for c in first] == [
        ("CA0", "queued", "w1", clock.now + 30, 1),
        ("CA2", "queued", "w1", clock.now + 30, 1),
    ]
    assert [c.legs[0].history[0].status for c in first] == ["queued", "queued"]
    assert [c.sid for c in calls.take_many("w2", 30, 10)] == ["CA3", "CA4"]
    assert calls.take_many("w2", 30, 10) == []
    assert calls.take("w1", 30) is None


def test_apply_writes_in_order_and_skips_the_rest_of_a_failed_call(
    make_calls: Callable[..., CallStore], calls: CallStore, clock: Clock
) -> None:
    other = make_calls(clock)
    calls.create(spec("CA1"))
    calls.create(spec("CA2", to="+886912000111"))
    calls.take_many("w1", 60, 2)
    attempt = AttemptRecord(1, clock.now, True, 200)
    params = (("CallSid", "CA1"), ("CallStatus", "initiated"))
    results = calls.apply(
        [
            SetStatus("CA1", "initiated", expect=("queued",)),
            AddEvent("CA1", "CA1:initiated", "CA1", 0, "initiated", "http://cb", "POST", params),
            SetStatus("CA2", "ringing", expect=("initiated",)),  # CA2 is queued: refused
            AddEvent("CA2", "CA2:ringing", "CA2", 0, "ringing", "http://cb", "POST", params),
            SetStatus("CA2", "failed", duration=0),  # skipped: an earlier write of CA2 failed
            RecordAttempt("CA1", "CA1:initiated", attempt, "delivered"),
            AddLeg("CA1", "CA1b1", "+19499300360", "+886912000222", parent_sid="CA1"),
            SetStatus("CA1", "in-progress", leg_sid="CA1b1", expect=("queued",)),
            Renew("CA1", "w1", 120),
            Renew("CA2", "w2", 120),  # skipped (CA2 failed); and not w2's anyway
            SetStatus("CA9", "failed"),  # no such call
            SetStatus("CA1", "bogus"),  # refused before it is sent
            Renew("CA1", "w1", 180),  # skipped: CA1's previous write failed
        ]
    )
    assert results[:2] == ["queued", True]
    assert isinstance(results[2], ConflictError) and results[2].code == "call-status-conflict"
    assert results[3:5] == [SKIPPED, SKIPPED]
    assert results[5:8] == [None, True, "queued"]
    assert results[8:10] == [True, SKIPPED]
    assert isinstance(results[10], NotFoundError)
    assert isinstance(results[11], ValidationError)
    assert results[12] is SKIPPED
    one, two = other.require("CA1"), other.require("CA2")
    assert (one.status, one.lease_until) == ("initiated", clock.now + 120)
    assert [e.event_id for e in one.events] == ["CA1:initiated"]
    assert one.events[0].delivered and one.events[0].attempts == (attempt,)
    assert [(leg.sid, leg.status) for leg in one.legs] == [
        ("CA1", "initiated"),
        ("CA1b1", "in-progress"),
    ]
    assert (two.status, two.events, two.lease_until) == ("queued", (), clock.now + 60)
    assert calls.apply([]) == []


def test_sqlite_batch_that_raises_writes_nothing(tmp_path: Path, clock: Clock) -> None:
    calls = SQLiteCallStore(tmp_path / "calls.db", clock=clock)
    try:
        calls.create(spec("CA1"))
        with pytest.raises(RuntimeError), calls.batch():
            calls.set_status("CA1", "failed", duration=0)
            calls.create(spec("CA2", to="+886912000111"))
            raise RuntimeError("the dialer fell over")
        assert calls.require("CA1").status == "queued"
        assert calls.get("CA2") is None
        with pytest.raises(ConflictError):  # CA1 still holds its number
            calls.create(spec("CA3"))
    finally:
        calls.close()


def test_sqlite_file_made_before_heartbeats_gets_the_new_columns(
    tmp_path: Path, clock: Clock
) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = SQLiteCallStore(path, clock=clock)
    old.create(spec("CAold"))
    old.close()
    db = sqlite3.connect(path)  # the calls table as it was before issue 10
    db.execute("ALTER TABLE calls DROP COLUMN heartbeat_at")
    db.execute("ALTER TABLE calls DROP COLUMN recovered")
    db.commit()
    db.close()
    calls = SQLiteCallStore(path, clock=clock)
    try:
        before = calls.require("CAold")
        assert before.heartbeat_at is None and before.recovered is False
        drive(calls, "CAold", "initiated", "in-progress")
        assert calls.renew("CAold", "w1", 60, at=clock.now + 1)
        calls.set_status("CAold", "completed", duration=1, recovered=True)
        after = calls.require("CAold")
        assert after.heartbeat_at == clock.now + 1 and after.recovered is True
    finally:
        calls.close()


# -- operations: ping, heartbeats, stats ----------------------------------------------------


def test_ping_heartbeats_and_stats(calls: CallStore, clock: Clock) -> None:
    calls.ping()
    assert calls.heartbeats() == {}
    empty = calls.stats()
    assert (dict(empty.by_status), empty.waiting, empty.oldest_waiting_at) == ({}, 0, None)

    calls.beat("w1", clock.now - 5)
    calls.beat("w2", clock.now - 3)
    calls.beat("w1", clock.now)  # a later beat replaces the worker's earlier one
    assert calls.heartbeats() == {"w1": clock.now, "w2": clock.now - 3}

    first_at = clock.now
    calls.create(spec("CAops1", to="+886912000001"))
    clock.advance(2)
    calls.create(spec("CAops2", to="+886912000002"))
    calls.create(spec("CAops3", to="+886912000003"))
    taken = calls.take("w1", 30)
    assert taken is not None and taken.sid == "CAops1"
    calls.set_status("CAops1", "initiated", expect="queued")
    calls.cancel("CAops3")
    stats = calls.stats()
    assert dict(stats.by_status) == {"initiated": 1, "queued": 1, "canceled": 1}
    assert stats.waiting == 1
    assert stats.oldest_waiting_at == first_at + 2


def test_old_heartbeats_are_dropped(calls: CallStore, clock: Clock) -> None:
    from voiceapp.stores.calls.base import HEARTBEAT_KEEP

    calls.beat("gone", clock.now - HEARTBEAT_KEEP - 1)
    calls.beat("here", clock.now)
    assert calls.heartbeats() == {"here": clock.now}
