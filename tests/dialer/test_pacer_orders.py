"""The pacer's hold kept in orders (``voiceapp.dialer.pacing.Pacer``): each pass looks
at what it releases, not at the whole hold, and decides as a plain scan of the hold in
queue order does.  That scan (the pacer as first written) is :class:`ScanPacer` here;
random runs compare the two step by step, and a few cases are spelled out."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from voiceapp.calls.records import CallRecord, CallSpec, new_record
from voiceapp.dialer.pacing import HOLD_LIMIT, Held, Limits, Pacer

BUSY = "+19499300001"  # a caller number with many calls waiting


def record(sid: str, from_: str, created_at: float = 0.0, *, inbound: bool = False) -> CallRecord:
    spec = CallSpec(
        sid=sid,
        from_=from_,
        to="+886912" + sid[-6:].rjust(6, "0"),
        twiml="<Response><Hangup/></Response>",
        direction="inbound" if inbound else "outbound-api",
    )
    return new_record(spec, created_at)


def sids(records: list[CallRecord]) -> list[str]:
    return [r.sid for r in records]


@dataclass
class ScanHeld:
    record: CallRecord
    seen_at: float
    renewed_at: float
    paced: bool = False


@dataclass
class ScanPacer:
    """The rules as a scan of the whole hold, in queue order, every pass."""

    limits: Limits
    held: dict[str, ScanHeld] = field(default_factory=dict)
    next_slot: dict[str, float] = field(default_factory=dict)

    def hold(self, records: list[CallRecord], now: float, renewed_at: float) -> None:
        for r in records:
            if r.sid not in self.held:
                self.held[r.sid] = ScanHeld(r, now, renewed_at)

    def expired(self, now: float, store_now: float) -> list[str]:
        ttl = self.limits.ttl
        if not ttl:
            return []
        out = [
            sid
            for sid, h in self.held.items()
            if max(store_now - h.record.created_at, now - h.seen_at) >= ttl
        ]
        for sid in out:
            del self.held[sid]
        return out

    def release(self, now: float, room: int) -> tuple[list[str], int]:
        out: list[str] = []
        newly = 0
        per_from, total = self.limits.per_from, self.limits.total
        for sid, h in list(self.held.items()):
            if len(out) >= room:
                break
            spec = h.record.spec
            if spec.direction == "inbound" or not (per_from or total):
                out.append(sid)
                continue
            if (total and self.next_slot.get("", now) > now) or (
                per_from and self.next_slot.get(spec.from_, now) > now
            ):
                newly += not h.paced
                h.paced = True
                continue
            if per_from:
                self._take(spec.from_, now, 1.0 / per_from)
            if total:
                self._take("", now, 1.0 / total)
            out.append(sid)
        for sid in out:
            del self.held[sid]
        return out, newly

    def next_due(self, now: float) -> float | None:
        if not self.held:
            return None
        per_from, total, ttl = self.limits.per_from, self.limits.total, self.limits.ttl
        soonest = float("inf")
        for h in self.held.values():
            at = now
            if h.record.spec.direction != "inbound":
                if per_from:
                    at = max(at, self.next_slot.get(h.record.spec.from_, now))
                if total:
                    at = max(at, self.next_slot.get("", now))
            if ttl:
                at = min(at, h.seen_at + ttl)
            soonest = min(soonest, at)
        return max(0.0, soonest - now)

    def due_renewals(self, monotonic: float, every: float) -> list[str]:
        return [sid for sid, h in self.held.items() if monotonic - h.renewed_at >= every]

    def _take(self, key: str, now: float, interval: float) -> None:
        last = self.next_slot.get(key)
        base = last if last is not None and now - last < interval else now
        self.next_slot[key] = base + interval


def run_both(seed: int, limits: Limits, steps: int, numbers: int) -> int:
    """``steps`` random operations on a Pacer and a ScanPacer alike, their answers
    compared after each; how many calls went through."""
    rng = random.Random(seed)
    pacer, scan = Pacer(limits), ScanPacer(limits)
    now, monotonic, made = 0.0, 100.0, 0
    callers = [f"+1949930{n:04d}" for n in range(numbers)]
    for _ in range(steps):
        op = rng.random()
        if op < 0.3:  # a batch taken (older calls among them: taken over, held again)
            batch = []
            for _ in range(rng.randint(1, 12)):
                made += 1
                created = now - rng.choice([0.0, 0.0, 1.0, 2.5, 6.0])
                inbound = rng.random() < 0.1
                batch.append(record(f"CA{made:06d}", rng.choice(callers), created, inbound=inbound))
            pacer.hold(batch, now, monotonic)
            scan.hold(batch, now, monotonic)
        elif op < 0.75:  # a round
            now += rng.choice([0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0])
            monotonic += rng.choice([0.0, 0.5, 2.0, -1.0])  # renewals' clock need not be ours
            store_now = now + 0.5
            assert sids(pacer.expired(now, store_now)) == scan.expired(now, store_now)
            room = rng.choice([0, 1, 2, 3, 50, 1000])
            released, paced = pacer.release(now, room)
            assert (sids(released), paced) == scan.release(now, room)
            assert pacer.next_slot == scan.next_slot
            assert pacer.next_due(now) == scan.next_due(now)
        elif op < 0.85:  # lease renewals, some failing
            due = pacer.due_renewals(monotonic, 2.0)
            assert [h.record.sid for h in due] == scan.due_renewals(monotonic, 2.0)
            for h in due:
                at = None if rng.random() < 0.2 else monotonic
                pacer.renewed(h, at)
                if at is not None:
                    scan.held[h.record.sid].renewed_at = at
        else:  # calls canceled or taken over while held
            gone = rng.sample(list(scan.held), min(len(scan.held), rng.randint(0, 3)))
            pacer.drop([*gone, *gone[:1]])
            for sid in gone:
                del scan.held[sid]
        assert list(pacer.held) == list(scan.held)
        assert [h.paced for h in pacer.held.values()] == [h.paced for h in scan.held.values()]
    return made


LIMITS = [
    Limits(per_from=1),
    Limits(per_from=2.5, ttl=3),
    Limits(total=4),
    Limits(per_from=1, total=10),
    Limits(per_from=1, total=2, ttl=4),
    Limits(ttl=2),
]


@pytest.mark.parametrize("limits", LIMITS, ids=repr)
@pytest.mark.parametrize(("seed", "numbers"), [(0, 1), (1, 3), (2, 20), (3, 200)])
def test_the_orders_decide_as_a_scan_of_the_hold(limits: Limits, seed: int, numbers: int) -> None:
    assert run_both(seed, limits, steps=400, numbers=numbers) > 400


def test_they_still_do_after_being_built_again() -> None:
    # more calls leave than the hold keeps: the orders are built again on the way
    made = run_both(7, Limits(per_from=1, total=10, ttl=4), steps=2500, numbers=30)
    assert made > 2 * HOLD_LIMIT


def test_many_numbers_one_busy() -> None:
    pacer = Pacer(Limits(per_from=1))
    queue = []
    for n in range(30):  # the busy number's five calls among thirty others
        queue.append(record(f"CAone{n:02d}", f"+1949931{n:04d}"))
        if n % 6 == 0:
            queue.append(record(f"CAbusy{n // 6}", BUSY))
    pacer.hold(queue, 0.0, 0.0)
    released, paced = pacer.release(0.0, 100)
    # every number's first call goes, in queue order; the busy number's others wait
    waiting = {f"CAbusy{n}" for n in range(1, 5)}
    assert sids(released) == [r.sid for r in queue if r.sid not in waiting]
    assert paced == 4
    assert list(pacer.held) == [f"CAbusy{n}" for n in range(1, 5)]
    assert pacer.next_due(0.0) == 1.0
    assert pacer.release(0.5, 100) == ([], 0)  # nothing due, none newly waiting
    for second in range(1, 5):
        released, paced = pacer.release(float(second), 100)
        assert (sids(released), paced) == ([f"CAbusy{second}"], 0)
    assert pacer.next_due(5.0) is None


def test_a_full_room_stops_the_pass_and_the_count() -> None:
    pacer = Pacer(Limits(per_from=1))
    a, b, c = "+19499310001", "+19499310002", "+19499310003"
    queue = [record("CAa0", a), record("CAa1", a), record("CAb0", b), record("CAc0", c)]
    pacer.hold(queue, 0.0, 0.0)
    released, paced = pacer.release(0.0, 2)
    # CAa0 and CAb0 fill the room; CAa1 was passed over on the way (it waits for a's
    # slot), CAc0 was not looked at: it has not waited for a slot
    assert (sids(released), paced) == (["CAa0", "CAb0"], 1)
    assert [h.paced for h in pacer.held.values()] == [True, False]
    assert pacer.release(0.0, 0) == ([], 0)  # no room: nothing looked at
    assert (sids(pacer.release(0.0, 5)[0])) == ["CAc0"]


def test_the_ttl_finds_an_old_call_held_behind_young_ones() -> None:
    pacer = Pacer(Limits(per_from=1, ttl=60))
    young = [record(f"CAyoung{n}", BUSY, created_at=1000.0) for n in range(3)]
    old = record("CAold", "+19499310009", created_at=900.0)  # e.g. taken over late
    pacer.hold(young, 0.0, 0.0)
    pacer.hold([old], 5.0, 5.0)
    assert sids(pacer.expired(6.0, store_now=1010.0)) == ["CAold"]  # created 110 s ago
    assert list(pacer.held) == ["CAyoung0", "CAyoung1", "CAyoung2"]
    # on the worker's clock: 60 s after it took them, whatever their creation
    assert pacer.expired(59.0, store_now=1010.0) == []
    assert pacer.next_due(59.0) == 0.0  # CAyoung0's slot has come
    assert sids(pacer.expired(60.0, store_now=1010.0)) == ["CAyoung0", "CAyoung1", "CAyoung2"]
    assert pacer.next_due(60.0) is None


def test_a_call_held_again_goes_after_the_others() -> None:
    pacer = Pacer(Limits(total=1))
    first, second = record("CAfirst", BUSY), record("CAsecond", BUSY)
    pacer.hold([first, second], 0.0, 0.0)
    released, _ = pacer.release(0.0, 5)
    assert sids(released) == ["CAfirst"]
    pacer.hold(released, 0.0, 0.0)  # the store failed to start it: back in the hold
    assert list(pacer.held) == ["CAsecond", "CAfirst"]
    assert sids(pacer.release(1.0, 5)[0]) == ["CAsecond"]
    assert sids(pacer.release(2.0, 5)[0]) == ["CAfirst"]


def test_renewals_come_due_and_go_back_on_the_schedule() -> None:
    pacer = Pacer(Limits(per_from=1))
    pacer.hold([record("CAr0", BUSY), record("CAr1", BUSY)], 0.0, 10.0)
    pacer.hold([record("CAr2", BUSY)], 0.0, 12.0)
    assert pacer.due_renewals(14.0, 5.0) == []
    due = pacer.due_renewals(15.0, 5.0)
    assert [h.record.sid for h in due] == ["CAr0", "CAr1"]
    assert pacer.due_renewals(15.0, 5.0) == []  # handed out: not twice
    renewed, failed = due
    pacer.renewed(renewed, 15.0)
    pacer.renewed(failed, None)  # the store failed: due again
    assert [h.record.sid for h in pacer.due_renewals(17.0, 5.0)] == ["CAr1", "CAr2"]
    assert renewed.renewed_at == 15.0
    pacer.drop(["CAr0"])
    assert pacer.due_renewals(30.0, 5.0) == []  # CAr0 dropped; the others not given back


def test_a_held_call_records_its_place() -> None:
    pacer = Pacer(Limits(ttl=5))
    pacer.hold([record("CAp0", BUSY), record("CAp1", BUSY)], 0.0, 0.0)
    assert [h.position for h in pacer.held.values()] == [0, 1]
    assert isinstance(pacer.held["CAp0"], Held)
