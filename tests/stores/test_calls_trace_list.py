"""The call store's traces (AppendTrace: capped, purged with the call) and listing
(filters, newest first, cursor pages), on SQLite and a real redis-server alike."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.stores import Clock

from voiceapp.calls.api_json import call_json
from voiceapp.calls.records import TRUNCATED, CallSpec, trace_json
from voiceapp.calls.writes import SKIPPED, AppendTrace, SetStatus
from voiceapp.errors import NotFoundError
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore
from voiceapp.stores.calls.redis import RedisCallStore

FROM = "+19499300360"
OTHER_FROM = "+19499300361"


def spec(sid: str, to: str, from_: str = FROM) -> CallSpec:
    return CallSpec(sid=sid, from_=from_, to=to)


def row(ms: int, kind: str = "say", **detail: Any) -> str:
    return trace_json({"ms": ms, "leg": "a", "kind": kind, "detail": detail})


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


# -- traces --------------------------------------------------------------------------------


def test_trace_rows_and_the_first_error_round_trip(calls: CallStore) -> None:
    calls.create(spec("CA1", "+886912345678"))
    assert calls.require("CA1").trace == () and calls.require("CA1").error is None
    first = {"code": "fetch-status", "message": "HTTP 404", "status": 404}
    assert (
        calls.append_trace("CA1", [row(0, "fetch"), row(5, "fetch-error")], error=trace_json(first))
        == 2
    )
    later = trace_json({"code": "loop-guard", "message": "x"})
    assert calls.append_trace("CA1", [row(9, "announce", text="sorry")], error=later) == 3
    record = calls.require("CA1")
    assert [r["kind"] for r in record.trace] == ["fetch", "fetch-error", "announce"]
    assert record.trace[2] == {"ms": 9, "leg": "a", "kind": "announce", "detail": {"text": "sorry"}}
    assert record.error == first  # the first error wins
    plain = call_json(record)
    json.dumps(plain)
    assert plain["error"] == first and plain["trace"][0]["kind"] == "fetch"


def test_a_trace_is_capped_with_a_last_truncated_row(calls: CallStore) -> None:
    calls.create(spec("CA1", "+886912345678"))
    assert calls.append_trace("CA1", [row(i) for i in range(3)], limit=5) == 3
    assert calls.append_trace("CA1", [row(i) for i in range(3, 9)], limit=5) == 5
    assert calls.append_trace("CA1", [row(10)], limit=5) == 5  # full: dropped
    trace = calls.require("CA1").trace
    assert [r["ms"] for r in trace[:4]] == [0, 1, 2, 3]
    assert trace[4]["kind"] == TRUNCATED and trace[4]["detail"]["limit"] == 5
    assert len(trace) == 5


def test_trace_of_an_unknown_call_is_not_found_and_skips_in_apply(calls: CallStore) -> None:
    with pytest.raises(NotFoundError):
        calls.append_trace("CAnope", [row(0)])
    calls.create(spec("CA1", "+886912345678"))
    results = calls.apply(
        [
            SetStatus("CA1", "completed", expect="in-progress"),  # refused: still queued
            AppendTrace("CA1", (row(0),)),
            AppendTrace("CAnope", (row(0),)),
        ]
    )
    assert isinstance(results[0], Exception) and results[1] is SKIPPED
    assert isinstance(results[2], NotFoundError)
    assert calls.require("CA1").trace == ()


def test_trace_is_written_in_apply_with_the_status(calls: CallStore) -> None:
    calls.create(spec("CA1", "+886912345678"))
    calls.take("w1", 60)
    results = calls.apply(
        [SetStatus("CA1", "initiated", expect="queued"), AppendTrace("CA1", (row(0, "status"),))]
    )
    assert results == ["queued", 1]
    assert calls.require("CA1").trace[0]["kind"] == "status"


def test_a_trace_is_purged_with_its_call(
    make_calls: Callable[..., CallStore], clock: Clock
) -> None:
    calls = make_calls(clock, retention=600)
    calls.create(spec("CA1", "+886912345678"))
    calls.set_status("CA1", "completed", duration=0)
    calls.append_trace("CA1", [row(0), row(1)])  # written after the end: expires with it
    if isinstance(calls, RedisCallStore):
        ttl = calls.client.pttl(f"{calls.prefix}call:CA1:trace")
        assert 595_000 < ttl <= 600_000
    else:
        clock.advance(601)
        assert calls.purge() == 1
        calls.create(spec("CA1", "+886912345678"))  # the sid again: no old rows come back
        assert calls.require("CA1").trace == ()


# -- listing -------------------------------------------------------------------------------


def fill(calls: CallStore, clock: Clock) -> list[str]:
    """Six calls a second apart: CA0 ... CA5; CA1 and CA4 completed, CA3 from OTHER_FROM."""
    sids = []
    for i in range(6):
        sid = f"CA{i}"
        calls.create(spec(sid, f"+88691200000{i}", OTHER_FROM if i == 3 else FROM))
        sids.append(sid)
        clock.advance(1)
    for sid in ("CA1", "CA4"):
        calls.set_status(sid, "completed", duration=0)
    return sids


def test_listing_is_newest_first_with_filters(calls: CallStore, clock: Clock) -> None:
    start = clock.now
    fill(calls, clock)
    page = calls.list_calls()
    assert [r.sid for r in page.calls] == ["CA5", "CA4", "CA3", "CA2", "CA1", "CA0"]
    assert page.next is None and page.calls[0].trace == ()
    assert [r.sid for r in calls.list_calls(status="completed").calls] == ["CA4", "CA1"]
    assert [r.sid for r in calls.list_calls(to="+886912000002").calls] == ["CA2"]
    assert [r.sid for r in calls.list_calls(from_=OTHER_FROM).calls] == ["CA3"]
    window = calls.list_calls(created_after=start + 1, created_before=start + 3)
    assert [r.sid for r in window.calls] == ["CA2", "CA1"]
    assert calls.list_calls(status="busy").calls == ()


def test_listing_pages_with_a_cursor(calls: CallStore, clock: Clock) -> None:
    fill(calls, clock)
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = calls.list_calls(limit=4, after=after, status="queued")
        seen += [r.sid for r in page.calls]
        after = page.next
        if after is None:
            break
    assert seen == ["CA5", "CA3", "CA2", "CA0"]
    first = calls.list_calls(limit=2)
    assert first.next == (first.calls[-1].created_at, "CA4")
    second = calls.list_calls(limit=2, after=first.next)
    assert [r.sid for r in second.calls] == ["CA3", "CA2"]


def test_listing_with_equal_created_times_pages_by_sid(calls: CallStore, clock: Clock) -> None:
    for i in range(5):
        calls.create(spec(f"CA{i}", f"+88691200001{i}"))  # the clock does not move
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = calls.list_calls(limit=2, after=after)
        seen += [r.sid for r in page.calls]
        after = page.next
        if after is None:
            break
    assert seen == ["CA4", "CA3", "CA2", "CA1", "CA0"]


def test_listing_forgets_expired_calls(make_calls: Callable[..., CallStore], clock: Clock) -> None:
    calls = make_calls(clock, retention=600)
    fill(calls, clock)
    if isinstance(calls, RedisCallStore):
        calls.client.delete(f"{calls.prefix}call:CA4")  # as its TTL would
        assert "CA4" not in [r.sid for r in calls.list_calls().calls]
        assert calls.client.zscore(f"{calls.prefix}calls:created", "CA4") is None
    else:
        clock.advance(601)
        calls.purge()
        assert [r.sid for r in calls.list_calls().calls] == ["CA5", "CA3", "CA2", "CA0"]


def test_several_trace_writes_in_one_group(calls: CallStore) -> None:
    calls.create(spec("CA1", "+886912345678"))
    calls.create(spec("CA2", "+886912345679"))
    first = trace_json({"code": "fetch-status", "message": "one"})
    second = trace_json({"code": "loop-guard", "message": "two"})
    results = calls.apply(
        [
            AppendTrace("CA1", (row(0), row(1), row(2)), 4, first),
            AppendTrace("CA2", (row(0),), 4),
            AppendTrace("CA1", (row(3), row(4), row(5)), 4, second),
        ]
    )
    assert results == [3, 1, 4]
    one = calls.require("CA1")
    assert [r["ms"] for r in one.trace[:3]] == [0, 1, 2] and one.trace[3]["kind"] == TRUNCATED
    assert one.error is not None and one.error["code"] == "fetch-status"
    assert [r["ms"] for r in calls.require("CA2").trace] == [0]
