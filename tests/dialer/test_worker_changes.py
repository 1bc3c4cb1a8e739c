"""The worker and the call store: live changes the API stored are carried out, and a call of
a Twilio account is fetched and reported with Twilio's parameters (SQLite store, real
HTTP on 127.0.0.1, virtual clock)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.clocks import Clock
from support.sites import PIN_XML, Site, serve_site
from support.worker import CALLBACK_SECRETS, FETCH_SECRETS, PIN_CALLEE, history, new_dialer, spec

from voiceapp.calls.api_json import call_json
from voiceapp.calls.records import CallChange
from voiceapp.dialer.trace import TraceEntry
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore

ACCOUNT = "AC" + "2" * 32
HOLD = b"<Response><Say loop='0'>Please hold the line</Say></Response>"
NEW = b"<Response><Say>This is the new document</Say></Response>"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CallStore]:
    calls = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}")
    yield calls
    calls.close()


@pytest.fixture
def site() -> Iterator[Site]:
    documents = {"pin": PIN_XML, "hold": HOLD, "new": NEW}
    with serve_site(FETCH_SECRETS[-1], CALLBACK_SECRETS[-1], documents=documents) as running:
        yield running


def change_on_first_say(store: CallStore, change: CallChange) -> Callable[[str, TraceEntry], None]:
    done: list[bool] = []

    def listener(sid: str, entry: TraceEntry) -> None:
        if entry.kind == "say" and not done:
            done.append(True)
            store.request_change(sid, change)  # what POST /v1/calls/<sid> does

    return listener


def test_a_stored_url_change_runs_at_once(store: CallStore, site: Site) -> None:
    store.create(spec("CAchange", PIN_CALLEE, site, url="/doc/hold"))
    dialer = new_dialer(store, site)
    dialer.subscribe(change_on_first_say(store, CallChange(url=site.url("/doc/new"))))
    assert dialer.run_until_idle() == 1
    trace = dialer.trace("CAchange")
    assert trace is not None
    said = [e.detail["text"] for e in trace.of("say")]
    assert said[0] == "Please hold the line" and said[-1] == "This is the new document"
    assert len(said) < 10  # the hold loop was cut short
    assert site.fetches == {"CAchange": 2} and site.bad_signatures == []
    assert store.require("CAchange").status == "completed"


def test_a_stored_hang_up_ends_the_answered_call(store: CallStore, site: Site) -> None:
    store.create(spec("CAhang", PIN_CALLEE, site, url="/doc/hold"))
    dialer = new_dialer(store, site)
    dialer.subscribe(change_on_first_say(store, CallChange(status="completed")))
    assert dialer.run_until_idle() == 1
    record = store.require("CAhang")
    assert record.status == "completed"
    assert history(store, "CAhang")[-2:] == ["in-progress", "completed"]
    trace = dialer.trace("CAhang")
    assert trace is not None
    assert trace.of("hangup")[0].detail["reason"] == "hung up through the API"
    assert site.accepted["CAhang:completed"][0]["CallStatus"] == "completed"


def test_a_twilio_account_call_is_fetched_and_reported_with_twilios_parameters(
    store: CallStore, site: Site
) -> None:
    store.create(
        spec("CAtw", PIN_CALLEE, site, account_sid=ACCOUNT, secret_key=None, optional=None)
    )
    dialer = new_dialer(store, site)
    assert dialer.run_until_idle() == 1
    (fetched,) = site.fetch_params
    assert fetched["AccountSid"] == ACCOUNT and fetched["ApiVersion"] == "2010-04-01"
    assert fetched["Caller"] == fetched["From"] and fetched["Called"] == PIN_CALLEE
    completed = site.accepted["CAtw:completed"][0]
    assert completed["CallbackSource"] == "call-progress-events"
    assert "StatusCallbackEvent" not in completed and "SipResponseCode" in completed
    # the stored events still name their event (from the event id)
    events = call_json(store.require("CAtw"))["events"]
    assert [e["event"] for e in events] == ["initiated", "ringing", "answered", "completed"]


def test_recovery_reports_a_twilio_account_call_with_twilios_parameters(
    tmp_path: Path, site: Site
) -> None:
    clock = Clock()
    calls = open_call_store(f"sqlite:///{tmp_path / 'recovered.db'}", clock=clock)
    try:
        calls.create(spec("CAlost", PIN_CALLEE, site, account_sid=ACCOUNT, optional=None))
        assert calls.take("dead-worker", 5.0) is not None
        calls.set_status("CAlost", "initiated", expect="queued")
        clock.now += 1
        calls.set_status("CAlost", "in-progress", expect="initiated")
        clock.now += 10  # the worker died; its lease ran out
        dialer = new_dialer(calls, site)
        assert dialer.recover().settled == ["CAlost"]
        dialer.run_until_idle()
        (completed,) = site.accepted["CAlost:completed"]
        assert completed["AccountSid"] == ACCOUNT
        assert completed["CallbackSource"] == "call-progress-events"
        assert completed["CallStatus"] == "completed" and "SipResponseCode" in completed
    finally:
        calls.close()


def test_a_resumed_callback_keeps_optional_on_its_url(tmp_path: Path, site: Site) -> None:
    """A delivery resumed after its worker died goes to the same URL as its first tries:
    the call's optional pairs appended (the stored URL is the subscription's)."""
    clock = Clock()
    calls = open_call_store(f"sqlite:///{tmp_path / 'resumed.db'}", clock=clock)
    try:
        calls.create(spec("CAbusy", PIN_CALLEE, site))  # optional: token=123456
        assert calls.take("dead-worker", 5.0) is not None
        calls.set_status("CAbusy", "initiated", expect="queued")
        calls.set_status("CAbusy", "busy", expect="initiated", duration=0)
        calls.add_event(
            "CAbusy",
            "CAbusy:completed",
            leg_sid="CAbusy",
            sequence=0,
            name="completed",
            url=site.url("/cb"),
            method="POST",
            params=[("CallSid", "CAbusy"), ("StatusCallbackEvent", "completed")],
        )
        clock.now += 20
        dialer = new_dialer(calls, site)
        assert dialer.recover().resumed == ["CAbusy:completed"]
        dialer.run_until_idle()
        (delivered,) = site.accepted["CAbusy:completed"]
        assert delivered["token"] == "123456"  # from the URL's query: the body has none
    finally:
        calls.close()
