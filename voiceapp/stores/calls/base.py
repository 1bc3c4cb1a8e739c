"""The call store interface: durable call records and the call queue.

A call is created ``queued`` and enqueued in one atomic step, which refuses a
second call to a number (``to``) that already has a queued or active call.  A
dialer worker *takes* the next queued call with a lease (worker id + deadline);
statuses, legs and status-callback events (with their delivery attempts) are
written as the call goes.  When the call (its a-leg) reaches a terminal status
its number is free again.

The store sits below the dialer, so statuses are plain strings here; they are
the values of :class:`voiceapp.dialer.states.CallStatus` (a test checks the sets).
Every method is one atomic step, safe from several threads and processes, and
has written everything before it returns.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from voiceapp.errors import ConflictError, NotFoundError, ValidationError
from voiceapp.redact import DEFAULT as REDACT
from voiceapp.redact import EXTRA_KEY as REDACT_KEY

__all__ = [
    "ACTIVE",
    "CANCELABLE",
    "DELIVERY_STATES",
    "LIVE",
    "QUEUED",
    "SKIPPED",
    "STATUSES",
    "TERMINAL",
    "TRUNCATED",
    "AddEvent",
    "AddLeg",
    "AppendTrace",
    "AttemptRecord",
    "CallPage",
    "CallRecord",
    "CallSpec",
    "CallStore",
    "EventRecord",
    "LegRecord",
    "RecordAttempt",
    "Renew",
    "SetStatus",
    "StatusChange",
    "StoreStats",
    "Write",
    "trace_json",
]

QUEUED: Final = "queued"
#: The callback parameter that carries a call's ``secretKey`` (masked when shown).
SECRET_PARAM: Final = "apikey"
#: A call under way (dialed, not ended).
LIVE: Final = frozenset({"initiated", "ringing", "in-progress"})
#: Statuses a call never leaves; reaching one frees the call's number.
TERMINAL: Final = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
#: Queued or under way: a second call to the same number is refused.
ACTIVE: Final = frozenset({QUEUED, *LIVE})
#: Statuses from which a call can be canceled (queued at once; the others by the dialer).
CANCELABLE: Final = frozenset({QUEUED, "initiated", "ringing"})
STATUSES: Final = ACTIVE | TERMINAL
#: ``pending`` until delivered (2xx) or given up (``failed``).
DELIVERY_STATES: Final = frozenset({"pending", "delivered", "failed"})
#: The ``kind`` of the last trace row of a call whose trace reached its limit.
TRUNCATED: Final = "truncated"

_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_sid(value: str, field: str = "sid") -> str:
    if not isinstance(value, str) or not _SID.match(value):
        raise ValidationError(
            f"{field} must be 1-64 letters, digits, '_' or '-', got {value!r}",
            code="call-bad-sid",
            field=field,
        )
    return value


def check_spec(spec: CallSpec) -> None:
    """What the store itself relies on (the API validates the rest at the edge)."""
    check_sid(spec.sid)
    for name, value in (("to", spec.to), ("from", spec.from_)):
        if not isinstance(value, str) or not value:
            raise ValidationError(f"the {name} number is missing", code="missing", field=name)


def check_status(value: str, field: str = "status") -> str:
    if value not in STATUSES:
        raise ValidationError(
            f"{value!r} is not a call status ({', '.join(sorted(STATUSES))})",
            code="call-bad-status",
            field=field,
        )
    return value


@dataclass(frozen=True)
class CallSpec:
    """A call as ``POST /v1/calls`` validated it (the seed's fields, typed)."""

    sid: str
    from_: str
    to: str  # E.164; at most one queued or active call per number
    url: str | None = None
    method: str = "POST"  # of the document fetch
    app: str | None = None  # a call made from an app ("app": "pin") ...
    session_id: str | None = None  # ... and the session the server created for it
    variables: Mapping[str, Any] = field(default_factory=dict)
    send_digits: str | None = None
    status_callback: str | None = None
    status_callback_events: tuple[str, ...] = ("completed",)
    status_callback_method: str = "POST"
    secret_key: str | None = None
    optional: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # anything else the dialer needs

    def to_json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "from": self.from_,
            "to": self.to,
            "url": self.url,
            "method": self.method,
            "app": self.app,
            "session_id": self.session_id,
            "variables": dict(self.variables),
            "senddigits": self.send_digits,
            "statusCallback": self.status_callback,
            "statusCallbackEvent": list(self.status_callback_events),
            "statusCallbackMethod": self.status_callback_method,
            "secretKey": self.secret_key,
            "optional": self.optional,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallSpec:
        return cls(
            sid=data["sid"],
            from_=data["from"],
            to=data["to"],
            url=data["url"],
            method=data["method"],
            app=data["app"],
            session_id=data["session_id"],
            variables=data["variables"],
            send_digits=data["senddigits"],
            status_callback=data["statusCallback"],
            status_callback_events=tuple(data["statusCallbackEvent"]),
            status_callback_method=data["statusCallbackMethod"],
            secret_key=data["secretKey"],
            optional=data["optional"],
            extra=data["extra"],
        )


@dataclass(frozen=True)
class StatusChange:
    status: str
    at: float  # store clock, seconds since the epoch


@dataclass(frozen=True)
class LegRecord:
    """One leg: the a-leg (``sid`` is the CallSid) or a ``<Dial>`` b-leg."""

    sid: str
    parent_sid: str | None
    from_: str
    to: str
    direction: str  # outbound-api (a-leg) | outbound-dial (b-legs)
    status: str
    created_at: float
    ended_at: float | None = None
    duration: int | None = None
    history: tuple[StatusChange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "parentCallSid": self.parent_sid,
            "from": self.from_,
            "to": self.to,
            "direction": self.direction,
            "status": self.status,
            "createdAt": self.created_at,
            "endedAt": self.ended_at,
            "duration": self.duration,
            "history": [{"status": c.status, "at": c.at} for c in self.history],
        }


@dataclass(frozen=True)
class AttemptRecord:
    """One try at delivering a status callback."""

    number: int  # 1-based
    at: float
    ok: bool
    status: int | None = None  # HTTP status, when there was a response
    error: str | None = None  # why there was none

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": self.at,
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
        }


@dataclass(frozen=True)
class EventRecord:
    """One status-callback event, stored before any delivery is tried."""

    event_id: str  # stable: ``<CallSid>:<event>`` (CallSid of the leg)
    call_sid: str
    leg_sid: str
    sequence: int  # the leg's SequenceNumber
    name: str  # initiated | ringing | answered | completed
    url: str
    method: str
    params: tuple[tuple[str, str], ...]
    created_at: float
    state: str = "pending"  # pending | delivered | failed
    attempts: tuple[AttemptRecord, ...] = ()

    @property
    def delivered(self) -> bool:
        return self.state == "delivered"

    def to_dict(self, *, secrets: bool = False) -> dict[str, Any]:
        """Plain data; the ``apikey`` parameter (the call's ``secretKey``) is ``***``
        unless ``secrets``."""
        params = [
            [name, value if secrets or name != SECRET_PARAM else "***"]
            for name, value in self.params
        ]
        return {
            "id": self.event_id,
            "callSid": self.leg_sid,
            "event": self.name,
            "sequenceNumber": self.sequence,
            "url": self.url,
            "method": self.method,
            "params": params,
            "createdAt": self.created_at,
            "state": self.state,
            "delivered": self.delivered,
            "attempts": [a.to_dict() for a in self.attempts],
        }


@dataclass(frozen=True)
class CallRecord:
    """A call as stored: what was asked, where it is, and what happened to it."""

    spec: CallSpec
    status: str
    created_at: float
    updated_at: float
    ended_at: float | None = None
    duration: int | None = None
    lease_owner: str | None = None  # the worker holding the call
    lease_until: float | None = None
    takes: int = 0  # how many times a worker took (or reclaimed) it
    cancel_requested_at: float | None = None
    legs: tuple[LegRecord, ...] = ()  # the a-leg first
    events: tuple[EventRecord, ...] = ()  # in the order they were stored
    heartbeat_at: float | None = None  # the holder's last lease renewal (its time)
    recovered: bool = False  # ended by lease recovery: its worker died
    #: the dialer's trace rows (``{"ms", "leg", "kind", "detail"}``), as far as written;
    #: read by :meth:`CallStore.get` (records of ``take_many`` and listings have none)
    trace: tuple[dict[str, Any], ...] = ()
    #: why the call's document failed (``{"code", "message", ...}``), else None
    error: Mapping[str, Any] | None = None

    @property
    def sid(self) -> str:
        return self.spec.sid

    @property
    def to(self) -> str:
        return self.spec.to

    @property
    def timestamps(self) -> dict[str, float]:
        """When the a-leg first reached each status it went through."""
        out: dict[str, float] = {}
        for leg in self.legs[:1]:
            for change in leg.history:
                out.setdefault(change.status, change.at)
        return out

    def to_dict(self, *, secrets: bool = False) -> dict[str, Any]:
        """Plain data for ``GET /v1/calls/<sid>``.

        Without ``secrets`` it goes through :data:`voiceapp.redact.DEFAULT`: ``secretKey``
        and every event's ``apikey`` are ``***``, the token of a voice URL and URL
        userinfo are masked.  The fingerprints of secret variables are never shown.
        """
        spec = self.spec.to_json()
        spec["extra"].pop(REDACT_KEY, None)
        body = {
            **spec,
            "status": self.status,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "endedAt": self.ended_at,
            "duration": self.duration,
            "timestamps": self.timestamps,
            "cancelRequested": self.cancel_requested_at is not None,
            "heartbeatAt": self.heartbeat_at,
            "recovered": self.recovered,
            "legs": [leg.to_dict() for leg in self.legs],
            "events": [event.to_dict(secrets=secrets) for event in self.events],
            "error": None if self.error is None else dict(self.error),
            "trace": list(self.trace),
        }
        if secrets:
            return body
        redacted: dict[str, Any] = REDACT.value(body)
        return redacted


@dataclass(frozen=True)
class CallPage:
    """One page of :meth:`CallStore.list_calls`: newest first; ``next`` is the
    ``(created_at, sid)`` of the last call when more may follow, else None."""

    calls: tuple[CallRecord, ...]
    next: tuple[float, str] | None = None


# -- deferred writes (CallStore.apply) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetStatus:
    """:meth:`CallStore.set_status` as data; its result is the previous status."""

    call_sid: str
    status: str
    leg_sid: str | None = None
    expect: str | tuple[str, ...] | None = None
    at: float | None = None
    duration: int | None = None
    #: an a-leg's terminal status set by lease recovery: the call is marked ``recovered``
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class AddLeg:
    """:meth:`CallStore.add_leg` as data; its result is True when the leg is new."""

    call_sid: str
    leg_sid: str
    from_: str
    to: str
    direction: str = "outbound-dial"
    parent_sid: str | None = None
    at: float | None = None


@dataclass(frozen=True, slots=True)
class AddEvent:
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


@dataclass(frozen=True, slots=True)
class RecordAttempt:
    """:meth:`CallStore.record_attempt` as data; its result is None."""

    call_sid: str
    event_id: str
    attempt: AttemptRecord
    state: str


@dataclass(frozen=True, slots=True)
class AppendTrace:
    """Add the dialer's trace rows of a call, as JSON text (:func:`trace_json`); its result
    is the number of rows kept.  At most ``limit`` rows are kept per call: once a row
    would not fit, a last ``truncated`` row is written and later rows are dropped.
    ``error`` (JSON text of ``{"code", "message", ...}``) is the call's error unless it
    already has one (the first error wins)."""

    call_sid: str
    entries: tuple[str, ...]
    limit: int = 500
    error: str | None = None


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def trace_json(value: Mapping[str, Any]) -> str:
    """A trace row or an error as the compact JSON text :class:`AppendTrace` carries."""
    return _ENCODE(value)


def truncated_row(entries: Sequence[str], limit: int) -> str:
    """The ``truncated`` row that ends a full trace (timed as the last row offered)."""
    ms = 0
    if entries:
        try:
            ms = int(json.loads(entries[-1]).get("ms", 0))
        except (ValueError, AttributeError, TypeError):
            ms = 0
    detail = {"limit": limit, "note": f"trace truncated: at most {limit} rows are kept"}
    return trace_json({"ms": ms, "leg": "a", "kind": TRUNCATED, "detail": detail})


@dataclass(frozen=True, slots=True)
class Renew:
    """:meth:`CallStore.renew` as data; its result is False once the worker lost the call.

    ``at`` is the heartbeat: when the worker renewed, on its own clock (the clock of
    the status changes it writes); it is stored as the call's ``heartbeat_at``, the last
    moment the worker is known to have been alive (the store clock when None)."""

    call_sid: str
    worker: str
    lease: float
    at: float | None = None


#: One write :meth:`CallStore.apply` carries out.
Write: TypeAlias = SetStatus | AddLeg | AddEvent | RecordAttempt | Renew | AppendTrace


class _Skipped:
    def __repr__(self) -> str:
        return "SKIPPED"


#: The result of a write :meth:`CallStore.apply` did not try: an earlier write of
#: the same call failed.
SKIPPED: Final = _Skipped()


def to_busy(to: str, holder: str | None) -> ConflictError:
    who = f" ({holder})" if holder else ""
    return ConflictError(
        f"{to} already has a queued or active call{who}", code="call-to-busy", field="to"
    )


def sid_exists(sid: str) -> ConflictError:
    return ConflictError(f"a call {sid} already exists", code="call-sid-exists", field="sid")


def not_found(sid: str) -> NotFoundError:
    return NotFoundError(f"no call {sid}", code="call-not-found", field="sid")


def not_cancelable(sid: str, status: str) -> ConflictError:
    return ConflictError(
        f"call {sid} is {status}; only queued, initiated or ringing calls can be canceled",
        code="call-not-cancelable",
        field="sid",
    )


def status_conflict(leg_sid: str, current: str, wanted: str) -> ConflictError:
    return ConflictError(
        f"leg {leg_sid} is {current}; it cannot become {wanted} here",
        code="call-status-conflict",
        field="status",
    )


def leg_not_found(leg_sid: str) -> NotFoundError:
    return NotFoundError(f"no leg {leg_sid}", code="call-leg-not-found", field="leg_sid")


def event_not_found(event_id: str) -> NotFoundError:
    return NotFoundError(f"no event {event_id}", code="call-event-not-found", field="event_id")


def expected(expect: str | Collection[str] | None) -> tuple[str, ...]:
    if expect is None:
        return ()
    items = (expect,) if isinstance(expect, str) else tuple(expect)
    for item in items:
        check_status(item, "expect")
    return items


def check_state(state: str) -> None:
    """A delivery state (:data:`DELIVERY_STATES`); ``ValueError`` otherwise (a caller's bug)."""
    if state not in DELIVERY_STATES:
        raise ValueError(f"delivery state must be one of {sorted(DELIVERY_STATES)}, not {state!r}")


def check_write(write: Write) -> None:
    """What every store checks in a write before it touches anything."""
    if isinstance(write, SetStatus):
        check_status(write.status)
        expected(write.expect)
    elif isinstance(write, AddLeg):
        check_sid(write.leg_sid, "leg_sid")
    elif isinstance(write, RecordAttempt):
        check_state(write.state)
    elif isinstance(write, AppendTrace) and (
        isinstance(write.limit, bool) or not isinstance(write.limit, int) or write.limit < 1
    ):
        raise ValueError(f"a trace limit is a positive integer, not {write.limit!r}")


def new_record(spec: CallSpec, now: float) -> CallRecord:
    """The record :meth:`CallStore.create` returns: ``queued``, with its a-leg."""
    a_leg = LegRecord(
        spec.sid, None, spec.from_, spec.to, "outbound-api", QUEUED, now, None, None,
        (StatusChange(QUEUED, now),),
    )  # fmt: skip
    return CallRecord(spec, QUEUED, now, now, legs=(a_leg,))


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
        (``outbound-api``) and its first history entry, all ``queued`` at ``now``."""

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
        results: list[object] = []
        failed: set[str] = set()
        with self.batch():
            for write in writes:
                if write.call_sid in failed:
                    results.append(SKIPPED)
                    continue
                try:
                    results.append(self._carry_out(write))
                except Exception as exc:
                    failed.add(write.call_sid)
                    results.append(exc)
        return results

    def _stamp(self, at: float | None) -> float:
        """A write's time: ``at`` when given, else the store clock now."""
        return self.clock() if at is None else at

    def _carry_out(self, write: Write) -> object:
        """One write, checked (:func:`check_write`) and carried out; the method's result."""
        check_write(write)
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
    ) -> CallPage:
        """Calls newest first (``created_at``, then sid, descending), with legs and events
        (no trace), filtered by a-leg ``status``, ``to``, ``from_`` and ``created_after`` <=
        ``created_at`` < ``created_before``; at most ``limit`` (1-1000); ``after`` is the
        ``next`` of the previous page (the calls that sort after it)."""
        if status is not None:
            check_status(status)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValueError(f"a list limit is 1-1000, not {limit!r}")
        records = self._list(
            status=status,
            to=to,
            from_=from_,
            created_after=created_after,
            created_before=created_before,
            limit=limit + 1,
            after=after,
        )
        more = len(records) > limit
        records = records[:limit]
        last = records[-1] if more and records else None
        return CallPage(tuple(records), None if last is None else (last.created_at, last.sid))

    @abc.abstractmethod
    def _list(
        self,
        *,
        status: str | None,
        to: str | None,
        from_: str | None,
        created_after: float | None,
        created_before: float | None,
        limit: int,
        after: tuple[float, str] | None,
    ) -> list[CallRecord]:
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
