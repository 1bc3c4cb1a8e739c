"""A conference's audio: each member hears the sum of the others, on the 20 ms tick.

A :class:`Mixer` holds the :class:`~voiceapp.media.session.MediaSession` of each
member of one conference.  What a member's far end sends (its audio, and RFC 4733
digits rendered as their tones, :attr:`MediaSession.on_audio`) is cut into 20 ms
frames and queued per member (at most :data:`MAX_QUEUED` frames: a member whose
packets come in bursts loses the oldest, so the delay stays bounded).  The queue is a
small jitter buffer: a member's audio is mixed in once :data:`PLAYOUT_FRAMES` frames
are queued (or its first frame has waited that many rounds), and after the queue runs
dry it fills again first, so a packet up to 40 ms late, or a tick of the shared pacer
that runs late and catches up, does not cut a gap into what the others hear (a gap
in a DTMF tone would be heard as the digit twice).  Each member's
session takes its next frame from the mixer on its own 20 ms tick when it has nothing
of its own to send (:meth:`MediaSession.set_feed`).

The frames are mixed in *rounds*: the first member served in a round takes one frame
from every member's queue and sums those of the members that speak (16-bit ints,
not clipped); each member then gets that sum minus its own frame, clipped to 16 bits,
plus the current frame of an announcement (a join/leave beep,
:func:`voiceapp.media.audio.beep`).  A round ends when a member asks a second time:
with the dialer's one shared pacer every member asks once per tick, so one round is
one tick, and the work is one sum per tick plus one subtraction per member (not one
sum per pair).

Who speaks and who hears is set per member (:meth:`set_part`): a muted member is
not mixed in, a member on hold neither speaks nor hears (its own hold music, queued
on its session, goes first anyway).  A ``refresh`` callable, when given, is called at
the start of each round to set them from the conference's state.
"""

from __future__ import annotations

import sys
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from voiceapp.media.audio import SAMPLE_BYTES, pcm_of, samples_of

if TYPE_CHECKING:
    from voiceapp.media.session import MediaSession

#: 20 ms of 8 kHz audio.
FRAME_SAMPLES: Final = 160
FRAME_BYTES: Final = FRAME_SAMPLES * SAMPLE_BYTES
#: Frames queued per member before the oldest is dropped (120 ms).
MAX_QUEUED: Final = 6
#: Frames a member's queue holds before its audio is mixed in (60 ms of playout delay).
PLAYOUT_FRAMES: Final = 3
_SILENCE: Final = bytes(FRAME_BYTES)


@dataclass(eq=False)
class _Member:
    session: MediaSession
    speaks: bool = True
    hears: bool = True
    queue: deque[bytes] = field(default_factory=lambda: deque(maxlen=MAX_QUEUED))
    partial: bytes = b""
    current: list[int] | None = None  # this round's frame, when it speaks
    playing: bool = False  # the queue filled to PLAYOUT_FRAMES and has not run dry since
    waited: int = 0  # rounds the first frame of a filling queue has waited

    def next_frame(self) -> bytes | None:
        """This round's frame from the queue (the jitter buffer of the module doc)."""
        if not self.queue:
            self.playing, self.waited = False, 0
            return None
        if not self.playing:
            self.waited += 1
            if len(self.queue) < PLAYOUT_FRAMES and self.waited < PLAYOUT_FRAMES:
                return None
            self.playing = True
        return self.queue.popleft()


class Mixer:
    """One conference's audio (see the module doc)."""

    def __init__(self, refresh: Callable[[], None] | None = None) -> None:
        self.refresh = refresh
        self._members: dict[MediaSession, _Member] = {}
        self._served: set[MediaSession] = set()
        self._total: list[int] = [0] * FRAME_SAMPLES
        self._announcement: deque[bytes] = deque()
        self._announced: bytes | None = None
        self.rounds = 0

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, session: object) -> bool:
        return session in self._members

    def add(self, session: MediaSession) -> None:
        """Mix ``session`` in: its far end's audio reaches the others, it hears theirs."""
        if session in self._members:
            return
        self._members[session] = _Member(session)
        session.on_audio = self.heard
        session.set_feed(lambda: self.frame_for(session))

    def remove(self, session: MediaSession) -> None:
        member = self._members.pop(session, None)
        self._served.discard(session)
        if member is not None and not session.closed:
            session.on_audio = None
            session.set_feed(None)

    def set_part(self, session: MediaSession, *, speaks: bool, hears: bool) -> None:
        member = self._members.get(session)
        if member is not None:
            member.speaks, member.hears = speaks, hears
            if not speaks:
                member.queue.clear()
                member.playing, member.waited = False, 0

    def announce(self, pcm: bytes) -> None:
        """Mix ``pcm`` (16-bit 8 kHz) into what every member hears, from the next round."""
        for start in range(0, len(pcm), FRAME_BYTES):
            frame = pcm[start : start + FRAME_BYTES]
            self._announcement.append(frame + bytes(FRAME_BYTES - len(frame)))

    # -- in and out -------------------------------------------------------------------------
    def heard(self, session: MediaSession, pcm: bytes) -> None:
        member = self._members.get(session)
        if member is None or not member.speaks:
            return
        data = member.partial + pcm
        whole = len(data) - len(data) % FRAME_BYTES
        for start in range(0, whole, FRAME_BYTES):
            member.queue.append(data[start : start + FRAME_BYTES])
        member.partial = data[whole:]

    def _round(self) -> None:
        self.rounds += 1
        self._served.clear()
        if self.refresh is not None:
            self.refresh()
        total = [0] * FRAME_SAMPLES
        for member in self._members.values():
            member.current = None
            queued = member.next_frame() if member.speaks else None
            if queued is not None:
                frame = list(samples_of(queued))
                member.current = frame
                total = [t + s for t, s in zip(total, frame, strict=True)]
        self._total = total
        self._announced = self._announcement.popleft() if self._announcement else None

    def frame_for(self, session: MediaSession) -> bytes:
        """``session``'s 20 ms of the mix (a new round when it was served already)."""
        if session in self._served or not self._served:
            self._round()
        self._served.add(session)
        member = self._members.get(session)
        if member is None or not member.hears:
            return _SILENCE
        out = self._total
        if member.current is not None:
            out = [t - s for t, s in zip(out, member.current, strict=True)]
        if self._announced is not None:
            out = [t + s for t, s in zip(out, samples_of(self._announced), strict=True)]
        if max(out) > 32767 or min(out) < -32768:
            return pcm_of(out)  # clipped
        data = array("h", out)  # the usual case: nothing to clip
        if sys.byteorder == "big":  # pragma: no cover
            data.byteswap()
        return data.tobytes()
