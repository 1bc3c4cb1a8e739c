"""Conference rooms of one dialer: ``<Dial><Conference>``.

A :class:`Rooms` registry holds the dialer's rooms by name: the first participant
creates the room, the first one with ``startConferenceOnEnter`` starts it (the
others wait, hearing the ``waitUrl``), the last one leaving or one with
``endConferenceOnExit`` ends it, and the next participant of that name opens a new
conference (a new ``ConferenceSid``), as Twilio does.

A :class:`Room` is what the simulated network asks who hears a participant: once the
conference has started, what a participant's far end presses or says reaches every
other participant's leg (a muted participant is heard by nobody).  Its events
(``conference-start``, ``participant-join``, ...) are handed to an ``emit`` callable:
the interpreter turns them into the status callbacks of ``statusCallbackEvent``.

The state lives in the memory of one dialer process: participants dialed by another
dialer are in another room of the same name (docs/conferences.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from voiceapp.dialer.clock import Clock, settle
from voiceapp.dialer.network import Leg

#: ``statusCallbackEvent`` words → the ``StatusCallbackEvent`` values they subscribe to.
EVENT_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "start": ("conference-start",),
    "end": ("conference-end",),
    "join": ("participant-join",),
    "leave": ("participant-leave",),
    "mute": ("participant-mute", "participant-unmute"),
    "hold": ("participant-hold", "participant-unhold"),
    "speaker": ("participant-speech-start", "participant-speech-stop"),
    "modify": ("participant-modify",),
    "announcement": ("announcement-end", "announcement-fail"),
}
#: Twilio's ``ReasonConferenceEnded`` values.
ENDED_BY_EXIT: Final = "participant-with-end-conference-on-exit-left"
ENDED_LAST_LEFT: Final = "last-participant-left"


@dataclass(eq=False)
class Participant:
    """A call in a conference room."""

    call_sid: str
    leg: Leg
    muted: bool = False
    start_on_enter: bool = True
    end_on_exit: bool = False
    beep: str = "true"
    hold: bool = False
    #: settled with the reason when the conference ends around this participant
    removed: asyncio.Future[str] | None = None
    joined_at: float = 0.0


#: ``emit(room, event, participant or None, extra params)``
Emit = Callable[["Room", str, "Participant | None", dict[str, str]], None]


@dataclass(eq=False)
class Room:
    """One conference: its participants and whether it has started."""

    name: str
    sid: str
    clock: Clock
    emit: Emit | None = None
    max_participants: int = 250
    participants: list[Participant] = field(default_factory=list)
    started: asyncio.Future[None] | None = None
    started_at: float | None = None
    ended: bool = False

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.clock.future()

    @property
    def running(self) -> bool:
        return self.started_at is not None and not self.ended

    # what the network asks ---------------------------------------------------------------
    def listeners(self, leg: Leg) -> list[Leg]:
        """The legs that hear what ``leg``'s far end presses or says."""
        speaker = next((p for p in self.participants if p.leg is leg), None)
        if speaker is None or speaker.muted or not self.running:
            return []
        return [p.leg for p in self.participants if p is not speaker and not p.hold]

    def spoke(self, leg: Leg) -> None:
        """``leg``'s far end spoke: Twilio's speaker events (``speaker``)."""
        speaker = next((p for p in self.participants if p.leg is leg), None)
        if speaker is None or speaker.muted or not self.running:
            return
        self._emit("participant-speech-start", speaker)
        self._emit("participant-speech-stop", speaker)

    # participants ------------------------------------------------------------------------
    @property
    def full(self) -> bool:
        return len(self.participants) >= self.max_participants

    def join(self, participant: Participant) -> None:
        participant.removed = self.clock.future()
        participant.joined_at = self.clock.now()
        self.participants.append(participant)
        participant.leg.room = self
        self._emit("participant-join", participant)
        if participant.start_on_enter and self.started_at is None:
            self.started_at = self.clock.now()
            self._emit("conference-start", participant)
            assert self.started is not None
            settle(self.started, None)

    def set_muted(self, participant: Participant, muted: bool) -> None:
        if participant.muted != muted:
            participant.muted = muted
            self._emit("participant-mute" if muted else "participant-unmute", participant)

    def set_hold(self, participant: Participant, hold: bool) -> None:
        if participant.hold != hold:
            participant.hold = hold
            self._emit("participant-hold" if hold else "participant-unhold", participant)

    def leave(self, participant: Participant) -> None:
        """``participant`` left (hung up, ``*``, time limit, or the conference ended)."""
        if participant not in self.participants:
            return
        self.participants.remove(participant)
        if participant.leg.room is self:
            participant.leg.room = None
        self._emit("participant-leave", participant)
        if self.ended:
            return
        if participant.end_on_exit and self.started_at is not None:
            self.end(ENDED_BY_EXIT, participant)
        elif not self.participants:
            self.end(ENDED_LAST_LEFT, participant)

    def end(self, reason: str, by: Participant | None) -> None:
        if self.ended:
            return
        self.ended = True
        extra = {"ReasonConferenceEnded": reason}
        if by is not None:
            extra["CallSidEndingConference"] = by.call_sid
        for other in list(self.participants):  # everyone leaves, then the room ends
            self.participants.remove(other)
            if other.leg.room is self:
                other.leg.room = None
            self._emit("participant-leave", other)
            if other.removed is not None:
                settle(other.removed, reason)
        if self.started_at is not None:
            self._emit("conference-end", by, extra)

    def _emit(self, event: str, participant: Participant | None, extra: Any = None) -> None:
        if self.emit is not None:
            self.emit(self, event, participant, dict(extra or {}))


class Rooms:
    """The dialer's conference rooms by name (one asyncio loop)."""

    def __init__(self, clock: Clock, new_sid: Callable[[str], str]) -> None:
        self.clock = clock
        self.new_sid = new_sid
        self._rooms: dict[str, Room] = {}

    def open(self, name: str) -> Room:
        """The running (or waiting) room called ``name``, or a new one."""
        room = self._rooms.get(name)
        if room is None or room.ended:
            room = Room(name, self.new_sid("CF"), self.clock)
            self._rooms[name] = room
        return room

    def get(self, name: str) -> Room | None:
        room = self._rooms.get(name)
        return None if room is None or room.ended else room

    def close(self, room: Room) -> None:
        """Forget an ended room."""
        if room.ended and self._rooms.get(room.name) is room:
            del self._rooms[room.name]
