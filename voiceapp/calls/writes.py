"""The writes the dialer makes to a call as it goes, as data: one type, one dispatch.

Each write is a frozen dataclass that knows what it requires of its own values
(:meth:`Write.check`, run by every store before it touches anything) and which
handler method carries it out (:meth:`Write.handled_by`).  A store backend implements
:class:`WriteHandler` (one method per kind of write), so adding a write is one class
here plus its method in each backend, and a backend that lacks it fails ``mypy``.
:meth:`CallStore.apply <voiceapp.stores.calls.CallStore.apply>` carries out a group of
them; the store's methods (``set_status``, ``add_leg`` ...) are each one write.
"""

from __future__ import annotations

import abc
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from voiceapp.calls.records import AttemptRecord, RecordingRecord, check_sid, truncated_row
from voiceapp.calls.states import DELIVERY_STATES, check_status

T_co = TypeVar("T_co", covariant=True)


class WriteHandler(Protocol[T_co]):
    """What carries out (or encodes) each kind of write; ``T_co``: what it gives back."""

    def on_set_status(self, write: SetStatus) -> T_co: ...
    def on_add_leg(self, write: AddLeg) -> T_co: ...
    def on_add_event(self, write: AddEvent) -> T_co: ...
    def on_record_attempt(self, write: RecordAttempt) -> T_co: ...
    def on_append_trace(self, write: AppendTrace) -> T_co: ...
    def on_renew(self, write: Renew) -> T_co: ...
    def on_save_recording(self, write: SaveRecording) -> T_co: ...


T = TypeVar("T")


class Write(abc.ABC):
    """One write of one call (``call_sid``)."""

    __slots__ = ()
    call_sid: str

    def check(self) -> None:  # noqa: B027 - most writes need no check of their own
        """Raise when a value is not one the store can write (nothing has been touched)."""

    @abc.abstractmethod
    def handled_by(self, handler: WriteHandler[T]) -> T:
        """``handler``'s method for this kind of write, called with this write."""


def expected(expect: str | Collection[str] | None) -> tuple[str, ...]:
    """``expect`` of :class:`SetStatus` as a tuple of checked statuses."""
    if expect is None:
        return ()
    items = (expect,) if isinstance(expect, str) else tuple(expect)
    for item in items:
        check_status(item, "expect")
    return items


@dataclass(frozen=True, slots=True)
class SetStatus(Write):
    """:meth:`CallStore.set_status` as data; its result is the previous status."""

    call_sid: str
    status: str
    leg_sid: str | None = None
    expect: str | tuple[str, ...] | None = None
    at: float | None = None
    duration: int | None = None
    #: an a-leg's terminal status set by lease recovery: the call is marked ``recovered``
    recovered: bool = False

    def check(self) -> None:
        check_status(self.status)
        expected(self.expect)

    def handled_by(self, handler: WriteHandler[T]) -> T:
        return handler.on_set_status(self)


@dataclass(frozen=True, slots=True)
class AddLeg(Write):
    """:meth:`CallStore.add_leg` as data; its result is True when the leg is new."""

    call_sid: str
    leg_sid: str
    from_: str
    to: str
    direction: str = "outbound-dial"
    parent_sid: str | None = None
    at: float | None = None

    def check(self) -> None:
        check_sid(self.leg_sid, "leg_sid")

    def handled_by(self, handler: WriteHandler[T]) -> T:
        return handler.on_add_leg(self)


@dataclass(frozen=True, slots=True)
class AddEvent(Write):
    """:meth:`CallStore.add_event` as data; its result is True when the event is new."""

    call_sid: str
    event_id: str
    leg_sid: str
    sequence: int
    name: str
    url: str
    method: str
    params: tuple[tuple[str, str], ...]
    at: float | None = None

    def handled_by(self, handler: WriteHandler[T]) -> T:
        return handler.on_add_event(self)


@dataclass(frozen=True, slots=True)
class RecordAttempt(Write):
    """:meth:`CallStore.record_attempt` as data; its result is None."""

    call_sid: str
    event_id: str
    attempt: AttemptRecord
    state: str

    def check(self) -> None:
        """A delivery state (:data:`DELIVERY_STATES`); ``ValueError`` otherwise (a caller's bug)."""
        if self.state not in DELIVERY_STATES:
            raise ValueError(
                f"delivery state must be one of {sorted(DELIVERY_STATES)}, not {self.state!r}"
            )

    def handled_by(self, handler: WriteHandler[T]) -> T:
        return handler.on_record_attempt(self)


@dataclass(frozen=True, slots=True)
class AppendTrace(Write):
    """Add the dialer's trace rows of a call, as JSON text (:func:`trace_json`); its result
    is the number of rows kept.  At most ``limit`` rows are kept per call: once a row
    would not fit, a last ``truncated`` row is written and later rows are dropped.
    ``error`` (JSON text of ``{"code", "message", ...}``) is the call's error unless it
    already has one (the first error wins)."""

    call_sid: str
    entries: tuple[str, ...]
    limit: int = 500
    error: str | None = None

    def check(self) -> None:
        limit = self.limit
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"a trace limit is a positive integer, not {limit!r}")

    def handled_by(self, handler: WriteHandler[T]) -> T:
        return handler.on_append_trace(self)

    def kept(self, count: int) -> list[str]:
        """The rows a trace of ``count`` rows keeps of these: up to ``limit - 1`` rows in
        all, then one ``truncated`` row when more came (:func:`truncated_row`)."""
        room = max(0, self.limit - 1 - count)  # the last place is kept for the truncated mark
        rows = list(self.entries[:room])
        if len(self.entries) > room and count < self.limit:
            rows.append(truncated_row(self.entries, self.limit))
        return rows


@dataclass(frozen=True, slots=True)
class Renew(Write):
    """:meth:`CallStore.renew` as data; its result is False once the worker lost the call.

    ``at`` is the heartbeat: when the worker renewed, on its own clock (the clock of
    the status changes it writes); it is stored as the call's ``heartbeat_at``, the last
    moment the worker is known to have been alive (the store clock when None)."""

    call_sid: str
    worker: str
    lease: float
    at: float | None = None

    def handled_by(self, handler: WriteHandler[T]) -> T:
        return handler.on_renew(self)


@dataclass(frozen=True, slots=True)
class SaveRecording(Write):
    """Store a recording of the call, or replace the one of the same sid (``in-progress``
    → ``completed``); its result is None.  ``call-not-found`` for an unknown call."""

    call_sid: str
    recording: RecordingRecord

    def check(self) -> None:
        self.recording.check()
        if self.recording.call_sid != self.call_sid:
            raise ValueError("a recording is saved with its own call")

    def handled_by(self, handler: WriteHandler[T]) -> T:
        return handler.on_save_recording(self)


class _Skipped:
    def __repr__(self) -> str:
        return "SKIPPED"


#: The result of a write :meth:`CallStore.apply` did not try: an earlier write of
#: the same call failed.
SKIPPED: Final = _Skipped()
