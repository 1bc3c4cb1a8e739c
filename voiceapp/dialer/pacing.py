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

A round costs what it changes, not the size of the hold: :class:`Pacer` keeps the held
calls in queue order per number (a release looks at the first call of each number whose
slot has come) and on heaps by slot, creation, taking and renewal time (the next due
time, the expired calls and the leases to renew are read from their oldest ends).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
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
    position: int = 0  # its place in the hold's queue order (set by Pacer.hold)


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

    @property
    def paced(self) -> bool:
        """Calls wait for slots (a rate is set, not only the TTL)."""
        return bool(self.per_from or self.total)


#: An entry of a time-ordered schedule of held calls: (time, the call's position).
_Entry = tuple[float, int]


@dataclass
class _Line:
    """The held paced calls of one ``from`` number (of all numbers when only
    ``DIALER_CPS`` is set), by position in queue order.  A call that left the hold out
    of turn (dropped, expired) stays in ``calls`` until it comes to the front."""

    key: str
    calls: deque[int] = field(default_factory=deque)


@dataclass
class Pacer:
    """One worker's held calls and the slots of its numbers (on the worker's loop).

    Besides ``held`` (by sid, in queue order) the pacer keeps the held calls' positions
    in orders that let a round look only at what it changes: the calls that wait for no
    slot (inbound ones; every call when only the TTL is set) in one queue; the paced
    calls in one :class:`_Line` per number, each line on one of two heaps, ``_due`` (its
    slot has come; by its first call's position) or ``_waiting`` (by its next slot);
    heaps by creation time, by the time this worker took the call and by the last lease
    renewal.  A call that leaves the hold stays in these until it comes to the front of
    one (it is then passed over); they are built again from ``held`` once as many calls
    have left as are held (at least :data:`HOLD_LIMIT`).
    """

    limits: Limits
    #: taken calls not started, by sid, in queue order
    held: dict[str, Held] = field(default_factory=dict)
    #: the earliest time (``Clock.now``) the next call may start, per ``from`` number
    #: and (key ``""``) in all
    next_slot: dict[str, float] = field(default_factory=dict)
    #: the held calls by position
    _at: dict[int, Held] = field(default_factory=dict, init=False, repr=False)
    _next_position: int = field(default=0, init=False, repr=False)
    _free: deque[int] = field(default_factory=deque, init=False, repr=False)
    _lines: dict[str, _Line] = field(default_factory=dict, init=False, repr=False)
    _due: list[tuple[int, str]] = field(default_factory=list, init=False, repr=False)
    _waiting: list[tuple[float, str]] = field(default_factory=list, init=False, repr=False)
    _not_paced_yet: deque[int] = field(default_factory=deque, init=False, repr=False)
    _by_created: list[_Entry] = field(default_factory=list, init=False, repr=False)
    _by_seen: list[_Entry] = field(default_factory=list, init=False, repr=False)
    _renewals: list[_Entry] = field(default_factory=list, init=False, repr=False)
    #: calls that left the hold since the orders were built
    _left: int = field(default=0, init=False, repr=False)

    @property
    def active(self) -> bool:
        return self.limits.active

    def room(self) -> int:
        """How many more calls the hold takes."""
        return max(0, HOLD_LIMIT - len(self.held))

    def hold(self, records: Iterable[CallRecord], now: float, renewed_at: float) -> None:
        """Hold ``records`` (those not held yet) after the held calls, in queue order."""
        for record in records:
            if record.sid not in self.held:
                held = Held(record, now, renewed_at, position=self._next_position)
                self._next_position += 1
                self.held[record.sid] = held
                self._at[held.position] = held
                self._schedule(held)

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
        """Remove and return, in queue order, the held calls that waited longer than the
        TTL: since their creation (the store's clock) or since this worker took them (its
        clock), the longer of the two (a virtual clock runs ahead of the store's).

        Both times are read from the oldest end of a heap: a round looks at the calls
        that expire and at one more.  (Queue order is not creation order: a call taken
        over from a dead worker, or held again when the store failed to start it, comes
        after younger ones.)"""
        ttl = self.limits.ttl
        if not ttl:
            return []
        found = self._pop_due(self._by_created, store_now, ttl)
        found |= self._pop_due(self._by_seen, now, ttl)
        out = [self._at[position] for position in sorted(found)]
        self._remove(out)
        return [held.record for held in out]

    def release(self, now: float, room: int) -> tuple[list[CallRecord], int]:
        """Remove and return up to ``room`` held calls whose slots have come, in queue
        order (a number whose slot has not come is skipped, others go on), and how many
        calls waited for a slot for the first time in this pass.

        The pass looks at the first call of each number whose slot has come and at the
        calls that wait for no slot, in queue order, until ``room`` are out: it costs
        what it releases (and the numbers whose slot came), not the size of the hold."""
        per_from, total = self.limits.per_from, self.limits.total
        while self._waiting and self._waiting[0][0] <= now:  # lines whose slot has come
            _, key = heapq.heappop(self._waiting)
            self._enqueue_due(self._lines[key])
        out: list[Held] = []
        total_open = not total or self.next_slot.get(_ALL, now) <= now
        while len(out) < room:
            free = self._first(self._free)
            line = self._first_due() if total_open else None
            if line is None or (free is not None and free.position < line.calls[0]):
                if free is None:
                    break
                out.append(self._at[self._free.popleft()])
                continue
            heapq.heappop(self._due)
            out.append(self._at[line.calls.popleft()])
            if per_from:
                self._take_slot(line.key, now, 1.0 / per_from)
            if total:
                self._take_slot(_ALL, now, 1.0 / total)
                total_open = self.next_slot[_ALL] <= now  # (only when rounded down to now)
            self._reschedule(line, now)
        # the pass looked at each call up to the last one it released (at every call when
        # it did not fill ``room``, at none when ``room`` was 0): those left there waited
        if room <= 0:
            looked_before = 0
        elif len(out) >= room:
            looked_before = out[-1].position + 1
        else:
            looked_before = self._next_position
        self._remove(out)
        newly_paced = self._count_paced(looked_before)
        self._forget_idle(now)
        return [held.record for held in out], newly_paced

    def next_due(self, now: float) -> float | None:
        """Seconds until something held can change (a slot comes, a TTL runs out);
        None when nothing is held."""
        if not self.held:
            return None
        soonest = float("inf")
        if self._first(self._free) is not None:
            soonest = now  # calls that wait for no slot start at once
        slot = self._next_line_slot(now)
        if slot is not None:
            if self.limits.total:
                slot = max(slot, self.next_slot.get(_ALL, now))
            soonest = min(soonest, slot)
        ttl = self.limits.ttl
        if ttl and (first := self._first_entry(self._by_seen)) is not None:
            soonest = min(soonest, first[0] + ttl)
        return max(0.0, soonest - now)

    def due_renewals(self, monotonic: float, every: float) -> list[Held]:
        """The held calls whose lease was renewed ``every`` seconds ago or more, in queue
        order, taken off the renewal schedule: give each back with :meth:`renewed`."""
        due = self._pop_due(self._renewals, monotonic, every)
        return [self._at[position] for position in sorted(due)]

    def renewed(self, held: Held, at: float | None) -> None:
        """``held`` (from :meth:`due_renewals`) back on the renewal schedule: its lease
        renewed at monotonic time ``at``, or (None) not renewed, so due again."""
        if at is not None:
            held.renewed_at = at
        if self._at.get(held.position) is held:
            heapq.heappush(self._renewals, (held.renewed_at, held.position))

    def drop(self, sids: Iterable[str]) -> None:
        found = {sid: held for sid in sids if (held := self.held.get(sid)) is not None}
        self._remove(list(found.values()))

    # -- the orders kept beside ``held`` ------------------------------------------------

    def _schedule(self, held: Held) -> None:
        """Put a newly held call in the orders: its line or the free queue, the heaps."""
        position = held.position
        if self.limits.ttl:
            heapq.heappush(self._by_created, (held.record.created_at, position))
            heapq.heappush(self._by_seen, (held.seen_at, position))
        heapq.heappush(self._renewals, (held.renewed_at, position))
        spec = held.record.spec
        if spec.direction == "inbound" or not self.limits.paced:
            self._free.append(position)
            return
        if not held.paced:
            self._not_paced_yet.append(position)
        key = spec.from_ if self.limits.per_from else _ALL
        line = self._lines.get(key)
        if line is not None:
            line.calls.append(position)
        else:  # a new line goes on a heap, and stays on one until it is found empty
            line = self._lines[key] = _Line(key, deque([position]))
            self._reschedule(line)

    def _reschedule(self, line: _Line, now: float = -math.inf) -> None:
        """``line`` (on no heap) onto one: waiting for its number's next slot (after
        ``now``), or due."""
        slot = self.next_slot.get(line.key) if self.limits.per_from else None
        if slot is not None and slot > now:
            heapq.heappush(self._waiting, (slot, line.key))
        else:
            self._enqueue_due(line)

    def _enqueue_due(self, line: _Line) -> None:
        """``line`` (on no heap) onto ``_due`` by its first call; forgotten when empty."""
        first = self._first(line.calls)
        if first is None:
            del self._lines[line.key]
        else:
            heapq.heappush(self._due, (first.position, line.key))

    def _first_due(self) -> _Line | None:
        """The line whose slot has come with the first call in queue order (left on its
        heap; its ``calls`` start with that call), or None."""
        due = self._due
        while due:
            position, key = due[0]
            line = self._lines[key]
            first = self._first(line.calls)
            if first is None:
                heapq.heappop(due)
                del self._lines[key]
            elif first.position != position:  # its first call left: placed by the next
                heapq.heapreplace(due, (first.position, key))
            else:
                return line
        return None

    def _next_line_slot(self, now: float) -> float | None:
        """When the first number with held paced calls has its slot (``now`` if one has
        it), ``DIALER_CPS`` aside; None when no paced call is held."""
        if self._first_due() is not None:
            return now
        waiting = self._waiting
        while waiting:
            slot, key = waiting[0]
            if self._first(self._lines[key].calls) is not None:
                return max(now, slot)
            heapq.heappop(waiting)
            del self._lines[key]
        return None

    def _first(self, positions: deque[int]) -> Held | None:
        """The first call of ``positions`` still held (those before it are dropped)."""
        while positions:
            held = self._at.get(positions[0])
            if held is not None:
                return held
            positions.popleft()
        return None

    def _first_entry(self, heap: list[_Entry]) -> _Entry | None:
        """The first entry of ``heap`` whose call is still held (those before it are
        dropped)."""
        while heap:
            if heap[0][1] in self._at:
                return heap[0]
            heapq.heappop(heap)
        return None

    def _pop_due(self, heap: list[_Entry], now: float, after: float) -> set[int]:
        """Pop the held calls of ``heap`` whose time is ``after`` seconds before ``now``
        or longer ago; their positions."""
        due: set[int] = set()
        while (entry := self._first_entry(heap)) is not None and now - entry[0] >= after:
            heapq.heappop(heap)
            due.add(entry[1])
        return due

    def _count_paced(self, looked_before: int) -> int:
        """Mark the held paced calls before position ``looked_before`` as having waited
        for a slot; how many were not marked yet.  (Each pass looks at the front of the
        queue and calls join at its end: the unmarked calls are its tail.)"""
        newly = 0
        queue = self._not_paced_yet
        while queue and queue[0] < looked_before:
            held = self._at.get(queue.popleft())
            if held is not None and not held.paced:
                held.paced = True
                newly += 1
        return newly

    def _remove(self, calls: list[Held]) -> None:
        """``calls`` leave the hold; the orders are built again when many have left."""
        for held in calls:
            del self.held[held.record.sid]
            del self._at[held.position]
        self._left += len(calls)
        if self._left >= max(HOLD_LIMIT, len(self.held)):
            self._rebuild()

    def _rebuild(self) -> None:
        """The orders beside ``held``, built again from it (without the calls that left)."""
        self._left = 0
        self._free.clear()
        self._not_paced_yet.clear()
        self._lines.clear()
        self._due.clear()
        self._waiting.clear()
        self._by_created.clear()
        self._by_seen.clear()
        self._renewals.clear()
        for held in self.held.values():
            self._schedule(held)

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
