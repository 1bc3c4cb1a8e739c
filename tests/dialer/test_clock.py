"""The dialer's event loop on virtual and real time, and its tasks."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceapp.dialer.clock import Clock, RealClock, VirtualClock, first, settle


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(VirtualClock(), Clock)
    assert isinstance(RealClock(), Clock)


def test_virtual_timers_run_in_time_order_and_cost_no_real_time() -> None:
    clock = VirtualClock()
    seen: list[tuple[str, float]] = []
    clock.call_later(4.0, lambda: seen.append(("b", clock.now())))
    clock.call_later(0.5, lambda: seen.append(("a", clock.now())))
    clock.call_later(4.0, lambda: seen.append(("c", clock.now())))  # same time: insertion order
    clock.call_later(3600.0, lambda: seen.append(("d", clock.now())))
    started = time.perf_counter()
    clock.run_until_idle()
    real = time.perf_counter() - started
    assert seen == [("a", 0.5), ("b", 4.0), ("c", 4.0), ("d", 3600.0)]
    assert clock.now() == 3600.0
    # an hour of virtual time took (much) less than a second of real time
    assert real < 1.0


def test_cancelled_timer_does_not_run() -> None:
    clock = VirtualClock()
    seen: list[int] = []
    timer = clock.call_later(1.0, lambda: seen.append(1))
    clock.call_later(2.0, lambda: seen.append(2))
    timer.cancel()
    assert clock.pending == 1
    clock.run_until_idle()
    assert seen == [2]


def test_sleep_advances_exactly_and_runs_due_timers() -> None:
    clock = VirtualClock()
    seen: list[float] = []
    clock.call_later(1.0, lambda: seen.append(clock.now()))
    clock.call_later(5.0, lambda: seen.append(clock.now()))
    clock.sleep(4.0)
    assert clock.now() == 4.0
    assert seen == [1.0]
    clock.sleep(1.0)
    assert seen == [1.0, 5.0]


def test_wall_time_follows_virtual_time() -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    clock = VirtualClock(start)
    clock.sleep(90.5)
    assert clock.wall() == start + timedelta(seconds=90.5)


def test_process_waits_and_returns() -> None:
    clock = VirtualClock()
    marks: list[float] = []

    async def proc() -> str:
        marks.append(clock.now())
        value = await clock.timeout(4.0, "x")  # a WWWW wait
        marks.append(clock.now())
        await asyncio.sleep(0.5)
        marks.append(clock.now())
        return f"got {value}"

    task = clock.spawn(proc(), "p")
    assert clock.run_until(task) == "got x"
    assert marks == [0.0, 4.0, 4.5]


def test_many_processes_interleave_by_time() -> None:
    clock = VirtualClock()
    log: list[tuple[float, int]] = []

    async def proc(n: int) -> None:
        for _ in range(3):
            await asyncio.sleep(n)
            log.append((clock.now(), n))

    for n in (3, 1, 2):
        clock.spawn(proc(n))
    clock.run_until_idle()
    assert [t for t, _ in log] == sorted(t for t, _ in log)
    assert len(log) == 9
    assert log[-1] == (9.0, 3)


def test_first_picks_the_earliest() -> None:
    clock = VirtualClock()

    async def proc() -> tuple[int, Any]:
        return await first(clock.timeout(3.0, "slow"), clock.timeout(1.0, "fast"))

    assert clock.run_until(clock.spawn(proc())) == (1, "fast")


def test_first_passes_on_an_error() -> None:
    clock = VirtualClock()
    bad: asyncio.Future[int] = clock.future()
    out = first(bad, clock.future())
    bad.set_exception(ValueError("boom"))
    clock.run_until_idle()
    with pytest.raises(ValueError, match="boom"):
        out.result()


def test_future_first_writer_wins() -> None:
    clock = VirtualClock()
    fut: asyncio.Future[str] = clock.future()
    settle(fut, "answer")
    settle(fut, "timeout")
    assert fut.result() == "answer"
    with pytest.raises(asyncio.InvalidStateError, match="not set"):
        clock.future().result()


def test_process_errors_end_the_task() -> None:
    clock = VirtualClock()

    async def proc() -> None:
        await asyncio.sleep(1.0)
        raise KeyError("oops")

    task = clock.spawn(proc())
    clock.run_until_idle()
    assert isinstance(task.exception(), KeyError)


def test_yielding_a_non_future_is_an_error() -> None:
    clock = VirtualClock()

    async def proc() -> None:
        await 3  # type: ignore[misc]

    task = clock.spawn(proc(), "bad")
    clock.run_until_idle()
    assert isinstance(task.exception(), TypeError)


def test_cancel_throws_into_the_process_which_may_clean_up() -> None:
    clock = VirtualClock()
    log: list[str] = []

    async def proc() -> str:
        try:
            await clock.timeout(60.0)
        except asyncio.CancelledError as exc:
            log.append(f"cleanup at {clock.now()}: {exc}")
            await asyncio.sleep(1.0)
            return "cleaned"
        return "finished"

    task = clock.spawn(proc())
    clock.call_later(2.0, lambda: task.cancel("hung up"))
    assert clock.run_until(task) == "cleaned"
    assert log == ["cleanup at 2.0: hung up"]
    assert clock.now() == 3.0
    clock.run_until_idle()
    assert clock.now() == 60.0  # the abandoned timeout still fires, harmlessly
    assert task.result() == "cleaned"


def test_run_until_reports_a_deadlock() -> None:
    clock = VirtualClock()
    with pytest.raises(RuntimeError, match="not done"):
        clock.run_until(clock.future())


def test_step_bound() -> None:
    clock = VirtualClock()

    def again() -> None:
        clock.call_later(1.0, again)

    again()
    with pytest.raises(RuntimeError, match="did not settle within 100 steps"):
        clock.run_until_idle(max_steps=100)


def test_virtual_time_stands_still_while_a_thread_works() -> None:
    clock = VirtualClock()
    release = threading.Event()
    order: list[str] = []
    clock.call_later(10.0, lambda: order.append(f"timer at {clock.now()}"))

    def blocking() -> str:
        release.wait(5.0)
        return "fetched"

    fut = clock.run_in_thread(blocking)
    fut.add_done_callback(lambda f: order.append(f"{f.result()} at {clock.now()}"))
    threading.Timer(0.05, release.set).start()
    clock.run_until_idle()
    assert order == ["fetched at 0.0", "timer at 10.0"]


def test_thread_errors_arrive_as_exceptions() -> None:
    clock = VirtualClock()

    def boom() -> None:
        raise OSError("connection refused")

    fut = clock.run_in_thread(boom)
    with pytest.raises(OSError, match="refused"):
        clock.run_until(fut)


def test_real_clock_waits_for_real() -> None:
    clock = RealClock()
    seen: list[float] = []
    # Both ends on the clock's own (monotonic) time: the timer is due 0.05 s after it was set.
    started = clock.now()
    clock.call_later(0.05, lambda: seen.append(clock.now()))
    clock.run_until_idle()
    assert len(seen) == 1 and seen[0] - started >= 0.05
    assert abs((clock.wall() - datetime.now(UTC)).total_seconds()) < 5


def test_real_clock_wakes_for_threadsafe_work() -> None:
    clock = RealClock()
    fut = clock.run_in_thread(lambda: 42)
    assert clock.run_until(fut) == 42
    clock.sleep(0.01)
    assert clock.now() >= 0.01


@given(
    delays=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=60),
    cancel=st.sets(st.integers(min_value=0, max_value=59)),
)
@settings(max_examples=200, deadline=None)
def test_timers_fire_in_time_then_insertion_order(delays: list[float], cancel: set[int]) -> None:
    clock = VirtualClock()
    fired: list[tuple[float, int]] = []
    timers = [
        clock.call_later(d, lambda i=i: fired.append((clock.now(), i)))
        for i, d in enumerate(delays)
    ]
    for i in cancel:
        if i < len(timers):
            timers[i].cancel()
    clock.run_until_idle()
    expected = sorted(
        ((d, i) for i, d in enumerate(delays) if i not in cancel), key=lambda x: (x[0], x[1])
    )
    assert fired == expected
