"""The dialer worker in-process: the call store (SQLite), real HTTP on 127.0.0.1 for
documents and callbacks, the virtual clock (rings and retries cost no real time)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.clocks import Clock
from support.sites import PIN_XML, Site, serve_site
from support.worker import (
    ALL_EVENTS,
    BROKEN,
    BUSY,
    CALLBACK_SECRETS,
    CALLER,
    FETCH_SECRETS,
    PIN_CALLEE,
    SILENT,
    SLOW,
    history,
    make_settings,
    new_dialer,
    spec,
)

from voiceapp.calls.api_json import call_json
from voiceapp.calls.records import AttemptRecord
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.trace import TraceEntry
from voiceapp.dialer.worker import Dialer
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CallStore]:
    calls = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}")
    yield calls
    calls.close()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site(FETCH_SECRETS[-1], CALLBACK_SECRETS[-1], documents={"pin": PIN_XML}) as running:
        yield running


def test_pin_call_is_stored_signed_and_reported(store: CallStore, site: Site) -> None:
    store.create(spec("CApin1", PIN_CALLEE, site))
    dialer = new_dialer(store, site)
    rows: list[tuple[str, TraceEntry]] = []
    dialer.subscribe(lambda sid, entry: rows.append((sid, entry)))

    assert dialer.run_until_idle() == 1

    record = store.require("CApin1")
    assert record.status == "completed"
    assert history(store, "CApin1") == [
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert record.takes == 1 and record.lease_owner is None
    # the document was fetched once, signed with the newest key, with the call's parameters
    assert site.fetches == {"CApin1": 1}
    assert site.bad_signatures == []
    params = site.fetch_params[0]
    assert params["From"] == CALLER and params["To"] == PIN_CALLEE
    assert params["Direction"] == "outbound-api" and params["CallStatus"] == "in-progress"
    # the callee heard the PIN; the live listener saw every row of the trace
    trace = dialer.trace("CApin1")
    assert trace is not None
    assert [e.detail["text"] for e in trace.of("say")] == ["Your pin is 8 9 7 0"]
    assert [e for sid, e in rows if sid == "CApin1"] == trace.entries
    # four events stored, each delivered on its first try, in order, with the seed's fields
    assert [(e.name, e.sequence, e.state, len(e.attempts)) for e in record.events] == [
        ("initiated", 0, "delivered", 1),
        ("ringing", 1, "delivered", 1),
        ("answered", 2, "delivered", 1),
        ("completed", 3, "delivered", 1),
    ]
    assert site.accepted_events("CApin1") == sorted(ALL_EVENTS)
    completed = site.accepted["CApin1:completed"][0]
    assert completed["CallStatus"] == "completed"
    assert completed["CallbackSource"] == "call-progress-event"
    assert completed["apikey"] == "k-123" and completed["token"] == "123456"
    assert int(completed["CallDuration"]) == record.duration == 3


def test_no_url_bridges_to_the_from_number(store: CallStore, site: Site) -> None:
    store.create(spec("CAbridge", PIN_CALLEE, site, url=None))
    dialer = new_dialer(store, site)
    assert dialer.run_until_idle() == 1
    record = store.require("CAbridge")
    assert record.status == "completed"
    assert site.fetches == {}
    a_leg, b_leg = record.legs
    assert a_leg.sid == "CAbridge"
    assert (b_leg.parent_sid, b_leg.to, b_leg.from_) == ("CAbridge", CALLER, PIN_CALLEE)
    assert [c.status for c in b_leg.history] == [
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    # b-leg events went to the call's callback, with ParentCallSid
    b_events = [e for e in record.events if e.leg_sid == b_leg.sid]
    assert [e.name for e in b_events] == list(ALL_EVENTS)
    assert all(dict(e.params)["ParentCallSid"] == "CAbridge" for e in b_events)
    assert all(e.state == "delivered" for e in record.events)


@pytest.mark.parametrize(
    ("to", "status", "events"),
    [
        (BUSY, "busy", ["initiated", "ringing", "completed"]),
        (SILENT, "no-answer", ["initiated", "ringing", "completed"]),
        (BROKEN, "failed", ["initiated", "completed"]),
    ],
)
def test_unanswered_outcomes(
    store: CallStore, site: Site, to: str, status: str, events: list[str]
) -> None:
    store.create(spec("CAout", to, site))
    assert new_dialer(store, site).run_until_idle() == 1
    record = store.require("CAout")
    assert record.status == status and record.duration == 0
    assert site.fetches == {}  # nothing is fetched for an unanswered call
    assert [e.name for e in record.events] == events
    last = site.accepted["CAout:completed"][0]
    assert last["CallStatus"] == status and last["CallDuration"] == "0"


def test_receiver_failing_twice_then_recovering(store: CallStore) -> None:
    with serve_site(
        FETCH_SECRETS[-1], CALLBACK_SECRETS[-1], documents={"pin": PIN_XML}, fail_first=2
    ) as site:
        store.create(spec("CAflaky", PIN_CALLEE, site))
        dialer = new_dialer(store, site)
        assert dialer.run_until_idle() == 1
        record = store.require("CAflaky")
        # each event: two 500s, then delivered, and accepted exactly once
        for event in record.events:
            assert [(a.number, a.ok, a.status) for a in event.attempts] == [
                (1, False, 500),
                (2, False, 500),
                (3, True, 204),
            ]
            assert event.state == "delivered"
            assert len(site.accepted[event.event_id]) == 1
            assert site.tries[event.event_id] == 3
        assert sorted(site.accepted) == sorted(f"CAflaky:{name}" for name in ALL_EVENTS)
        # no duplicate state change in the store, and events in order per leg
        assert history(store, "CAflaky") == [
            "queued",
            "initiated",
            "ringing",
            "in-progress",
            "completed",
        ]
        order = [params["StatusCallbackEvent"] for _, params in site.callbacks]
        assert order == [name for name in ALL_EVENTS for _ in range(3)]


def test_cancel_request_ends_a_ringing_call(store: CallStore, site: Site) -> None:
    store.create(spec("CAcancel", SLOW, site))
    dialer = new_dialer(store, site)

    def cancel_when_ringing(sid: str, entry: TraceEntry) -> None:
        if entry.kind == "status" and entry.detail["status"] == "ringing":
            store.cancel(sid)  # what POST /v1/calls/<sid>/cancel does

    dialer.subscribe(cancel_when_ringing)
    assert dialer.run_until_idle() == 1
    record = store.require("CAcancel")
    assert record.status == "canceled"
    assert record.cancel_requested_at is not None
    assert site.accepted["CAcancel:completed"][0]["CallStatus"] == "canceled"


def test_canceled_while_queued_is_never_dialed(store: CallStore, site: Site) -> None:
    store.create(spec("CAq", PIN_CALLEE, site))
    store.cancel("CAq")
    assert new_dialer(store, site).run_until_idle() == 0
    assert store.require("CAq").status == "canceled"
    assert site.fetches == {} and site.callbacks == []


def test_max_calls_and_concurrency(store: CallStore, site: Site) -> None:
    for index in range(6):
        store.create(spec(f"CAm{index}", f"+88691234560{index}", site, status_callback=None))
    dialer = new_dialer(store, site, DIALER_CONCURRENCY=2)
    assert dialer.run_until_idle(max_calls=4) == 4
    assert dialer.peak_in_flight == 2
    assert [store.require(f"CAm{i}").status for i in range(6)] == ["completed"] * 4 + ["queued"] * 2
    assert dialer.run_until_idle() == 2
    assert sorted(site.fetches.values()) == [1] * 6


def test_recovery_of_a_dead_workers_calls(tmp_path: Path, site: Site) -> None:
    clock = Clock()
    store = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}", clock=clock)
    try:
        for sid, to in (("CAnever", PIN_CALLEE), ("CAring", SLOW), ("CAtalk", CALLER)):
            store.create(spec(sid, to, site))
        # a worker takes all three, then dies at different points
        for _ in range(3):
            assert store.take("dead-worker", 5.0) is not None
        store.set_status("CAring", "initiated", expect="queued")
        store.set_status("CAring", "ringing", expect="initiated")
        store.set_status("CAtalk", "initiated", expect="queued")
        clock.now += 1
        store.set_status("CAtalk", "in-progress", expect="initiated")
        params = [("CallSid", "CAtalk"), ("StatusCallbackEvent", "answered")]
        store.add_event(
            "CAtalk",
            "CAtalk:answered",
            leg_sid="CAtalk",
            sequence=1,
            name="answered",
            url=site.url("/cb"),
            method="POST",
            params=params,
        )
        clock.now += 2  # the worker is alive: it tries the answered callback, then dies
        store.record_attempt(
            "CAtalk", "CAtalk:answered", AttemptRecord(1, clock.now, False, 500), state="pending"
        )
        # a fourth call ended, its completed callback stored but never tried
        store.create(spec("CAdone", BUSY, site))
        assert store.take("dead-worker", 5.0) is not None
        store.set_status("CAdone", "initiated", expect="queued")
        store.set_status("CAdone", "busy", expect="initiated", duration=0)
        store.add_event(
            "CAdone",
            "CAdone:completed",
            leg_sid="CAdone",
            sequence=0,
            name="completed",
            url=site.url("/cb"),
            method="POST",
            params=[("CallSid", "CAdone"), ("StatusCallbackEvent", "completed")],
        )
        dialer = new_dialer(store, site)
        assert not dialer.recover()  # the leases have not run out: nothing is touched
        clock.now += 4
        report = dialer.recover()  # the leases ran out: the worker is gone
        assert report.taken_over == ["CAnever"]
        assert sorted(report.settled) == ["CAring", "CAtalk"]
        assert report.resumed == ["CAtalk:answered"]
        dialer.run_until_idle()
        assert site.tries["CAdone:completed"] == 0  # an ended call's event: not overdue yet
        clock.now += 5
        assert dialer.recover().resumed == ["CAdone:completed"]
        dialer.run_until_idle()
        assert [p["CallSid"] for p in site.accepted["CAdone:completed"]] == ["CAdone"]

        # never dialed: dialed now, once
        assert store.require("CAnever").status == "completed"
        assert site.fetches["CAnever"] == 1
        # ringing when its worker died: failed, not dialed again
        ring = store.require("CAring")
        assert ring.status == "failed"
        assert history(store, "CAring") == ["queued", "initiated", "ringing", "failed"]
        assert site.accepted["CAring:completed"][0]["CallStatus"] == "failed"
        # talking: completed, duration from the stored answer to the last sign of life of
        # its worker (its callback attempt 2 s later), not to the settling 6 s later
        talk = store.require("CAtalk")
        assert talk.status == "completed" and talk.duration == 2 and talk.recovered
        assert ring.recovered  # ended by recovery too (failed, as before)
        assert site.fetches["CAtalk"] == 0
        answered = next(e for e in talk.events if e.event_id == "CAtalk:answered")
        assert [(a.number, a.ok) for a in answered.attempts] == [(1, False), (2, True)]
        completed = site.accepted["CAtalk:completed"][0]
        assert completed["CallDuration"] == "2" and completed["SequenceNumber"] == "2"
        assert not store.require("CAnever").recovered  # dialed again, ended normally
        assert store.undelivered() == []
        assert store.expired_leases() == []
    finally:
        store.close()


def test_events_of_a_call_held_by_a_live_worker_are_left_alone(tmp_path: Path, site: Site) -> None:
    clock = Clock()
    store = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}", clock=clock)
    try:
        store.create(spec("CAheld", PIN_CALLEE, site))
        assert store.take("other-worker", 600.0) is not None
        store.set_status("CAheld", "initiated", expect="queued")
        store.add_event(
            "CAheld",
            "CAheld:initiated",
            leg_sid="CAheld",
            sequence=0,
            name="initiated",
            url=site.url("/cb"),
            method="POST",
            params=[("CallSid", "CAheld")],
        )
        clock.now += 120
        dialer = new_dialer(store, site)
        assert not dialer.recover()
        assert [e.event_id for e in store.undelivered()] == ["CAheld:initiated"]
        assert site.callbacks == []
    finally:
        store.close()


def test_bad_network_setting_names_the_key() -> None:
    from voiceapp.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        make_settings(NETWORK={"numbers": {PIN_CALLEE: {"rings": "two"}}})
    assert caught.value.field == f'network.numbers."{PIN_CALLEE}".rings'
    with pytest.raises(ConfigError) as caught:
        make_settings(CALLBACK_RETRY={"attempts": 0})
    assert caught.value.field == "callback_retry.attempts"


def test_everything_is_stored_before_a_callback_is_sent(store: CallStore, site: Site) -> None:
    from voiceapp.dialer.callbacks import CallbackRequest

    for index, to in enumerate((PIN_CALLEE, BUSY, CALLER)):
        store.create(spec(f"CAorder{index}", to, site, url=None if to == CALLER else "/doc/pin"))
    checked: list[str] = []

    def send(request: CallbackRequest) -> int:
        params = dict(request.params)
        record = store.require(params.get("ParentCallSid") or params["CallSid"])
        leg = next(leg for leg in record.legs if leg.sid == params["CallSid"])
        stored = {e.event_id: e for e in record.events}
        assert request.event_id in stored  # the event itself
        assert leg.status == params["CallStatus"]  # the status change it reports
        checked.append(request.event_id)
        return 204

    dialer = Dialer(
        make_settings(site), store, clock=VirtualClock(), worker_id="w-order", send=send
    )
    assert dialer.run_until_idle() == 3
    # PIN: 4 events; busy: 3; bridge to the caller: 4 on the a-leg and 4 on the b-leg
    assert len(checked) == 15


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_call_taken_away_from_its_worker_is_hung_up(
    tmp_path: Path, site: Site, kind: str, request: pytest.FixtureRequest
) -> None:
    clock = Clock()
    if kind == "redis":  # the store skips the lost call's later writes inside its script
        url = f"{request.getfixturevalue('redis_server')}?prefix=stolen{uuid.uuid4().hex[:8]}:"
    else:
        url = f"sqlite:///{tmp_path / 'calls.db'}"
    store = open_call_store(url, clock=clock)
    try:
        store.create(spec("CAstolen", SLOW, site))
        dialer = new_dialer(store, site)

        def steal_when_ringing(sid: str, entry: TraceEntry) -> None:
            if entry.kind == "status" and entry.detail["status"] == "ringing":
                dialer._flush()  # what the worker wrote so far (initiated) is in the store
                clock.now += 60  # the worker stalls beyond its lease ...
                taken = store.reclaim(sid, "other-worker", 30.0)  # ... another settles it
                assert taken is not None
                store.set_status(sid, "failed", expect="initiated")

        dialer.subscribe(steal_when_ringing)
        assert dialer.run_until_idle() == 1
        record = store.require("CAstolen")
        assert record.status == "failed"  # as the other worker left it
        assert history(store, "CAstolen") == ["queued", "initiated", "failed"]
        trace = dialer.trace("CAstolen")
        assert trace is not None and trace.of("store-error")
        assert site.fetches == {}  # never answered here
        # nothing the worker did after losing the call reached the receiver
        assert sorted(site.accepted) == ["CAstolen:initiated"]
        assert [e.event_id for e in record.events] == ["CAstolen:initiated"]
    finally:
        store.close()


def test_real_clock_leases_are_renewed_through_a_long_call(store: CallStore) -> None:
    import threading

    from voiceapp.dialer.clock import RealClock

    hold = b'<Response><Say>Your pin is 8 9 7 0</Say><Pause length="4"/></Response>'
    with serve_site(FETCH_SECRETS[-1], CALLBACK_SECRETS[-1], documents={"hold": hold}) as site:
        store.create(spec("CAlong", CALLER, site, url="/doc/hold"))
        settings = make_settings(
            site, DIALER_LEASE=2, DIALER_POLL=0.05, NETWORK={"default": {"rings": 0}}
        )
        dialer = Dialer(settings, store, clock=RealClock(), worker_id="w-real")
        expired: list[list[str]] = []
        done = threading.Event()

        def watch() -> None:  # what another worker would see: never an expired lease
            while not done.wait(0.05):
                expired.append(store.expired_leases())

        watcher = threading.Thread(target=watch)
        dialer.start()
        watcher.start()
        try:
            assert site.wait(lambda: len(site.accepted) == 3, timeout=30)  # no ringing: 0 rings
        finally:
            done.set()
            watcher.join(10)
            dialer.stop(timeout=5)
    record = store.require("CAlong")
    # the call outlived its 2 s lease several times over: renewed, never up for grabs
    assert record.status == "completed" and record.duration is not None
    assert record.duration >= 6
    assert len(expired) > 50 and not any(expired)
    assert record.takes == 1
    # every renewal recorded its heartbeat: the last one came during the call
    answered_at = record.timestamps["in-progress"]
    assert record.heartbeat_at is not None and record.ended_at is not None
    assert answered_at < record.heartbeat_at <= record.ended_at
    assert not record.recovered
    assert history(store, "CAlong") == ["queued", "initiated", "in-progress", "completed"]
    assert site.fetches == {"CAlong": 1} and site.bad_signatures == []


def test_stop_hangs_up_running_calls_and_flushes_their_callbacks(store: CallStore) -> None:
    import threading
    import time

    from voiceapp.dialer.clock import RealClock

    hold = b'<Response><Say>Hold on</Say><Pause length="60"/></Response>'
    with serve_site(FETCH_SECRETS[-1], CALLBACK_SECRETS[-1], documents={"hold": hold}) as site:
        store.create(spec("CAstop", CALLER, site, url="/doc/hold"))
        settings = make_settings(site, DIALER_POLL=0.05, NETWORK={"default": {"rings": 0}})
        dialer = Dialer(settings, store, clock=RealClock(), worker_id="w-stop")
        talking = threading.Event()
        dialer.subscribe(lambda sid, entry: talking.set() if entry.kind == "pause" else None)
        dialer.start()
        try:
            assert talking.wait(20)
        finally:
            started = time.monotonic()
            dialer.stop(timeout=5)
            stopped_in = time.monotonic() - started
        assert stopped_in < 6
        record = store.require("CAstop")
        assert record.status == "completed"
        assert record.duration is not None and record.duration < 10  # hung up, not 60 s
        # initiated, answered and completed: stored, then delivered before stop returned
        assert [e.state for e in record.events] == ["delivered"] * 3
        assert site.accepted_events("CAstop") == ["answered", "completed", "initiated"]


def test_recovery_settles_a_bridged_call_and_its_b_leg(tmp_path: Path, site: Site) -> None:
    clock = Clock()
    store = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}", clock=clock)
    try:
        store.create(spec("CAbridged", PIN_CALLEE, site, url=None))
        assert store.take("dead-worker", 5.0) is not None
        store.set_status("CAbridged", "initiated", expect="queued")
        store.set_status("CAbridged", "in-progress", expect="initiated")
        store.add_leg("CAbridged", "CAbleg", from_=PIN_CALLEE, to=CALLER, parent_sid="CAbridged")
        store.set_status("CAbridged", "initiated", leg_sid="CAbleg", expect="queued")
        clock.now += 2
        store.set_status("CAbridged", "in-progress", leg_sid="CAbleg", expect="initiated")
        # the b-leg reported to its own <Number statusCallback>
        store.add_event(
            "CAbridged",
            "CAbleg:answered",
            leg_sid="CAbleg",
            sequence=0,
            name="answered",
            url=site.url("/cb?leg=b"),
            method="POST",
            params=[("CallSid", "CAbleg"), ("StatusCallbackEvent", "answered")],
        )
        store.record_attempt(
            "CAbridged",
            "CAbleg:answered",
            AttemptRecord(1, clock.now, True, 204),
            state="delivered",
        )
        clock.now += 3
        assert store.renew("CAbridged", "dead-worker", 5.0)  # its last heartbeat, then it dies
        clock.now += 5
        dialer = new_dialer(store, site)
        assert dialer.recover().settled == ["CAbridged"]
        dialer.run_until_idle()
        record = store.require("CAbridged")
        # up to the last heartbeat (5 s after the answer), not to the settling (10 s)
        assert record.status == "completed" and record.duration == 5 and record.recovered
        b_leg = next(leg for leg in record.legs if leg.sid == "CAbleg")
        assert b_leg.status == "completed" and b_leg.duration == 3
        b_done = next(e for e in record.events if e.event_id == "CAbleg:completed")
        assert b_done.url == site.url("/cb?leg=b") and b_done.state == "delivered"
        params = dict(b_done.params)
        assert params["ParentCallSid"] == "CAbridged" and params["Direction"] == "outbound-dial"
        assert params["CallDuration"] == "3" and params["SequenceNumber"] == "1"
        a_done = site.accepted["CAbridged:completed"][0]
        assert a_done["CallStatus"] == "completed" and a_done["CallDuration"] == "5"
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_recovery_settles_an_answered_call_with_the_known_duration(
    tmp_path: Path, site: Site, kind: str, request: pytest.FixtureRequest
) -> None:
    """Issue 10: a call whose dialer was killed 6 s after the answer used to be settled
    as completed with the lease and the recovery delay added (11 s here, 34-36 s with a
    30 s lease); it is settled with the 6 s its heartbeats vouch for, marked recovered."""
    clock = Clock()
    if kind == "redis":
        url = f"{request.getfixturevalue('redis_server')}?prefix=hb{uuid.uuid4().hex[:8]}:"
    else:
        url = f"sqlite:///{tmp_path / 'calls.db'}"
    store = open_call_store(url, clock=clock)
    try:
        store.create(spec("CAkilled", PIN_CALLEE, site))
        assert store.take("dead-worker", 5.0) is not None
        store.set_status("CAkilled", "initiated", expect="queued")
        clock.now += 1
        store.set_status("CAkilled", "in-progress", expect="initiated")  # answered at t
        answered_at = clock.now
        for _ in range(3):  # heartbeats at t+2, t+4, t+6: the lease renewed each time
            clock.now += 2
            assert store.renew("CAkilled", "dead-worker", 5.0, at=clock.now)
        # the worker is killed; nothing more is written
        dialer = new_dialer(store, site)
        clock.now += 4
        assert not dialer.recover()  # its lease (t+6 + 5 s) still runs
        clock.now += 1  # now it has run out
        report = dialer.recover()
        assert report.settled == ["CAkilled"]
        dialer.run_until_idle()
        record = store.require("CAkilled")
        assert record.heartbeat_at == answered_at + 6
        assert record.status == "completed" and record.recovered is True
        assert record.duration == 6  # the known span, not 11 (to the settling)
        assert record.ended_at == clock.now  # when it was settled
        shown = call_json(record)
        assert shown["recovered"] is True and shown["duration"] == 6
        # the completed callback goes out exactly once, with the known duration
        done = site.accepted["CAkilled:completed"]
        assert len(done) == 1 and done[0]["CallDuration"] == "6"
        assert site.tries["CAkilled:completed"] == 1
        assert dialer.recover().settled == []  # settled once
        assert store.expired_leases() == [] and store.undelivered() == []
    finally:
        store.close()


def test_recovery_of_an_unanswered_call_is_unchanged_but_marked(tmp_path: Path, site: Site) -> None:
    clock = Clock()
    store = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}", clock=clock)
    try:
        store.create(spec("CAringing", SLOW, site))
        assert store.take("dead-worker", 5.0) is not None
        store.set_status("CAringing", "initiated", expect="queued")
        store.set_status("CAringing", "ringing", expect="initiated")
        clock.now += 2
        assert store.renew("CAringing", "dead-worker", 5.0, at=clock.now)
        clock.now += 5
        dialer = new_dialer(store, site)
        assert dialer.recover().settled == ["CAringing"]
        dialer.run_until_idle()
        record = store.require("CAringing")
        assert (record.status, record.duration, record.recovered) == ("failed", 0, True)
        assert site.accepted["CAringing:completed"][0]["CallStatus"] == "failed"
    finally:
        store.close()
