"""The interpreter: runs one outbound call, and the documents it fetches, on a network.

:func:`place_call` takes an :class:`OutboundCall` (the API's ``from``, ``to``,
``url``, ``senddigits`` and callback subscription) and an :class:`Environment`
(clock, network backend, an injected ``fetch``, an optional callback
:class:`~voiceapp.dialer.callbacks.Deliverer`) and starts a process on the clock:

1. the a-leg is dialed and driven through the state table
   (:mod:`voiceapp.calls.states`); every move is traced and emits the
   subscribed status callbacks;
2. on answer, ``senddigits`` is played as a DTMF timeline, then ``url`` is
   fetched (with the call's parameter set, :mod:`voiceapp.dialer.webhooks`) and the
   validated document runs (an inline ``twiml`` runs without a fetch); without
   either the call is bridged to ``from``;
3. verbs run in order: Say, Play (audio or ``digits``), Pause, Gather, Dial
   (b-legs with ``callerId``, ``timeout``, ``<Number sendDigits url>``, status
   callbacks with ``ParentCallSid``, ``action`` with ``DialCallStatus``),
   Redirect, Record, Hangup, Reject.  Verbs and attributes the simulator cannot
   carry out are traced as ``unsupported``; nothing is dropped silently;
4. a fetch error or an invalid document is traced; the call's ``fallback_url``
   is fetched once instead (with ``ErrorCode`` and ``ErrorUrl``, as Twilio does);
   when there is none, or it fails too, the error is announced to the callee and
   the call is hung up;
5. while it runs, :meth:`CallHandle.change` replaces the document (the current
   verb is interrupted at once), :meth:`CallHandle.hang_up` and
   :meth:`CallHandle.cancel` end it; ``time_limit`` seconds after the answer the
   call is hung up, ``timeout`` seconds of ringing end it ``no-answer``.

Everything that happens is a row in the call's :class:`~voiceapp.dialer.trace.Trace`.
``fetch(method, url, params) -> bytes`` is the only door to HTTP; it is injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urljoin

from voiceapp.calls.records import MachineDetectionTuning, RecordingRecord
from voiceapp.calls.states import TERMINAL, CallState, CallStatus, Event, Transition
from voiceapp.calls.subscriptions import Subscription, parse_events
from voiceapp.destinations import DestinationPolicy
from voiceapp.dialer import amd, speech
from voiceapp.dialer.callbacks import Deliverer
from voiceapp.dialer.clock import Clock, first, settle
from voiceapp.dialer.conference import EVENT_NAMES, Participant, Room, Rooms
from voiceapp.dialer.network import Carried, Leg, NetworkBackend
from voiceapp.dialer.queues import (
    BRIDGED,
    ERROR,
    HANGUP,
    LEAVE,
    QUEUE_FULL,
    CallQueue,
    Dequeue,
    Queues,
)
from voiceapp.dialer.recording import (
    RECORDING_ATTRIBUTES,
    TRACK_PARTS,
    Part,
    Recorder,
    RecordingCallback,
    Sound,
    heard_sounds,
)
from voiceapp.dialer.speech import within as speech_within
from voiceapp.dialer.trace import Trace
from voiceapp.dialer.webhooks import (
    ConferenceEvent,
    Direction,
    Params,
    Party,
    async_amd_params,
    callback_params,
    conference_params,
    dial_queue_params,
    document_params,
    error_code,
    gather_params,
    partial_result_params,
    queue_action_params,
    queue_wait_params,
    queue_whisper_params,
    record_action_params,
    recording_params,
)
from voiceapp.document import Node, Response, parse, serialize
from voiceapp.document.model import break_ms, heard_text
from voiceapp.dtmf import parse_digits
from voiceapp.errors import DestinationError, DocumentError, FetchError, PhoneError, VoiceappError
from voiceapp.media.track import LineTap
from voiceapp.phone import normalize
from voiceapp.redact import redact_document, redact_url
from voiceapp.schema import NATIONAL_NUMBER_REGION, HttpMethod

#: ``fetch(method, url, params) -> body``: the injected HTTP client (raise on failure).
Fetch = Callable[[str, str, Sequence[tuple[str, str]]], bytes]

APP_ERROR_TEXT: Final = "We are sorry, an application error has occurred. Goodbye."
SECONDS_PER_WORD: Final = 0.4  # about 150 words a minute

#: The attributes each element's simulation honours; any other attribute present
#: on a document element is traced as ``unsupported`` (and otherwise ignored).
HONOURED: Final[dict[str, frozenset[str]]] = {
    "Say": frozenset({"voice", "loop", "language"}),
    "Play": frozenset({"loop", "digits"}),
    "Pause": frozenset({"length"}),
    "Gather": frozenset(
        {"input", "action", "method", "timeout", "finishOnKey", "numDigits", "bargeIn"}
        | {"actionOnEmptyResult", "hints", "speechTimeout", "language"}
        | {"partialResultCallback", "partialResultCallbackMethod"}
        | {"maxSpeechTime", "speechModel", "enhanced"}
    ),
    "Dial": frozenset({"action", "method", "timeout", "hangupOnStar", "timeLimit", "callerId"})
    | RECORDING_ATTRIBUTES
    | {"record", "trim", "recordingTrack"},
    "Number": frozenset(
        {"sendDigits", "url", "method", "statusCallbackEvent", "statusCallback"}
        | {"statusCallbackMethod"}
    ),
    "Record": frozenset({"action", "method", "timeout", "maxLength", "playBeep", "finishOnKey"})
    | RECORDING_ATTRIBUTES
    | {"trim", "transcribe"},
    "Redirect": frozenset({"method"}),
    "Hangup": frozenset(),
    "Reject": frozenset({"reason"}),
    "Enqueue": frozenset({"action", "method", "waitUrl", "waitUrlMethod", "maxQueueSize"}),
    "Leave": frozenset(),
    "Conference": frozenset(
        {"muted", "beep", "startConferenceOnEnter", "endConferenceOnExit", "waitUrl"}
        | {"waitMethod", "maxParticipants", "statusCallback", "statusCallbackEvent"}
        | {"statusCallbackMethod"}
    ),
    "Queue": frozenset({"url", "method"}),
}
#: What a caller waiting in a queue or a conference hears without a ``waitUrl``
#: (Twilio's classical playlist; the simulator plays it, never downloads it).
HOLD_MUSIC: Final = "https://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"
#: How long a beep lasts: before a ``<Record playBeep>`` (Twilio's short beep) and
#: when a conference participant with ``beep`` joins or leaves.
RECORD_BEEP_SECONDS: Final = 0.5
CONFERENCE_BEEP_SECONDS: Final = 0.4
#: The shortest round of a wait document: one that takes no time is not refetched at once.
WAIT_ROUND_MIN: Final = 1.0


#: The code of the error that ends a call fetching more than ``max_documents`` documents.
LOOP_GUARD: Final = "loop-guard"
#: Characters of a fetched document kept in its ``document``/``document-error`` trace row
#: (``body``; ``size`` says how long it was when it is cut), so the console can show it.
BODY_KEPT: Final = 2000


def _body_detail(body: bytes | str) -> dict[str, Any]:
    """A fetched document as its trace rows keep it: ``body`` (the first
    :data:`BODY_KEPT` characters, secret attributes masked) and ``size`` when longer."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = redact_document(text)
    if len(text) <= BODY_KEPT:
        return {"body": text}
    return {"body": text[:BODY_KEPT], "size": len(text)}


# -- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboundCall:
    """One call to place, as the call API validated it."""

    from_: str
    to: str
    url: str | None = None
    method: HttpMethod = "POST"
    send_digits: str | None = None
    subscription: Subscription = field(default_factory=Subscription)
    timeout: float = 60.0  # seconds to ring before no-answer
    sid: str | None = None
    twiml: str | None = None  # an inline document, run instead of fetching url
    #: set for calls of the Twilio-compatible API: their requests carry Twilio's parameters
    account_sid: str | None = None
    fallback_url: str | None = None  # fetched once when a document fetch fails
    fallback_method: HttpMethod = "POST"
    time_limit: float = 14400.0  # seconds from the answer before the call is hung up
    direction: Direction = "outbound-api"
    record: bool = False  # record the whole call from the answer (RecordingSource OutboundAPI)
    #: that recording's channels (2: Twilio's ``dual``), track and silence trimming
    recording_channels: int = 1
    recording_track: str = "both"  # inbound, outbound or both (Twilio's RecordingTrack)
    recording_trim: bool = True  # Twilio's Trim default: trim-silence
    #: the call's ``recordingStatusCallback`` (+ method, events) for that recording
    recording_callback: RecordingCallback | None = None
    #: ``Enable`` or ``DetectMessageEnd``: the a-leg's requests carry ``AnsweredBy``
    #: (what the network says answered; ``unknown`` when it cannot tell)
    machine_detection: str | None = None
    #: detect without holding the document: the result is posted to ``amd_callback``
    async_amd: bool = False
    amd_callback: Subscription | None = None
    #: how detection decides (Twilio's MachineDetectionTimeout and thresholds)
    amd_tuning: MachineDetectionTuning = field(default_factory=MachineDetectionTuning)
    #: applied to every trace row (default: voiceapp.redact.DEFAULT)
    redact: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def _new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass
class Environment:
    """What a call runs against; shared by every call of a dialer."""

    clock: Clock
    network: NetworkBackend
    fetch: Fetch
    deliverer: Deliverer | None = None
    new_sid: Callable[[str], str] = _new_sid
    recording_base_url: str = "http://recordings.voiceapp.invalid"
    play_seconds: float = 5.0  # assumed length of an audio file (not downloaded)
    max_documents: int = 50  # fetches per call before it is ended (redirect loops)
    default_region: str | None = None  # for <Number> text in national format (else US)
    #: the numbers ``<Dial>`` may call (a refused one ends failed, never dialed); None = any
    destinations: DestinationPolicy | None = None
    fetch_in_thread: bool = False  # real HTTP on the real clock: do not block the loop
    on_transition: Callable[[LegRun, Transition], None] | None = None
    #: the dialer's conference rooms and call queues, by name (made from the clock)
    rooms: Rooms | None = None
    queues: Queues | None = None

    def __post_init__(self) -> None:
        if self.rooms is None:
            self.rooms = Rooms(self.clock, self.new_sid)
        if self.queues is None:
            self.queues = Queues(self.clock, self.new_sid)

    #: makes recordings (files, records); None: recordings are traced, not kept
    recorder: Recorder | None = None


# -- legs as the dialer sees them -----------------------------------------------------------


@dataclass(eq=False)
class Take:
    """A recording being made of ``run`` (``record``: as stored; None without a recorder)."""

    sid: str
    call_sid: str
    run: LegRun
    source: str
    callback: RecordingCallback | None
    started: float  # clock seconds
    record: RecordingRecord | None = None
    #: the network's real audio of the line (SIP), else None: the audio is rendered
    capture: LineTap | None = None
    part: Part = "line"
    trim: bool = False
    track: str = "both"  # RecordingTrack of its status events

    def placeholder(self, seconds: float) -> RecordingRecord:
        """The recording as no store keeps it (no recorder): its values only."""
        status = "completed" if seconds > 0 else "absent"
        return RecordingRecord(
            self.sid, self.call_sid, status, self.source, 0.0, duration=math.ceil(seconds - 1e-9)
        )


@dataclass(eq=False)
class LegRun:
    """A leg, its state machine and its callback bookkeeping."""

    leg: Leg
    direction: Direction
    subscription: Subscription
    answered: asyncio.Future[None]
    finished: asyncio.Future[CallStatus]
    state: CallState = field(default_factory=CallState)
    initiated_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    #: when we hung the leg up on the network (its status may move a little later)
    hung_up_at: float | None = None
    sequence: int = 0
    recording_url: str | None = None
    callbacks: list[list[tuple[str, str]]] = field(default_factory=list)

    @property
    def sid(self) -> str:
        return self.leg.sid

    @property
    def status(self) -> CallStatus:
        return self.state.status

    @property
    def duration(self) -> int:
        """Whole seconds from answer to end (0 if never answered); the network's own
        count when it reports one (a carrier's ``CallDuration``)."""
        if self.leg.duration is not None:
            return self.leg.duration
        if self.answered_at is None or self.ended_at is None:
            return 0
        return round(self.ended_at - self.answered_at)


@dataclass(eq=False)
class CallHandle:
    """A placed call: its a-leg, every b-leg, its trace, and the running task."""

    sid: str
    trace: Trace
    a: LegRun
    legs: list[LegRun]
    task: asyncio.Task[CallStatus]
    _call: _Call

    @property
    def status(self) -> CallStatus:
        return self.a.status

    def cancel(self) -> bool:
        """Withdraw the call if it is not answered yet; False when it is too late."""
        return self._call.cancel()

    def hang_up(self, reason: str = "ended by the dialer") -> None:
        """End the call from our side now, whatever its state (b-legs included)."""
        self._call.hang_up(reason)

    def change(
        self, *, url: str | None = None, method: str = "POST", twiml: str | None = None
    ) -> bool:
        """Run another document (``url`` fetched with the call's parameters, or inline
        ``twiml``) on the a-leg: at once when answered (the current verb is interrupted),
        on answer when not yet; False when the call is over."""
        program: _Goto | _Inline
        if twiml is not None:
            program = _Inline(twiml)
        elif url is not None:
            program = _Goto("GET" if method.upper() == "GET" else "POST", url)
        else:
            raise ValueError("a change needs url or twiml")
        return self._call.change(program)


# -- control flow inside a call -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Goto:
    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Inline:
    """An inline document (the spec's ``twiml``, or a live change's)."""

    twiml: str


class _FetchFailed(Exception):
    """A document could not be had from a URL (traced already); ``error_code`` is
    Twilio's code for the failure (:func:`voiceapp.dialer.webhooks.error_code`)."""

    def __init__(self, error_code: int) -> None:
        super().__init__(error_code)
        self.error_code = error_code


class _HangupVerb(Exception):
    """A <Hangup> or <Reject> ended the document."""


class _LeaveQueue(Exception):
    """A <Leave> in a wait document: the caller leaves its queue."""


class _LegGone(Exception):
    def __init__(self, run: LegRun) -> None:
        super().__init__(run.sid)
        self.run = run


class _AppError(Exception):
    """Fetch failed or the document is invalid: announce, then hang up."""


class _Interrupted:
    pass


_INTERRUPTED: Final = _Interrupted()
_TIMED_OUT: Final = object()


@dataclass(frozen=True, slots=True)
class _Ctx:
    run: LegRun  # the leg the document runs on
    watch: tuple[LegRun, ...]  # legs whose end aborts the document
    whisper: bool = False


def spoken_text(node: Node) -> str:
    """The words a <Say> speaks, as the caller hears them (:func:`heard_text`)."""
    return heard_text(node)


def speech_seconds(node: Node) -> float:
    """An estimate of how long a <Say> speaks: words at ~150 a minute, plus SSML breaks."""
    words = len(spoken_text(node).split())
    pause_ms = sum(break_ms(child) for child in node.iter() if child.tag == "break")
    return round(max(0.5, words * SECONDS_PER_WORD) + pause_ms / 1000, 3)


class _Call:
    """The process of one outbound call."""

    def __init__(self, env: Environment, spec: OutboundCall) -> None:
        self.env = env
        self.spec = spec
        self.clock = env.clock
        self.sid = spec.sid or env.new_sid("CA")
        self.trace = Trace(self.clock.now, origin=self.clock.now())
        if spec.redact is not None:
            self.trace.redact = spec.redact
        self.legs: list[LegRun] = []
        self.documents = 0
        self.fell_back = False  # the fallback URL is fetched once a call
        #: what runs on answer: the url, the inline twiml, or (None) the bridge to ``from``
        self.program: _Goto | _Inline | None = None
        if spec.twiml is not None:
            self.program = _Inline(spec.twiml)
        elif spec.url is not None:
            self.program = _Goto(spec.method, spec.url)
        self.driving = False  # the a-leg's documents run (after senddigits)
        self.document_task: asyncio.Task[None] | None = None
        self.next_program: _Goto | _Inline | None = None  # a change waiting to run
        self.queued = False  # a wait document of <Enqueue> runs (<Leave> leaves)
        #: (clock time, seconds) the far end spoke into a <Record>: heard in call recordings
        self.talk: list[tuple[float, float]] = []
        # <Record> takes a live change cut short: finished before the change runs
        self.cut_takes: list[tuple[Take, float, list[Sound]]] = []
        self.detection: amd.Detection | None = None  # machine detection's result, once known
        self.gathers = 0  # speech gathers that sent partial results (their event ids)
        self.a = self._new_leg(
            sid=self.sid,
            label="a",
            from_=spec.from_,
            to=spec.to,
            direction=spec.direction,
            subscription=spec.subscription,
        )

    def _answered_by(self, run: LegRun) -> str | None:
        """The ``AnsweredBy`` ``run``'s requests report: the a-leg's machine detection
        result, once known."""
        if run is not self.a or self.detection is None:
            return None
        return self.detection.answered_by

    def party(self, run: LegRun) -> Party:
        """``run`` as its requests describe it (the call's parameter set)."""
        return Party(
            call_sid=run.sid,
            from_=run.leg.from_,
            to=run.leg.to,
            direction=run.direction,
            status=run.status,
            parent_call_sid=run.leg.parent_sid,
            account_sid=self.spec.account_sid,
            answered_by=self._answered_by(run),
            sip_code=run.leg.sip_code,
        )

    def _hang_up_on_star(self, a: LegRun, label: str, star: asyncio.Future[None]) -> None:
        """``hangupOnStar``: the a-leg's digits are traced, and ``*`` settles ``star``."""

        def on_digit(digit: str) -> None:
            self.trace.add(label, "digit-heard", digit=digit)
            if digit == "*":
                settle(star, None)

        a.leg.on_digit = on_digit

    # legs ---------------------------------------------------------------------------------
    def _new_leg(
        self,
        *,
        sid: str,
        label: str,
        from_: str,
        to: str,
        direction: Direction,
        subscription: Subscription,
        parent: str | None = None,
    ) -> LegRun:
        leg = Leg(sid=sid, from_=from_, to=to, label=label, parent_sid=parent, trace=self.trace)
        leg.inbound = direction == "inbound"
        run = LegRun(leg, direction, subscription, self.clock.future(), self.clock.future())

        def on_event(event: Event) -> None:
            self._apply(run, event)

        leg.on_event = on_event
        leg.on_digit = self._ignore_digits(label)
        self.legs.append(run)
        return run

    def _ignore_digits(self, label: str) -> Callable[[str], None]:
        """The digit handler outside <Gather>: digits are traced and dropped."""

        def ignore(digit: str) -> None:
            self.trace.add(label, "digit-ignored", digit=digit)

        return ignore

    def _apply(self, run: LegRun, event: Event) -> Transition | None:
        if not run.state.can(event):
            self.trace.add(
                run.leg.label, "illegal-event", event=event.value, status=run.status.value
            )
            return None
        row = run.state.apply(event)
        now = self.clock.now()
        if row.target is CallStatus.INITIATED:
            run.initiated_at = now
        elif row.target is CallStatus.IN_PROGRESS:
            run.answered_at = now
        elif row.target in TERMINAL:
            run.ended_at = now if run.hung_up_at is None else run.hung_up_at
        self.trace.add(
            run.leg.label,
            "status",
            sid=run.sid,
            status=row.target.value,
            callback=None if row.emits is None else row.emits.value,
        )
        if self.env.on_transition is not None:
            # the store records the move before any callback about it is queued
            self.env.on_transition(run, row)
        if row.emits is not None and run.subscription.wants(row.emits):
            params = callback_params(
                self.party(run),
                event=row.emits,
                sequence=run.sequence,
                timestamp=self.clock.wall(),
                duration=run.duration,
                recording_url=run.recording_url,
                subscription=run.subscription,
            )
            run.sequence += 1
            run.callbacks.append(params)
            event_id = f"{run.sid}:{row.emits.value}"
            if self.env.deliverer is not None:
                self.env.deliverer.submit(
                    event_id=event_id, key=run.sid, subscription=run.subscription, params=params
                )
            self.trace.add(
                run.leg.label,
                "callback",
                event=row.emits.value,
                event_id=event_id,
                url=run.subscription.url,
            )
        if row.target is CallStatus.IN_PROGRESS:
            settle(run.answered, None)
        if row.target in TERMINAL:
            run.leg.ended = True
            settle(run.finished, row.target)
        return row

    def _end(self, run: LegRun, event: Event = Event.HANG_UP) -> None:
        """End a leg from our side: hang up if answered, else ``event`` (cancel/no-answer)."""
        if run.status in TERMINAL:
            return
        self._hang_up_leg(run)
        self._apply(run, Event.HANG_UP if run.status is CallStatus.IN_PROGRESS else event)

    def _hang_up_leg(self, run: LegRun) -> None:
        """The network part of :meth:`_end` (once): the leg's end is now."""
        if run.status in TERMINAL or run.hung_up_at is not None:
            return
        run.hung_up_at = self.clock.now()
        self.env.network.hang_up(run.leg)

    def hang_up(self, reason: str = "ended by the dialer") -> None:
        if self.a.status is CallStatus.QUEUED:
            self._apply(self.a, Event.CANCEL)
            return
        self.trace.add("a", "hangup", reason=reason)
        for run in reversed(self.legs):
            self._end(run, Event.CANCEL)

    def change(self, program: _Goto | _Inline) -> bool:
        if self.env.network.runs_documents:  # the carrier runs the call's document
            self.trace.add("a", "change-refused", reason="the network runs the document")
            return False
        if self.a.status in TERMINAL:
            self.trace.add("a", "change-refused", status=self.a.status.value)
            return False
        detail = {"url": program.url} if isinstance(program, _Goto) else {"twiml": True}
        if not self.driving:  # not answered yet (or still sending digits): runs on answer
            self.program = program
            self.trace.add("a", "change", when="on answer", **detail)
            return True
        if self.document_task is None:  # the call is ending (an error is announced)
            self.trace.add("a", "change-refused", status=self.a.status.value, **detail)
            return False
        self.trace.add("a", "change", when="now", **detail)
        self.next_program = program
        if self.document_task is not None:
            self.document_task.cancel()
        return True

    def _time_up(self) -> None:
        if self.a.status in TERMINAL:
            return
        self.trace.add("a", "time-limit", seconds=self.spec.time_limit)
        self.hang_up("the call's time limit")

    def cancel(self) -> bool:
        if self.a.status not in (CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING):
            return False
        self.trace.add("a", "cancel")
        if self.a.status is CallStatus.QUEUED:
            self._apply(self.a, Event.CANCEL)
        else:
            self._end(self.a, Event.CANCEL)
        return True

    # waiting ------------------------------------------------------------------------------
    async def _wait(
        self,
        fut: asyncio.Future[Any],
        watch: Sequence[LegRun],
        *,
        timeout: float | None = None,
        interrupt: asyncio.Future[Any] | None = None,
    ) -> Any:
        """Wait for ``fut``; raise :class:`_LegGone` if a watched leg ends first.

        Returns the result, ``_TIMED_OUT`` or ``_INTERRUPTED``.
        """
        for run in watch:
            if run.finished.done():
                raise _LegGone(run)
        futures: list[asyncio.Future[Any]] = [fut, *(run.finished for run in watch)]
        timer_index = interrupt_index = -1
        timer = None
        if timeout is not None:
            timer_fut: asyncio.Future[Any] = self.clock.future()
            timer = self.clock.call_later(timeout, lambda: settle(timer_fut, None))
            timer_index = len(futures)
            futures.append(timer_fut)
        if interrupt is not None:
            interrupt_index = len(futures)
            futures.append(interrupt)
        try:
            index, value = await first(*futures)
        finally:
            if timer is not None:
                timer.cancel()
        if index == 0:
            return value
        if index == timer_index:
            return _TIMED_OUT
        if index == interrupt_index:
            return _INTERRUPTED
        raise _LegGone(watch[index - 1])

    # the call -----------------------------------------------------------------------------
    async def run(self) -> CallStatus:
        a = self.a
        if a.status is CallStatus.CANCELED:
            return a.status
        self._apply(a, Event.DIAL)
        if self.env.network.runs_documents:
            a.leg.carried = self._carried()
        self.env.network.place(a.leg)
        outcome = await self._wait(first(a.answered, a.finished), [], timeout=self.spec.timeout)
        if outcome is _TIMED_OUT:
            self._end(a, Event.NO_ANSWER)
        if a.status is not CallStatus.IN_PROGRESS:
            return a.status
        ctx = _Ctx(a, (a,))
        whole = None
        if self.spec.record:  # RecordingTrack inbound/outbound: one side, one channel
            track = self.spec.recording_track
            whole = self._rec_begin(
                a,
                "OutboundAPI",
                self.spec.recording_callback,
                channels=self.spec.recording_channels if track == "both" else 1,
                part=TRACK_PARTS[track],
                trim=self.spec.recording_trim,
                track=track,
            )
        limit = self.clock.call_later(self.spec.time_limit, self._time_up)
        try:
            if self.env.network.runs_documents:  # it runs the document: follow the leg
                await a.finished
                return a.status
            if self.spec.machine_detection is not None:
                await self._machine_detection(a)
            if self.spec.send_digits:
                timeline = parse_digits(self.spec.send_digits)
                self.trace.add("a", "digits-sent", digits=timeline.digits, ms=timeline.duration_ms)
                await self._wait(self.env.network.send_digits(a.leg, timeline), [a])
            await self._drive(ctx)
        except _HangupVerb:
            pass
        except _LegGone:
            pass
        except _AppError:
            if a.status is CallStatus.IN_PROGRESS:
                self.trace.add("a", "announce", text=APP_ERROR_TEXT)
                with contextlib.suppress(_LegGone):
                    await self._say(ctx, APP_ERROR_TEXT, None)
        except Exception as exc:
            # a bug, not a user error: leave a mark in the trace, hang up, fail the task
            self.trace.add("a", "internal-error", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            limit.cancel()
            self.driving = False
            try:
                if whole is not None:  # stored before the call's status ends, as before
                    seconds = self.clock.now() - whole.started
                    await self._rec_end(whole, seconds, self.legs, hang_up=True)
            finally:
                for run in self.legs:
                    self._end(run)
        return a.status

    async def _machine_detection(self, a: LegRun) -> None:
        """Detect who answered (:mod:`voiceapp.dialer.amd`): wait for the result before
        the document (sync), or post it to the AMD callback when known (``async_amd``)."""
        mode = self.spec.machine_detection or ""
        if a.leg.answered_by is None:
            self.trace.add(
                "a",
                "unsupported",
                feature="machineDetection",
                value=mode,
                reason="the network cannot tell who answered: AnsweredBy is unknown",
            )
        found = amd.detect(a.leg, mode, self.spec.amd_tuning)
        self.trace.add("a", "amd-start", mode=mode, sync=not self.spec.async_amd)
        if not self.spec.async_amd:
            await self._wait(self.clock.timeout(found.seconds), [a])
            self._detected(a, found)
            return
        self.clock.spawn(self._async_detection(a, found), f"amd {self.sid}")

    async def _async_detection(self, a: LegRun, found: amd.Detection) -> None:
        try:
            await self._wait(self.clock.timeout(found.seconds), [a])
        except _LegGone:
            self.trace.add("a", "amd-abandoned", reason="the call ended before a result")
            return
        self._detected(a, found)
        sub = self.spec.amd_callback
        if sub is None or sub.url is None:
            return
        params = async_amd_params(self.party(a), found.duration_ms)
        event_id = f"{a.sid}:amd"
        if self.env.deliverer is not None:
            self.env.deliverer.submit(
                event_id=event_id, key=event_id, subscription=sub, params=params
            )
        self.trace.add("a", "callback", event="amd", event_id=event_id, url=sub.url)

    def _detected(self, a: LegRun, found: amd.Detection) -> None:
        self.detection = found
        self.trace.add("a", "amd", answered_by=found.answered_by, duration_ms=found.duration_ms)

    def _carried(self) -> Carried:
        """The call as a network running its own documents gets it; no url and no twiml:
        the seed's bridge to ``from`` (as :meth:`_execute` builds it)."""
        spec = self.spec
        twiml = spec.twiml
        if twiml is None and spec.url is None:
            doc = Response()
            doc.dial(spec.from_, caller_id=spec.to)
            twiml = serialize(doc).decode("utf-8")
        return Carried(
            url=spec.url if twiml is None else None,
            method=spec.method,
            twiml=twiml,
            send_digits=spec.send_digits,
            timeout=spec.timeout,
            time_limit=spec.time_limit,
        )

    async def _drive(self, ctx: _Ctx) -> None:
        """Run the a-leg's program; a live change interrupts it and runs instead."""
        self.driving = True
        program = self.program
        while True:
            task = self.clock.spawn(self._execute(ctx, program), f"document {self.sid}")
            self.document_task = task
            try:
                await task
            except asyncio.CancelledError:
                if self.next_program is None or not task.cancelled():
                    self._discard_cut_takes()
                    raise  # the call itself is cancelled
            finally:
                self.document_task = None
            if self.next_program is None:
                return
            program, self.next_program = self.next_program, None
            while self.cut_takes:  # a <Record> the change cut: kept, its action not asked
                take, seconds, sounds = self.cut_takes.pop(0)
                record = await self._rec_end(take, seconds, sounds)
                label = take.run.leg.label
                self.trace.add(label, "record", seconds=seconds, sid=record.sid, cut="change")
            self._interrupted(ctx)

    def _discard_cut_takes(self) -> None:
        for take, _, _ in self.cut_takes:
            if take.capture is not None:
                take.capture.discard()
        self.cut_takes.clear()

    def _interrupted(self, ctx: _Ctx) -> None:
        """After a change stopped a document: its b-legs end, the a-leg is on its own."""
        a = ctx.run
        for run in self.legs:
            if run is not a:
                if a.leg.bridged_to is run.leg:
                    self.env.network.unbridge(a.leg, run.leg)
                self._end(run, Event.CANCEL)
        a.leg.on_digit = self._ignore_digits(a.leg.label)
        if a.status is not CallStatus.IN_PROGRESS:
            raise _LegGone(a)

    async def _execute(self, ctx: _Ctx, program: _Goto | _Inline | None) -> None:
        if isinstance(program, _Goto):
            await self._run_url(ctx, program)
            return
        if isinstance(program, _Inline):
            try:
                doc = parse(program.twiml)
            except DocumentError as exc:
                self.trace.add("a", "document-error", url=None, **exc.to_dict())
                raise _AppError from exc
            self.trace.add("a", "document", url=None, verbs=[n.tag for n in doc.elements])
        else:
            # the seed's rule: no url -> connect the callee to the `from` number
            doc = Response()
            doc.dial(self.spec.from_, caller_id=self.spec.to)
            self.trace.add("a", "document", url=None, verbs=["Dial"], note="no url: bridge")
        goto = await self._run_document(ctx, doc, None)
        if goto is not None:
            await self._run_url(ctx, goto)

    # documents ----------------------------------------------------------------------------
    async def _run_url(self, ctx: _Ctx, goto: _Goto | None) -> None:
        while goto is not None:
            doc, url = await self._fetch(ctx, goto)
            goto = await self._run_document(ctx, doc, url)

    async def _fetch(self, ctx: _Ctx, goto: _Goto) -> tuple[Response, str]:
        """The document at ``goto`` and its URL (the fallback's, when it was fetched)."""
        try:
            return await self._fetch_once(ctx, goto), goto.url
        except _FetchFailed as failed:
            fallback = self.spec.fallback_url
            if fallback is None or self.fell_back or ctx.whisper:
                raise _AppError from failed
            self.fell_back = True
            error_url = redact_url(goto.url)
            self.trace.add(
                ctx.run.leg.label,
                "fallback",
                url=fallback,
                ErrorCode=failed.error_code,
                ErrorUrl=error_url,
            )
            params = (*goto.params, ("ErrorCode", str(failed.error_code)), ("ErrorUrl", error_url))
            again = _Goto(self.spec.fallback_method, fallback, params)
            try:
                return await self._fetch_once(ctx, again), again.url
            except _FetchFailed as failed_again:
                raise _AppError from failed_again

    async def _fetch_once(self, ctx: _Ctx, goto: _Goto) -> Response:
        """Fetch and parse one document; raise :class:`_FetchFailed` (traced) when it
        cannot be had, :class:`_AppError` when the loop guard ends the call."""
        label = ctx.run.leg.label
        self.documents += 1
        if self.documents > self.env.max_documents:
            self.trace.add(
                label,
                "fetch-error",
                url=goto.url,
                code=LOOP_GUARD,
                error=f"more than {self.env.max_documents} documents fetched for one call "
                "(a redirect loop?)",
            )
            raise _AppError
        params = [*document_params(self.party(ctx.run)), *goto.params]
        self.trace.add(label, "fetch", method=goto.method, url=goto.url, params=dict(params))
        fetch = self.env.fetch
        try:
            if self.env.fetch_in_thread:
                body = await self._wait(
                    self.clock.run_in_thread(lambda: fetch(goto.method, goto.url, params)),
                    ctx.watch,
                )
            else:
                body = fetch(goto.method, goto.url, params)
        except _LegGone:
            raise
        except Exception as exc:
            code = exc.code if isinstance(exc, VoiceappError) else type(exc).__name__
            detail: dict[str, Any] = {"url": goto.url, "code": code, "error": str(exc)}
            if isinstance(exc, FetchError) and exc.http_status is not None:
                detail["status"] = exc.http_status
            self.trace.add(label, "fetch-error", **detail)
            raise _FetchFailed(error_code(code)) from exc
        shown = _body_detail(body)
        try:
            doc = parse(body)
        except DocumentError as exc:
            self.trace.add(label, "document-error", url=goto.url, **exc.to_dict(), **shown)
            raise _FetchFailed(error_code(exc.code, document=True)) from exc
        self.trace.add(
            label, "document", url=goto.url, verbs=[n.tag for n in doc.elements], **shown
        )
        return doc

    async def _run_document(self, ctx: _Ctx, doc: Node, url: str | None) -> _Goto | None:
        for verb in doc.elements:
            goto = await self._verb(ctx, verb, url, None)
            if isinstance(goto, _Goto):
                return goto
        return None

    def _unsupported(self, ctx: _Ctx, node: Node, reason: str, **detail: Any) -> None:
        self.trace.add(
            ctx.run.leg.label, "unsupported", verb=node.tag, path=node.path, reason=reason, **detail
        )

    def _check_attrs(self, ctx: _Ctx, node: Node) -> None:
        honoured = HONOURED.get(node.tag, frozenset())
        for name, value in node.attrs.items():
            if name not in honoured:
                self._unsupported(ctx, node, "attribute not simulated", attribute=name, value=value)

    async def _verb(
        self, ctx: _Ctx, node: Node, url: str | None, interrupt: asyncio.Future[Any] | None
    ) -> _Goto | _Interrupted | None:
        tag = node.tag
        if tag not in HONOURED:
            self._unsupported(ctx, node, "verb not simulated")
            return None
        self._check_attrs(ctx, node)
        if tag == "Say":
            return await self._say(ctx, spoken_text(node), node, interrupt)
        if tag == "Play":
            return await self._play(ctx, node, interrupt)
        if tag == "Pause":
            seconds = node.get("length")
            self.trace.add(ctx.run.leg.label, "pause", seconds=seconds)
            if interrupt is not None and interrupt.done():
                return _INTERRUPTED
            out = await self._wait(
                self.clock.future(), ctx.watch, timeout=seconds, interrupt=interrupt
            )
            return _INTERRUPTED if out is _INTERRUPTED else None
        if tag == "Gather":
            return await self._gather(ctx, node, url)
        if tag == "Enqueue":
            return await self._enqueue(ctx, node, url)
        if tag == "Leave":
            if not self.queued:
                self._unsupported(ctx, node, "<Leave> outside a queue's wait document")
                return None
            self.trace.add(ctx.run.leg.label, "leave")
            raise _LeaveQueue
        if tag == "Dial":
            return await self._dial(ctx, node, url)
        if tag == "Record":
            return await self._record(ctx, node, url)
        if tag == "Redirect":
            # empty text is the current document (an empty relative URL); a loop of
            # them ends at env.max_documents like any other redirect loop
            target = urljoin(url or "", node.value or "")
            self.trace.add(ctx.run.leg.label, "redirect", url=target, method=node.get("method"))
            return _Goto(node.get("method"), target)
        for child in node.elements:
            self._unsupported(ctx, child, f"<{child.tag}> inside <{tag}> not simulated")
        if tag == "Reject":
            self.trace.add(
                ctx.run.leg.label,
                "reject",
                reason=node.get("reason"),
                note="the call is already answered: hanging up",
            )
        else:
            self.trace.add(ctx.run.leg.label, "hangup")
        raise _HangupVerb

    async def _say(
        self, ctx: _Ctx, text: str, node: Node | None, interrupt: asyncio.Future[Any] | None = None
    ) -> _Interrupted | None:
        seconds = speech_seconds(node) if node is not None else max(0.5, len(text.split()) * 0.4)
        loop = node.get("loop") if node is not None else 1
        detail: dict[str, Any] = {"text": text, "seconds": seconds, "loop": loop}
        if node is not None:
            detail |= {"voice": node.get("voice"), "language": node.get("language")}
            with_pauses = heard_text(node, pauses=True)
            if with_pauses != text:  # SSML breaks: where the caller hears silence
                detail["pauses"] = with_pauses
        self.trace.add(ctx.run.leg.label, "say", **detail)
        for _ in range(loop or 1000):
            if interrupt is not None and interrupt.done():
                return _INTERRUPTED
            spoken = self.env.network.say(
                ctx.run.leg,
                text,
                seconds,
                voice=node.get("voice") if node is not None else None,
                language=node.get("language") if node is not None else None,
            )
            out = await self._wait(spoken, ctx.watch, interrupt=interrupt)
            if isinstance(out, _Interrupted):
                return out
        return None

    async def _play(
        self, ctx: _Ctx, node: Node, interrupt: asyncio.Future[Any] | None
    ) -> _Interrupted | None:
        label = ctx.run.leg.label
        loop = node.get("loop") or 1000
        digits = node.get("digits")
        if digits is not None:
            timeline = parse_digits(digits)
            self.trace.add(label, "play-digits", digits=digits, ms=timeline.duration_ms, loop=loop)
        else:
            if node.value is None:
                self._unsupported(ctx, node, "nothing to play (no URL and no digits)")
                return None
            self.trace.add(label, "play", url=node.value, seconds=self.env.play_seconds, loop=loop)
        for _ in range(loop):
            if interrupt is not None and interrupt.done():
                return _INTERRUPTED
            if digits is not None:
                fut = self.env.network.send_digits(ctx.run.leg, timeline)
            else:
                fut = self.env.network.play(ctx.run.leg, node.value, self.env.play_seconds)
            out = await self._wait(fut, ctx.watch, interrupt=interrupt)
            if isinstance(out, _Interrupted):
                return out
        return None

    # Gather -------------------------------------------------------------------------------
    async def _gather(self, ctx: _Ctx, node: Node, url: str | None) -> _Goto | None:
        run = ctx.run
        label = run.leg.label
        inputs = node.get("input")
        num_digits = node.get("numDigits")
        finish = node.get("finishOnKey")
        timeout = node.get("timeout")
        self.trace.add(
            label,
            "gather",
            input=list(inputs),
            numDigits=num_digits,
            finishOnKey=finish,
            timeout=timeout,
        )
        digits: list[str] = []
        speech: list[str] = []  # what the caller said (input="speech": scripted, exact)
        finished_on: list[str] = []  # the finishOnKey pressed, if one ended it
        done: asyncio.Future[str] = self.clock.future()
        first_digit: asyncio.Future[None] = self.clock.future()
        activity: list[asyncio.Future[None]] = [self.clock.future()]

        def on_digit(digit: str) -> None:
            self.trace.add(label, "digit-heard", digit=digit)
            if done.done():
                return
            settle(first_digit, None)
            if finish and digit in finish:
                finished_on.append(digit)
                settle(done, "finishOnKey")
                return
            digits.append(digit)
            if num_digits is not None and len(digits) >= num_digits:
                settle(done, "numDigits")
            else:
                settle(activity[0], None)

        timers: list[asyncio.TimerHandle] = []

        def on_speech(text: str) -> None:
            self.trace.add(label, "speech-heard", text=text)
            if done.done() or speech:
                return
            text = speech_within(text, node.get("maxSpeechTime"))
            speech.append(text)
            settle(first_digit, None)
            settle(activity[0], None)
            timers.extend(self._speech_timers(ctx, node, url, text, done))

        if "dtmf" in inputs:
            run.leg.on_digit = on_digit
        if "speech" in inputs:
            run.leg.on_speech = on_speech
        try:
            interrupt = first_digit if node.get("bargeIn") else None
            for child in node.elements:
                if done.done():
                    break
                out = await self._verb(ctx, child, url, interrupt)
                if out is _INTERRUPTED:
                    break
            reason = "timeout"
            while not done.done():
                activity[0] = self.clock.future()
                # once speech is heard, its own timer (speechTimeout) ends the gather
                wait = None if speech else timeout
                out = await self._wait(first(done, activity[0]), ctx.watch, timeout=wait)
                if out is _TIMED_OUT:
                    break
            if done.done():
                reason = done.result()
        finally:
            for timer in timers:
                timer.cancel()
            run.leg.on_digit = self._ignore_digits(label)
            run.leg.on_speech = None
        result = "".join(digits)
        action = node.get("action")
        self.trace.add(label, "gathered", digits=result, reason=reason, action=action)
        if (result or speech or node.get("actionOnEmptyResult")) and action is not None:
            params = gather_params(
                result,
                finished_on[0] if finished_on else None,
                twilio=self.spec.account_sid is not None,
                speech=speech[0] if speech else None,
            )
            return _Goto(node.get("method"), urljoin(url or "", action), tuple(params))
        return None

    def _speech_timers(
        self, ctx: _Ctx, node: Node, url: str | None, text: str, done: asyncio.Future[str]
    ) -> list[asyncio.TimerHandle]:
        """A phrase heard by a speech gather (:mod:`voiceapp.dialer.speech`): its partial
        results go to ``partialResultCallback`` word by word, and the gather ends after it
        and ``speechTimeout`` of silence."""
        silence = speech.silence_after(node.get("speechTimeout"), node.get("timeout"))
        longest = float(node.get("maxSpeechTime"))
        said = speech.phrase_seconds(text)
        # maxSpeechTime: the gather ends as the time is up, without waiting for silence
        ends = longest if said >= longest else said + silence
        self.trace.add(
            ctx.run.leg.label,
            "speech",
            text=text,
            hints=list(speech.hints(node.get("hints"))),
            ends_after=round(ends, 3),
            # scripted speech is recognised exactly whatever the model: kept to be seen
            speechModel=node.get("speechModel"),
            enhanced=node.get("enhanced"),
        )
        timers = [self.clock.call_later(ends, lambda: settle(done, "speech"))]
        callback = node.get("partialResultCallback")
        if callback is None or self.env.deliverer is None:
            return timers
        deliverer = self.env.deliverer
        sub = Subscription(
            url=urljoin(url or "", callback), method=node.get("partialResultCallbackMethod")
        )
        self.gathers += 1
        for partial in speech.partials(text):
            params = partial_result_params(
                self.party(ctx.run), partial, language=node.get("language")
            )
            event_id = f"{ctx.run.sid}:speech{self.gathers}.{partial.sequence}"

            def send(event_id: str = event_id, params: Params = params) -> None:
                deliverer.submit(event_id=event_id, key=event_id, subscription=sub, params=params)
                self.trace.add(ctx.run.leg.label, "callback", event="partial", event_id=event_id)

            timers.append(self.clock.call_later(partial.at, send))
        return timers

    # Record -------------------------------------------------------------------------------
    async def _record(self, ctx: _Ctx, node: Node, url: str | None) -> _Goto | None:
        run = ctx.run
        label = run.leg.label
        if node.get("playBeep"):  # the recording starts once the beep has been sent
            self.trace.add(label, "beep", seconds=RECORD_BEEP_SECONDS)
            await self._wait(self.env.network.beep(run.leg, RECORD_BEEP_SECONDS), ctx.watch)
        max_length = node.get("maxLength")
        timeout = node.get("timeout")
        if node.get("transcribe"):
            self._unsupported(
                ctx,
                node,
                "transcription is not available: the recording is kept untranscribed",
                attribute="transcribe",
            )
        finish = node.get("finishOnKey")
        self.trace.add(
            label, "record-start", maxLength=max_length, timeout=timeout, finishOnKey=finish
        )
        take = self._rec_begin(
            run,
            "RecordVerb",
            RecordingCallback.of(node),
            part="far-end",
            trim=node.get("trim") != "do-not-trim",
        )
        start = self.clock.now()
        pressed: asyncio.Future[str] = self.clock.future()

        def on_digit(digit: str) -> None:  # a key of finishOnKey ends the recording
            self.trace.add(label, "digit-heard", digit=digit)
            if digit in finish:
                settle(pressed, digit)

        run.leg.on_digit = on_digit
        recording = self.env.network.record(run.leg, max_length=max_length, timeout=timeout)
        try:
            which, value = await self._wait(first(recording, pressed), ctx.watch)
        except _LegGone:  # a hang-up ends the recording: what was said so far is kept
            kept, talk = self._said_so_far(run, take, start, max_length)
            record = await self._rec_end(take, kept, [Sound(0.0, "talk", seconds=talk)])
            await self._record_action_after_hangup(ctx, node, url, record)
            raise
        except asyncio.CancelledError:  # a live change (or the call cancelled)
            # what was said so far is the recording: _drive finishes it (this task is
            # being cancelled) before the change runs, or discards it with the call
            self.env.network.stop_recording(run.leg)
            kept, talk = self._said_so_far(run, take, start, max_length)
            self.cut_takes.append((take, kept, [Sound(0.0, "talk", seconds=talk)]))
            raise
        except BaseException:  # nothing will finish the take
            if take.capture is not None:
                take.capture.discard()
            raise
        finally:
            run.leg.on_digit = self._ignore_digits(label)
        digit = ""
        if which == 0:
            seconds = talk = float(value)
            if talk > 0:
                self.talk.append((start, talk))
        else:  # a key: what was said until it, the recording stopped there
            digit = str(value)
            self.env.network.stop_recording(run.leg)
            whole = node.get("trim") == "do-not-trim"
            seconds, talk = self._said_so_far(run, take, start, max_length, whole=whole)
        if which == 0 and node.get("trim") == "do-not-trim" and 0 < seconds < max_length:
            seconds = min(max_length, seconds + timeout)  # the silence that ended it is kept
        record = await self._rec_end(take, seconds, [Sound(0.0, "talk", seconds=talk)])
        rec_url = self._rec_url(record.sid)
        if record.status == "completed":
            run.recording_url = rec_url
        self.trace.add(label, "record", seconds=seconds, url=rec_url, sid=record.sid, digits=digit)
        action = node.get("action")
        if action is None or record.status == "absent":
            return None  # nothing heard: the document goes on (Twilio requests no action)
        return _Goto(
            node.get("method"),
            urljoin(url or "", action),
            tuple(record_action_params(rec_url, record.sid, record.duration, digits=digit)),
        )

    def _said_so_far(
        self, run: LegRun, take: Take, start: float, longest: float, *, whole: bool = False
    ) -> tuple[float, float]:
        """A ``<Record>`` ended before its recording did (a key, a hang-up, a live
        change): (the seconds it keeps, the far end's talk in them).  A captured line
        (or ``whole``, untrimmed) keeps all the time so far, the recorder trims its own
        audio; a rendered one the talk.  The talk is noted for the call's recordings."""
        elapsed = min(self.clock.now() - start, longest)
        talk = min(elapsed, self.env.network.talk_seconds(run.leg))
        if talk > 0:
            self.talk.append((start, talk))
        return (elapsed if take.capture is not None or whole else talk), talk

    async def _record_action_after_hangup(
        self, ctx: _Ctx, node: Node, url: str | None, record: RecordingRecord
    ) -> None:
        """A ``<Record>`` the caller hung up on still requests its ``action`` (Twilio's
        ``Digits=hangup``), so the app learns of the recording; the answer is not run."""
        action = node.get("action")
        if action is None or record.status != "completed":
            return
        params = record_action_params(
            self._rec_url(record.sid), record.sid, record.duration, digits="hangup"
        )
        await self._request_after_hangup(
            ctx, _Goto(node.get("method"), urljoin(url or "", action), tuple(params))
        )

    async def _request_after_hangup(self, ctx: _Ctx, goto: _Goto | None) -> None:
        """Request ``goto`` (a verb's ``action``) for a caller who hung up, as Twilio
        does so the app learns how the verb ended; the document it answers is not run."""
        if goto is None:
            return
        with contextlib.suppress(_FetchFailed, _AppError):
            await self._fetch_once(_Ctx(ctx.run, ()), goto)
            self.trace.add(ctx.run.leg.label, "document-not-run", url=goto.url, reason="hangup")

    # recordings ---------------------------------------------------------------------------
    def _rec_url(self, sid: str) -> str:
        if self.env.recorder is not None:
            return self.env.recorder.url(sid, self.spec.account_sid)
        return f"{self.env.recording_base_url.rstrip('/')}/{self.sid}/{sid}.wav"

    def _rec_begin(
        self,
        run: LegRun,
        source: str,
        callback: RecordingCallback | None,
        *,
        channels: int = 1,
        part: Part = "line",
        trim: bool = False,
        track: str = "both",
    ) -> Take:
        """Start a recording of ``run`` (stored ``in-progress``; its event sent when asked);
        a network with media keeps the line's real audio (``part`` of it)."""
        take = Take(self.env.new_sid("RE"), self.sid, run, source, callback, self.clock.now())
        take.part, take.trim, take.track = part, trim, track
        self.trace.add(run.leg.label, "recording-start", sid=take.sid, source=source)
        if self.env.recorder is None:
            self.trace.add(run.leg.label, "recording-not-kept", reason="no media store")
        else:
            take.capture = self.env.network.capture(run.leg)
            take.record = self.env.recorder.start(
                take.sid, self.sid, source, at=self.clock.wall().timestamp(), channels=channels
            )
            self._rec_event(take, "in-progress", 0)
        return take

    async def _rec_end(
        self, take: Take, seconds: float, heard: Sequence[Any], *, hang_up: bool = False
    ) -> RecordingRecord:
        """Finish ``take``: its captured audio, else ``heard``, the legs whose line it
        hears (their digits, and the far end's talk) or the sounds themselves; ``absent``
        when nothing was heard.  ``hang_up``: the call ends with it; its legs are hung
        up on the network once the audio is taken (the BYE does not wait for the
        file), their status moves (``completed``) after the recording is stored."""
        captured = take.capture.stop() if take.capture is not None else None
        if hang_up:
            for run in self.legs:
                self._hang_up_leg(run)
        if heard and isinstance(heard[0], LegRun):
            legs = [r.leg for r in heard]
            sounds = heard_sounds(legs, take.started, seconds, self.talk, part=take.part)
        else:
            sounds = list(heard)
        if self.env.recorder is None or take.record is None:
            if captured is not None:
                captured.close()
            return take.placeholder(seconds)
        record = await self.env.recorder.finish(
            take.record, seconds, sounds, captured=captured, part=take.part, trim=take.trim
        )
        self.trace.add(
            take.run.leg.label,
            "recording",
            sid=record.sid,
            status=record.status,
            duration=record.duration,
            size=record.size,
        )
        self._rec_event(take, record.status, record.duration)
        return record

    def _rec_event(self, take: Take, status: str, duration: int) -> None:
        callback = take.callback
        if callback is None or status not in callback.events or self.env.deliverer is None:
            return
        params = recording_params(
            self.party(take.run),
            sid=take.sid,
            url=self._rec_url(take.sid),
            status=status,
            duration=duration,
            channels=take.record.channels if take.record is not None else 1,
            source=take.source,
            started=self.clock.wall(),
            track=take.track,
        )
        self.env.deliverer.submit(
            event_id=f"{take.sid}:recording-{status}",
            key=take.run.sid,
            subscription=Subscription(url=callback.url, method=callback.method),
            params=params,
        )

    # Dial ---------------------------------------------------------------------------------
    async def _dial(self, ctx: _Ctx, node: Node, url: str | None) -> _Goto | None:
        a = ctx.run
        if ctx.whisper:
            self._unsupported(ctx, node, "<Dial> is not allowed in a whisper document")
            return None
        room = next((c for c in node.elements if c.tag in ("Conference", "Queue")), None)
        if room is not None:
            self._check_attrs(ctx, room)
            if room.tag == "Conference":
                return await self._dial_conference(ctx, node, room, url)
            return await self._dial_queue(ctx, node, room, url)
        targets: list[tuple[str, Node | None]] = []
        if node.value is not None:
            targets.append((node.value, None))
        for child in node.elements:
            if child.tag == "Number":
                self._check_attrs(ctx, child)
                targets.append((child.value, child))
            else:
                self._unsupported(ctx, child, f"<{child.tag}> is not simulated; only <Number>")
        timeout = node.get("timeout")
        caller_id = node.get("callerId") or a.leg.from_
        self.trace.add(
            a.leg.label,
            "dial",
            numbers=[t for t, _ in targets],
            callerId=caller_id,
            timeout=timeout,
        )
        runs: list[tuple[LegRun, Node | None]] = []
        failed = 0
        for number, noun in targets:
            label = f"b{sum(1 for r in self.legs if r.direction == 'outbound-dial') + 1}"
            try:
                region = self.env.default_region or NATIONAL_NUMBER_REGION
                to = normalize(number, field="Number", default_region=region)
            except PhoneError as exc:
                self.trace.add(a.leg.label, "dial-error", number=number, **exc.to_dict())
                failed += 1
                continue
            run = self._new_leg(
                sid=self.env.new_sid("CA"),
                label=label,
                from_=caller_id,
                to=to,
                direction="outbound-dial",
                subscription=self._b_subscription(noun),
                parent=a.sid,
            )
            refusal = self._refusal(to, "Number")
            if refusal is not None:
                # a toll-fraud guard: the b-leg is recorded but never dialed, and ends failed
                self.trace.add(label, "dial-error", number=number, **refusal.to_dict())
                self._apply(run, Event.FAIL)
                failed += 1
                continue
            runs.append((run, noun))
        status, winner = "failed", None
        dialed_at = self.clock.now()
        if runs:
            status, winner = await self._ring_b_legs(ctx, [r for r, _ in runs], timeout)
        duration = 0
        if winner is not None:
            noun = next(n for r, n in runs if r is winner)
            mode = node.get("record") or "do-not-record"
            track = node.get("recordingTrack") or "both"
            take = None
            if mode != "do-not-record":
                take = self._rec_begin(
                    a,
                    "DialVerb",
                    RecordingCallback.of(node),
                    channels=2 if "dual" in mode and track == "both" else 1,
                    part=TRACK_PARTS[track],
                    trim=node.get("trim") == "trim-silence",
                    track=track,
                )
                if "ringing" in mode:
                    if take.capture is not None:
                        take.capture.start_earlier(take.started - dialed_at)
                    take.started = dialed_at
            try:
                status, duration = await self._connect(ctx, node, url, winner, noun)
            finally:
                if take is not None:
                    record = await self._rec_end(take, self.clock.now() - take.started, [a, winner])
                    if record.status == "completed":
                        a.recording_url = self._rec_url(record.sid)
        self.trace.add(
            a.leg.label,
            "dial-result",
            DialCallStatus=status,
            DialCallSid=None if winner is None else winner.sid,
            DialCallDuration=duration,
        )
        action = node.get("action")
        if action is None:
            return None
        params = [("DialCallStatus", status), ("DialCallDuration", str(duration))]
        if winner is not None:
            params.append(("DialCallSid", winner.sid))
        return _Goto(node.get("method"), urljoin(url or "", action), tuple(params))

    def _refusal(self, number: str, field: str) -> DestinationError | None:
        """The destination policy's refusal of ``number``, or None when it may be dialed."""
        if self.env.destinations is None:
            return None
        try:
            self.env.destinations.check(number, field=field)
        except DestinationError as exc:
            return exc
        return None

    def _b_subscription(self, noun: Node | None) -> Subscription:
        """A b-leg reports to its <Number statusCallback>, else to the call's callback."""
        base = self.spec.subscription
        if noun is None or noun.get("statusCallback") is None:
            return base
        return Subscription(
            url=noun.get("statusCallback"),
            events=parse_events(noun.get("statusCallbackEvent")),
            method=noun.get("statusCallbackMethod"),
            secret_key=base.secret_key,
            optional=base.optional,
        )

    async def _ring_b_legs(
        self, ctx: _Ctx, runs: list[LegRun], timeout: float
    ) -> tuple[str, LegRun | None]:
        for run in runs:
            self._apply(run, Event.DIAL)
            self.env.network.place(run.leg)
        all_over: asyncio.Future[None] = self.clock.future()

        def check_all(_: asyncio.Future[Any]) -> None:
            if all(r.finished.done() for r in runs):
                settle(all_over, None)

        for run in runs:
            run.finished.add_done_callback(check_all)
        try:
            out = await self._wait(
                first(*(r.answered for r in runs), all_over), ctx.watch, timeout=timeout
            )
        except _LegGone:
            for run in runs:
                self._end(run, Event.CANCEL)
            raise
        winner = None
        if out is not _TIMED_OUT:
            index, _ = out
            if index < len(runs):
                winner = runs[index]
        for run in runs:
            if run is not winner:
                self._end(run, Event.NO_ANSWER if out is _TIMED_OUT else Event.CANCEL)
        if winner is not None:
            return "answered", winner
        statuses = {r.status for r in runs}
        for status in (CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.CANCELED):
            if status in statuses:
                return status.value, None
        return "failed", None

    async def _connect(
        self, ctx: _Ctx, node: Node, url: str | None, b: LegRun, noun: Node | None
    ) -> tuple[str, int]:
        a = ctx.run
        watch = (a, b)
        try:
            send = None if noun is None else noun.get("sendDigits")
            if send:
                timeline = parse_digits(send)
                self.trace.add(b.leg.label, "digits-sent", digits=send, ms=timeline.duration_ms)
                await self._wait(self.env.network.send_digits(b.leg, timeline), watch)
            if noun is not None and noun.get("url") is not None:
                wctx = _Ctx(b, watch, whisper=True)
                try:
                    whisper = _Goto(noun.get("method"), urljoin(url or "", noun.get("url")))
                    await self._run_url(wctx, whisper)
                except (_HangupVerb, _AppError):
                    self.trace.add(b.leg.label, "whisper-ended", note="b-leg hung up by whisper")
                    self._end(b)
                    return "completed", b.duration
            self.env.network.bridge(a.leg, b.leg)
            self.trace.add(a.leg.label, "bridge", a=a.sid, b=b.sid)
            star: asyncio.Future[None] = self.clock.future()
            if node.get("hangupOnStar"):
                self._hang_up_on_star(a, a.leg.label, star)
            out = await self._wait(first(b.finished, star), (a,), timeout=node.get("timeLimit"))
            if out is _TIMED_OUT:
                self.trace.add(a.leg.label, "time-limit", seconds=node.get("timeLimit"))
        except _LegGone as gone:
            if gone.run is a:
                raise
            # the b-leg ended before the bridge: a-leg continues
        finally:
            if a.leg.bridged_to is b.leg:
                self.env.network.unbridge(a.leg, b.leg)
                self.trace.add(a.leg.label, "unbridge", b=b.sid)
            a.leg.on_digit = self._ignore_digits(a.leg.label)
            if a.status is not CallStatus.IN_PROGRESS:
                self._end(b)
        self._end(b)
        return "completed", b.duration

    # waiting in a queue or a conference ---------------------------------------------------
    async def _hold(
        self,
        ctx: _Ctx,
        wait_url: str | None,
        method: str,
        url: str | None,
        params: Callable[[], tuple[tuple[str, str], ...]],
    ) -> None:
        """What a waiting caller hears, forever (the caller of it cancels): the hold
        music without ``waitUrl``, silence for ``waitUrl=""``, else the wait document,
        fetched again each time it ends (its fetches do not count to ``max_documents``)."""
        label = ctx.run.leg.label
        if wait_url is None:
            self.trace.add(label, "play", url=HOLD_MUSIC, seconds=self.env.play_seconds, loop=0)
            while True:
                await self._wait(
                    self.env.network.play(ctx.run.leg, HOLD_MUSIC, self.env.play_seconds),
                    ctx.watch,
                )
        if not wait_url:
            await self._wait(self.clock.future(), ctx.watch)
        target = urljoin(url or "", wait_url)
        while True:
            start, documents = self.clock.now(), self.documents
            await self._run_url(ctx, _Goto(method, target, params()))
            self.documents = documents
            rest = WAIT_ROUND_MIN - (self.clock.now() - start)
            if rest > 0:
                await self._wait(self.clock.future(), ctx.watch, timeout=rest)

    # Enqueue ------------------------------------------------------------------------------
    async def _enqueue(self, ctx: _Ctx, node: Node, url: str | None) -> _Goto | None:
        run = ctx.run
        label = run.leg.label
        assert self.env.queues is not None
        queue = self.env.queues.open(node.value or "", node.get("maxQueueSize"))
        member = queue.add(run.sid, run.leg)
        if member is None:
            self.trace.add(label, "queue-full", queue=queue.name, size=queue.size)
            return self._queue_action(node, url, QUEUE_FULL, queue, 0)
        self.trace.add(label, "enqueue", queue=queue.name, sid=queue.sid, position=queue.size)

        def wait_params() -> tuple[tuple[str, str], ...]:
            return tuple(
                queue_wait_params(
                    queue_sid=queue.sid,
                    position=queue.position(member),
                    waited=queue.waited(member),
                    average=queue.average_wait(),
                    size=queue.size,
                    max_size=queue.max_size,
                )
            )

        self.queued = True
        hold = self.clock.spawn(
            self._hold(ctx, node.get("waitUrl"), node.get("waitUrlMethod"), url, wait_params),
            f"queue {run.sid}",
        )
        result, dequeue = ERROR, None
        waiter = first(member.dequeued, hold)
        gone = False
        try:
            index, dequeue = await self._wait(waiter, ctx.watch)
            if index == 0:
                result = BRIDGED
        except _LeaveQueue:
            result = LEAVE
        except _AppError:
            result = ERROR
        except _LegGone:
            result, gone = HANGUP, True
            raise
        finally:
            self.queued = False
            waited = queue.waited(member)
            queue.remove(member)
            await _stop(hold, waiter)
            if gone:  # the caller hung up while waiting: QueueResult=hangup
                self.trace.add(label, "dequeued", queue=queue.name, result=result, seconds=waited)
                await self._request_after_hangup(
                    ctx, self._queue_action(node, url, result, queue, waited)
                )
        if dequeue is None or result != BRIDGED:
            self.trace.add(label, "dequeued", queue=queue.name, result=result, seconds=waited)
            return self._queue_action(node, url, result, queue, waited)
        self.trace.add(label, "dequeued", queue=queue.name, result=BRIDGED, by=dequeue.agent_sid)
        try:
            if dequeue.url:
                whisper = _Goto(
                    dequeue.method,
                    dequeue.url,
                    tuple(
                        queue_whisper_params(
                            queue_sid=queue.sid, waited=waited, dequeuing_sid=dequeue.agent_sid
                        )
                    ),
                )
                await self._run_url(_Ctx(run, ctx.watch, whisper=True), whisper)
            settle(dequeue.ready, True)
            await self._wait(dequeue.over, ctx.watch)
        except _LegGone:  # the caller hung up on the bridge: its action still hears of it
            await self._request_after_hangup(
                ctx, self._queue_action(node, url, BRIDGED, queue, waited)
            )
            raise
        finally:
            settle(dequeue.ready, False)
        return self._queue_action(node, url, BRIDGED, queue, waited)

    def _queue_action(
        self, node: Node, url: str | None, result: str, queue: CallQueue, waited: int
    ) -> _Goto | None:
        action = node.get("action")
        if action is None:
            return None
        params = queue_action_params(result=result, queue_sid=queue.sid, waited=waited)
        return _Goto(node.get("method"), urljoin(url or "", action), tuple(params))

    # Dial Queue ---------------------------------------------------------------------------
    async def _dial_queue(self, ctx: _Ctx, node: Node, noun: Node, url: str | None) -> _Goto | None:
        a = ctx.run
        label = a.leg.label
        assert self.env.queues is not None
        name = noun.value or ""
        queue = self.env.queues.get(name)
        timeout = node.get("timeout")
        self.trace.add(label, "dial-queue", queue=name, timeout=timeout)
        status, member_sid, waited, duration = "failed", None, 0, 0
        if queue is None:
            self.trace.add(label, "dial-error", queue=name, reason="no such queue")
        else:
            status = "no-answer"
            taking = queue.take()
            while True:
                try:
                    out = await self._wait(taking, ctx.watch, timeout=timeout)
                finally:
                    if not taking.done():  # timed out, or the agent hung up: stop waiting
                        taking.cancel()
                if out is _TIMED_OUT:
                    break
                member = out
                dequeue = Dequeue(
                    a.sid,
                    a.leg,
                    None if not noun.get("url") else urljoin(url or "", noun.get("url")),
                    noun.get("method"),
                    self.clock.future(),
                    self.clock.future(),
                )
                waited = queue.waited(member)
                if queue.dequeue(member, dequeue):
                    member_sid = member.call_sid
                    status, duration = await self._bridge_member(ctx, node, member.leg, dequeue)
                    break
                taking = queue.take()  # taken by another agent meanwhile: the next one
        self.trace.add(
            label,
            "dial-result",
            DialCallStatus=status,
            DialCallSid=member_sid,
            DialCallDuration=duration,
        )
        action = node.get("action")
        if action is None:
            return None
        params = [("DialCallStatus", status), ("DialCallDuration", str(duration))]
        if member_sid is not None:
            params.append(("DialCallSid", member_sid))
        params += dial_queue_params(
            queue_sid=None if queue is None else queue.sid, member_sid=member_sid, waited=waited
        )
        return _Goto(node.get("method"), urljoin(url or "", action), tuple(params))

    async def _bridge_member(
        self, ctx: _Ctx, node: Node, leg: Leg, dequeue: Dequeue
    ) -> tuple[str, int]:
        """Bridge the a-leg to a dequeued caller once its whisper is over."""
        a = ctx.run
        label = a.leg.label
        try:
            ready = await self._wait(dequeue.ready, ctx.watch)
            if not ready or leg.ended:
                return "failed", 0
            self.env.network.bridge(a.leg, leg)
            started = self.clock.now()
            self.trace.add(label, "bridge", a=a.sid, b=leg.sid)
            star: asyncio.Future[None] = self.clock.future()
            if node.get("hangupOnStar"):
                self._hang_up_on_star(a, label, star)
            gone = self.clock.future()
            ended = self.clock.spawn(self._until_ended(leg), f"bridge {a.sid}")
            ended.add_done_callback(lambda _: settle(gone, None))
            out = await self._wait(first(gone, star), ctx.watch, timeout=node.get("timeLimit"))
            ended.cancel()
            if out is _TIMED_OUT:
                self.trace.add(label, "time-limit", seconds=node.get("timeLimit"))
            return "completed", round(self.clock.now() - started)
        finally:
            if a.leg.bridged_to is leg:
                self.env.network.unbridge(a.leg, leg)
                self.trace.add(label, "unbridge", b=leg.sid)
            a.leg.on_digit = self._ignore_digits(label)
            settle(dequeue.over, None)

    async def _until_ended(self, leg: Leg) -> None:
        """Done when ``leg`` (another call's) has ended: polled on the clock."""
        while not leg.ended:
            await asyncio.sleep(0.5)

    # Dial Conference ----------------------------------------------------------------------
    async def _dial_conference(
        self, ctx: _Ctx, node: Node, noun: Node, url: str | None
    ) -> _Goto | None:
        a = ctx.run
        label = a.leg.label
        assert self.env.rooms is not None
        name = noun.value or ""
        room = self.env.rooms.open(name)
        room.max_participants = noun.get("maxParticipants")
        status, duration = "completed", 0
        if room.full:
            self.trace.add(label, "conference-full", conference=name, sid=room.sid)
            status = "failed"
        else:
            if room.emit is None and noun.get("statusCallback") is not None:
                room.emit = self._conference_emitter(noun, url)
            participant = Participant(
                a.sid,
                a.leg,
                muted=noun.get("muted"),
                start_on_enter=noun.get("startConferenceOnEnter"),
                end_on_exit=noun.get("endConferenceOnExit"),
                beep=noun.get("beep"),
            )
            duration = await self._in_conference(ctx, node, noun, url, room, participant)
        self.trace.add(label, "dial-result", DialCallStatus=status, DialCallDuration=duration)
        action = node.get("action")
        if action is None:
            return None
        params = [("DialCallStatus", status), ("DialCallDuration", str(duration))]
        return _Goto(node.get("method"), urljoin(url or "", action), tuple(params))

    async def _in_conference(
        self, ctx: _Ctx, node: Node, noun: Node, url: str | None, room: Room, who: Participant
    ) -> int:
        """Join ``room``, wait for it to start (the wait document), stay until it ends,
        the leg hangs up, ``*`` (``hangupOnStar``) or ``timeLimit``; seconds in it."""
        a = ctx.run
        label = a.leg.label
        assert self.env.rooms is not None
        joined = self.clock.now()
        self.trace.add(
            label,
            "conference-join",
            conference=room.name,
            sid=room.sid,
            muted=who.muted,
            startConferenceOnEnter=who.start_on_enter,
            endConferenceOnExit=who.end_on_exit,
        )
        room.join(who)
        self.env.network.in_room(a.leg)
        if who.beep in ("true", "onEnter"):
            self._beep(room, who)
        assert who.removed is not None
        star: asyncio.Future[None] = self.clock.future()
        try:
            if not room.running and not room.ended:
                self.trace.add(label, "conference-wait", conference=room.name)
                hold = self.clock.spawn(
                    self._hold(ctx, noun.get("waitUrl"), noun.get("waitMethod"), url, tuple),
                    f"conference {a.sid}",
                )
                assert room.started is not None
                waiter = first(room.started, who.removed, hold)
                try:
                    await self._wait(waiter, ctx.watch)
                finally:
                    await _stop(hold, waiter)
            if room.running:
                self.trace.add(label, "conference-start", conference=room.name, sid=room.sid)
            if node.get("hangupOnStar"):
                self._hang_up_on_star(a, label, star)
            out = await self._wait(
                first(who.removed, star), ctx.watch, timeout=node.get("timeLimit")
            )
            if out is _TIMED_OUT:
                self.trace.add(label, "time-limit", seconds=node.get("timeLimit"))
        finally:
            a.leg.on_digit = self._ignore_digits(label)
            reason = who.removed.result() if who.removed.done() else "left"
            room.leave(who)
            self.env.network.in_room(a.leg)
            self.trace.add(label, "conference-leave", conference=room.name, reason=reason)
            if who.beep in ("true", "onExit") and not room.ended:
                self._beep(room, who)
            self.env.rooms.close(room)
        return round(self.clock.now() - joined)

    def _beep(self, room: Room, who: Participant) -> None:
        for other in room.participants:
            if other is not who:
                self.env.network.beep(other.leg, CONFERENCE_BEEP_SECONDS)

    def _conference_emitter(
        self, noun: Node, url: str | None
    ) -> Callable[[Room, str, Participant | None, dict[str, str]], None]:
        """The room's events as this participant's ``statusCallback`` asks for them."""
        words = noun.get("statusCallbackEvent") or ["start", "end"]
        wanted = {name for word in words for name in EVENT_NAMES.get(word, ())}
        subscription = Subscription(
            url=urljoin(url or "", noun.get("statusCallback")),
            method=noun.get("statusCallbackMethod"),
        )
        owner = self.sid
        account = self.spec.account_sid
        sent = [0]  # SequenceNumber: the events this subscription was sent, in order
        deliverer = self.env.deliverer

        def emit(room: Room, event: str, who: Participant | None, extra: dict[str, str]) -> None:
            if event not in wanted:
                return
            params = conference_params(
                ConferenceEvent(
                    conference_sid=room.sid,
                    friendly_name=room.name,
                    event=event,
                    sequence=sent[0],
                    timestamp=self.clock.wall(),
                    account_sid=account,
                    call_sid=None if who is None else who.call_sid,
                    muted=False if who is None else who.muted,
                    hold=False if who is None else who.hold,
                    start_on_enter=True if who is None else who.start_on_enter,
                    end_on_exit=False if who is None else who.end_on_exit,
                    extra=tuple(extra.items()),
                )
            )
            sequence = sent[0]
            sent[0] += 1
            key = owner if who is None else who.call_sid
            self.trace.add("a", "conference-callback", event=event, url=subscription.url)
            if deliverer is not None:
                deliverer.submit(
                    event_id=f"{room.sid}:{sequence}:{event}",
                    key=key,
                    subscription=subscription,
                    params=params,
                )

        return emit


async def _stop(task: asyncio.Task[None], waiter: asyncio.Future[Any]) -> None:
    """Cancel a wait document's task and let it finish; what it or ``waiter`` (a
    :func:`first` over it) raised is over with it (the caller already knows why)."""
    waiter.add_done_callback(_retrieved)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def _retrieved(fut: asyncio.Future[Any]) -> None:
    """Mark what ``fut`` raised as seen (the leg's end was reported by another future)."""
    if not fut.cancelled():
        fut.exception()


def place_call(env: Environment, spec: OutboundCall) -> CallHandle:
    """Start ``spec`` on ``env``'s clock; run the clock to make it progress."""
    call = _Call(env, spec)
    task = env.clock.spawn(call.run(), f"call {call.sid}")
    return CallHandle(call.sid, call.trace, call.a, call.legs, task, call)
