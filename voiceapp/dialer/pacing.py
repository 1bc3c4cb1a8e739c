"""Pacing: when a taken call may start, and when a waiting one has waited too long.

A carrier places the calls of its REST API at a rate: Twilio at 1 call per second (CPS)
by default, the rest wait in its queue, ``queued``.  :class:`Pacer` is that rule for one
dialer worker, on the worker's clock (virtual time in tests and benchmarks):

* ``DIALER_CPS_PER_FROM``: at most this many calls a second start from one ``from``
  number (calls of other numbers go in parallel);
* ``DIALER_CPS``: at most this many calls a second start in all;
* ``DIALER_CONCURRENCY`` (the worker's own cap) bounds the calls running at once: the
  worker releases no more than it has room for;
* ``DIALER_QUEUE_TTL``: a call not started within this many seconds of its creation
  expires: the worker settles it ``canceled`` with the error ``queue-expired``.

Limits are per worker (each :class:`~voiceapp.dialer.worker.Dialer`): N workers on one
store start up to N times the rate.  Inbound calls are not paced (as Twilio's: CPS
limits calls created through the API).

While one of them is set, the worker takes calls from the store into its hold (up to
:data:`HOLD_LIMIT`, still ``queued``, leased to it and renewed like running calls) and
:meth:`Pacer.release` hands them back in queue order as their slots come: a number's
next slot is one interval (``1 / cps``) after its last one, or now when it has been
idle longer than that, so a steady rate keeps its schedule and an idle number never
saves up a burst.  With every limit 0 (the default) the pacer is off and the worker
dials what it takes at once, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Final

from voiceapp.calls.records import CallChange, CallRecord
from voiceapp.config import Settings

#: Most calls one worker holds taken but not started (the rest wait in the store).
HOLD_LIMIT: Final = 1000
#: The error code (and trace row kind) of a call that waited past ``DIALER_QUEUE_TTL``.
QUEUE_EXPIRED: Final = "queue-expired"
#: The key of the deployment-wide slot in :attr:`Pacer.next_slot`.
_ALL: Final = ""


@dataclass
class Held:
    """A call taken from the queue that has not started yet."""

    record: CallRecord
    seen_at: float  # the worker's clock (``Clock.now``) when it took the call
    renewed_at: float  # the worker's monotonic time of the last lease renewal
    paced: bool = False  # it has waited for a slot (counted once)


@dataclass(frozen=True)
class Limits:
    """The pacing settings: calls per second per ``from`` number and in all, the TTL
    (each 0 = no limit)."""

    per_from: float = 0.0
    total: float = 0.0
    ttl: float = 0.0

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.DIALER_CPS_PER_FROM, settings.DIALER_CPS, settings.DIALER_QUEUE_TTL)

    @property
    def active(self) -> bool:
        return bool(self.per_from or self.total or self.ttl)


@dataclass
class Pacer:
    """One worker's held calls and the slots of its numbers (on the worker's loop)."""

    limits: Limits
    #: taken calls not started, by sid, in queue order
    held: dict[str, Held] = field(default_factory=dict)
    #: the earliest time (``Clock.now``) the next call may start, per ``from`` number
    #: and (key ``""``) in all
    next_slot: dict[str, float] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.limits.active

    def room(self) -> int:
        """How many more calls the hold takes."""
        return max(0, HOLD_LIMIT - len(self.held))

    def hold(self, records: Iterable[CallRecord], now: float, renewed_at: float) -> None:
        for record in records:
            if record.sid not in self.held:
                self.held[record.sid] = Held(record, now, renewed_at)

    def change(self, sid: str, change: CallChange) -> bool:
        """A live change of a held call: its new document replaces the spec's (as for a
        call still in the store); False when ``sid`` is not held here."""
        held = self.held.get(sid)
        if held is None:
            return False
        if change.status is None:  # a status change of a queued call: the store did it
            spec = change.applied_to(held.record.spec)
            held.record = replace(held.record, spec=spec)
        return True

    def expired(self, now: float, store_now: float) -> list[CallRecord]:
        """Remove and return the held calls that waited longer than the TTL: since their
        creation (the store's clock) or since this worker took them (its clock), the
        longer of the two (a virtual clock runs ahead of the store's)."""
        ttl = self.limits.ttl
        if not ttl:
            return []
        out = [
            h.record
            for h in self.held.values()
            if max(store_now - h.record.created_at, now - h.seen_at) >= ttl
        ]
        for record in out:
            del self.held[record.sid]
        return out

    def release(self, now: float, room: int) -> tuple[list[CallRecord], int]:
        """Remove and return up to ``room`` held calls whose slots have come, in queue
        order (a number whose slot has not come is skipped, others go on), and how many
        calls waited for a slot for the first time in this pass."""
        out: list[CallRecord] = []
        newly_paced = 0
        per_from, total = self.limits.per_from, self.limits.total
        for held in list(self.held.values()):
            if len(out) >= room:
                break
            spec = held.record.spec
            if spec.direction == "inbound" or not (per_from or total):
                out.append(held.record)
                continue
            if total and self.next_slot.get(_ALL, now) > now:
                newly_paced += self._waits(held)
                continue
            if per_from and self.next_slot.get(spec.from_, now) > now:
                newly_paced += self._waits(held)
                continue
            if per_from:
                self._take_slot(spec.from_, now, 1.0 / per_from)
            if total:
                self._take_slot(_ALL, now, 1.0 / total)
            out.append(held.record)
        for record in out:
            del self.held[record.sid]
        self._forget_idle(now)
        return out, newly_paced

    def next_due(self, now: float) -> float | None:
        """Seconds until something held can change (a slot comes, a TTL runs out);
        None when nothing is held."""
        if not self.held:
            return None
        per_from, total, ttl = self.limits.per_from, self.limits.total, self.limits.ttl
        soonest = float("inf")
        for held in self.held.values():
            spec = held.record.spec
            at = now
            if spec.direction != "inbound":
                if per_from:
                    at = max(at, self.next_slot.get(spec.from_, now))
                if total:
                    at = max(at, self.next_slot.get(_ALL, now))
            if ttl:
                at = min(at, held.seen_at + ttl)
            soonest = min(soonest, at)
        return max(0.0, soonest - now)

    def due_renewals(self, monotonic: float, every: float) -> list[Held]:
        """The held calls whose lease was renewed ``every`` seconds ago or more."""
        return [h for h in self.held.values() if monotonic - h.renewed_at >= every]

    def drop(self, sids: Iterable[str]) -> None:
        for sid in sids:
            self.held.pop(sid, None)

    def _waits(self, held: Held) -> int:
        if held.paced:
            return 0
        held.paced = True
        return 1

    def _take_slot(self, key: str, now: float, interval: float) -> None:
        last = self.next_slot.get(key)
        # keep the schedule when on time (a late round does not shift it); after an idle
        # spell longer than an interval start again from now (no burst saved up)
        base = last if last is not None and now - last < interval else now
        self.next_slot[key] = base + interval

    def _forget_idle(self, now: float) -> None:
        """Drop the slots of numbers idle for a while (the table stays small)."""
        if len(self.next_slot) <= 2 * HOLD_LIMIT:
            return
        interval = max(_interval(self.limits.per_from), _interval(self.limits.total))
        self.next_slot = {k: t for k, t in self.next_slot.items() if now - t < interval}


def _interval(cps: float) -> float:
    return 1.0 / cps if cps else 0.0
