"""The dialer worker: takes queued calls from the call store and runs them.

:class:`Dialer` joins the pieces of :mod:`voiceapp.dialer` to a
:class:`~voiceapp.stores.calls.CallStore`:

* it *takes* queued calls (one atomic step per call, with a lease, so several
  workers in several processes never dial a call twice), writes ``initiated``
  and places the a-leg on the network backend (the simulated network, built
  from the ``NETWORK`` setting, unless one is passed in);
* every status change of every leg, every ``<Dial>`` b-leg and every
  status-callback event is written to the store *before* anything about it is
  delivered; delivery attempts are written as they happen;
* documents are fetched and callbacks sent with the signed
  :class:`~voiceapp.dialer.fetch.HttpClient` (``X-Voiceapp-Signature``: fetches
  with the newest of ``Settings.signature_secrets``, callbacks as ``v2`` with the
  newest of ``Settings.callback_secrets_for(url)``; never ``SECRET_KEYS``; and
  ``X-Twilio-Signature`` with the call's account AuthToken, else
  ``TWILIO_AUTH_TOKEN``), in
  the event loop's executor threads, so neither a slow document server nor a slow
  callback receiver holds up other calls;
* every trace row of a call passes through its :class:`~voiceapp.redact.Redactor`
  (no token, ``apikey``, userinfo or secret app variable);
* every trace row of every call and the call's error (a failed fetch, a bad
  document, the loop guard) go to the store in the same grouped writes, capped at
  ``TRACE_MAX_ENTRIES`` rows a call, so ``GET /v1/calls/<sid>`` shows them whatever
  process dialed (the write buffer, :mod:`voiceapp.dialer.writes`);
* it carries out cancel requests the API stored for calls that are already dialing,
  and live changes (``store.change_requests``): a new document (``url`` or
  ``twiml``) interrupts the current verb and runs at once (on answer, when the call
  is not answered yet), ``status=completed`` hangs the call up, ``canceled``
  withdraws an unanswered one;
* it renews the leases of its calls, and :meth:`Dialer.recover` (at start, then
  every sweep; :mod:`voiceapp.dialer.recovery`) settles calls whose
  worker died (their lease ran out) and resumes status callbacks nobody is
  delivering any more.  docs/dialer.md, "Running the dialer", states the rules;
* it writes a heartbeat to the store every few seconds (``GET /v1/ready`` reads
  it); while the store is down it backs off (exponentially, up to
  ``STORE_BACKOFF_MAX`` seconds between tries) and logs once when the store goes
  down and once when it is back, not at every try;
* it records the metrics of :mod:`voiceapp.metrics`: document fetch latency,
  callback delivery results, and its lag (queued → taken).

All call work happens on one asyncio event loop (:mod:`voiceapp.dialer.clock`), in
:meth:`Dialer._work`'s rounds: the store is only written from there, in the order
things happen.  :meth:`Dialer.start` runs that loop on a background thread;
:meth:`Dialer.run_until_idle` runs it on the caller's (a virtual clock in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from voiceapp.calls.records import DEFAULT_RING_TIMEOUT, AttemptRecord, CallRecord, trace_json
from voiceapp.calls.states import TERMINAL, CallbackEvent, CallStatus, Event, Transition
from voiceapp.calls.subscriptions import Subscription
from voiceapp.calls.writes import (
    AddEvent,
    AddLeg,
    AppendTrace,
    RecordAttempt,
    Renew,
    SetStatus,
    Write,
)
from voiceapp.config import Settings
from voiceapp.destinations import DestinationPolicy
from voiceapp.dialer.callbacks import (
    EVENT_ID_HEADER,
    Attempt,
    CallbackRequest,
    Deliverer,
    Delivery,
    Sender,
)
from voiceapp.dialer.clock import Clock, RealClock, VirtualClock
from voiceapp.dialer.fetch import HttpClient
from voiceapp.dialer.interpreter import (
    Environment,
    Fetch,
    LegRun,
    OutboundCall,
    place_call,
)
from voiceapp.dialer.network import NetworkBackend, SimulatedNetwork
from voiceapp.dialer.pacing import QUEUE_EXPIRED, Limits, Pacer
from voiceapp.dialer.recording import Recorder, RecordingCallback
from voiceapp.dialer.recovery import Recovery, RecoveryReport, StoreOutage
from voiceapp.dialer.trace import Trace, TraceEntry
from voiceapp.dialer.webhooks import Party, callback_params
from voiceapp.dialer.writes import LiveCall, WriteBuffer
from voiceapp.errors import ConflictError, StoreError, VoiceappError
from voiceapp.logs import call_logger
from voiceapp.metrics import (
    CALLBACK_DELIVERIES,
    DIALER_LAG,
    DIALER_PACED,
    DIALER_QUEUE_EXPIRED,
    DOCUMENT_FETCH,
)
from voiceapp.netguard import Allowlist, Guard
from voiceapp.redact import Redactor, install_log_filter, redact_text, redact_url
from voiceapp.settings_tables.retry import RetryPolicy
from voiceapp.stores.calls.base import CallStore
from voiceapp.stores.media import FolderMedia

log = logging.getLogger("voiceapp.dialer")

#: ``listener(call_sid, entry)``: every trace row of every call this dialer runs.
Listener = Callable[[str, TraceEntry], None]

#: Finished calls whose traces stay readable through :meth:`Dialer.trace`.
RECENT_TRACES: Final = 1000
#: Calls taken from the queue in one round (then other work gets a turn).
TAKE_BATCH: Final = 200
#: Virtual seconds run between two rounds of queue work (virtual clock).
VIRTUAL_SLICE: Final = 1.0
#: Most seconds between two heartbeats (fewer when READY_DIALER_AGE is short).
HEARTBEAT_EVERY: Final = 5.0


def default_worker_id() -> str:
    """``<host>:<pid>:<random>``: unique per process start (a restart is a new worker)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _timed(fetch: Fetch) -> Fetch:
    """``fetch`` recording its latency in ``voiceapp_document_fetch_seconds``."""
    ok = DOCUMENT_FETCH.labels("ok")
    error = DOCUMENT_FETCH.labels("error")

    def timed(method: str, url: str, params: Any) -> bytes:
        start = time.perf_counter()
        try:
            body = fetch(method, url, params)
        except BaseException:
            error.observe(time.perf_counter() - start)
            raise
        ok.observe(time.perf_counter() - start)
        return body

    return timed


class _StoredDeliverer(Deliverer):
    """A :class:`Deliverer` that stores each event before queueing it, and each attempt."""

    def __init__(
        self, dialer: Dialer, send: Sender, policy: RetryPolicy, *, threaded: bool
    ) -> None:
        super().__init__(dialer.clock, send, policy, threaded=threaded, on_change=self._changed)
        self.dialer = dialer
        self.calls: dict[str, str] = {}  # event id -> call sid, while delivering

    def submit(
        self,
        *,
        event_id: str,
        key: str,
        subscription: Subscription,
        params: Iterable[tuple[str, str]],
        attempts: Iterable[Attempt] = (),
        call_sid: str | None = None,
        stored: bool = False,
    ) -> Delivery:
        params = tuple(params)
        values = dict(params)
        call = call_sid or values.get("ParentCallSid") or values.get("CallSid") or key
        if event_id in self.calls:  # already on its way from this worker
            return Delivery(event_id, key, _request_stub(event_id, subscription, params))
        if not stored and not self.dialer._store_event(call, event_id, key, subscription, params):
            return Delivery(
                event_id, key, _request_stub(event_id, subscription, params), state="failed"
            )
        self.calls[event_id] = call
        return super().submit(
            event_id=event_id,
            key=key,
            subscription=subscription,
            params=params,
            attempts=attempts,
        )

    def _changed(self, delivery: Delivery) -> None:
        call = self.calls.get(delivery.event_id)
        if call is None:
            return
        attempt = delivery.attempts[-1]
        if attempt.ok:
            CALLBACK_DELIVERIES.labels("delivered").inc()
        elif delivery.state == "failed":
            CALLBACK_DELIVERIES.labels("given-up").inc()
        else:
            CALLBACK_DELIVERIES.labels("failed").inc()
        record = AttemptRecord(
            attempt.number, self.dialer.store_now(), attempt.ok, attempt.status, attempt.error
        )
        self.dialer._queue_write(RecordAttempt(call, delivery.event_id, record, delivery.state))
        if delivery.done:
            self.calls.pop(delivery.event_id, None)
            if delivery.state == "failed":
                call_logger(log, call).warning(
                    "callback %s to %s given up after %d attempts",
                    delivery.event_id,
                    redact_url(delivery.request.url),
                    len(delivery.attempts),
                )

    def _attempt(self, delivery: Delivery) -> None:
        self.dialer._flush()  # everything about the call is in the store before it is told
        if delivery.event_id in self.dialer.writes.unwritten_events:
            # the store refused the event: it is not delivered (and its call was hung up)
            self.dialer.writes.unwritten_events.discard(delivery.event_id)
            self.calls.pop(delivery.event_id, None)
            delivery.state = "failed"
            self._next(delivery.key)
            return
        super()._attempt(delivery)


def _request_stub(
    event_id: str, sub: Subscription, params: tuple[tuple[str, str], ...]
) -> CallbackRequest:
    return CallbackRequest(event_id, sub.method, sub.url or "", params, {EVENT_ID_HEADER: event_id})


class Dialer:
    """Takes queued calls from ``call_store`` and runs them on a network.

    ``clock``: a :class:`VirtualClock` for tests and benchmarks, else the
    ``DIALER_CLOCK`` setting decides (``real`` by default).  ``network``: a
    backend on that clock; default a :class:`SimulatedNetwork` from ``NETWORK``.
    ``fetch`` / ``send`` replace the HTTP client's document fetch and callback
    sender (in-process sites in tests and benchmarks); they then run on the loop.
    """

    def __init__(
        self,
        settings: Settings,
        call_store: CallStore,
        *,
        clock: Clock | None = None,
        network: NetworkBackend | None = None,
        worker_id: str | None = None,
        fetch: Fetch | None = None,
        send: Sender | None = None,
    ) -> None:
        self.settings = settings
        self.store = call_store
        #: the store's clock (seconds since the epoch): attempt times, overdue events
        self.store_now: Callable[[], float] = getattr(call_store, "clock", time.time)
        if clock is None:
            virtual = settings.DIALER_CLOCK == "virtual"
            clock = VirtualClock(start=datetime.now(UTC)) if virtual else RealClock()
        self.clock: Clock = clock
        self.virtual = clock.virtual
        self.worker_id = worker_id or default_worker_id()
        self.lease = settings.DIALER_LEASE
        self.concurrency = settings.DIALER_CONCURRENCY
        self.poll = settings.DIALER_POLL
        #: calls per second and the queue TTL (voiceapp.dialer.pacing); off by default
        self.pacer = Pacer(Limits.of(settings))
        self.trace_limit = settings.TRACE_MAX_ENTRIES
        self.policy: RetryPolicy = settings.CALLBACK_RETRY
        install_log_filter()  # urllib3's request lines show no voice token
        secrets = settings.signature_secrets
        # every document and callback goes only to public addresses or allow-listed
        # host:port entries, checked when each connection is made (voiceapp.netguard)
        self.guard = Guard(Allowlist.parse(settings.outbound_allowlist))
        self.http = HttpClient(
            secret=secrets[-1] if secrets else None,
            callback_secret=self._callback_secret,
            guard=self.guard,
            pool_connections=32,
            pool_maxsize=64,
            twilio_token=settings.twilio_signing_token,
        )
        if network is None:
            network = self._network(settings, clock)
        self.network = network
        self.deliverer = _StoredDeliverer(
            self, send or self.http.send_callback, self.policy, threaded=send is None
        )
        self.env = Environment(
            clock,
            network,
            _timed(fetch or self.http.fetch),
            deliverer=self.deliverer,
            default_region=settings.DEFAULT_REGION or None,
            destinations=self._destinations(settings, network),
            fetch_in_thread=fetch is None,
            on_transition=self._on_transition,
        )
        if settings.PUBLIC_URL:
            self.env.recording_base_url = settings.PUBLIC_URL + "/recordings"
        # recordings: WAV files in the instance folder, their records through the buffer
        self.env.recorder = Recorder(
            FolderMedia.under(settings.INSTANCE),
            self._queue_write,
            base_url=settings.PUBLIC_URL or "http://localhost",
        )
        #: the calls this worker runs now, by sid (the recovery renews their leases)
        self.live_calls: dict[str, LiveCall] = {}
        self.writes = WriteBuffer(
            call_store,
            clock,
            trace_limit=self.trace_limit,
            live=self.live_calls,
            lose=self.lose,
            final=lambda: self._stopping,
        )
        self._recent: OrderedDict[str, Trace] = OrderedDict()
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._wake = threading.Event()  # a wake-up, seen from outside the loop
        self._woken = asyncio.Event()  # the same, on the loop
        self._stop_deadline = 0.0
        self._queue_empty = False
        # while calls wait in the pacer's hold, rounds come as often as their slots: the
        # store's cancel and change requests, and its queue once found empty, are read at
        # most once a ``poll`` (a VIRTUAL_SLICE on virtual time) then, or on a wake()
        self._look_every = VIRTUAL_SLICE if self.virtual else self.poll
        self._next_look = -math.inf  # clock time the next such read is due
        self._look_skipped = False  # the last round left it for later
        self._look_now = False  # a wake() asked for one
        self._queue_seen_empty = False  # the last take while pacing got fewer than asked
        self._last_sweep = time.monotonic()
        ready_age = settings.READY_DIALER_AGE
        self.recovery = Recovery(self, heartbeat_every=min(HEARTBEAT_EVERY, ready_age / 3))
        self.outage = StoreOutage(
            self.worker_id,
            first=max(self.poll, 0.1),
            cap=settings.STORE_BACKOFF_MAX,
        )
        self.started = 0  # calls this worker dialed
        self.finished = 0  # calls this worker saw to their end
        self.answered_now = 0  # a-legs in progress right now
        self.peak_in_flight = 0
        self.peak_answered = 0

    def _callback_secret(self, url: str) -> str | None:
        """The newest secret signing callbacks to ``url`` (``CALLBACK_RECEIVERS`` first)."""
        secrets = self.settings.callback_secrets_for(url)
        return secrets[-1] if secrets else None

    # -- observing -------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(call_sid, entry)`` for every trace row (on the dialer's thread).

        Returns a function that unsubscribes.  A listener must be quick and must
        not raise (errors are logged and ignored).
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def trace(self, sid: str) -> Trace | None:
        """The trace of a call running here, or of one of the last finished ones."""
        live = self.live_calls.get(sid)
        if live is not None:
            return live.handle.trace
        return self._recent.get(sid)

    @property
    def in_flight(self) -> int:
        """Calls this worker is running now."""
        return len(self.live_calls)

    def wake(self) -> None:
        """Look at the queue (and cancel requests) now instead of at the next poll."""
        self._look_now = True
        self._wake.set()
        if self._thread is not None:
            self.clock.call_soon_threadsafe(self._woken.set)

    def queues(self) -> list[dict[str, Any]]:
        """This dialer's call queues (``<Enqueue>``) as the API shows them: name, sid,
        size, average wait and members (read from any thread)."""
        assert self.env.queues is not None
        return self.env.queues.snapshot()

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Recover, then take and run queued calls on a background thread until :meth:`stop`."""
        if self._thread is not None:
            raise RuntimeError("this dialer is already running")
        self._stopping = False
        self.recovery.beat(time.monotonic())
        self.recover()
        self._thread = threading.Thread(
            target=self._serve, name=f"voiceapp-dialer-{self.worker_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking calls, hang up the calls still running, flush callbacks, stop.

        Waits at most ``timeout`` seconds; callbacks not delivered by then stay
        ``pending`` in the store and are resumed by the next :meth:`recover`.
        """
        thread = self._thread
        if thread is None:
            return
        self._stop_deadline = time.monotonic() + max(0.0, timeout)
        self._stopping = True
        self._wake.set()
        self.clock.call_soon_threadsafe(self._woken.set)
        thread.join(timeout + 1.0)
        if thread.is_alive():
            log.warning("dialer %s did not stop within %.1f s", self.worker_id, timeout)
        self._thread = None
        self.http.close()

    def run_until_idle(self, max_calls: int | None = None) -> int:
        """Take queued calls and run them to their end; the number finished.

        For a virtual clock (on the caller's thread, not with :meth:`start`): the
        queue is worked in rounds of :data:`VIRTUAL_SLICE` virtual seconds until it
        is empty (or ``max_calls`` were taken), no call runs and every callback
        is settled.  On a real clock it waits in real time, so keep it to tests.
        """
        before = self.finished
        self.clock.run_until(self._work(max_calls, until_idle=True))
        self.clock.run_until_idle()
        self._flush()
        return self.finished - before

    def _serve(self) -> None:
        """The background thread: the loop runs :meth:`_work` until :meth:`stop`."""
        try:
            self.clock.run_until(self._work(None, until_idle=False))
        finally:
            self.network.close()
            self.clock.sleep(0.01)  # the backend's sockets close on the loop

    async def _work(self, budget: int | None, *, until_idle: bool) -> None:
        """Rounds of queue work (:meth:`_housekeeping`) until stopped, or, ``until_idle``,
        until the queue is worked off and nothing runs; then the one stop logic."""
        while not self._stopping:
            try:
                taken = self._housekeeping(budget)
            except Exception:
                log.exception("dialer %s: error on the loop (going on)", self.worker_id)
                taken = 0
            if budget is not None:
                budget -= taken
            busy = bool(self.live_calls) or not self.deliverer.idle or bool(self.pacer.held)
            if until_idle and not busy and (self._queue_empty or budget == 0):
                return
            await self._pause(outside=not until_idle and not busy and self._queue_empty)
        await self._wind_down()

    async def _pause(self, *, outside: bool) -> None:
        """Wait for the next round: :data:`VIRTUAL_SLICE` on virtual time, else ``poll``
        seconds or a :meth:`wake`.  ``outside``: nothing runs here, so on virtual time
        wait ``poll`` real seconds for work from outside (virtual time stands still)."""
        slice_, poll = VIRTUAL_SLICE, self.poll
        now = self.clock.now()
        due = self.pacer.next_due(now)  # a held call's slot or TTL, sooner
        if self._look_skipped:  # or when the store's requests are to be read again
            look_in = self._next_look - now
            due = look_in if due is None else min(due, look_in)
        if due is not None and due > 0:
            slice_, poll = min(slice_, due), min(poll, due)
        if self.virtual and not outside:
            await asyncio.sleep(slice_)
        elif self.virtual:
            await self.clock.run_in_thread(lambda: self._wake.wait(poll))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), poll)
        self._wake.clear()
        self._woken.clear()

    async def _wind_down(self) -> None:
        """Hang up what runs; go on until callbacks are out or the stop deadline passed."""
        while True:
            for live in list(self.live_calls.values()):
                if not live.cancel_sent:
                    live.cancel_sent = True
                    live.handle.hang_up()
            done = not self.live_calls and self.deliverer.idle and self.network.idle
            if done or time.monotonic() >= self._stop_deadline:
                break
            await asyncio.sleep(VIRTUAL_SLICE if self.virtual else 0.05)
        self._flush()

    # -- one round of queue work -----------------------------------------------------------

    def store_failed(self, what: str, exc: Exception) -> None:
        """A store call failed: a store outage (back off, logged once), or a bug (logged)."""
        if isinstance(exc, StoreError):
            self.outage.failed(time.monotonic(), exc)
        else:
            log.warning("dialer %s: %s failed: %s", self.worker_id, what, exc)

    def _housekeeping(self, budget: int | None) -> int:
        """Heartbeat, cancel requests, lease renewals, recovery sweeps, then take calls;
        how many taken.  While the store is down, nothing but the heartbeat's probe at
        back-off times."""
        now = time.monotonic()
        if self.outage.waiting(now) or not self.recovery.beat(now):
            self._queue_empty = True  # nothing can be taken now
            return 0
        look = self._look()
        if self.live_calls or self.pacer.held:
            try:
                if look:
                    self._carry_out_cancels()
                    self._carry_out_changes()
            except StoreError as exc:
                self.store_failed("reading cancel and change requests", exc)
                self._queue_empty = True
                return 0
            self.recovery.renew_leases(now)
            self._renew_held(now)
        if now - self._last_sweep >= max(1.0, self.lease / 2):
            self._last_sweep = now
            self.recover()
        taken = 0
        self._queue_empty = False
        room = min(TAKE_BATCH, self.concurrency - len(self.live_calls))
        if budget is not None:
            room = min(room, budget)
        if self.pacer.active and not self._stopping and (budget is None or budget > 0):
            return self._paced_round(now, room, budget, look=look)
        if self._stopping or room <= 0:
            return 0
        ready: list[tuple[CallRecord, OutboundCall]] = []
        try:
            # takes and their ``initiated`` in one batch; nothing is dialed before it is durable
            with self.store.batch():
                records = self.store.take_many(self.worker_id, self.lease, room)
                taken = len(records)
                if taken < room:
                    self._queue_empty = True
                results = self._initiate(records, ready)
        except Exception as exc:
            # nothing of the batch is durable: those calls stay queued, their leases expire
            self.store_failed("taking calls", exc)
            return taken
        self._dial(records, ready, results)
        return taken

    def _initiate(
        self, records: list[CallRecord], ready: list[tuple[CallRecord, OutboundCall]]
    ) -> list[object]:
        """``initiated`` (expecting ``queued``) for each taken call that can be placed
        (appended to ``ready``), in one ``apply``; its results."""
        for record in records:
            call = self._outbound(record)
            if call is not None:
                ready.append((record, call))
        at = self.wall_time()
        return self.store.apply(
            [SetStatus(r.sid, "initiated", expect=("queued",), at=at) for r, _ in ready]
        )

    def _dial(
        self,
        records: list[CallRecord],
        ready: list[tuple[CallRecord, OutboundCall]],
        results: list[object],
    ) -> None:
        """Place the calls whose ``initiated`` is durable."""
        store_now = self.store_now()
        for record in records:
            DIALER_LAG.observe(max(0.0, store_now - record.created_at))
        for (record, call), result in zip(ready, results, strict=True):
            if isinstance(result, ConflictError):
                continue  # canceled between take and dial: nothing to do
            if isinstance(result, Exception):
                call_logger(log, record.sid).warning(
                    "call %s: cannot record initiated (%s); its lease will expire",
                    record.sid,
                    result,
                )
                continue
            self._place(record, call)

    # -- pacing (voiceapp.dialer.pacing) -----------------------------------------------------

    def _paced_round(self, monotonic: float, room: int, budget: int | None, *, look: bool) -> int:
        """Take calls into the pacer's hold (when the last take got all it asked for, or
        ``look``), expire those past the TTL, start those whose slot came (at most
        ``room``); how many started."""
        pacer = self.pacer
        now = self.clock.now()
        space = min(TAKE_BATCH, pacer.room())
        if budget is not None:
            space = min(space, budget - len(pacer.held))
        store_empty = False
        if space > 0 and self._queue_seen_empty and not look:
            store_empty = True  # as it was a moment ago
        elif space > 0:
            try:
                records = self.store.take_many(self.worker_id, self.lease, space)
            except Exception as exc:
                self.store_failed("taking calls", exc)
                return 0
            store_empty = self._queue_seen_empty = len(records) < space
            pacer.hold(records, now, monotonic)
        for record in pacer.expired(now, self.store_now()):
            self._expire(record)
        released, paced = pacer.release(now, max(0, room))
        if paced:
            DIALER_PACED.inc(paced)
        self._queue_empty = store_empty and not pacer.held
        if not released:
            return 0
        ready: list[tuple[CallRecord, OutboundCall]] = []
        try:
            with self.store.batch():
                results = self._initiate(released, ready)
        except Exception as exc:
            self.store_failed("starting calls", exc)
            pacer.hold(released, now, monotonic)  # still queued and ours: the next round
            return 0
        self._dial(released, ready, results)
        return len(released)

    def _look(self) -> bool:
        """Whether this round reads the store's cancel and change requests (and, while
        pacing, a queue found empty): always, but while calls wait in the pacer's hold
        once a ``poll`` (a :data:`VIRTUAL_SLICE` on virtual time) or on a :meth:`wake`,
        as often as without pacing; the rounds in between start calls as slots come."""
        now = self.clock.now()
        later = bool(self.pacer.held) and not self._look_now and now < self._next_look
        self._look_skipped = later  # the next pause ends when it is due
        if later:
            return False
        self._look_now = False
        self._next_look = now + self._look_every
        return True

    def _renew_held(self, monotonic: float) -> None:
        """Renew the leases of the calls waiting in the pacer's hold, as of running ones."""
        due = self.pacer.due_renewals(monotonic, self.lease / 3)
        if not due:
            return
        at = self.wall_time()
        try:
            results = self.store.apply(
                [Renew(h.record.sid, self.worker_id, self.lease, at) for h in due]
            )
        except Exception as exc:
            self.store_failed("lease renewal", exc)
            for held in due:
                self.pacer.renewed(held, None)  # due again next round
            return
        lost = []
        for held, kept in zip(due, results, strict=True):
            if kept is False:  # canceled through the API, or taken over: not ours to start
                lost.append(held.record.sid)
            else:
                self.pacer.renewed(held, None if isinstance(kept, Exception) else monotonic)
        self.pacer.drop(lost)

    def _expire(self, record: CallRecord) -> None:
        """Settle a call that waited past ``DIALER_QUEUE_TTL``: ``canceled`` with the error
        ``queue-expired`` (and a trace row), then its ``completed`` callback."""
        ttl = self.pacer.limits.ttl
        error = {
            "code": QUEUE_EXPIRED,
            "message": f"the call waited queued longer than DIALER_QUEUE_TTL ({ttl:g} s) "
            "and was canceled before it was dialed",
            "ttl": ttl,
        }
        row = {"ms": 0, "leg": "a", "kind": QUEUE_EXPIRED, "detail": {"ttl": ttl}}
        writes: list[Write] = [
            SetStatus(record.sid, "canceled", expect=("queued",), at=self.wall_time(), duration=0),
            AppendTrace(record.sid, (trace_json(row),), self.trace_limit, trace_json(error)),
        ]
        try:
            result = self.store.apply(writes)[0]
        except Exception as exc:
            self.store_failed("expiring a queued call", exc)
            return
        if isinstance(result, Exception):
            return  # canceled or taken over meanwhile: not ours to settle
        DIALER_QUEUE_EXPIRED.inc()
        call_logger(log, record.sid).info(
            "call %s: queued longer than DIALER_QUEUE_TTL (%g s); canceled", record.sid, ttl
        )
        spec = record.spec
        try:
            subscription = Subscription.of(spec)
        except VoiceappError:
            return
        if not subscription.wants(CallbackEvent.COMPLETED):
            return
        party = Party(
            call_sid=record.sid,
            from_=spec.from_,
            to=spec.to,
            direction="inbound" if spec.direction == "inbound" else "outbound-api",
            status=CallStatus.CANCELED,
            account_sid=spec.account_sid,
        )
        params = callback_params(
            party,
            event=CallbackEvent.COMPLETED,
            sequence=0,
            timestamp=self.clock.wall(),
            duration=0,
            subscription=subscription,
        )
        self.deliverer.submit(
            event_id=f"{record.sid}:completed",
            key=record.sid,
            subscription=subscription,
            params=params,
            call_sid=record.sid,
        )

    def _carry_out_cancels(self) -> None:
        for sid in self.store.cancel_requests(self.worker_id):
            live = self.live_calls.get(sid)
            if live is not None and not live.cancel_sent and not live.lost:
                live.cancel_sent = True
                if not live.handle.cancel():
                    live.handle.trace.add("a", "cancel-refused", status=live.handle.status.value)

    def _carry_out_changes(self) -> None:
        for sid, change in self.store.change_requests(self.worker_id):
            live = self.live_calls.get(sid)
            if live is None:
                self.pacer.change(sid, change)  # waiting for its slot: its spec changes
                continue
            if live.lost:
                continue
            handle = live.handle
            if change.status == "completed":
                handle.hang_up("hung up through the API")
            elif change.status == "canceled":
                if not handle.cancel():
                    handle.trace.add("a", "cancel-refused", status=handle.status.value)
            else:
                handle.change(url=change.url, method=change.method, twiml=change.twiml)

    # -- writes ----------------------------------------------------------------------------

    def _queue_write(self, write: Write, event_id: str | None = None) -> None:
        self.writes.queue(write, event_id)

    def _flush(self) -> None:
        """Write what is queued now (:meth:`WriteBuffer.flush`)."""
        self.writes.flush()

    def recover(self) -> RecoveryReport:
        """Settle the calls of dead workers and resume the callbacks nobody delivers
        (:meth:`Recovery.recover`)."""
        return self.recovery.recover()

    def _network(self, settings: Settings, clock: Clock) -> NetworkBackend:
        """The backend ``[network] backend`` names: the simulated network, SIP or a carrier."""
        if settings.NETWORK.backend == "carrier" and settings.CARRIER is not None:
            from voiceapp.dialer.carrier_backend import CarrierNetwork

            return CarrierNetwork(
                clock, settings.CARRIER, public_url=settings.PUBLIC_URL, guard=self.guard
            )
        if settings.NETWORK.backend == "sip":
            from voiceapp.dialer.sip_backend import SipNetwork  # binds sockets: only if chosen

            http = self.http
            return SipNetwork(
                clock,
                settings.SIP,
                guard=self.guard,
                fetch_audio=lambda url: http.fetch("GET", url, ()),
                media_folder=Path(settings.INSTANCE or "instance") / "media",
            )
        return SimulatedNetwork(clock, settings.NETWORK)

    @staticmethod
    def _destinations(settings: Settings, network: NetworkBackend) -> DestinationPolicy:
        """The settings' destination policy; the callees of the simulated network this
        dialer runs on (given, or ``NETWORK``'s) are the deployment's own test numbers."""
        policy = settings.destination_policy()
        if isinstance(network, SimulatedNetwork):
            policy = policy.allowing(network.config.numbers)
        return policy

    # -- calls -----------------------------------------------------------------------------

    def wall_time(self) -> float:
        """Now on the clock of the status changes (seconds since the epoch)."""
        return self.clock.wall().timestamp()

    def start_call(self, record: CallRecord) -> None:
        """Write ``initiated`` and dial (a call taken outside a batch: recovery); while
        pacing is on, the call joins the pacer's hold and starts when its slot comes."""
        if self.pacer.active:
            self.pacer.hold([record], self.clock.now(), time.monotonic())
            return
        call = self._outbound(record)
        if call is None:
            return
        try:
            self.store.set_status(record.sid, "initiated", expect="queued", at=self.wall_time())
        except ConflictError:
            return  # canceled between take and dial: nothing to do
        except Exception as exc:
            call_logger(log, record.sid).warning(
                "call %s: cannot record initiated (%s); its lease will expire", record.sid, exc
            )
            return
        self._place(record, call)

    def _outbound(self, record: CallRecord) -> OutboundCall | None:
        """The call to place (``initiated`` not yet written); None if its spec is unusable
        or the destination policy refuses its ``to`` (the call is then failed)."""
        spec = record.spec
        try:
            subscription = Subscription.of(spec)
            timeout = float(spec.timeout)
            if spec.timeout == DEFAULT_RING_TIMEOUT and "timeout" in spec.extra:
                timeout = float(spec.extra["timeout"])  # where a ring timeout was once kept
            if self.env.destinations is not None:  # queued before the policy changed, say
                self.env.destinations.check(spec.to, field="to")
        except (VoiceappError, TypeError, ValueError) as exc:
            call_logger(log, spec.sid).error(
                "call %s: stored spec is unusable (%s); failing it", spec.sid, redact_text(str(exc))
            )
            with contextlib.suppress(VoiceappError):
                self.store.set_status(spec.sid, "failed", expect="queued", at=self.wall_time())
            return None
        redactor = Redactor.for_call(spec.extra, self.settings.SECRET_KEYS)
        if redactor.fallback:
            log.warning(
                "call %s: its secret variables were fingerprinted with other SECRET_KEYS; "
                "every run of 4+ digits is masked in its trace",
                spec.sid,
            )
        return OutboundCall(
            from_=spec.from_,
            to=spec.to,
            url=spec.url,
            method="GET" if spec.method.upper() == "GET" else "POST",
            send_digits=spec.send_digits,
            subscription=subscription,
            timeout=timeout,
            sid=spec.sid,
            redact=redactor,
            twiml=spec.twiml,
            account_sid=spec.account_sid,
            fallback_url=spec.fallback_url,
            fallback_method="GET" if spec.fallback_method.upper() == "GET" else "POST",
            time_limit=float(spec.time_limit),
            direction="inbound" if spec.direction == "inbound" else "outbound-api",
            record=spec.record,
            recording_channels=2 if spec.recording_channels == "dual" else 1,
            recording_track=spec.recording_track,
            recording_trim=spec.recording_trim == "trim-silence",
            recording_callback=None
            if spec.recording_callback is None
            else RecordingCallback(
                spec.recording_callback,
                "GET" if spec.recording_callback_method.upper() == "GET" else "POST",
                frozenset(spec.recording_callback_events),
            ),
            machine_detection=spec.machine_detection,
            async_amd=spec.async_amd,
            amd_tuning=spec.amd_tuning,
            amd_callback=None
            if spec.async_amd_status_callback is None
            else Subscription(
                url=spec.async_amd_status_callback,
                method="GET" if spec.async_amd_status_callback_method.upper() == "GET" else "POST",
            ),
        )

    def _place(self, record: CallRecord, call: OutboundCall) -> None:
        spec = record.spec
        handle = place_call(self.env, call)
        live = LiveCall(record, handle)
        self.live_calls[spec.sid] = live
        self.recovery.track(live)
        self.started += 1
        self.peak_in_flight = max(self.peak_in_flight, len(self.live_calls))
        handle.trace.listeners.append(lambda entry: self._traced_row(live, entry))
        handle.task.add_done_callback(lambda _task: self._finished(live))

    def _traced_row(self, live: LiveCall, entry: TraceEntry) -> None:
        """A trace row of a running call: kept for the store (redacted), then to listeners."""
        self.writes.add_row(live, entry)
        self._emit(live.sid, entry)

    def _emit(self, sid: str, entry: TraceEntry) -> None:
        for listener in list(self._listeners):
            try:
                listener(sid, entry)
            except Exception:
                log.exception("trace listener failed")

    def _finished(self, live: LiveCall) -> None:
        self.live_calls.pop(live.sid, None)
        self.writes.call_ended(live)
        self.finished += 1
        self._recent[live.sid] = live.handle.trace
        while len(self._recent) > RECENT_TRACES:
            self._recent.popitem(last=False)
        task = live.handle.task
        error = None if task.cancelled() else task.exception()
        if error is not None:
            call_logger(log, live.sid).error(
                "call %s ended with an internal error: %r", live.sid, error
            )
        call_logger(log, live.sid).info(
            "call %s ended %s (%d trace rows%s)",
            live.sid,
            live.handle.status.value,
            live.rows_sent + len(live.rows),
            "" if live.error is None else f", error {live.error['code']}",
        )

    def lose(self, live: LiveCall, reason: str) -> None:
        """Stop writing for a call (its store record is no longer ours) and hang it up."""
        if live.lost:
            return
        live.lost = True
        call_logger(log, live.sid).warning("call %s: %s; hanging up", live.sid, reason)
        live.handle.trace.add("a", "store-error", error=reason)
        self.clock.call_soon(live.handle.hang_up)

    def _on_transition(self, run: LegRun, row: Transition) -> None:
        """The interpreter's hook: write a leg's move before anything is said about it."""
        call_sid = run.leg.parent_sid or run.sid
        a_leg = run.leg.parent_sid is None
        if a_leg:
            if row.target is CallStatus.IN_PROGRESS:
                self.answered_now += 1
                self.peak_answered = max(self.peak_answered, self.answered_now)
            elif row.source is CallStatus.IN_PROGRESS:
                self.answered_now -= 1
        live = self.live_calls.get(call_sid)
        if live is None or live.lost or (a_leg and row.event is Event.DIAL):
            return  # not ours to write, or (initiated) written before the call was placed
        at = self.wall_time()
        if not a_leg and row.source is CallStatus.QUEUED:  # dialed, or refused by the policy
            leg = run.leg
            self._queue_write(
                AddLeg(call_sid, leg.sid, leg.from_, leg.to, run.direction, leg.parent_sid, at)
            )
        duration = run.duration if row.target in TERMINAL else None
        self._queue_write(
            SetStatus(
                call_sid,
                row.target.value,
                leg_sid=None if a_leg else run.sid,
                expect=row.source.value,
                at=at,
                duration=duration,
            )
        )

    def _store_event(
        self,
        call_sid: str,
        event_id: str,
        leg_sid: str,
        subscription: Subscription,
        params: tuple[tuple[str, str], ...],
    ) -> bool:
        live = self.live_calls.get(call_sid)
        if live is not None and live.lost:
            return False
        values = dict(params)
        self._queue_write(
            AddEvent(
                call_sid,
                event_id,
                leg_sid=leg_sid,
                sequence=int(values.get("SequenceNumber", "0")),
                # the seed's set names it; Twilio's does not (the id ends with it)
                name=values.get("StatusCallbackEvent") or event_id.rpartition(":")[2],
                url=subscription.url or "",
                method=subscription.method,
                params=params,
                at=self.store_now(),
            ),
            event_id,
        )
        return True
