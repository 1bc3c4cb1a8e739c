"""The dialer's asyncio event loop, on real or on virtual time.

Everything in the dialer that waits — a ring, a ``WWWW`` pause, a Gather timeout,
a callback retry, a document fetch — runs on one asyncio event loop,
:class:`DialerLoop`.  It is an ordinary selector loop (so it will carry the SIP
and RTP sockets too) with two additions:

* on **virtual** time (tests, benchmarks, ``DIALER_CLOCK = "virtual"``) its
  :meth:`~DialerLoop.time` only moves when nothing is ready to run: it then jumps
  to the next timer.  A 4 s ``WWWW`` wait costs no real time, and a run is
  deterministic.  While work handed to a thread (``run_in_executor``: a document
  fetch, a callback) is out, virtual time stands still, so a slow fetch is
  instantaneous in call time;
* timers due at the same moment run in the order they were set (asyncio's heap
  does not promise that), and a run can stop when the loop is *idle*: no timer,
  nothing ready, nothing out in a thread.

A :class:`Clock` is that loop with the few helpers the dialer and its tests use::

    clock = VirtualClock()

    async def call() -> str:
        await asyncio.sleep(2.0)               # 2 s of clock time
        return "done"

    task = clock.spawn(call())
    clock.run_until_idle()
    task.result()

Calls are coroutines (tasks) on the loop; thousands of calls are thousands of
small tasks on one heap, no thread each.  :class:`RealClock` runs on monotonic
wall-clock time (the demo, production).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import heapq
import itertools
import math
import selectors
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar, TypeVarTuple, Unpack

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

DEFAULT_MAX_STEPS: Final = 10_000_000
#: Threads for blocking work handed out by the loop (HTTP fetches and callbacks):
#: as many as the HTTP client's connection pool holds.
EXECUTOR_THREADS: Final = 64
#: Longest real wait, in seconds, for work out in a thread on virtual time (then look again).
_THREAD_WAIT: Final = 1.0


class _Timer(asyncio.TimerHandle):
    """A timer that sorts by (time, order set): same-time timers run in insertion order."""

    __slots__ = ("_order",)

    def __init__(self, order: int, *args: Any) -> None:
        super().__init__(*args)
        self._order = order

    def __lt__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _Timer):
            return (self.when(), self._order) < (other.when(), other._order)
        return self.when() < other.when()


class _Selector(selectors.DefaultSelector):
    """The loop's selector; where the loop waits, so where time passes (or jumps)."""

    def __init__(self, loop: DialerLoop) -> None:
        super().__init__()
        self.loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return self.loop._wait(super().select, timeout)


class DialerLoop(asyncio.SelectorEventLoop):
    """An asyncio selector event loop on real or virtual time (see the module doc).

    ``stop_when_idle``: the loop stops itself when idle instead of waiting for
    the outside world (a ``call_soon_threadsafe`` from another thread, a socket).
    """

    def __init__(self, *, virtual: bool) -> None:
        self.virtual = virtual
        self.stop_when_idle = False
        self.max_steps: int | None = None
        self.steps = 0
        self._virtual_now = 0.0
        self._out = 0  # executor jobs not back yet
        self._order = itertools.count()
        super().__init__(_Selector(self))
        self.set_default_executor(
            ThreadPoolExecutor(EXECUTOR_THREADS, thread_name_prefix="voiceapp-io")
        )

    def time(self) -> float:
        return self._virtual_now if self.virtual else time.monotonic()

    # asyncio runs the timers due before ``time() + _clock_resolution``.  On virtual time
    # that margin is the smallest step of the clock's float, so a timer runs exactly at
    # its time, never a hair early.
    @property
    def _clock_resolution(self) -> float:
        return math.ulp(self._virtual_now) if self.virtual else self._real_resolution

    @_clock_resolution.setter
    def _clock_resolution(self, value: float) -> None:
        self._real_resolution = value

    def call_at(
        self,
        when: float,
        callback: Callable[[Unpack[Ts]], object],
        *args: *Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        # BaseEventLoop.call_at with an ordered timer (it pushes onto the same heap)
        self._check_closed()  # type: ignore[attr-defined]
        timer = _Timer(next(self._order), when, callback, args, self, context)
        heapq.heappush(self._scheduled, timer)  # type: ignore[attr-defined]
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[Unpack[Ts]], T], *args: *Ts
    ) -> asyncio.Future[T]:
        fut = super().run_in_executor(executor, func, *args)
        self._out += 1
        fut.add_done_callback(self._came_back)
        return fut

    def _came_back(self, _fut: asyncio.Future[Any]) -> None:
        self._out -= 1

    @property
    def idle(self) -> bool:
        """Nothing out in a thread (timers and ready callbacks aside)."""
        return self._out == 0

    def _wait(
        self,
        select: Callable[[float | None], list[tuple[selectors.SelectorKey, int]]],
        timeout: float | None,
    ) -> list[tuple[selectors.SelectorKey, int]]:
        """One wait of the loop: ``timeout`` is None when no timer is set, 0 when
        something is ready."""
        self.steps += 1
        if self.max_steps is not None and self.steps > self.max_steps:
            self.stop()
            return []
        if timeout is None and self._out == 0 and self.stop_when_idle:
            self.stop()  # idle: nothing can happen but from outside
            return []
        if not self.virtual:
            return select(timeout)
        events = select(0)
        if events or timeout == 0:
            return events
        if self._out:
            # work is out in a thread: virtual time stands still until it comes back
            return select(_THREAD_WAIT if timeout is None else min(timeout, _THREAD_WAIT))
        if timeout is None:
            return select(None)  # idle on virtual time: wait for the outside world
        # jump to the next timer (asyncio waits at most a day at a time)
        self._virtual_now = min(self._scheduled[0].when(), self._virtual_now + timeout)  # type: ignore[attr-defined]
        return []

    def __del__(self) -> None:
        # a loop dropped without close() (a test's throwaway clock): close it quietly
        if not self.is_closed() and not self.is_running():
            self._close()

    def close(self) -> None:
        """Cancel the tasks still pending and let them end (as :func:`asyncio.run` does),
        then close the loop and its executor."""
        if self.is_closed() or self.is_running():
            self._close()
            return
        tasks = asyncio.all_tasks(self)
        for task in tasks:
            task.cancel()
        if tasks:
            self.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._close()

    def _close(self) -> None:
        executor = self._default_executor  # type: ignore[attr-defined]
        super().close()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def settle(fut: asyncio.Future[T], value: T) -> None:
    """Set ``fut``'s result unless it has one: the first writer wins (a timeout and an
    answer may race)."""
    if not fut.done():
        fut.set_result(value)


def first(*futures: asyncio.Future[Any]) -> asyncio.Future[tuple[int, Any]]:
    """A future for whichever of ``futures`` finishes first: ``(index, result)``.

    An exception from the first one to finish is passed on.
    """
    out: asyncio.Future[tuple[int, Any]] = futures[0].get_loop().create_future()

    def on_done(index: int, fut: asyncio.Future[Any]) -> None:
        if out.done():
            return
        if fut.cancelled():
            out.cancel()
            return
        error = fut.exception()
        if error is not None:
            out.set_exception(error)
        else:
            out.set_result((index, fut.result()))

    for index, fut in enumerate(futures):
        if fut.done():  # no round trip through the loop for what is known already
            on_done(index, fut)
            break
        fut.add_done_callback(functools.partial(on_done, index))
    return out


class Clock:
    """A :class:`DialerLoop` and the helpers the dialer and its tests use."""

    def __init__(self, loop: DialerLoop) -> None:
        self.loop = loop
        self._origin = loop.time()

    @property
    def virtual(self) -> bool:
        return self.loop.virtual

    def now(self) -> float:
        """Seconds since the clock started (monotonic)."""
        return self.loop.time() - self._origin

    def wall(self) -> datetime:
        """The current UTC date and time (for callback ``Timestamp``)."""
        return datetime.now(UTC)

    # -- scheduling -----------------------------------------------------------------------
    def call_later(self, delay: float, fn: Callable[[], object]) -> asyncio.TimerHandle:
        return self.loop.call_later(max(0.0, delay), fn)

    def call_soon(self, fn: Callable[[], object]) -> asyncio.Handle:
        return self.loop.call_soon(fn)

    def call_soon_threadsafe(self, fn: Callable[[], object]) -> None:
        self.loop.call_soon_threadsafe(fn)

    def timeout(self, delay: float, value: Any = None) -> asyncio.Future[Any]:
        """A future resolved with ``value`` after ``delay`` seconds."""
        fut = self.loop.create_future()
        self.call_later(delay, lambda: settle(fut, value))
        return fut

    def future(self) -> asyncio.Future[Any]:
        return self.loop.create_future()

    def spawn(self, coro: Coroutine[Any, Any, T], name: str = "") -> asyncio.Task[T]:
        """Run ``coro`` as a task on the loop (it starts when the loop runs)."""
        return self.loop.create_task(coro, name=name or None)

    def run_in_thread(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Run blocking ``fn`` in the loop's executor; the future resolves on the loop."""
        return self.loop.run_in_executor(None, fn)

    # -- running (from outside the loop) --------------------------------------------------
    def _run(self, max_steps: int) -> None:
        loop = self.loop
        loop.stop_when_idle, loop.max_steps, loop.steps = True, max_steps, 0
        try:
            loop.run_forever()
        finally:
            loop.stop_when_idle, loop.max_steps = False, None
        if loop.steps > max_steps:
            raise RuntimeError(f"the loop did not settle within {max_steps} steps")

    def run_until_idle(self, max_steps: int = DEFAULT_MAX_STEPS) -> None:
        """Run until no timer is left, nothing is ready and no thread is outstanding."""
        self._run(max_steps)

    def run_until(self, fut: Awaitable[T], max_steps: int = DEFAULT_MAX_STEPS) -> T:
        """Run until ``fut`` is done and return its result."""
        task = asyncio.ensure_future(fut, loop=self.loop)
        task.add_done_callback(lambda _: self.loop.stop())
        self._run(max_steps)
        if not task.done():
            raise RuntimeError("nothing left to run, but the awaited future is not done")
        return task.result()

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of clock time pass, running every timer due meanwhile."""
        self.call_later(seconds, self.loop.stop)
        self._run(DEFAULT_MAX_STEPS)

    @property
    def pending(self) -> int:
        """Timers still scheduled (cancelled ones excluded)."""
        timers: list[asyncio.TimerHandle] = self.loop._scheduled  # type: ignore[attr-defined]
        return len([t for t in timers if not t.cancelled()])

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.close()


class VirtualClock(Clock):
    """Simulated time: jumps to the next timer instead of waiting for it."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(DialerLoop(virtual=True))
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)

    def wall(self) -> datetime:
        return self._start + timedelta(seconds=self.now())


class RealClock(Clock):
    """Wall-clock time (monotonic); timers fire when they are due."""

    def __init__(self) -> None:
        super().__init__(DialerLoop(virtual=False))
