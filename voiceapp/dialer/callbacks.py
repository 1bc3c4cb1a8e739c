"""Status callbacks: who wants which events, what they receive, and delivery.

* :class:`~voiceapp.calls.subscriptions.Subscription` (of the calls core) — who
  wants which events.
* :func:`build_params` — one event's parameters, with the seed's names (``Called``,
  ``ParentCallSid``, ``CallStatus``, ``Direction``, ``CallSid``,
  ``CallbackSource=call-progress-event``, ``CallDuration`` and ``RecordingURL`` on
  ``completed``) plus ``SequenceNumber``, ``Timestamp`` (RFC 2822), ``From``,
  ``To``, ``StatusCallbackEvent``, ``apikey`` and the ``optional`` pairs.
* :class:`Deliverer` — at-least-once delivery on a clock: an injected ``sender``
  makes the request; failures are retried with exponential backoff per
  :class:`RetryPolicy`; each event keeps a stable id (sent as
  ``X-Voiceapp-Event-Id``) and the record of every attempt.  Events of one
  call leg go out in order, and nothing here ever blocks the call.

No HTTP is done here: the web layer supplies the sender (and signs there).
"""

from __future__ import annotations

import asyncio
import email.utils
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from voiceapp.calls.states import CallbackEvent, CallStatus
from voiceapp.calls.subscriptions import (
    Method,
    Subscription,
)
from voiceapp.dialer.clock import Clock
from voiceapp.errors import OutboundBlocked
from voiceapp.settings_tables.retry import RetryPolicy

#: The seed's value of ``CallbackSource`` (Twilio spells it ``call-progress-events``).
CALLBACK_SOURCE: Final = "call-progress-event"
EVENT_ID_HEADER: Final = "X-Voiceapp-Event-Id"

Direction = Literal["outbound-api", "outbound-dial", "inbound"]


def build_params(
    *,
    event: CallbackEvent,
    status: CallStatus,
    call_sid: str,
    from_: str,
    to: str,
    direction: Direction,
    sequence: int,
    timestamp: datetime,
    parent_call_sid: str | None = None,
    duration: int | None = None,
    recording_url: str | None = None,
    subscription: Subscription | None = None,
) -> list[tuple[str, str]]:
    """The parameters of one status callback, in a stable order.

    ``CallStatus`` is the leg's status after the event (``in-progress`` for
    ``answered``; ``busy``, ``no-answer``, ``failed`` or ``canceled`` for a
    ``completed`` that never answered); ``StatusCallbackEvent`` is the event.
    ``ParentCallSid`` is only sent for legs placed by ``<Dial>``.
    """
    params: list[tuple[str, str]] = [
        ("CallSid", call_sid),
        ("CallStatus", status.value),
        ("StatusCallbackEvent", event.value),
        ("Called", to),
        ("To", to),
        ("From", from_),
        ("Direction", direction),
        ("CallbackSource", CALLBACK_SOURCE),
        ("SequenceNumber", str(sequence)),
        ("Timestamp", email.utils.format_datetime(timestamp)),
    ]
    if parent_call_sid is not None:
        params.append(("ParentCallSid", parent_call_sid))
    if event is CallbackEvent.COMPLETED:
        params.append(("CallDuration", str(duration or 0)))
        if recording_url is not None:
            params.append(("RecordingURL", recording_url))
    if subscription is not None:
        if subscription.secret_key is not None:
            params.append(("apikey", subscription.secret_key))
        params.extend(subscription.optional)
    return params


# -- delivery -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """What the sender is asked to send."""

    event_id: str
    method: Method
    url: str
    params: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    at: float  # clock seconds
    ok: bool
    status: int | None = None  # the HTTP status, when there was a response
    error: str | None = None  # why it failed without one


@dataclass(eq=False)
class Delivery:
    """One status event and the story of its delivery."""

    event_id: str
    key: str  # events with the same key are delivered in order
    request: CallbackRequest
    attempts: list[Attempt] = field(default_factory=list)
    state: Literal["pending", "delivered", "failed"] = "pending"

    @property
    def done(self) -> bool:
        return self.state != "pending"


#: The sender: make the request, return the HTTP status (raise on no response).
Sender = Callable[[CallbackRequest], int]


def _outcome(fut: asyncio.Future[int]) -> tuple[int | None, BaseException | None]:
    """A finished send: (status, None) or (None, the error)."""
    if fut.cancelled():
        return None, asyncio.CancelledError()
    error = fut.exception()
    return (None, error) if error is not None else (fut.result(), None)


def _retryable(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


class Deliverer:
    """Delivers status callbacks at least once, in order per key, off the call's path.

    ``send`` is called on the clock's loop, or in a thread when ``threaded`` (for
    real HTTP on the real clock).  2xx is delivered; 408, 425, 429, 5xx and
    exceptions are retried per ``policy``; any other status fails at once (the
    receiver refused it), and so does :class:`~voiceapp.errors.OutboundBlocked`
    (the destination is not allowed: the attempt's error is ``fetch-blocked: ...``).
    ``on_change`` sees every delivery after each attempt
    (the store persists it there).
    """

    def __init__(
        self,
        clock: Clock,
        send: Sender,
        policy: RetryPolicy | None = None,
        *,
        threaded: bool = False,
        on_change: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.clock = clock
        self.send = send
        self.policy = policy or RetryPolicy()
        self.threaded = threaded
        self.on_change = on_change
        self._queues: dict[str, deque[Delivery]] = {}

    def submit(
        self,
        *,
        event_id: str,
        key: str,
        subscription: Subscription,
        params: Iterable[tuple[str, str]],
        attempts: Iterable[Attempt] = (),
    ) -> Delivery:
        """Queue one event; its ``event_id`` must be stable (``<CallSid>:<event>``).

        ``attempts`` resumes a delivery read back from the store after a restart:
        numbering (and the policy's limit) continues from them, and the next try
        is made at once.
        """
        if subscription.url is None:
            raise ValueError("a subscription without a URL receives nothing")
        request = CallbackRequest(
            event_id=event_id,
            method=subscription.method,
            url=subscription.url,
            params=tuple(params),
            headers={EVENT_ID_HEADER: event_id},
        )
        delivery = Delivery(event_id, key, request, list(attempts))
        queue = self._queues.setdefault(key, deque())
        queue.append(delivery)
        if len(queue) == 1:
            self.clock.call_soon(lambda: self._attempt(delivery))
        return delivery

    @property
    def idle(self) -> bool:
        return not self._queues

    def _attempt(self, delivery: Delivery) -> None:
        number = len(delivery.attempts) + 1
        if self.threaded:  # real HTTP: in the loop's executor, the result back on the loop
            fut = self.clock.run_in_thread(lambda: self.send(delivery.request))
            fut.add_done_callback(lambda f: self._attempted(delivery, number, *_outcome(f)))
            return
        try:
            status = self.send(delivery.request)
        except Exception as exc:
            self._attempted(delivery, number, None, exc)
        else:
            self._attempted(delivery, number, status, None)

    def _attempted(
        self, delivery: Delivery, number: int, status: int | None, error: BaseException | None
    ) -> None:
        now = self.clock.now()
        if isinstance(error, OutboundBlocked):
            # refused before anything was sent: trying again would be refused again
            attempt = Attempt(number, now, False, error=f"{error.code}: {error}")
            retry = False
        elif error is not None:
            attempt = Attempt(number, now, False, error=f"{type(error).__name__}: {error}")
            retry = True
        else:
            assert status is not None
            ok = 200 <= status < 300
            attempt = Attempt(number, now, ok, status=status)
            retry = not ok and _retryable(status)
        delivery.attempts.append(attempt)
        if attempt.ok:
            delivery.state = "delivered"
        elif not retry or number >= self.policy.attempts:
            delivery.state = "failed"
        if self.on_change is not None:
            self.on_change(delivery)
        if delivery.done:
            self._next(delivery.key)
        else:
            self.clock.call_later(self.policy.delay(number), lambda: self._attempt(delivery))

    def _next(self, key: str) -> None:
        queue = self._queues[key]
        queue.popleft()
        if queue:
            following = queue[0]
            self.clock.call_soon(lambda: self._attempt(following))
        else:
            del self._queues[key]
