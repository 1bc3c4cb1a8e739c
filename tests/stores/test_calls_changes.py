"""Live call changes in the call store (``request_change`` / ``change_requests``) and the
spec's Twilio-era fields, against SQLite and a real redis-server alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.stores import Clock

from voiceapp.calls.api_json import call_json, spec_from_json, spec_json
from voiceapp.calls.records import AttemptRecord, CallChange, CallSpec
from voiceapp.errors import ConflictError, NotFoundError, ValidationError
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore

FROM = "+19499300360"
HANG_UP = CallChange(status="completed")
CANCEL = CallChange(status="canceled")
NEW_URL = CallChange(url="https://example.com/next.xml", method="GET")
NEW_TWIML = CallChange(twiml="<Response><Say>moved</Say></Response>")


def spec(sid: str, to: str = "+886912345678", **fields: Any) -> CallSpec:
    fields.setdefault("url", "https://example.com/a.xml")
    return CallSpec(sid=sid, from_=FROM, to=to, **fields)


@pytest.fixture
def calls(store_url: str, clock: Clock) -> Iterator[CallStore]:
    store = open_call_store(store_url, clock=clock)
    yield store
    store.close()


@pytest.fixture
def second(store_url: str, clock: Clock) -> Iterator[Callable[[], CallStore]]:
    """Another store on the same URL (another process's view)."""
    opened: list[CallStore] = []

    def make() -> CallStore:
        opened.append(open_call_store(store_url, clock=clock))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


def drive(calls: CallStore, sid: str, *path: str, worker: str = "w1") -> None:
    taken = calls.take(worker, 60)
    assert taken is not None and taken.sid == sid
    previous = "queued"
    for status in path:
        calls.set_status(sid, status, expect=previous)
        previous = status


# -- the spec's fields -------------------------------------------------------------------


def test_the_new_spec_fields_are_stored_and_shown(calls: CallStore) -> None:
    asked = spec(
        "CA" + "1" * 32,
        url=None,
        account_sid="AC" + "a" * 32,
        twiml="<Response><Hangup/></Response>",
        fallback_url="https://example.com/fallback",
        fallback_method="GET",
        timeout=25,
        time_limit=600,
        record=True,
        machine_detection="Enable",
    )
    calls.create(asked)
    record = calls.require(asked.sid)
    assert record.spec == asked
    shown = call_json(record)
    assert shown["accountSid"] == "AC" + "a" * 32
    assert (shown["twiml"], shown["timeout"], shown["timeLimit"]) == (asked.twiml, 25, 600)
    assert (shown["fallbackUrl"], shown["fallbackMethod"]) == (
        "https://example.com/fallback",
        "GET",
    )
    assert (shown["direction"], shown["record"], shown["machineDetection"]) == (
        "outbound-api",
        True,
        "Enable",
    )
    assert record.legs[0].direction == "outbound-api"


def test_an_inbound_spec_makes_an_inbound_a_leg(calls: CallStore) -> None:
    calls.create(spec("CA1", direction="inbound"))
    record = calls.require("CA1")
    assert (record.spec.direction, record.legs[0].direction) == ("inbound", "inbound")


def test_a_spec_stored_before_the_fields_existed_reads_their_defaults() -> None:
    old = spec_json(spec("CA1"))
    for key in (
        "accountSid",
        "twiml",
        "fallbackUrl",
        "fallbackMethod",
        "timeout",
        "timeLimit",
        "direction",
        "record",
        "machineDetection",
        "asyncAmd",
        "asyncAmdStatusCallback",
        "asyncAmdStatusCallbackMethod",
    ):
        del old[key]
    read = spec_from_json(old)
    assert read == spec("CA1")
    assert (read.timeout, read.time_limit, read.direction) == (60, 14400, "outbound-api")
    old["extra"] = {"timeout": 12}  # where the ring timeout used to be kept
    assert spec_from_json(old).timeout == 12


# -- the change itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (CallChange(), "url"),
        (CallChange(url="https://example.com/x", twiml="<Response/>"), "twiml"),
        (CallChange(twiml="<Response/>", status="completed"), "status"),
        (CallChange(status="busy"), "status"),
        (CallChange(url="https://example.com/x", method="PUT"), "method"),
    ],
)
def test_a_malformed_change_is_refused_before_the_store(
    calls: CallStore, change: CallChange, field: str
) -> None:
    calls.create(spec("CA1"))
    with pytest.raises(ValidationError) as info:
        calls.request_change("CA1", change)
    assert info.value.field == field
    assert calls.require("CA1").status == "queued"


def test_change_round_trips_as_stored() -> None:
    for change in (HANG_UP, CANCEL, NEW_URL, NEW_TWIML):
        assert CallChange.of(change.as_dict()) == change


# -- queued calls ------------------------------------------------------------------------


@pytest.mark.parametrize("change", [HANG_UP, CANCEL])
def test_ending_a_queued_call_cancels_it_at_once(
    calls: CallStore, clock: Clock, change: CallChange
) -> None:
    calls.create(spec("CA1"))
    clock.advance(2)
    record = calls.request_change("CA1", change)
    assert (record.status, record.ended_at, record.duration) == ("canceled", clock.now, 0)
    assert calls.take("w1", 30) is None  # it left the queue
    calls.create(spec("CA2"))  # its number is free


@pytest.mark.parametrize("change", [NEW_URL, NEW_TWIML])
def test_a_new_document_for_a_waiting_call_replaces_its_spec(
    calls: CallStore, second: Callable[[], CallStore], change: CallChange
) -> None:
    calls.create(spec("CA1", method="POST"))
    record = calls.request_change("CA1", change)
    assert record.status == "queued"
    if change.twiml is not None:
        assert (record.spec.url, record.spec.twiml) == (None, change.twiml)
    else:
        assert (record.spec.url, record.spec.method, record.spec.twiml) == (
            "https://example.com/next.xml",
            "GET",
            None,
        )
    taken = second().take("w1", 30)  # the dialer reads the new spec
    assert taken is not None and taken.spec == record.spec
    assert calls.change_requests("w1") == []  # nothing left for it to carry out


def test_a_new_document_for_a_taken_call_is_kept_for_its_dialer(calls: CallStore) -> None:
    calls.create(spec("CA1"))
    calls.take("w1", 30)  # taken, not yet dialed: the dialer holds the old spec
    record = calls.request_change("CA1", NEW_URL)
    assert record.spec.url == "https://example.com/a.xml"
    assert calls.change_requests("w1") == [("CA1", NEW_URL)]


# -- calls under way ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [("initiated",), ("initiated", "ringing")])
@pytest.mark.parametrize("change", [HANG_UP, CANCEL])
def test_ending_a_dialing_call_is_its_cancel_request(
    calls: CallStore, clock: Clock, path: tuple[str, ...], change: CallChange
) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", *path)
    clock.advance(1)
    record = calls.request_change("CA1", change)
    assert (record.status, record.cancel_requested_at) == (path[-1], clock.now)
    assert calls.cancel_requests("w1") == ["CA1"]  # what the dialer already carries out
    assert calls.change_requests("w1") == []


def test_hanging_up_an_answered_call_is_kept_for_its_dialer(
    calls: CallStore, second: Callable[[], CallStore]
) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", "initiated", "in-progress")
    record = calls.request_change("CA1", HANG_UP)
    assert (record.status, record.cancel_requested_at) == ("in-progress", None)
    other = second()
    assert other.change_requests("w2") == []  # not its call
    assert other.change_requests("w1") == [("CA1", HANG_UP)]
    assert calls.change_requests("w1") == []  # each change is returned once


def test_canceling_an_answered_call_changes_nothing(calls: CallStore) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", "initiated", "in-progress")
    record = calls.request_change("CA1", CANCEL)
    assert (record.status, record.cancel_requested_at) == ("in-progress", None)
    assert calls.change_requests("w1") == []


def test_changes_of_a_live_call_come_in_the_order_asked(calls: CallStore) -> None:
    calls.create(spec("CA1"))
    calls.create(spec("CA2", to="+886912000111"))
    drive(calls, "CA1", "initiated", "in-progress")
    drive(calls, "CA2", "initiated", "ringing")
    calls.request_change("CA1", NEW_TWIML)
    calls.request_change("CA2", NEW_URL)  # on answer, the dialer runs it
    calls.request_change("CA1", NEW_URL)
    calls.request_change("CA1", HANG_UP)
    assert calls.change_requests("w1") == [
        ("CA1", NEW_TWIML),
        ("CA1", NEW_URL),
        ("CA1", HANG_UP),
        ("CA2", NEW_URL),
    ]
    assert calls.change_requests("w1") == []


def test_a_reclaimed_call_keeps_its_changes_for_the_new_worker(
    calls: CallStore, clock: Clock
) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", "initiated", "in-progress", worker="dead")
    calls.request_change("CA1", NEW_TWIML)
    clock.advance(61)
    assert calls.reclaim("CA1", "w2", 30) is not None
    assert calls.change_requests("dead") == []
    assert calls.change_requests("w2") == [("CA1", NEW_TWIML)]


def test_a_call_that_ends_drops_its_pending_changes(calls: CallStore) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", "initiated", "in-progress")
    calls.request_change("CA1", NEW_URL)
    calls.set_status("CA1", "completed", expect="in-progress", duration=3)
    assert calls.change_requests("w1") == []


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["completed", "busy"])
@pytest.mark.parametrize("change", [HANG_UP, CANCEL, NEW_URL, NEW_TWIML])
def test_a_finished_call_cannot_be_changed(calls: CallStore, end: str, change: CallChange) -> None:
    calls.create(spec("CA1"))
    path = ("initiated", "in-progress", "completed") if end == "completed" else ("initiated",)
    drive(calls, "CA1", *path)
    if end == "busy":
        calls.set_status("CA1", "busy", expect="initiated")
    with pytest.raises(ConflictError) as info:
        calls.request_change("CA1", change)
    err = info.value
    assert (err.code, err.status, err.field) == ("call-not-changeable", 409, "sid")
    assert end in err.message


def test_changing_an_unknown_call_is_404(calls: CallStore) -> None:
    with pytest.raises(NotFoundError) as info:
        calls.request_change("CAnope", HANG_UP)
    assert info.value.code == "call-not-found"


# -- Twilio's listing by account and its delete ------------------------------------------


def test_listing_by_account(calls: CallStore, clock: Clock) -> None:
    mine, other = "AC" + "1" * 32, "AC" + "2" * 32
    calls.create(spec("CA1", account_sid=mine))
    clock.advance(1)
    calls.create(spec("CA2", to="+886912000111", account_sid=other))
    clock.advance(1)
    calls.create(spec("CA3", to="+886912000222"))  # placed through /v1: no account
    clock.advance(1)
    calls.create(spec("CA4", to="+886912000333", account_sid=mine))
    assert [r.sid for r in calls.list_calls(account_sid=mine).calls] == ["CA4", "CA1"]
    first = calls.list_calls(account_sid=mine, limit=1)
    assert [r.sid for r in first.calls] == ["CA4"] and first.next is not None
    rest = calls.list_calls(account_sid=mine, limit=1, after=first.next)
    assert [r.sid for r in rest.calls] == ["CA1"]
    assert len(calls.list_calls().calls) == 4


def test_delete_a_finished_call(calls: CallStore) -> None:
    calls.create(spec("CA1"))
    drive(calls, "CA1", "initiated", "in-progress", "completed")
    calls.add_event(
        "CA1", "CA1:completed", leg_sid="CA1", sequence=0, name="completed",
        url="https://example.com/cb", method="POST", params=[("CallSid", "CA1")],
    )  # fmt: skip
    with pytest.raises(ConflictError) as info:  # its callback is not delivered yet
        calls.delete("CA1")
    assert info.value.code == "call-not-deletable"

    calls.record_attempt(
        "CA1", "CA1:completed", AttemptRecord(1, 1.0, True, 200), state="delivered"
    )
    calls.delete("CA1")
    assert calls.get("CA1") is None
    assert calls.list_calls().calls == ()
    assert calls.undelivered() == []
    with pytest.raises(NotFoundError):
        calls.delete("CA1")


def test_an_unfinished_call_cannot_be_deleted(calls: CallStore) -> None:
    calls.create(spec("CA1"))
    with pytest.raises(ConflictError) as info:
        calls.delete("CA1")
    assert (info.value.code, info.value.status) == ("call-not-deletable", 409)
    assert calls.require("CA1").status == "queued"
