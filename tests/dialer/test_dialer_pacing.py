"""Pacing and limits in the dialer worker: calls per second per ``from`` number and in
all, the concurrency cap, the queue TTL (``voiceapp.dialer.pacing``), on the virtual
clock with the SQLite call store and a real HTTP callback receiver on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.clocks import Clock
from support.sites import Site, serve_site
from support.worker import CALLBACK_SECRETS, CALLER, FETCH_SECRETS, make_settings, spec

from voiceapp.calls.api_json import call_json
from voiceapp.calls.records import CallChange, new_record
from voiceapp.config import load_settings
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.pacing import HOLD_LIMIT, QUEUE_EXPIRED, Limits, Pacer
from voiceapp.dialer.trace import TraceEntry
from voiceapp.dialer.worker import Dialer
from voiceapp.errors import ConfigError
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore

OTHER = "+19499300361"  # a second caller number
CALLEES = [f"+8869120001{n:02d}" for n in range(12)]
NETWORK = {"numbers": {number: {"rings": 1} for number in CALLEES}}
HANG_UP = "<Response><Hangup/></Response>"
HOLD_10 = '<Response><Pause length="10"/></Response>'


@pytest.fixture
def store_clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, store_clock: Clock) -> Iterator[CallStore]:
    calls = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}", clock=store_clock)
    yield calls
    calls.close()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site(FETCH_SECRETS[-1], CALLBACK_SECRETS[-1]) as running:
        yield running


def dialer(store: CallStore, site: Site, **limits: Any) -> Dialer:
    settings = make_settings(site, NETWORK=NETWORK, **limits)
    return Dialer(settings, store, clock=VirtualClock(), worker_id="w-pace")


def place(
    store: CallStore, site: Site, sid: str, to: str, *, from_: str = CALLER, **kw: Any
) -> None:
    kw.setdefault("twiml", HANG_UP)
    store.create(replace(spec(sid, to, site, url=None, **kw), from_=from_))


def started(store: CallStore, sids: list[str]) -> list[float]:
    """When each call was dialed (``initiated``), in seconds after the first of them."""
    times = [store.require(sid).timestamps["initiated"] for sid in sids]
    return [round(t - min(times), 3) for t in times]


def test_one_number_at_one_cps_starts_a_call_a_second(store: CallStore, site: Site) -> None:
    sids = [f"CAone{n}" for n in range(5)]
    for sid, to in zip(sids, CALLEES, strict=False):
        place(store, site, sid, to)
    worker = dialer(store, site, DIALER_CPS_PER_FROM=1)
    assert worker.run_until_idle() == 5
    assert started(store, sids) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(store.require(sid).status == "completed" for sid in sids)
    assert all(store.require(sid).takes == 1 for sid in sids)


def test_two_numbers_go_in_parallel(store: CallStore, site: Site) -> None:
    a = [f"CAa{n}" for n in range(3)]
    b = [f"CAb{n}" for n in range(3)]
    for n in range(3):  # interleaved in the queue: a0 b0 a1 b1 a2 b2
        place(store, site, a[n], CALLEES[2 * n])
        place(store, site, b[n], CALLEES[2 * n + 1], from_=OTHER)
    worker = dialer(store, site, DIALER_CPS_PER_FROM=1)
    assert worker.run_until_idle() == 6
    assert started(store, a + b) == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]


def test_half_a_call_a_second_spaces_them_two_seconds(store: CallStore, site: Site) -> None:
    sids = [f"CAhalf{n}" for n in range(3)]
    for sid, to in zip(sids, CALLEES, strict=False):
        place(store, site, sid, to)
    assert dialer(store, site, DIALER_CPS_PER_FROM=0.5).run_until_idle() == 3
    assert started(store, sids) == [0.0, 2.0, 4.0]


def test_the_deployment_cps_caps_every_number(store: CallStore, site: Site) -> None:
    sids = []
    for n in range(4):
        sid = f"CAall{n}"
        place(store, site, sid, CALLEES[n], from_=CALLER if n % 2 else OTHER)
        sids.append(sid)
    # 5 CPS per number would start the four at 0, 0, 0.2, 0.2; 2 CPS in all caps them
    worker = dialer(store, site, DIALER_CPS_PER_FROM=5, DIALER_CPS=2)
    assert worker.run_until_idle() == 4
    assert started(store, sids) == [0.0, 0.5, 1.0, 1.5]


def test_the_concurrency_cap_holds_the_next_call_queued(store: CallStore, site: Site) -> None:
    sids = [f"CAcap{n}" for n in range(3)]
    for sid, to in zip(sids, CALLEES, strict=False):
        place(store, site, sid, to, twiml=HOLD_10)
    worker = dialer(store, site, DIALER_CONCURRENCY=2, DIALER_CPS_PER_FROM=100)
    assert worker.run_until_idle() == 3
    first, second, third = (store.require(sid) for sid in sids)
    assert worker.peak_in_flight == 2
    ended = min(r.ended_at for r in (first, second) if r.ended_at is not None)
    assert third.timestamps["initiated"] >= ended  # dialed only once one had ended
    assert third.timestamps["initiated"] - first.timestamps["initiated"] >= 10
    assert [r.status for r in (first, second, third)] == ["completed"] * 3


def test_a_call_past_the_ttl_is_canceled_with_its_reason(store: CallStore, site: Site) -> None:
    place(store, site, "CAttl0", CALLEES[0], twiml=HOLD_10)
    place(store, site, "CAttl1", CALLEES[1], twiml=HOLD_10)
    worker = dialer(store, site, DIALER_CONCURRENCY=1, DIALER_QUEUE_TTL=5)
    assert worker.run_until_idle() == 1
    assert site.wait(lambda: "CAttl1:completed" in site.accepted)

    first, late = store.require("CAttl0"), store.require("CAttl1")
    assert first.status == "completed"
    assert late.status == "canceled" and late.duration == 0 and late.ended_at is not None
    assert [c.status for c in late.legs[0].history] == ["queued", "canceled"]
    assert late.error is not None and late.error["code"] == QUEUE_EXPIRED
    assert "DIALER_QUEUE_TTL" in late.error["message"]
    shown = call_json(late)
    assert shown["status"] == "canceled"
    assert shown["error"]["code"] == QUEUE_EXPIRED
    assert [row["kind"] for row in shown["trace"]] == [QUEUE_EXPIRED]
    # canceled 5 s after it was taken (the first call still held the only line)
    canceled_at = late.legs[0].history[-1].at
    assert canceled_at - first.timestamps["initiated"] == pytest.approx(5.0, abs=0.01)
    # its completed callback says canceled, and only that one was sent (it never dialed)
    assert [e.name for e in late.events] == ["completed"]
    assert late.events[0].state == "delivered"
    delivered = site.accepted["CAttl1:completed"][0]
    assert delivered["CallStatus"] == "canceled" and delivered["CallDuration"] == "0"
    assert site.accepted_events("CAttl1") == ["completed"]
    # the number is free again: a new call to it is accepted
    place(store, site, "CAttl2", CALLEES[1])


def test_the_ttl_counts_from_creation_on_the_store_clock(
    store: CallStore, site: Site, store_clock: Clock
) -> None:
    place(store, site, "CAold", CALLEES[0])
    store_clock.advance(61)  # no dialer ran for a minute
    worker = dialer(store, site, DIALER_QUEUE_TTL=60)
    assert worker.run_until_idle() == 0
    assert store.require("CAold").status == "canceled"
    assert store.require("CAold").error == {
        "code": QUEUE_EXPIRED,
        "message": "the call waited queued longer than DIALER_QUEUE_TTL (60 s) "
        "and was canceled before it was dialed",
        "ttl": 60.0,
    }


def test_a_held_call_can_be_canceled_and_changed(store: CallStore, site: Site) -> None:
    for n in range(3):
        place(store, site, f"CAheld{n}", CALLEES[n])
    worker = dialer(store, site, DIALER_CPS_PER_FROM=1)
    assert worker._housekeeping(None) == 1  # one round: the first started, two wait
    assert set(worker.pacer.held) == {"CAheld1", "CAheld2"}
    assert store.require("CAheld1").status == "queued"  # taken, still queued
    store.cancel("CAheld1")  # a queued call is canceled at once, taken or not
    say = "<Response><Say>changed</Say></Response>"
    store.request_change("CAheld2", CallChange(twiml=say))
    assert worker.run_until_idle() == 2  # the first, and the changed one
    assert store.require("CAheld1").status == "canceled"
    assert "initiated" not in store.require("CAheld1").timestamps  # never dialed
    changed = store.require("CAheld2")
    assert changed.status == "completed"
    assert [r["detail"].get("text") for r in changed.trace if r["kind"] == "say"] == ["changed"]


def test_held_calls_keep_their_leases(store: CallStore, site: Site, store_clock: Clock) -> None:
    for n in range(3):
        place(store, site, f"CAlease{n}", CALLEES[n])
    worker = dialer(store, site, DIALER_CPS_PER_FROM=1)
    assert worker._housekeeping(None) == 1
    held = store.require("CAlease2")
    assert held.lease_owner == "w-pace" and held.lease_until is not None
    # renewed like a running call's: due after a third of the lease (5 s here)
    worker._renew_held(time.monotonic() + 60)
    assert store.require("CAlease2").lease_until == pytest.approx(store_clock() + 5)
    # a lease run out (a slow loop) is renewed by the recovery pass, never taken over
    store_clock.advance(30)
    report = worker.recover()
    assert report.taken_over == [] and report.settled == []
    assert set(worker.pacer.held) == {"CAlease1", "CAlease2"}
    assert worker.run_until_idle() == 3
    assert all(store.require(f"CAlease{n}").takes == 1 for n in range(3))


def test_pacing_off_by_default_dials_at_once(store: CallStore, site: Site) -> None:
    sids = [f"CAfree{n}" for n in range(4)]
    for sid, to in zip(sids, CALLEES, strict=False):
        place(store, site, sid, to)
    worker = dialer(store, site)
    assert not worker.pacer.active
    assert worker.run_until_idle() == 4
    assert started(store, sids) == [0.0, 0.0, 0.0, 0.0]


def test_inbound_calls_are_not_paced(site: Site) -> None:
    pacer = Pacer(Limits(per_from=1, total=1))
    calls = [spec(f"CAin{n}", CALLEES[n], site, url=None) for n in range(3)]
    pacer.hold([new_record(replace(c, direction="inbound"), 0.0) for c in calls], 0.0, 0.0)
    released, paced = pacer.release(0.0, 10)
    assert [r.sid for r in released] == ["CAin0", "CAin1", "CAin2"] and paced == 0
    assert pacer.next_slot == {}


def test_the_hold_is_bounded() -> None:
    assert Pacer(Limits(per_from=1)).room() == HOLD_LIMIT


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DIALER_CPS_PER_FROM", "-1"),
        ("DIALER_CPS_PER_FROM", "fast"),
        ("DIALER_CPS", "1e9"),
        ("DIALER_QUEUE_TTL", "-5"),
        ("DIALER_QUEUE_TTL", "604801"),
    ],
)
def test_bad_limits_are_config_errors(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={f"VOICEAPP_{key}": value})
    assert info.value.field == key and key in str(info.value)


def test_the_twilio_view_shows_the_wait_and_the_cancel(tmp_path: Path, site: Site) -> None:
    from voiceapp.web.twilio_api import call_resource

    clock = VirtualClock()  # the store on the dialer's clock: queue waits in virtual seconds
    store = open_call_store(
        f"sqlite:///{tmp_path / 'v.db'}", clock=lambda: clock.wall().timestamp()
    )
    try:
        for n in range(3):
            place(store, site, f"CAtw{n}", CALLEES[n], twiml=HOLD_10)
        settings = make_settings(
            site, NETWORK=NETWORK, DIALER_CPS_PER_FROM=1, DIALER_CONCURRENCY=2, DIALER_QUEUE_TTL=5
        )
        assert Dialer(settings, store, clock=clock, worker_id="w-tw").run_until_idle() == 2
        shown = [call_resource(store.require(f"CAtw{n}"), "AC" + "0" * 32) for n in range(3)]
        assert [c["status"] for c in shown] == ["completed", "completed", "canceled"]
        assert [c["queue_time"] for c in shown] == ["0", "1000", "5000"]
        assert shown[2]["start_time"] is None and shown[2]["end_time"] is not None
        assert shown[2]["duration"] == "0"
    finally:
        store.close()


def test_a_call_queued_while_others_wait_takes_its_turn_after_them(
    store: CallStore, site: Site
) -> None:
    # 10 calls a second in all: rounds come every 0.1 s; the store's queue, found empty
    # once the thirty were taken, is read again within a virtual second (not only once
    # the hold is empty), as without pacing
    waiting = [f"CAturn{n:02d}" for n in range(30)]
    for n, sid in enumerate(waiting):
        place(store, site, sid, f"+8869120002{n:02d}", from_=CALLER if n % 2 else OTHER)
    network = {"numbers": {f"+8869120002{n:02d}": {"rings": 1} for n in range(31)}}
    settings = make_settings(site, NETWORK=network, DIALER_CPS=10)
    worker = Dialer(settings, store, clock=VirtualClock(), worker_id="w-pace")
    seen: dict[str, float | bool] = {}

    def on_row(sid: str, entry: TraceEntry) -> None:
        if sid == "CAturn00" and "placed" not in seen:  # while 29 wait for their slots
            seen["placed"] = worker.clock.now()
            place(store, site, "CAlate", "+886912000230")
        if sid == "CAturn20" and "held" not in seen:
            seen["held"] = "CAlate" in worker.pacer.held

    worker.subscribe(on_row)
    assert worker.run_until_idle() == 31
    assert seen == {"placed": seen["placed"], "held": True} and seen["placed"] < 1.0
    assert started(store, [*waiting, "CAlate"]) == [round(0.1 * n, 3) for n in range(31)]
    assert store.require("CAlate").status == "completed"


def test_a_dialing_call_is_canceled_while_others_wait(store: CallStore, site: Site) -> None:
    # cancel requests are read within a virtual second while rounds come every 0.1 s
    network = {"numbers": {**NETWORK["numbers"], CALLEES[0]: {"rings": 10}}}
    for n in range(12):
        place(store, site, f"CAring{n:02d}", CALLEES[n])
    settings = make_settings(site, NETWORK=network, DIALER_CPS=10)
    worker = Dialer(settings, store, clock=VirtualClock(), worker_id="w-pace")
    asked: list[float] = []

    def on_row(sid: str, entry: TraceEntry) -> None:
        if sid == "CAring02" and not asked:  # 0.2 s on: CAring00 rings, nine wait
            asked.append(worker.clock.now())
            store.cancel("CAring00")  # ringing: its dialer is asked to withdraw it

    worker.subscribe(on_row)
    assert worker.run_until_idle() == 12
    assert asked == [pytest.approx(0.2)]
    canceled = store.require("CAring00")
    assert canceled.status == "canceled" and "answered" not in canceled.timestamps
    history = canceled.legs[0].history
    assert [c.status for c in history] == ["queued", "initiated", "ringing", "canceled"]
    assert history[-1].at - history[1].at < 2.0  # long before its tenth ring
    assert all(store.require(f"CAring{n:02d}").status == "completed" for n in range(1, 12))
