"""Call queues of one dialer: ``<Enqueue>``, ``<Dial><Queue>``, ``<Leave>``.

A :class:`Queues` registry holds the dialer's queues by name (created on demand by
the first ``<Enqueue>``, as Twilio does); each :class:`CallQueue` keeps its
:class:`Member` calls oldest first.  The interpreter puts a caller in with
:meth:`CallQueue.add`, and an agent's ``<Dial><Queue>`` takes the oldest with
:meth:`CallQueue.take` (waiting for the next caller when the queue is empty).
Nothing here does I/O: the interpreter runs the wait documents and the bridge.

The state lives in the memory of one dialer process (one asyncio loop): callers
enqueued by one dialer are not seen by another (docs/conferences.md).
:meth:`Queues.snapshot` is what the API shows (``GET /v1/queues``); it is read from
other threads, so it copies the loop's containers in single steps.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from voiceapp.dialer.clock import Clock, settle
from voiceapp.dialer.network import Leg

#: Twilio's default size of a queue (``maxQueueSize`` of ``<Enqueue>`` changes it).
DEFAULT_MAX_SIZE: Final = 1000
#: Twilio's QueueResult values the simulator produces.
BRIDGED: Final = "bridged"
HANGUP: Final = "hangup"
LEAVE: Final = "leave"
QUEUE_FULL: Final = "queue-full"
ERROR: Final = "error"
REDIRECTED: Final = "redirected"


@dataclass(frozen=True, slots=True)
class Dequeue:
    """An agent's call taking a member: what the member's side needs to bridge."""

    agent_sid: str
    agent_leg: Leg
    #: the member's url whisper (``<Queue url method>``), or None
    url: str | None
    method: str
    #: settled by the member when its whisper is over (True) or it is gone (False)
    ready: asyncio.Future[bool]
    #: settled by the agent's side when the bridge is over
    over: asyncio.Future[None]


@dataclass(eq=False)
class Member:
    """A call waiting in a queue."""

    call_sid: str
    leg: Leg
    enqueued_at: float
    dequeued: asyncio.Future[Dequeue]


@dataclass(eq=False)
class CallQueue:
    """One named queue: its members oldest first, and the agents waiting for one."""

    name: str
    sid: str
    clock: Clock
    max_size: int = DEFAULT_MAX_SIZE
    members: deque[Member] = field(default_factory=deque)
    #: agents' futures waiting in ``take`` for the next caller, oldest first
    waiting: deque[asyncio.Future[Member]] = field(default_factory=deque)
    #: how many members left through a dequeue, and their total seconds in the queue
    dequeued: int = 0
    dequeued_seconds: float = 0.0

    @property
    def size(self) -> int:
        return len(self.members)

    def position(self, member: Member) -> int:
        """1 for the oldest member (Twilio's ``QueuePosition``); 0 when it left."""
        for index, other in enumerate(list(self.members), start=1):
            if other is member:
                return index
        return 0

    def waited(self, member: Member) -> int:
        """Whole seconds ``member`` has been in the queue (``QueueTime``)."""
        return round(self.clock.now() - member.enqueued_at)

    def average_wait(self) -> int:
        """Average whole seconds the current members have waited (``AvgQueueTime``, as
        Twilio's Queue resource computes ``average_wait_time``: at the time of asking)."""
        members = list(self.members)
        if not members:
            return 0
        now = self.clock.now()
        return round(sum(now - m.enqueued_at for m in members) / len(members))

    def add(self, call_sid: str, leg: Leg) -> Member | None:
        """Put a call at the end of the queue; None when the queue is full."""
        if len(self.members) >= self.max_size:
            return None
        member = Member(call_sid, leg, self.clock.now(), self.clock.future())
        while self.waiting:  # an agent waits for a caller: it takes this one
            agent = self.waiting.popleft()
            if not agent.done():
                self.members.append(member)
                settle(agent, member)
                return member
        self.members.append(member)
        return member

    def remove(self, member: Member) -> None:
        """Take ``member`` out (it left, hung up, or was dequeued)."""
        if member in self.members:
            self.members.remove(member)

    def take(self) -> asyncio.Future[Member]:
        """The oldest member not yet dequeued, now or when the next caller comes."""
        fut: asyncio.Future[Member] = self.clock.future()
        for member in list(self.members):
            if not member.dequeued.done():
                settle(fut, member)
                return fut
        self.waiting.append(fut)
        return fut

    def dequeue(self, member: Member, dequeue: Dequeue) -> bool:
        """Hand ``member`` to an agent; False when it is gone already."""
        if member.dequeued.done() or member not in self.members:
            return False
        self.members.remove(member)
        self.dequeued += 1
        self.dequeued_seconds += self.clock.now() - member.enqueued_at
        settle(member.dequeued, dequeue)
        return True

    def to_dict(self) -> dict[str, Any]:
        """The queue as the API shows it (``GET /v1/queues/<name>``)."""
        members = list(self.members)
        now = self.clock.now()
        return {
            "name": self.name,
            "sid": self.sid,
            "current_size": len(members),
            "max_size": self.max_size,
            "average_wait_time": self.average_wait(),
            "dequeued": self.dequeued,
            "members": [
                {
                    "call_sid": m.call_sid,
                    "position": index,
                    "wait_time": round(now - m.enqueued_at),
                }
                for index, m in enumerate(members, start=1)
            ],
        }


class Queues:
    """The dialer's queues by name (one asyncio loop; created on demand)."""

    def __init__(self, clock: Clock, new_sid: Callable[[str], str]) -> None:
        self.clock = clock
        self.new_sid = new_sid
        self._queues: dict[str, CallQueue] = {}

    def get(self, name: str) -> CallQueue | None:
        return self._queues.get(name)

    def open(self, name: str, max_size: int | None = None) -> CallQueue:
        """The queue called ``name``, created when it does not exist; ``max_size`` (an
        ``<Enqueue maxQueueSize>``) changes its size as the REST API would."""
        queue = self._queues.get(name)
        if queue is None:
            queue = CallQueue(name, self.new_sid("QU"), self.clock)
            self._queues[name] = queue
        if max_size is not None:
            queue.max_size = max_size
        return queue

    def snapshot(self) -> list[dict[str, Any]]:
        """Every queue as the API shows it, by name (safe to call from another thread)."""
        queues = dict(self._queues)
        return [queues[name].to_dict() for name in sorted(queues)]
