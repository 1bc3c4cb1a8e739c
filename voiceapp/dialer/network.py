"""Network backends: how call legs are carried, behind one interface.

:class:`NetworkBackend` is what the dialer asks of a phone network: place a leg,
hang it up, send it a DTMF :class:`~voiceapp.dtmf.Timeline`, say or play to it,
record it, bridge two legs.  What the network reports back arrives on the
:class:`Leg`: ``on_event`` gets the progress (:class:`~voiceapp.calls.states.Event`
``ring``, ``answer``, ``busy``, ``fail``, and ``hang-up`` when the far end hangs
up) and ``on_digit`` gets each DTMF digit the far end presses.  The state machine
is not applied here: the caller feeds these events to it.

:class:`SimulatedNetwork` is the default backend.  Each number behaves as its
configuration says (plain data, e.g. the ``[network]`` table of the TOML config)::

    {
      "ring_seconds": 2.0,                  # one ring lasts this long
      "default": {"rings": 1},              # numbers not listed below
      "numbers": {
        "+886912345678": {"rings": 2, "press": [{"at": 1.0, "digits": "1234#"}]},
        "+886223456789": {"outcome": "busy"},
        "+18005797676":  {"rings": 1, "ivr": {"expect": "101", "after": 2.0, "within": 10}},
      },
    }

Per-number keys: ``outcome`` (``answer``, ``busy``, ``no-answer``, ``fail``),
``rings`` (rings before answer or busy), ``hangup_after`` (seconds after answer),
``talk_seconds`` (how long the callee speaks into a ``<Record>``), ``answered_by``
(``human``, ``machine`` or ``fax``: what a call's machine detection finds, see
:mod:`voiceapp.dialer.amd`; a machine's ``greeting_seconds``, default 5, and ``beep``,
default true), ``press``
(digits the callee presses ``at`` seconds after answer, or ``delay`` seconds after
it hears a Say containing ``on_hearing``), ``ivr`` (an IVR callee that connects
only when it hears ``expect`` no earlier than ``after`` seconds after answer, and
hangs up after ``within`` seconds or on a wrong digit), ``say`` (phrases said to a
``<Gather input="speech">``: ``"billing"`` is said ``0.5`` s after the next Say heard
while one listens; ``{text, at}`` at seconds after answer; ``{text, on_hearing, delay}``
after a Say containing the phrase), ``name``.  Bad data raises
:class:`~voiceapp.errors.ConfigError` naming the key.  Time comes from a
:class:`~voiceapp.dialer.clock.Clock`: virtual in tests, real in the demo.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from voiceapp.calls.states import Event
from voiceapp.dialer.clock import Clock
from voiceapp.dialer.trace import Trace
from voiceapp.dtmf import Timeline, Tone
from voiceapp.media.track import LineTap
from voiceapp.settings_tables.network import Callee, Ivr, NetworkConfig, Press, Speak

# -- legs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heard:
    """Something the far end of a leg heard: a Say, a Play, a DTMF digit."""

    at: float  # clock seconds
    kind: Literal["say", "play", "digit"]
    value: str


@dataclass(frozen=True, slots=True)
class Carried:
    """A call as a network that fetches and runs its documents itself receives it (a
    Twilio-compatible carrier): the document to run on answer and the call's limits."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None  # instead of url
    send_digits: str | None = None  # pressed on answer, before the document
    timeout: float = 60.0  # seconds to ring
    time_limit: float = 14400.0


def _ignore_event(event: Event) -> None:
    return None


class Mixer(Protocol):
    """A conference room as the network sees it (:mod:`voiceapp.dialer.conference`)."""

    def listeners(self, leg: Leg) -> list[Leg]:
        """The legs that hear what ``leg``'s far end presses or says."""
        ...

    def spoke(self, leg: Leg) -> None:
        """``leg``'s far end said something (speaker events)."""
        ...


@dataclass(eq=False)
class Leg:
    """One call leg as the network sees it; the dialer owns its status."""

    sid: str
    from_: str
    to: str
    label: str = "a"
    parent_sid: str | None = None
    trace: Trace | None = None
    on_event: Callable[[Event], None] = _ignore_event
    on_digit: Callable[[str], None] | None = None
    #: what the far end says while a ``<Gather input="speech">`` listens
    on_speech: Callable[[str], None] | None = None
    answered_by: str | None = None  # ``human``, ``machine`` or ``fax``, as the network tells
    greeting_seconds: float = 0.0  # a machine's greeting (voiceapp.dialer.amd)
    beep: bool = False  # ... ends with a beep
    heard: list[Heard] = field(default_factory=list)
    answered_at: float | None = None
    ended: bool = False
    bridged_to: Leg | None = None
    #: an inbound call's leg: the far end is the caller (``from_``), already on the line
    inbound: bool = False
    #: the SIP final response the leg ended with, when a SIP network carried it
    sip_code: int | None = None
    #: the conference room the leg is in: what its far end does reaches the others
    room: Mixer | None = None
    #: what a network that runs the documents itself (a carrier) is to run on this leg
    carried: Carried | None = None
    #: whole seconds the network says the leg lasted (else the dialer's own count)
    duration: int | None = None

    def said(self) -> list[str]:
        """The texts of every Say the far end heard, in order."""
        return [h.value for h in self.heard if h.kind == "say"]

    def digits_heard(self) -> str:
        return "".join(h.value for h in self.heard if h.kind == "digit")

    def note(self, kind: str, **detail: Any) -> None:
        if self.trace is not None:
            self.trace.add(self.label, kind, **detail)


class NetworkBackend(ABC):
    """What the dialer needs from a phone network."""

    clock: Clock
    #: True when the network fetches and runs each a-leg's document itself (a carrier):
    #: the dialer then gives it ``leg.carried`` and only follows the leg's progress
    runs_documents: bool = False

    @property
    def idle(self) -> bool:
        """No request of the network's own is still on its way (a carrier's hang-up): the
        dialer's stop waits for it."""
        return True

    @abstractmethod
    def place(self, leg: Leg) -> None:
        """Start calling ``leg.to``; progress arrives on ``leg.on_event``.  An ``inbound``
        leg is the caller's call to us: it is answered at once."""

    @abstractmethod
    def hang_up(self, leg: Leg) -> None:
        """End the leg from our side (cancels it when not yet answered)."""

    @abstractmethod
    def send_digits(self, leg: Leg, timeline: Timeline) -> asyncio.Future[None]:
        """Play a DTMF timeline to the far end; done when its last event ends."""

    @abstractmethod
    def say(
        self,
        leg: Leg,
        text: str,
        seconds: float,
        *,
        voice: str | None = None,
        language: str | None = None,
    ) -> asyncio.Future[None]:
        """Speak ``text`` to the far end for ``seconds`` (``<Say voice language>``)."""

    @abstractmethod
    def play(self, leg: Leg, url: str, seconds: float) -> asyncio.Future[None]:
        """Play the audio at ``url`` to the far end for ``seconds``."""

    @abstractmethod
    def beep(self, leg: Leg, seconds: float) -> asyncio.Future[None]:
        """Play a beep tone of ``seconds`` to the far end (before a ``<Record>``; a
        conference participant joining or leaving); done once it has been sent."""

    @abstractmethod
    def record(self, leg: Leg, *, max_length: float, timeout: float) -> asyncio.Future[float]:
        """Record the far end; resolves to the recorded length in seconds."""

    def stop_recording(self, leg: Leg) -> None:
        """End the :meth:`record` running on ``leg`` now (a key of ``finishOnKey``);
        a network whose recording is only a timer has nothing to stop."""
        return None

    def talk_seconds(self, leg: Leg) -> float:
        """How long the far end of ``leg`` speaks into a recording (0: unknown)."""
        return 0.0

    def capture(self, leg: Leg) -> LineTap | None:
        """Start keeping the real audio on ``leg``'s line, both ways (a recording of a
        network with media); None: the network has no audio, the recording is rendered
        from what the dialer knows was said (:mod:`voiceapp.dialer.recording`)."""
        return None

    def in_room(self, leg: Leg) -> None:
        """``leg`` joined or left its conference (``leg.room``, None once it left): a
        network with media mixes the room's audio; the simulated one asks the room."""
        return None

    @abstractmethod
    def bridge(self, a: Leg, b: Leg) -> None:
        """Connect two answered legs: what one side presses, the other hears."""

    @abstractmethod
    def unbridge(self, a: Leg, b: Leg) -> None: ...

    def close(self) -> None:
        """Release what the backend holds (sockets); the dialer calls it when it stops."""
        return None


# -- the simulated network ------------------------------------------------------------------


@dataclass(eq=False)
class _Line:
    """The simulator's private state for one placed leg."""

    leg: Leg
    callee: Callee
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    triggers: list[Press] = field(default_factory=list)
    phrases: list[Speak] = field(default_factory=list)  # said on hearing a prompt
    collected: str = ""
    connected: bool = False
    gave_up: bool = False


class SimulatedNetwork(NetworkBackend):
    """A phone network in memory, driven by a clock and per-number callee configs."""

    def __init__(self, clock: Clock, config: NetworkConfig | Mapping[str, Any] | None = None):
        self.clock = clock
        self.config = (
            config if isinstance(config, NetworkConfig) else NetworkConfig.from_dict(config)
        )
        self._lines: dict[str, _Line] = {}

    # interface ---------------------------------------------------------------------------
    def place(self, leg: Leg) -> None:
        if leg.sid in self._lines:
            raise ValueError(f"leg {leg.sid} was already placed")
        if leg.inbound:  # the caller behaves as its number's script says; we answer
            line = _Line(leg, self.config.callee(leg.from_))
            self._lines[leg.sid] = line
            line.tasks.append(self.clock.spawn(self._answer(line), f"answer {leg.sid}"))
            return
        line = _Line(leg, self.config.callee(leg.to))
        self._lines[leg.sid] = line
        line.tasks.append(self.clock.spawn(self._ring(line), f"ring {leg.sid}"))

    def hang_up(self, leg: Leg) -> None:
        line = self._lines.get(leg.sid)
        leg.ended = True
        if line is not None:
            self._stop(line)
        if leg.bridged_to is not None:
            self.unbridge(leg, leg.bridged_to)

    def send_digits(self, leg: Leg, timeline: Timeline) -> asyncio.Future[None]:
        return self.clock.spawn(self._send(leg, timeline), f"digits {leg.sid}")

    def say(
        self,
        leg: Leg,
        text: str,
        seconds: float,
        *,
        voice: str | None = None,
        language: str | None = None,
    ) -> asyncio.Future[None]:
        self._hear(leg, "say", text)
        return self.clock.timeout(seconds)

    def play(self, leg: Leg, url: str, seconds: float) -> asyncio.Future[None]:
        self._hear(leg, "play", url)
        return self.clock.timeout(seconds)

    def beep(self, leg: Leg, seconds: float) -> asyncio.Future[None]:
        self._hear(leg, "play", "beep")
        return self.clock.timeout(seconds)

    def talk_seconds(self, leg: Leg) -> float:
        line = self._lines.get(leg.sid)
        return line.callee.talk_seconds if line is not None else 0.0

    def record(self, leg: Leg, *, max_length: float, timeout: float) -> asyncio.Future[float]:
        line = self._lines.get(leg.sid)
        talk = line.callee.talk_seconds if line is not None else 0.0
        recorded = min(talk, max_length)
        # the recording stops at max_length, or after `timeout` seconds of silence
        elapsed = max_length if talk >= max_length else talk + timeout
        return self.clock.timeout(elapsed, recorded)

    def bridge(self, a: Leg, b: Leg) -> None:
        a.bridged_to, b.bridged_to = b, a

    def unbridge(self, a: Leg, b: Leg) -> None:
        if a.bridged_to is b:
            a.bridged_to = None
        if b.bridged_to is a:
            b.bridged_to = None

    # the far end, driven from outside (voiceapp.testing) ---------------------------------
    def press(self, leg: Leg, digits: Timeline) -> asyncio.Future[None]:
        """The far end of ``leg`` presses ``digits`` now (as a callee's ``press``)."""
        line = self._lines.get(leg.sid)
        if line is None:
            raise ValueError(f"leg {leg.sid} was not placed")
        task = self.clock.spawn(self._press(line, Press(digits), 0.0), f"press {leg.sid}")
        line.tasks.append(task)
        return task

    def speak(self, leg: Leg, text: str) -> None:
        """The far end of ``leg`` says ``text`` (heard by a ``<Gather input="speech">``)."""
        leg.note("callee-said", text=text)
        if leg.ended:
            return
        self._carry(leg, "say", text)
        if leg.on_speech is None:
            leg.note("speech-ignored", text=text)
            return
        leg.on_speech(text)

    def remote_hang_up(self, leg: Leg, reason: str) -> None:
        """The far end of ``leg`` hangs up now."""
        line = self._lines.get(leg.sid)
        if line is not None:
            self._remote_hang_up(line, reason)

    # callee behaviour --------------------------------------------------------------------
    async def _ring(self, line: _Line) -> None:
        leg, callee = line.leg, line.callee
        try:
            if callee.outcome == "fail":
                await asyncio.sleep(0.0)
                self._report(leg, Event.FAIL)
                return
            if callee.rings > 0 or callee.outcome == "no-answer":
                self._report(leg, Event.RING)
            if callee.outcome == "no-answer":
                return  # rings until the dialer's timeout cancels it
            await asyncio.sleep(callee.rings * self.config.ring_seconds)
            if callee.outcome == "busy":
                self._report(leg, Event.BUSY)
                return
            leg.answered_at = self.clock.now()
            leg.answered_by = callee.answered_by
            leg.greeting_seconds, leg.beep = callee.greeting_seconds, callee.beep
            self._report(leg, Event.ANSWER)
            if leg.ended:
                return
            self._start_callee(line)
        except asyncio.CancelledError:
            return

    async def _answer(self, line: _Line) -> None:
        """An inbound call: it rings on our side and is answered at once (the caller's
        ``outcome`` and ``rings`` do not apply; its presses and hang-up do)."""
        leg = line.leg
        try:
            self._report(leg, Event.RING)
            await asyncio.sleep(0.0)
            if leg.ended:
                return
            leg.answered_at = self.clock.now()
            self._report(leg, Event.ANSWER)
            if not leg.ended:
                self._start_callee(line)
        except asyncio.CancelledError:
            return

    def _start_callee(self, line: _Line) -> None:
        callee = line.callee
        for press in callee.press:
            if press.at is not None:
                line.tasks.append(
                    self.clock.spawn(self._press(line, press, press.at), f"press {line.leg.sid}")
                )
            else:
                line.triggers.append(press)
        for phrase in callee.say:
            if phrase.at is not None:
                line.tasks.append(
                    self.clock.spawn(self._say_later(line, phrase.text, phrase.at), "say")
                )
            else:
                line.phrases.append(phrase)
        if callee.hangup_after is not None:
            line.tasks.append(
                self.clock.spawn(self._hang_up_after(line, callee.hangup_after), "hangup_after")
            )
        if callee.ivr is not None:
            line.tasks.append(
                self.clock.spawn(self._ivr_deadline(line, callee.ivr), f"ivr {line.leg.sid}")
            )

    async def _press(self, line: _Line, press: Press, delay: float) -> None:
        leg = line.leg
        try:
            await asyncio.sleep(delay)
            start = self.clock.now()
            for event in press.digits.events:
                if not isinstance(event, Tone):
                    continue
                await asyncio.sleep(start + event.start_ms / 1000 - self.clock.now())
                if leg.ended:
                    return
                leg.note("callee-pressed", digit=event.digit)
                if leg.on_digit is not None:
                    leg.on_digit(event.digit)
                if leg.bridged_to is not None:
                    self._hear(leg.bridged_to, "digit", event.digit)
                self._carry(leg, "digit", event.digit)
        except asyncio.CancelledError:
            return

    async def _say_later(self, line: _Line, text: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            return
        self.speak(line.leg, text)

    def _prompted(self, line: _Line, phrase: str) -> None:
        """A Say was heard: the callee's first phrase waiting for it is said."""
        for speak in line.phrases:
            if speak.on_hearing is None:
                if line.leg.on_speech is None:
                    continue  # no speech gather listens to it
            elif speak.on_hearing.casefold() not in phrase:
                continue
            line.phrases.remove(speak)
            line.tasks.append(
                self.clock.spawn(self._say_later(line, speak.text, speak.delay), "say")
            )
            return

    async def _hang_up_after(self, line: _Line, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            return
        self._remote_hang_up(line, "callee hung up")

    async def _ivr_deadline(self, line: _Line, ivr: Ivr) -> None:
        try:
            await asyncio.sleep(ivr.within)
        except asyncio.CancelledError:
            return
        if not line.connected and not line.gave_up:
            line.gave_up = True
            line.leg.note("ivr", result="timeout", heard=line.collected, expect=ivr.expect)
            self._remote_hang_up(line, "IVR heard no valid extension")

    async def _send(self, leg: Leg, timeline: Timeline) -> None:
        start = self.clock.now()
        for event in timeline.events:
            if leg.ended:
                return
            if isinstance(event, Tone):
                await asyncio.sleep(start + event.start_ms / 1000 - self.clock.now())
                if leg.ended:
                    return
                self._hear(leg, "digit", event.digit)
        await asyncio.sleep(start + timeline.duration_ms / 1000 - self.clock.now())

    def _carry(self, leg: Leg, kind: Literal["say", "digit"], value: str) -> None:
        """What ``leg``'s far end did reaches the other legs of its conference room."""
        if leg.room is None:
            return
        for other in leg.room.listeners(leg):
            self._hear(other, kind, value)
        if kind == "say":
            leg.room.spoke(leg)

    def _hear(self, leg: Leg, kind: Literal["say", "play", "digit"], value: str) -> None:
        if leg.ended:
            return
        leg.heard.append(Heard(self.clock.now(), kind, value))
        line = self._lines.get(leg.sid)
        if line is None:
            return
        if kind == "say":
            phrase = value.casefold()
            for press in list(line.triggers):
                if press.on_hearing is not None and press.on_hearing.casefold() in phrase:
                    line.triggers.remove(press)
                    line.tasks.append(
                        self.clock.spawn(self._press(line, press, press.delay), "press")
                    )
            self._prompted(line, phrase)
        elif kind == "digit" and line.callee.ivr is not None:
            self._ivr_digit(line, line.callee.ivr, value)

    def _ivr_digit(self, line: _Line, ivr: Ivr, digit: str) -> None:
        leg = line.leg
        if line.connected or line.gave_up or leg.answered_at is None:
            return
        since = self.clock.now() - leg.answered_at
        if since < ivr.after:
            leg.note("ivr", result="ignored", digit=digit, after_s=round(since, 3))
            return
        line.collected += digit
        if line.collected == ivr.expect:
            line.connected = True
            leg.note("ivr", result="connected", extension=ivr.expect)
        elif not ivr.expect.startswith(line.collected):
            line.gave_up = True
            leg.note("ivr", result="wrong", heard=line.collected, expect=ivr.expect)
            self._remote_hang_up(line, "IVR heard a wrong extension")

    def _remote_hang_up(self, line: _Line, reason: str) -> None:
        leg = line.leg
        if leg.ended:
            return
        leg.note("callee-hangup", reason=reason)
        leg.ended = True
        self._stop(line)
        self._report(leg, Event.HANG_UP)

    def _stop(self, line: _Line) -> None:
        for task in line.tasks:
            task.cancel("leg ended")
        line.tasks.clear()
        line.triggers.clear()
        line.phrases.clear()

    def _report(self, leg: Leg, event: Event) -> None:
        leg.on_event(event)

    # inspection (tests, CLI) -------------------------------------------------------------
    def connected(self, leg: Leg) -> bool:
        """True when ``leg``'s IVR callee has heard its extension."""
        line = self._lines.get(leg.sid)
        return line is not None and line.connected
