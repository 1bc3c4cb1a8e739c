"""Exhaustive tests of the call state table: every (status, event) pair."""

from __future__ import annotations

import itertools

import pytest

from voiceapp.calls.states import (
    ACTIVE,
    CANCELABLE,
    TERMINAL,
    TRANSITIONS,
    CallbackEvent,
    CallState,
    CallStatus,
    Event,
    transition,
)
from voiceapp.errors import IllegalTransition, VoiceappError

S, E, C = CallStatus, Event, CallbackEvent

# The expected table, written out independently of the module's rows:
# (status, event) -> (target, callback event emitted)
EXPECTED = {
    (S.QUEUED, E.DIAL): (S.INITIATED, C.INITIATED),
    (S.QUEUED, E.FAIL): (S.FAILED, C.COMPLETED),
    (S.QUEUED, E.CANCEL): (S.CANCELED, C.COMPLETED),
    (S.INITIATED, E.RING): (S.RINGING, C.RINGING),
    (S.INITIATED, E.ANSWER): (S.IN_PROGRESS, C.ANSWERED),
    (S.INITIATED, E.BUSY): (S.BUSY, C.COMPLETED),
    (S.INITIATED, E.NO_ANSWER): (S.NO_ANSWER, C.COMPLETED),
    (S.INITIATED, E.FAIL): (S.FAILED, C.COMPLETED),
    (S.INITIATED, E.CANCEL): (S.CANCELED, C.COMPLETED),
    (S.RINGING, E.ANSWER): (S.IN_PROGRESS, C.ANSWERED),
    (S.RINGING, E.BUSY): (S.BUSY, C.COMPLETED),
    (S.RINGING, E.NO_ANSWER): (S.NO_ANSWER, C.COMPLETED),
    (S.RINGING, E.FAIL): (S.FAILED, C.COMPLETED),
    (S.RINGING, E.CANCEL): (S.CANCELED, C.COMPLETED),
    (S.IN_PROGRESS, E.HANG_UP): (S.COMPLETED, C.COMPLETED),
}

ALL_PAIRS = list(itertools.product(CallStatus, Event))


def test_statuses_and_events_are_the_documented_strings() -> None:
    assert [s.value for s in CallStatus] == [
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "no-answer",
        "failed",
        "canceled",
    ]
    assert [c.value for c in CallbackEvent] == ["initiated", "ringing", "answered", "completed"]


@pytest.mark.parametrize(("status", "event"), ALL_PAIRS)
def test_every_pair(status: CallStatus, event: Event) -> None:
    if (status, event) in EXPECTED:
        row = transition(status, event)
        assert (row.target, row.emits) == EXPECTED[(status, event)]
        assert (row.source, row.event) == (status, event)
    else:
        with pytest.raises(IllegalTransition) as info:
            transition(status, event)
        err = info.value
        assert isinstance(err, VoiceappError)
        assert err.code == "call-illegal-transition"
        assert err.status == 409
        assert status.value in err.message and event.value in err.message
        assert (err.from_status, err.event) == (status, event)


def test_table_has_exactly_the_expected_rows() -> None:
    assert set(TRANSITIONS) == set(EXPECTED)


def test_terminal_statuses_have_no_way_out() -> None:
    assert {S.COMPLETED, S.BUSY, S.NO_ANSWER, S.FAILED, S.CANCELED} == TERMINAL
    for status in TERMINAL:
        assert not any(src is status for src, _ in TRANSITIONS)
        with pytest.raises(IllegalTransition, match="is final"):
            transition(status, E.HANG_UP)


def test_every_terminal_move_emits_completed_and_only_those() -> None:
    for row in TRANSITIONS.values():
        assert (row.emits is C.COMPLETED) == (row.target in TERMINAL)


def test_every_status_is_reachable_from_queued() -> None:
    seen = {S.QUEUED}
    frontier = [S.QUEUED]
    while frontier:
        status = frontier.pop()
        for (src, _), row in TRANSITIONS.items():
            if src is status and row.target not in seen:
                seen.add(row.target)
                frontier.append(row.target)
    assert seen == set(CallStatus)


def test_active_and_cancelable() -> None:
    assert {S.QUEUED, S.INITIATED, S.RINGING, S.IN_PROGRESS} == ACTIVE
    assert ACTIVE.isdisjoint(TERMINAL)
    assert set(CallStatus) == ACTIVE | TERMINAL
    assert {S.QUEUED, S.INITIATED, S.RINGING} == CANCELABLE


def test_strings_are_accepted_and_bad_names_refused() -> None:
    assert transition("ringing", "answer").target is S.IN_PROGRESS
    with pytest.raises(ValueError):
        transition("ringing", "explode")


@pytest.mark.parametrize(
    ("events", "statuses", "emitted"),
    [
        (
            [E.DIAL, E.RING, E.ANSWER, E.HANG_UP],
            [S.INITIATED, S.RINGING, S.IN_PROGRESS, S.COMPLETED],
            ["initiated", "ringing", "answered", "completed"],
        ),
        (
            [E.DIAL, E.RING, E.BUSY],
            [S.INITIATED, S.RINGING, S.BUSY],
            ["initiated", "ringing", "completed"],
        ),
        ([E.DIAL, E.BUSY], [S.INITIATED, S.BUSY], ["initiated", "completed"]),
        (
            [E.DIAL, E.RING, E.NO_ANSWER],
            [S.INITIATED, S.RINGING, S.NO_ANSWER],
            ["initiated", "ringing", "completed"],
        ),
        ([E.DIAL, E.FAIL], [S.INITIATED, S.FAILED], ["initiated", "completed"]),
        ([E.CANCEL], [S.CANCELED], ["completed"]),
    ],
)
def test_call_state_runs(
    events: list[Event], statuses: list[CallStatus], emitted: list[str]
) -> None:
    state = CallState()
    got = [state.apply(ev) for ev in events]
    assert [row.target for row in got] == statuses
    assert [row.emits for row in got] == emitted
    assert state.history == got
    assert state.terminal


def test_call_state_unchanged_after_illegal_event() -> None:
    state = CallState()
    state.apply(E.DIAL)
    assert state.can(E.RING) and not state.can(E.HANG_UP)
    with pytest.raises(
        IllegalTransition, match="allowed: answer, busy, cancel, fail, no-answer, ring"
    ):
        state.apply(E.HANG_UP)
    assert state.status is S.INITIATED
    assert len(state.history) == 1
