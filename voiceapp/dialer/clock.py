"""Clocks and the event-driven scheduler the dialer runs on.

Everything in the dialer that waits — a ring, a ``WWWW`` pause, a Gather timeout,
a callback retry — is a timer on a :class:`Clock`.  Two clocks share one
scheduler (a heap of timers ordered by time, then by insertion):

* :class:`VirtualClock` — time only moves when nothing is left to run *now*; it
  then jumps to the next timer.  A 4 s ``WWWW`` wait costs no real time, and a run
  is deterministic.  While work handed to a thread is outstanding
  (:meth:`Clock.run_in_thread`) virtual time stands still, so a slow fetch is
  instantaneous in call time.
* :class:`RealClock` — timers fire at monotonic wall-clock times (the demo).

Long-running activities (a call, a leg's callee script) are *processes*:
generators that ``yield`` a :class:`Future` and are resumed with its result::

    def call(clock):
        yield clock.timeout(2.0)               # wait 2 s of clock time
        index, value = yield first(a, b)       # whichever finishes first
        return "done"

    task = clock.spawn(call(clock))
    clock.run_until_idle()
    task.result()

No threads are needed for concurrency; thousands of calls are thousands of small
generators on one heap.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar, cast, runtime_checkable

__all__ = [
    "Cancelled",
    "Clock",
    "Future",
    "Process",
    "RealClock",
    "Task",
    "Timer",
    "VirtualClock",
    "first",
]

T = TypeVar("T")

#: A process: a generator that yields futures and is sent their results.
Process = Generator["Future[Any]", Any, T]

DEFAULT_MAX_STEPS = 10_000_000


class Cancelled(Exception):
    """Thrown into a process whose task was cancelled (it may clean up, then exit)."""


class Timer:
    """A scheduled callback; :meth:`cancel` stops it from running."""

    __slots__ = ("cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Future(Generic[T]):
    """A value that arrives later; callbacks run when it does (once, in order)."""

    __slots__ = ("_callbacks", "_done", "_error", "_value")

    def __init__(self) -> None:
        self._done = False
        self._value: T | None = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Future[T]], None]] = []

    @property
    def done(self) -> bool:
        return self._done

    def result(self) -> T:
        if not self._done:
            raise RuntimeError("the future has no result yet")
        if self._error is not None:
            raise self._error
        return cast(T, self._value)

    def exception(self) -> BaseException | None:
        return self._error

    def set_result(self, value: T) -> None:
        if self._done:
            return  # first writer wins: a timeout and an answer may race
        self._value = value
        self._finish()

    def set_exception(self, error: BaseException) -> None:
        if self._done:
            return
        self._error = error
        self._finish()

    def add_done_callback(self, fn: Callable[[Future[T]], None]) -> None:
        if self._done:
            fn(self)
        else:
            self._callbacks.append(fn)

    def _finish(self) -> None:
        self._done = True
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(self)


def first(*futures: Future[Any]) -> Future[tuple[int, Any]]:
    """A future for whichever of ``futures`` finishes first: ``(index, result)``.

    An exception from the first one to finish is passed on.
    """
    out: Future[tuple[int, Any]] = Future()

    def on_done(index: int, fut: Future[Any]) -> None:
        if out.done:
            return
        error = fut.exception()
        if error is not None:
            out.set_exception(error)
        else:
            out.set_result((index, fut.result()))

    def callback(index: int) -> Callable[[Future[Any]], None]:
        return lambda fut: on_done(index, fut)

    for index, fut in enumerate(futures):
        fut.add_done_callback(callback(index))
    return out


class Task(Future[T]):
    """A running process; done when the generator returns (or raises)."""

    __slots__ = ("_clock", "_gen", "_waiting", "name")

    def __init__(self, clock: Clock, gen: Process[T], name: str = "") -> None:
        super().__init__()
        self._clock = clock
        self._gen = gen
        self._waiting: Future[Any] | None = None
        self.name = name

    def _step(self, value: Any = None, error: BaseException | None = None) -> None:
        if self.done:
            return
        self._waiting = None
        try:
            awaited = self._gen.throw(error) if error is not None else self._gen.send(value)
        except StopIteration as stop:
            self.set_result(cast(T, stop.value))
            return
        except Exception as exc:  # Cancelled included: the task ends with it
            self.set_exception(exc)
            return
        if not isinstance(awaited, Future):
            self._gen.close()
            self.set_exception(TypeError(f"process {self.name!r} yielded {awaited!r}"))
            return
        self._waiting = awaited
        awaited.add_done_callback(self._resume)

    def _resume(self, fut: Future[Any]) -> None:
        if fut is not self._waiting:
            return  # a stale wake-up after a cancel
        error = fut.exception()
        if error is not None:
            self._clock.call_soon(lambda: self._step(error=error))
        else:
            value = fut.result()
            self._clock.call_soon(lambda: self._step(value))

    def cancel(self, reason: str = "cancelled") -> None:
        """Throw :class:`Cancelled` into the process at its current ``yield``."""
        if self.done:
            return
        self._waiting = None
        self._clock.call_soon(lambda: self._step(error=Cancelled(reason)))


@runtime_checkable
class Clock(Protocol):
    """What the dialer needs from time."""

    def now(self) -> float:
        """Seconds since the clock started (monotonic)."""

    def wall(self) -> datetime:
        """The current UTC date and time (for callback ``Timestamp``)."""

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer: ...

    def call_soon(self, fn: Callable[[], None]) -> Timer: ...

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None: ...

    def timeout(self, delay: float, value: Any = None) -> Future[Any]: ...

    def spawn(self, gen: Process[T], name: str = "") -> Task[T]: ...

    def run_in_thread(self, fn: Callable[[], T]) -> Future[T]: ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of clock time pass, running every timer due meanwhile."""

    def run_until_idle(self, max_steps: int = DEFAULT_MAX_STEPS) -> None: ...

    def run_until(self, fut: Future[T], max_steps: int = DEFAULT_MAX_STEPS) -> T: ...


class _Scheduler:
    """The heap of timers and the run loop shared by both clocks."""

    def __init__(self) -> None:
        # (when, insertion number, timer): tuples compare in C, ties keep insertion order
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._incoming: deque[Callable[[], None]] = deque()
        self._in_threads = 0

    # -- time, provided by the subclasses -------------------------------------------------
    def now(self) -> float:
        raise NotImplementedError

    def wall(self) -> datetime:
        raise NotImplementedError

    def _wait(self, deadline: float | None) -> None:
        """Block (really or virtually) until ``deadline`` or until work arrives."""
        raise NotImplementedError

    # -- scheduling -----------------------------------------------------------------------
    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(self.now() + max(0.0, delay), fn)
        heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    def call_soon(self, fn: Callable[[], None]) -> Timer:
        return self.call_later(0.0, fn)

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        with self._wakeup:
            self._incoming.append(fn)
            self._wakeup.notify()

    def timeout(self, delay: float, value: Any = None) -> Future[Any]:
        fut: Future[Any] = Future()
        self.call_later(delay, lambda: fut.set_result(value))
        return fut

    def spawn(self, gen: Process[T], name: str = "") -> Task[T]:
        task = Task(cast(Clock, self), gen, name)
        self.call_soon(task._step)
        return task

    def run_in_thread(self, fn: Callable[[], T]) -> Future[T]:
        """Run blocking ``fn`` in a daemon thread; the future resolves on this loop."""
        fut: Future[T] = Future()
        with self._lock:
            self._in_threads += 1

        def work() -> None:
            try:
                value = fn()
            except Exception as exc:
                error = exc
                self.call_soon_threadsafe(lambda: self._thread_done(fut, None, error))
            else:
                self.call_soon_threadsafe(lambda: self._thread_done(fut, value, None))

        threading.Thread(target=work, name="voiceapp-clock-worker", daemon=True).start()
        return fut

    def _thread_done(self, fut: Future[T], value: T | None, error: Exception | None) -> None:
        with self._lock:
            self._in_threads -= 1
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(cast(T, value))

    # -- running --------------------------------------------------------------------------
    def _drain_incoming(self) -> None:
        with self._lock:
            incoming, self._incoming = self._incoming, deque()
        for fn in incoming:
            self.call_soon(fn)

    def _run(self, stop_at: float | None, until: Future[Any] | None, max_steps: int) -> None:
        for _ in range(max_steps):
            if until is not None and until.done:
                return
            self._drain_incoming()
            heap = self._heap
            while heap and heap[0][2].cancelled:
                heapq.heappop(heap)
            now = self.now()
            if heap and heap[0][0] <= now:
                heapq.heappop(heap)[2].fn()
                continue
            next_at = heap[0][0] if heap else None
            if stop_at is not None and (next_at is None or next_at > stop_at):
                if now >= stop_at:
                    return
                next_at = stop_at
            with self._lock:
                busy = self._in_threads > 0 or bool(self._incoming)
            if next_at is None and not busy:
                return  # idle: no timers, no threads, nothing incoming
            self._wait(next_at)
        raise RuntimeError(f"the scheduler did not settle within {max_steps} steps")

    def run_until_idle(self, max_steps: int = DEFAULT_MAX_STEPS) -> None:
        """Run until no timer is left and no thread is outstanding."""
        self._run(None, None, max_steps)

    def run_until(self, fut: Future[T], max_steps: int = DEFAULT_MAX_STEPS) -> T:
        """Run until ``fut`` is done and return its result."""
        self._run(None, fut, max_steps)
        if not fut.done:
            raise RuntimeError("nothing left to run, but the awaited future is not done")
        return fut.result()

    def sleep(self, seconds: float) -> None:
        self._run(self.now() + seconds, None, DEFAULT_MAX_STEPS)

    @property
    def pending(self) -> int:
        """Timers still scheduled (cancelled ones excluded)."""
        return sum(1 for _, _, t in self._heap if not t.cancelled)


class VirtualClock(_Scheduler):
    """Simulated time: jumps to the next timer instead of waiting for it."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        self._t = 0.0
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> float:
        return self._t

    def wall(self) -> datetime:
        return self._start + timedelta(seconds=self._t)

    def _wait(self, deadline: float | None) -> None:
        with self._wakeup:
            if self._in_threads > 0 or self._incoming:
                # work is out in a thread: virtual time stands still until it comes back
                if not self._incoming:
                    self._wakeup.wait(timeout=1.0)
                return
        if deadline is not None and deadline > self._t:
            self._t = deadline


class RealClock(_Scheduler):
    """Wall-clock time (monotonic); timers fire when they are due."""

    def __init__(self) -> None:
        super().__init__()
        self._origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._origin

    def wall(self) -> datetime:
        return datetime.now(UTC)

    def _wait(self, deadline: float | None) -> None:
        with self._wakeup:
            if self._incoming:
                return
            timeout = None if deadline is None else max(0.0, deadline - self.now())
            self._wakeup.wait(timeout=timeout)
