"""The dialer's recovery: its heartbeat and leases, and the calls of dead workers.

A worker proves it is alive by writing a heartbeat every few seconds
(:meth:`Recovery.beat`, the probe while the store is down: :class:`StoreOutage`)
and by renewing the leases of the calls it runs (:meth:`Recovery.renew_leases`).
A call whose lease ran out lost its worker: :meth:`Recovery.recover` (at start,
then every sweep) settles it where it stood, or dials it when it was never dialed,
and resumes the status callbacks nobody delivers any more.  docs/dialer.md,
"Running the dialer", states the rules.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from voiceapp.calls.records import CallRecord, EventRecord, LegRecord
from voiceapp.calls.states import TERMINAL, CallbackEvent, CallStatus
from voiceapp.calls.subscriptions import Subscription
from voiceapp.calls.writes import Renew
from voiceapp.dialer.callbacks import Attempt
from voiceapp.dialer.webhooks import Direction, Party, callback_params
from voiceapp.dialer.writes import LiveCall
from voiceapp.errors import StoreError, VoiceappError
from voiceapp.logs import call_logger

if TYPE_CHECKING:
    from voiceapp.dialer.worker import Dialer


log = logging.getLogger("voiceapp.dialer")

#: Calls of dead workers looked at in one pass.
RECOVER_BATCH = 200
#: Leases renewed in one round at most (the rest wait for the next round).
RENEW_BATCH = 500


class StoreOutage:
    """The dialer's view of its store: up, or down since when, and when to try again.

    While down, tries are spaced ``first``, ``2 * first``, ``4 * first``... up to
    ``cap`` seconds.  One log line when the store goes down, one when it is back.
    """

    def __init__(self, worker_id: str, *, first: float, cap: float) -> None:
        self.worker_id = worker_id
        self.first = first
        self.cap = max(cap, first)
        self.down_since: float | None = None
        self.tries = 0
        self.next_try = 0.0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def waiting(self, now: float) -> bool:
        """Down, and not yet time for the next try."""
        return self.down_since is not None and now < self.next_try

    def failed(self, now: float, exc: BaseException) -> None:
        if self.down_since is None:
            self.down_since = now
            self.tries = 0
            log.warning(
                "dialer %s: the store is down (%s); trying again with back-off up to %g s",
                self.worker_id,
                exc,
                self.cap,
                extra={"worker": self.worker_id},
            )
        self.tries += 1
        self.next_try = now + min(self.cap, self.first * 2 ** min(self.tries - 1, 30))

    def recovered(self, now: float) -> None:
        if self.down_since is None:
            return
        log.warning(
            "dialer %s: the store is back after %.1f s (%d tries)",
            self.worker_id,
            now - self.down_since,
            self.tries,
            extra={"worker": self.worker_id},
        )
        self.down_since = None
        self.tries = 0


@dataclass
class RecoveryReport:
    """What one :meth:`Dialer.recover` pass did."""

    settled: list[str] = field(default_factory=list)  # in-flight calls of a dead worker, ended
    taken_over: list[str] = field(default_factory=list)  # taken but never dialed: dialed now
    resumed: list[str] = field(default_factory=list)  # event ids whose delivery was resumed

    def __bool__(self) -> bool:
        return bool(self.settled or self.taken_over or self.resumed)


class Recovery:
    """``worker``'s heartbeat, lease renewals and recovery passes (on its loop)."""

    def __init__(self, worker: Dialer, *, heartbeat_every: float) -> None:
        self.worker = worker
        self.heartbeat_every = heartbeat_every
        self._last_beat = float("-inf")
        self._renewals: deque[LiveCall] = deque()  # live calls, the stalest lease first

    def track(self, live: LiveCall) -> None:
        """Renew ``live``'s lease from now on (until it ends or is lost)."""
        self._renewals.append(live)

    def beat(self, now: float) -> bool:
        """Write the heartbeat when it is due (always while the store is down: it is the
        probe); False when the store failed."""
        if not self.worker.outage.down and now - self._last_beat < self.heartbeat_every:
            return True
        try:
            self.worker.store.beat(self.worker.worker_id, self.worker.store_now())
        except Exception as exc:
            self.worker.outage.failed(now, exc)
            return False
        self._last_beat = now
        self.worker.outage.recovered(now)
        return True

    def renew_leases(self, now: float) -> None:
        """Renew the leases set ``DIALER_LEASE/3`` ago or more, at most
        :data:`RENEW_BATCH` a round (the stalest first), in one batch."""
        due: list[LiveCall] = []
        queue = self._renewals
        while queue and len(due) < RENEW_BATCH:
            live = queue[0]
            if live.sid not in self.worker.live_calls or live.lost:
                queue.popleft()  # finished or lost: nothing to renew
                continue
            if now - live.renewed_at < self.worker.lease / 3:
                break
            due.append(queue.popleft())
        if not due:
            return
        lost: list[LiveCall] = []
        try:
            at = self.worker.wall_time()  # the heartbeat, on the clock of the status changes
            renewals = [
                Renew(live.sid, self.worker.worker_id, self.worker.lease, at) for live in due
            ]
            results = self.worker.store.apply(renewals)
            for result in results:
                if isinstance(result, Exception):
                    raise result  # the store failed (renewing is idempotent): all again
            lost = [live for live, kept in zip(due, results, strict=True) if kept is False]
        except Exception as exc:
            self.worker.store_failed("lease renewal", exc)
            queue.extendleft(reversed(due))  # try again next round
            return
        for live in due:
            live.renewed_at = now
            queue.append(live)
        for live in lost:
            self.worker.lose(live, "the lease went to another worker")

    def recover(self) -> RecoveryReport:
        """Settle the calls of dead workers and resume the callbacks nobody delivers.

        Run by :meth:`Dialer.start` and then every ``max(1, DIALER_LEASE / 2)`` seconds, on
        the dialer's thread.  Rules (docs/dialer.md, "Recovery"):

        * a call whose lease ran out lost its worker.  If it is still ``queued``
          it was never dialed (``initiated`` is written before dialing): this
          worker dials it now.  Otherwise it is ended where it stood and never
          dialed again (the callee may have heard half a PIN, and a session URL is
          single use): ``initiated``/``ringing`` become ``failed`` (``canceled``
          when a cancel was requested), ``in-progress`` becomes ``completed`` with
          the duration known: from its answer to the last moment its worker was
          seen alive (:func:`last_alive`: its last heartbeat, or a later write of
          the call), not up to now (that would add the lease and the time the
          recovery took); open b-legs alike.  The call is marked ``recovered``.
          The ``completed`` callbacks the subscriptions ask for are stored and
          delivered.
        * a ``pending`` event is resumed (its stored attempts kept, numbering
          going on) when its call is settled here (before the ``completed`` one),
          or when no live worker holds its call and its next try is overdue by
          more than ``DIALER_LEASE`` seconds: its worker is gone.
        """
        report = RecoveryReport()
        try:
            for sid in self.worker.store.expired_leases(limit=RECOVER_BATCH):
                live = self.worker.live_calls.get(sid)
                if live is not None:  # ours, and we are alive: the loop was slow to renew
                    renewed = not live.lost and self.worker.store.renew(
                        sid, self.worker.worker_id, self.worker.lease, at=self.worker.wall_time()
                    )
                    if renewed:
                        live.renewed_at = time.monotonic()
                    continue
                if sid in self.worker.pacer.held:  # ours, waiting for its slot: keep it
                    if not self.worker.store.renew(
                        sid, self.worker.worker_id, self.worker.lease, at=self.worker.wall_time()
                    ):
                        self.worker.pacer.drop([sid])
                    continue
                record = self.worker.store.reclaim(sid, self.worker.worker_id, self.worker.lease)
                if record is None:
                    continue  # somebody else got there first
                if record.status == "queued":
                    report.taken_over.append(sid)
                    self.worker.start_call(record)
                else:
                    report.settled.append(sid)
                    # its worker is gone: its pending events are nobody's, resume them first
                    for event in record.events:
                        if (
                            event.state == "pending"
                            and event.event_id not in self.worker.deliverer.calls
                        ):
                            self._resume(event, record)
                            report.resumed.append(event.event_id)
                    self._settle(record)
            now = self.worker.store_now()
            holders: dict[str, bool] = {}
            for event in self.worker.store.undelivered(limit=1000):
                if event.event_id in self.worker.deliverer.calls:
                    continue
                if not self._overdue(event, now):
                    continue
                held = holders.get(event.call_sid)
                if held is None:
                    record = self.worker.store.get(event.call_sid)
                    held = (
                        record is not None
                        and record.lease_owner is not None
                        and record.lease_until is not None
                        and record.lease_until > now
                        and record.lease_owner != self.worker.worker_id
                    )
                    holders[event.call_sid] = held
                if held:
                    continue
                self._resume(event)
                report.resumed.append(event.event_id)
        except StoreError as exc:
            self.worker.store_failed("recovery pass", exc)
        except Exception:
            log.exception("dialer %s: recovery pass failed", self.worker.worker_id)
        if report:
            log.info(
                "dialer %s recovered: settled %s, took over %s, resumed %d callbacks",
                self.worker.worker_id,
                report.settled,
                report.taken_over,
                len(report.resumed),
            )
        return report

    def _overdue(self, event: EventRecord, now: float) -> bool:
        if event.attempts:
            last = event.attempts[-1]
            due = last.at + self.worker.policy.delay(last.number)
        else:
            due = event.created_at
        return now >= due + self.worker.lease

    def _resume(self, event: EventRecord, record: CallRecord | None = None) -> None:
        record = record or self.worker.store.get(event.call_sid)
        subscription = Subscription(
            url=event.url,
            method="GET" if event.method == "GET" else "POST",
            # the stored URL is the subscription's: its optional pairs go on it again
            optional=_optional(record),
        )
        attempts = [Attempt(a.number, a.at, a.ok, a.status, a.error) for a in event.attempts]
        self.worker.deliverer.submit(
            event_id=event.event_id,
            key=event.leg_sid,
            subscription=subscription,
            params=event.params,
            attempts=attempts,
            call_sid=event.call_sid,
            stored=True,
        )

    def _settle(self, record: CallRecord) -> None:
        """End a call whose worker died, where it stood (see :meth:`recover`)."""
        now = self.worker.store_now()  # compared with the stored times of the dead worker
        spec = record.spec
        a_sub = Subscription.of(spec)
        legs = [*record.legs[1:], *record.legs[:1]]  # b-legs first, the a-leg ends the call
        alive = last_alive(record)
        for leg in legs:
            if leg.status in TERMINAL:
                continue
            is_a = leg.sid == record.sid
            answered = _answered_at(leg)
            if leg.status == "in-progress":
                status = CallStatus.COMPLETED
            elif is_a and record.cancel_requested_at is not None:
                status = CallStatus.CANCELED
            else:
                status = CallStatus.FAILED
            duration = round(max(0.0, alive - answered)) if answered is not None else 0
            try:
                self.worker.store.set_status(
                    record.sid,
                    status.value,
                    leg_sid=None if is_a else leg.sid,
                    expect=leg.status,
                    at=now,
                    duration=duration,
                    recovered=is_a,
                )
            except Exception as exc:
                call_logger(log, record.sid).warning(
                    "could not settle leg %s of %s: %s", leg.sid, record.sid, exc
                )
                continue
            log.info(
                "recovery: leg %s of %s settled %s, duration %d s "
                "(answered at %s, its dead worker last seen alive at %s)",
                leg.sid,
                record.sid,
                status.value,
                duration,
                answered,
                alive,
            )
            sub = a_sub if is_a else _b_subscription(record, leg, a_sub)
            if not sub.wants(CallbackEvent.COMPLETED):
                continue
            sequence = 1 + max(
                (e.sequence for e in record.events if e.leg_sid == leg.sid), default=-1
            )
            party = Party(
                call_sid=leg.sid,
                from_=leg.from_,
                to=leg.to,
                direction=_direction(leg.direction),
                status=status,
                parent_call_sid=leg.parent_sid,
                account_sid=record.spec.account_sid,
            )
            params = callback_params(
                party,
                event=CallbackEvent.COMPLETED,
                sequence=sequence,
                timestamp=datetime.fromtimestamp(now, UTC),
                duration=duration,
                subscription=sub,
            )
            self.worker.deliverer.submit(
                event_id=f"{leg.sid}:completed",
                key=leg.sid,
                subscription=sub,
                params=params,
                call_sid=record.sid,
            )


def _optional(record: CallRecord | None) -> tuple[tuple[str, str], ...]:
    """The call's ``optional`` pairs (none when the call or its spec is unusable)."""
    if record is None:
        return ()
    try:
        return Subscription.of(record.spec).optional
    except VoiceappError:
        return ()


def _direction(value: str) -> Direction:
    """A stored leg's direction as the parameter sets name it."""
    if value in ("inbound", "outbound-dial"):
        return "inbound" if value == "inbound" else "outbound-dial"
    return "outbound-api"


def last_alive(record: CallRecord) -> float:
    """The last moment the worker holding ``record`` is known to have been alive.

    The latest of its last heartbeat (lease renewal) and every time it wrote for the
    call: status changes of every leg, events stored, delivery attempts.  A call's
    history starts when it was created, so this is never before its answer.
    """
    times = [change.at for leg in record.legs for change in leg.history]
    for event in record.events:
        times.append(event.created_at)
        times.extend(attempt.at for attempt in event.attempts)
    if record.heartbeat_at is not None:
        times.append(record.heartbeat_at)
    return max(times, default=record.created_at)


def _answered_at(leg: LegRecord) -> float | None:
    for change in leg.history:
        if change.status == "in-progress":
            return change.at
    return None


def _b_subscription(record: CallRecord, leg: LegRecord, a_sub: Subscription) -> Subscription:
    """Where a settled b-leg reports: where its earlier events went, else the call's callback."""
    for event in record.events:
        if event.leg_sid == leg.sid:
            return Subscription(
                url=event.url,
                events=frozenset({CallbackEvent.COMPLETED}),
                method="GET" if event.method == "GET" else "POST",
                secret_key=a_sub.secret_key,
                optional=a_sub.optional,
            )
    return a_sub
