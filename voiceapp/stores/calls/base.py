"""The call store interface: durable call records and the call queue.

A call is created ``queued`` and enqueued in one atomic step, which refuses a
second call to a number (``to``) that already has a queued or active call.  A
dialer worker *takes* the next queued call with a lease (worker id + deadline);
statuses, legs and status-callback events (with their delivery attempts) are
written as the call goes.  When the call (its a-leg) reaches a terminal status
its number is free again.

What a call is (statuses, records, writes) is the calls core, :mod:`voiceapp.calls`;
this is its persistence.  Every method is one atomic step, safe from several threads
and processes, and has written everything before it returns.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from voiceapp.calls.records import (
    AttemptRecord,
    CallChange,
    CallPage,
    CallQuery,
    CallRecord,
    CallSpec,
    EventRecord,
    RecordingRecord,
    check_spec,
    new_record,
)
from voiceapp.calls.refusals import not_found, recording_not_found
from voiceapp.calls.states import check_status
from voiceapp.calls.writes import (
    SKIPPED,
    AddEvent,
    AddLeg,
    AppendTrace,
    RecordAttempt,
    Renew,
    SaveRecording,
    SetStatus,
    Write,
    expected,
)


@dataclass(frozen=True)
class StoreStats:
    """What :meth:`CallStore.stats` reads at once (metrics, readiness)."""

    by_status: Mapping[str, int]  # calls kept in the store, by status (finished: retention)
    waiting: int  # calls in the queue that no dialer has taken
    oldest_waiting_at: float | None  # created_at of the oldest of them


#: Heartbeats older than this many seconds are dropped when a worker beats.
HEARTBEAT_KEEP: Final = 86400.0


class CallStore(abc.ABC):
    """What the call API and the dialer need from a store (see ``docs/calls.md``)."""

    #: seconds a finished call is kept (None: forever)
    retention: float | None
    #: seconds since the epoch: stamps records and decides leases
    clock: Callable[[], float]

    # -- calls and the queue ---------------------------------------------------------------

    def create(self, spec: CallSpec) -> CallRecord:
        """Store ``spec`` as a ``queued`` call and enqueue it, in one atomic step.

        Raises ``ConflictError`` ``call-to-busy`` (field ``to``) when ``spec.to``
        already has a queued or active call, ``call-sid-exists`` for a reused sid.
        """
        check_spec(spec)
        now = self.clock()
        self._insert(spec, now)
        return new_record(spec, now)

    @abc.abstractmethod
    def _insert(self, spec: CallSpec, now: float) -> None:
        """:meth:`create`'s atomic step for a checked ``spec``: the call, its a-leg
        (direction ``spec.direction``) and its first history entry, all ``queued`` at ``now``."""

    @abc.abstractmethod
    def get(self, sid: str) -> CallRecord | None:
        """The call with its legs, status history, events and attempts; None if unknown."""

    def require(self, sid: str) -> CallRecord:
        """:meth:`get`, or ``NotFoundError`` ``call-not-found`` (404)."""
        record = self.get(sid)
        if record is None:
            raise not_found(sid)
        return record

    def take(self, worker: str, lease: float) -> CallRecord | None:
        """Take the oldest waiting call for ``worker`` until ``now + lease``; None when empty.

        Each call is taken by exactly one caller.  The call stays ``queued``
        until the worker records ``initiated``.
        """
        now = self.clock()
        sid = self._take(worker, now + lease, now)
        return None if sid is None else self.get(sid)

    @abc.abstractmethod
    def _take(self, worker: str, until: float, now: float) -> str | None:
        """:meth:`take`'s atomic step: lease the oldest waiting call; its sid, None if none."""

    def renew(self, sid: str, worker: str, lease: float, *, at: float | None = None) -> bool:
        """Extend ``worker``'s lease on ``sid`` to ``now + lease``; False if it lost it.

        The same write records the heartbeat: ``heartbeat_at`` becomes ``at`` (the
        worker's time of the renewal; the store clock when None)."""
        return bool(self._carry_out(Renew(sid, worker, lease, at)))

    @abc.abstractmethod
    def expired_leases(self, limit: int = 100) -> list[str]:
        """Sids of unfinished calls whose lease has run out (their worker is gone)."""

    def reclaim(self, sid: str, worker: str, lease: float) -> CallRecord | None:
        """Atomically move an expired lease to ``worker``; None if it is not expired now."""
        now = self.clock()
        return self.get(sid) if self._reclaim(sid, worker, now + lease, now) else None

    @abc.abstractmethod
    def _reclaim(self, sid: str, worker: str, until: float, now: float) -> bool:
        """:meth:`reclaim`'s atomic step: True when the lease was expired and moved."""

    @abc.abstractmethod
    def cancel_requests(self, worker: str) -> list[str]:
        """Calls leased by ``worker`` whose cancel was requested while they were dialing."""

    def cancel(self, sid: str) -> CallRecord:
        """Cancel a call: a ``queued`` one is ``canceled`` at once (and leaves the queue);

        an ``initiated`` or ``ringing`` one gets ``cancel_requested_at`` and its dialer
        ends it.  Others: ``ConflictError`` ``call-not-cancelable``; unknown:
        ``NotFoundError`` ``call-not-found``.
        """
        self._cancel(sid, self.clock())
        return self.require(sid)

    @abc.abstractmethod
    def _cancel(self, sid: str, now: float) -> None:
        """:meth:`cancel`'s atomic step (it raises the errors :meth:`cancel` names)."""

    def request_change(self, sid: str, change: CallChange) -> CallRecord:
        """Change a call (the call after it), in one atomic step:

        * ``status`` (``completed`` or ``canceled``): a ``queued`` call is ``canceled`` at
          once, an ``initiated`` or ``ringing`` one gets its cancel requested (as
          :meth:`cancel`); an ``in-progress`` one gets the hang-up stored for its dialer
          (``completed``) or is left alone (``canceled`` ends only unanswered calls, as
          Twilio's);
        * ``url`` / ``twiml``: a call still waiting in the queue has its spec's document
          replaced (``url`` with ``method``, or ``twiml``); a taken or dialing one gets the
          change stored for its dialer, which runs it at once (on answer, when it is
          not answered yet).

        A finished call: ``ConflictError`` ``call-not-changeable``; unknown:
        ``NotFoundError`` ``call-not-found``; a malformed change ``ValidationError``.
        """
        change.check()
        self._request_change(sid, change, self.clock())
        return self.require(sid)

    @abc.abstractmethod
    def _request_change(self, sid: str, change: CallChange, now: float) -> None:
        """:meth:`request_change`'s atomic step for a checked change."""

    @abc.abstractmethod
    def change_requests(self, worker: str) -> list[tuple[str, CallChange]]:
        """The stored changes of unfinished calls leased by ``worker``, ``(sid, change)``
        by sid, each call's in the order they were asked; each is returned once (reading removes
        it).  Changes of a call that ends are dropped with it."""

    # -- legs and statuses -----------------------------------------------------------------

    def add_leg(
        self,
        call_sid: str,
        leg_sid: str,
        *,
        from_: str,
        to: str,
        direction: str = "outbound-dial",
        parent_sid: str | None = None,
        at: float | None = None,
    ) -> bool:
        """Add a b-leg (status ``queued``) to the call; False if it is already there."""
        op = AddLeg(call_sid, leg_sid, from_, to, direction, parent_sid, at)
        return bool(self._carry_out(op))

    def set_status(
        self,
        call_sid: str,
        status: str,
        *,
        leg_sid: str | None = None,
        expect: str | Collection[str] | None = None,
        at: float | None = None,
        duration: int | None = None,
        recovered: bool = False,
    ) -> str:
        """Record that a leg (the a-leg by default) is now ``status``; the previous status.

        With ``expect``, the leg must be in (one of) those statuses, else
        ``ConflictError`` ``call-status-conflict``; a leg in a terminal status never
        changes.  A terminal a-leg status ends the call: ``ended_at``, ``duration``,
        the lease is dropped and the number is free.  ``recovered`` (lease recovery
        ending the call of a dead worker) marks the call ``recovered`` in the same write.
        """
        op = SetStatus(call_sid, status, leg_sid, expected(expect), at, duration, recovered)
        return str(self._carry_out(op))

    # -- status-callback events ------------------------------------------------------------

    def add_event(
        self,
        call_sid: str,
        event_id: str,
        *,
        leg_sid: str,
        sequence: int,
        name: str,
        url: str,
        method: str,
        params: Iterable[tuple[str, str]],
        at: float | None = None,
    ) -> bool:
        """Store a status-callback event as ``pending``; False if ``event_id`` is known."""
        op = AddEvent(call_sid, event_id, leg_sid, sequence, name, url, method, tuple(params), at)
        return bool(self._carry_out(op))

    def record_attempt(
        self,
        call_sid: str,
        event_id: str,
        attempt: AttemptRecord,
        *,
        state: str,
    ) -> None:
        """Add a delivery attempt (idempotent per number) and set the event's ``state``.

        A ``delivered`` event stays delivered.
        """
        self._carry_out(RecordAttempt(call_sid, event_id, attempt, state))

    def append_trace(
        self, call_sid: str, entries: Iterable[str], *, limit: int = 500, error: str | None = None
    ) -> int:
        """:class:`AppendTrace` on its own; the number of rows the call's trace keeps."""
        return int(str(self._carry_out(AppendTrace(call_sid, tuple(entries), limit, error))))

    # -- recordings ------------------------------------------------------------------------

    def save_recording(self, recording: RecordingRecord) -> None:
        """:class:`SaveRecording` on its own: store ``recording`` (or replace the one of
        its sid); ``call-not-found`` when its call is unknown."""
        self._carry_out(SaveRecording(recording.call_sid, recording))

    @abc.abstractmethod
    def get_recording(self, sid: str) -> RecordingRecord | None:
        """The recording ``sid``; None if unknown (or gone with its call)."""

    def require_recording(self, sid: str) -> RecordingRecord:
        """:meth:`get_recording`, or ``NotFoundError`` ``recording-not-found`` (404)."""
        recording = self.get_recording(sid)
        if recording is None:
            raise recording_not_found(sid)
        return recording

    @abc.abstractmethod
    def recordings_of(self, call_sid: str) -> list[RecordingRecord]:
        """The recordings of a call, oldest first (none for an unknown call)."""

    @abc.abstractmethod
    def delete_recording(self, sid: str) -> RecordingRecord:
        """Forget the recording ``sid`` (its media file is the caller's to remove); the
        record it was; ``NotFoundError`` ``recording-not-found`` when unknown."""

    @abc.abstractmethod
    def undelivered(self, limit: int = 1000) -> list[EventRecord]:
        """Pending events, oldest first, with their attempts: what a restart resumes."""

    # -- several writes at once -----------------------------------------------------------

    def apply(self, writes: Sequence[Write]) -> list[object]:
        """Carry out ``writes`` in order, as one group; one result per write.

        A result is what the method would return, the exception it would raise
        (that write changed nothing), or :data:`SKIPPED` when an earlier write of
        the same call failed (a call's writes build on each other: a status
        callback event is not stored after its status change was refused).  Each
        write is as atomic as its method.  SQLite: one transaction (one fsync),
        durable when this returns.  Redis: one Lua script, one round trip.  An
        exception raised by ``apply`` itself (the store is down) means none of the
        writes can be counted on.
        """
        failed: set[str] = set()
        with self.batch():
            return [self._carry_one(write, failed) for write in writes]

    def _carry_one(self, write: Write, failed: set[str]) -> object:
        """``write``'s result inside :meth:`apply`: :data:`SKIPPED` when an earlier write
        of its call failed (``failed``: those calls' sids), its exception when it fails."""
        if write.call_sid in failed:
            return SKIPPED
        try:
            return self._carry_out(write)
        except Exception as exc:
            failed.add(write.call_sid)
            return exc

    def _stamp(self, at: float | None) -> float:
        """A write's time: ``at`` when given, else the store clock now."""
        return self.clock() if at is None else at

    def _carry_out(self, write: Write) -> object:
        """One write, checked (:meth:`Write.check`) and carried out; the method's result."""
        write.check()
        return self._apply_one(write)

    @abc.abstractmethod
    def _apply_one(self, write: Write) -> object:
        """Carry out one checked write atomically: the result of its method
        (:meth:`set_status`: the previous status; :meth:`add_leg`, :meth:`add_event`:
        True when new; :meth:`record_attempt`: None; :meth:`renew`: False once the
        worker lost the call; :meth:`append_trace`: the rows kept), or the method's
        error raised."""

    def take_many(self, worker: str, lease: float, limit: int) -> list[CallRecord]:
        """Up to ``limit`` calls of the queue, oldest first, as :meth:`take` takes each."""
        taken: list[CallRecord] = []
        while len(taken) < limit:
            record = self.take(worker, lease)
            if record is None:
                break
            taken.append(record)
        return taken

    # -- listing ---------------------------------------------------------------------------

    def list_calls(
        self,
        *,
        status: str | None = None,
        to: str | None = None,
        from_: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        limit: int = 20,
        after: tuple[float, str] | None = None,
        account_sid: str | None = None,
    ) -> CallPage:
        """Calls newest first (``created_at``, then sid, descending), with legs and events
        (no trace), filtered by a-leg ``status``, ``to``, ``from_`` and ``created_after`` <=
        ``created_at`` < ``created_before`` and the Twilio ``account_sid`` that placed them;
        at most ``limit`` (1-1000); ``after`` is the ``next`` of the previous page (the
        calls that sort after it)."""
        if status is not None:
            check_status(status)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValueError(f"a list limit is 1-1000, not {limit!r}")
        records = self._list(
            CallQuery(
                status, to, from_, created_after, created_before, limit + 1, after, account_sid
            )
        )
        more = len(records) > limit
        records = records[:limit]
        last = records[-1] if more and records else None
        return CallPage(tuple(records), None if last is None else (last.created_at, last.sid))

    def delete(self, sid: str) -> None:
        """Delete a finished call and everything of it (Twilio's call delete).

        ``ConflictError`` ``call-not-deletable`` while it is unfinished or has status
        callbacks still pending; ``NotFoundError`` ``call-not-found`` when unknown."""
        self._delete(sid)

    @abc.abstractmethod
    def _delete(self, sid: str) -> None:
        """:meth:`delete`'s atomic step (it raises the errors :meth:`delete` names)."""

    @abc.abstractmethod
    def _list(self, query: CallQuery) -> list[CallRecord]:
        """:meth:`list_calls`' read: up to ``limit`` matching records in that order."""

    # -- housekeeping ----------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group this thread's writes inside the block (a throughput hint).

        SQLite: one transaction, so one fsync for all of them; they are durable when
        the block exits, and none is written if it raises (each operation that raised
        inside is undone on its own, so catching its error keeps the others).  Redis:
        every operation is already one atomic round trip; nothing is grouped.  Act on
        the writes (answer a caller, deliver a callback) only after the block.
        For grouped writes on both stores use :meth:`apply`.
        """
        yield

    def purge(self) -> int:
        """Delete finished calls older than the retention now; how many went."""
        return 0

    # -- operations: readiness and metrics -------------------------------------------------

    @abc.abstractmethod
    def ping(self) -> None:
        """A cheap round trip; ``StoreError`` ``store-unavailable`` when the store is down."""

    @abc.abstractmethod
    def beat(self, worker: str, at: float) -> None:
        """Record that dialer ``worker`` was alive at ``at`` (store clock); drops beats
        older than :data:`HEARTBEAT_KEEP`."""

    @abc.abstractmethod
    def heartbeats(self) -> dict[str, float]:
        """Worker id -> time of its last :meth:`beat`."""

    @abc.abstractmethod
    def stats(self) -> StoreStats:
        """Calls by status and the queue (read at metrics scrape time)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""
