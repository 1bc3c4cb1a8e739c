"""Recording records in both call stores: saved (in-progress → completed), read back,
listed per call, deleted, refused for an unknown call, gone with their call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.stores import Clock

from voiceapp.calls.records import CallSpec, RecordingRecord
from voiceapp.calls.writes import SKIPPED, SaveRecording, SetStatus
from voiceapp.errors import NotFoundError, ValidationError
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore


def spec(sid: str, to: str = "+886912345678", **extra: Any) -> CallSpec:
    return CallSpec(sid=sid, from_="+19499300360", to=to, **extra)


@pytest.fixture
def calls(store_url: str, clock: Clock) -> Iterator[CallStore]:
    store = open_call_store(store_url, clock=clock)
    yield store
    store.close()


def rec(sid: str, call: str, status: str = "in-progress", **kw: Any) -> RecordingRecord:
    return RecordingRecord(sid, call, status, "RecordVerb", 1000.0, **kw)


def test_a_recording_is_saved_replaced_listed_and_deleted(calls: CallStore) -> None:
    calls.create(spec("CA1"))
    calls.save_recording(rec("RE1", "CA1"))
    assert calls.get_recording("RE1") == rec("RE1", "CA1")
    done = rec("RE1", "CA1", "completed", duration=4, media="RE1.wav", size=64044)
    calls.save_recording(done)  # the same sid: replaced
    later = RecordingRecord("RE2", "CA1", "absent", "DialVerb", 1001.0, channels=2)
    calls.save_recording(later)
    assert calls.require_recording("RE1") == done
    assert calls.recordings_of("CA1") == [done, later]
    assert calls.recordings_of("CA-unknown") == []
    assert calls.delete_recording("RE1") == done
    assert calls.get_recording("RE1") is None
    assert calls.recordings_of("CA1") == [later]
    with pytest.raises(NotFoundError) as info:
        calls.delete_recording("RE1")
    assert info.value.code == "recording-not-found" and info.value.status == 404
    with pytest.raises(NotFoundError):
        calls.require_recording("RE-none")


def test_a_recording_of_an_unknown_call_is_refused_and_skips_its_calls_later_writes(
    calls: CallStore,
) -> None:
    with pytest.raises(NotFoundError) as info:
        calls.save_recording(rec("RE9", "CA-none"))
    assert info.value.code == "call-not-found"
    calls.create(spec("CA2"))
    results = calls.apply(
        [
            SaveRecording("CA-none", rec("RE8", "CA-none")),
            SetStatus("CA-none", "initiated"),
            SaveRecording("CA2", rec("RE7", "CA2")),
        ]
    )
    assert isinstance(results[0], NotFoundError) and results[1] is SKIPPED
    assert results[2] is None
    assert calls.get_recording("RE7") == rec("RE7", "CA2")


@pytest.mark.parametrize(
    "bad",
    [
        rec("RE1", "CA3", "finished"),
        RecordingRecord("RE1", "CA3", "completed", "Somewhere", 0.0),
        rec("RE1", "CA3", channels=3),
        rec("bad sid", "CA3"),
    ],
)
def test_a_malformed_recording_is_refused_before_anything_is_written(
    calls: CallStore, bad: RecordingRecord
) -> None:
    calls.create(spec("CA3"))
    with pytest.raises((ValueError, ValidationError)):
        calls.save_recording(bad)
    assert calls.recordings_of("CA3") == []


def test_recordings_go_with_their_call(calls: CallStore) -> None:
    calls.create(spec("CA4"))
    calls.save_recording(rec("RE4", "CA4", "completed", duration=1, media="RE4.wav"))
    taken = calls.take("w1", 60)
    assert taken is not None
    for previous, status in (("queued", "initiated"), ("initiated", "failed")):
        calls.set_status("CA4", status, expect=previous)
    calls.delete("CA4")
    assert calls.get_recording("RE4") is None
    assert calls.recordings_of("CA4") == []


def test_a_recording_saved_after_its_call_ended_is_kept_with_it(
    calls: CallStore, clock: Clock
) -> None:
    calls.create(spec("CA5"))
    assert calls.take("w1", 60) is not None
    calls.set_status("CA5", "initiated", expect="queued")
    calls.set_status("CA5", "failed", expect="initiated")
    record = rec("RE5", "CA5", "completed", duration=2, media="RE5.wav")
    calls.save_recording(record)  # the call recording is finished as the call ends
    assert calls.require_recording("RE5") == record
    assert RecordingRecord.from_json(record.to_json()) == record
