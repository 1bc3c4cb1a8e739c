"""The call state machine, as a table of transitions with no I/O in it.

A call (or one leg of it) starts ``queued``.  Events from the dialer and the
network move it along; each legal move is one row of :data:`TRANSITIONS`, which
also says which status-callback event (the seed's ``initiated``, ``ringing``,
``answered``, ``completed``) the move emits.  Anything not in the table is
illegal and raises :class:`IllegalTransition`.

::

    queued ──dial──► initiated ──ring──► ringing ──answer──► in-progress ──hang-up──► completed
       │                 │ answer ──────────────────────────────▲      │
       │                 │ busy / no-answer / fail / cancel     │      │
       │                 ▼                                      │      │
       └─fail/cancel──► busy · no-answer · failed · canceled ◄──┘ (from ringing too)

The table is plain data, and the one place call statuses are written: the dialer's
state machine, the call stores, the API and the docs all read it.  The status sets
(:data:`TERMINAL`, :data:`ACTIVE`, :data:`LIVE`, :data:`CANCELABLE`) are derived from
the rows.  The statuses are ``StrEnum`` members, so a status read back from a store as
a plain string compares (and hashes) equal to its member.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from voiceapp.errors import IllegalTransition, ValidationError


class CallStatus(StrEnum):
    """Where a call or leg is; the values are what the API and callbacks show."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


class Event(StrEnum):
    """What happens to a call; the inputs of the state machine."""

    DIAL = "dial"  # the dialer starts placing the call
    RING = "ring"  # the network reports the callee's phone ringing
    ANSWER = "answer"  # the callee picked up
    HANG_UP = "hang-up"  # either side ended an answered call
    BUSY = "busy"  # the callee's line is busy
    NO_ANSWER = "no-answer"  # rang until the timeout without an answer
    FAIL = "fail"  # the call could not be placed
    CANCEL = "cancel"  # withdrawn before it was answered


class CallbackEvent(StrEnum):
    """The status-callback events a subscriber can ask for (the seed's names)."""

    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class Transition:
    """One legal move: ``source`` --``event``--> ``target``, emitting ``emits``."""

    source: CallStatus
    event: Event
    target: CallStatus
    emits: CallbackEvent | None


S = CallStatus
E = Event
C = CallbackEvent

_ROWS: Final[tuple[tuple[CallStatus, Event, CallStatus, CallbackEvent | None], ...]] = (
    (S.QUEUED, E.DIAL, S.INITIATED, C.INITIATED),
    (S.QUEUED, E.FAIL, S.FAILED, C.COMPLETED),
    (S.QUEUED, E.CANCEL, S.CANCELED, C.COMPLETED),
    (S.INITIATED, E.RING, S.RINGING, C.RINGING),
    (S.INITIATED, E.ANSWER, S.IN_PROGRESS, C.ANSWERED),
    (S.INITIATED, E.BUSY, S.BUSY, C.COMPLETED),
    (S.INITIATED, E.NO_ANSWER, S.NO_ANSWER, C.COMPLETED),
    (S.INITIATED, E.FAIL, S.FAILED, C.COMPLETED),
    (S.INITIATED, E.CANCEL, S.CANCELED, C.COMPLETED),
    (S.RINGING, E.ANSWER, S.IN_PROGRESS, C.ANSWERED),
    (S.RINGING, E.BUSY, S.BUSY, C.COMPLETED),
    (S.RINGING, E.NO_ANSWER, S.NO_ANSWER, C.COMPLETED),
    (S.RINGING, E.FAIL, S.FAILED, C.COMPLETED),
    (S.RINGING, E.CANCEL, S.CANCELED, C.COMPLETED),
    (S.IN_PROGRESS, E.HANG_UP, S.COMPLETED, C.COMPLETED),
)

#: (status, event) -> Transition; every pair not in here is illegal.
TRANSITIONS: Final[Mapping[tuple[CallStatus, Event], Transition]] = MappingProxyType(
    {(src, ev): Transition(src, ev, dst, emits) for src, ev, dst, emits in _ROWS}
)

QUEUED: Final = S.QUEUED
#: Every status (the members of :class:`CallStatus`).
STATUSES: Final = frozenset(CallStatus)
#: Statuses a call never leaves (no row starts there); reaching one frees the call's number.
TERMINAL: Final = frozenset(s for s in CallStatus if not any(src is s for src, _ in TRANSITIONS))
#: Queued or under way: a second call to the same number is refused.
ACTIVE: Final = STATUSES - TERMINAL
#: A call under way (dialed, not ended).
LIVE: Final = ACTIVE - {S.QUEUED}
#: Statuses from which ``cancel`` is legal (queued at once; the others by the dialer).
CANCELABLE: Final = frozenset(src for src, ev in TRANSITIONS if ev is E.CANCEL)
#: A status-callback event's delivery: ``pending`` until delivered (2xx) or given up.
DELIVERY_STATES: Final = frozenset({"pending", "delivered", "failed"})


def check_status(value: str, field: str = "status") -> str:
    """``value`` when it is a call status, else ``ValidationError`` ``call-bad-status``."""
    if value not in STATUSES:
        raise ValidationError(
            f"{value!r} is not a call status ({', '.join(sorted(STATUSES))})",
            code="call-bad-status",
            field=field,
        )
    return value


def transition(status: CallStatus | str, event: Event | str) -> Transition:
    """Look up the move for ``event`` in ``status``; raise :class:`IllegalTransition`."""
    st = CallStatus(status)
    ev = Event(event)
    row = TRANSITIONS.get((st, ev))
    if row is None:
        allowed = sorted(e.value for (src, e) in TRANSITIONS if src is st)
        raise IllegalTransition(st, ev, allowed)
    return row


@dataclass(slots=True)
class CallState:
    """The status of one call or leg, and the moves it made (oldest first)."""

    status: CallStatus = CallStatus.QUEUED
    history: list[Transition] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def can(self, event: Event) -> bool:
        return (self.status, event) in TRANSITIONS

    def apply(self, event: Event) -> Transition:
        """Make the move for ``event`` and return it; the state is unchanged on error."""
        row = transition(self.status, event)
        self.status = row.target
        self.history.append(row)
        return row
