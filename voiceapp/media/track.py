"""A call leg's audio laid out on time: what a recording of a real call is made from.

A :class:`LineTap` is put on one leg's :class:`~voiceapp.media.session.MediaSession`
(:meth:`~voiceapp.media.session.MediaSession.tap`) and keeps, from the moment it is
put on, two :class:`Track` s of 8 kHz 16-bit PCM:

* ``heard`` — what the far end sends: its audio, placed by RTP timestamp (a gap in
  the timestamps is silence; a jump of more than :data:`MAX_JUMP_SECONDS` or a new
  stream is placed by its arrival time instead), and the DTMF it sends as RFC 4733
  events, rendered as the tone pair for the event's duration;
* ``sent`` — what the far end hears from us: our own Say, Play and digits (RFC 4733
  digits rendered as tones), the other leg's audio relayed to it by a bridge, a
  conference's mix.

:meth:`LineTap.stop` detaches the tap and returns a :class:`Captured`, the two tracks
as bytes of equal length; its :meth:`~Captured.mono` (both mixed),
:meth:`~Captured.stereo` (heard left, sent right) and :meth:`~Captured.far_end` (heard
only, silence trimmed or not) are plain CPU work on copies, meant for the loop's
executor.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from voiceapp.dtmf.audio import DEFAULT_AMPLITUDE, FREQUENCIES
from voiceapp.media.audio import SAMPLE_BYTES, SAMPLE_RATE, pcm_of, rms, samples_of

#: A jump in the far end's RTP timestamps larger than this (a new stream, a clock
#: reset) is placed by arrival time, not by timestamp.
MAX_JUMP_SECONDS = 5.0
#: A 20 ms frame quieter than this RMS (of 32767) is silence when a recording is trimmed.
SILENCE_RMS = 200.0
_FRAME = 160
_PEAK = DEFAULT_AMPLITUDE * 32767


def tone_samples(digit: str, first: int, count: int) -> bytes:
    """``count`` samples of ``digit``'s DTMF tone pair from sample ``first`` of the tone
    (so pieces rendered one after another join without a phase jump), as PCM."""
    low, high = FREQUENCIES[digit]
    w1 = 2 * math.pi * low / SAMPLE_RATE
    w2 = 2 * math.pi * high / SAMPLE_RATE
    return pcm_of(
        [round(_PEAK * (math.sin(w1 * n) + math.sin(w2 * n))) for n in range(first, first + count)]
    )


class Track:
    """PCM on a time line: :meth:`add` lays a piece at a sample position, mixing it with
    what is there (summed, clipped to 16 bits); positions never written are silence."""

    def __init__(self) -> None:
        self._pcm = bytearray()

    def __len__(self) -> int:
        """Samples from position 0 to the end of the last piece."""
        return len(self._pcm) // SAMPLE_BYTES

    def add(self, position: int, pcm: bytes) -> None:
        if position < 0:
            pcm = pcm[-position * SAMPLE_BYTES :]
            position = 0
        if not pcm:
            return
        start = position * SAMPLE_BYTES
        end = start + len(pcm)
        if start >= len(self._pcm):  # the usual case: the piece comes after the end
            self._pcm += bytes(start - len(self._pcm))
            self._pcm += pcm
            return
        overlap = min(end, len(self._pcm)) - start
        here = samples_of(bytes(self._pcm[start : start + overlap]))
        new = samples_of(pcm[:overlap])
        self._pcm[start : start + overlap] = pcm_of([a + b for a, b in zip(here, new, strict=True)])
        self._pcm += pcm[overlap:]

    def shift(self, samples: int) -> None:
        """Move everything ``samples`` later (silence before it)."""
        if samples > 0:
            self._pcm[0:0] = bytes(samples * SAMPLE_BYTES)

    def pcm(self, samples: int) -> bytes:
        """The first ``samples`` samples (padded with silence)."""
        data = bytes(self._pcm[: samples * SAMPLE_BYTES])
        return data + bytes(samples * SAMPLE_BYTES - len(data))


@dataclass(frozen=True, slots=True)
class Captured:
    """What a tap kept: the far end's audio (``heard``) and what it heard from us
    (``sent``), the same number of samples each."""

    heard: bytes
    sent: bytes

    @property
    def seconds(self) -> float:
        return len(self.heard) / SAMPLE_BYTES / SAMPLE_RATE

    def mono(self) -> bytes:
        """Both directions mixed: the call as one channel."""
        return pcm_of(
            [a + b for a, b in zip(samples_of(self.heard), samples_of(self.sent), strict=True)]
        )

    def stereo(self) -> bytes:
        """Interleaved 2-channel PCM: the far end left, what it heard right."""
        both = array("h", bytes(2 * len(self.heard)))
        both[0::2] = samples_of(self.heard)
        both[1::2] = samples_of(self.sent)
        return pcm_of(both)

    def far_end(self, *, trim: bool) -> bytes:
        """The far end's audio; ``trim``: without the silence before and after it."""
        return trimmed(self.heard) if trim else self.heard

    def near_end(self, *, trim: bool) -> bytes:
        """What the far end heard from us; ``trim`` as :meth:`far_end`."""
        return trimmed(self.sent) if trim else self.sent


def trimmed(pcm: bytes) -> bytes:
    """Mono ``pcm`` without the silent 20 ms frames at its start and end (``b""`` when
    it is all silence)."""
    step = _FRAME * SAMPLE_BYTES
    frames = range(0, len(pcm), step)
    first = next((at for at in frames if rms(pcm[at : at + step]) > SILENCE_RMS), None)
    if first is None:
        return b""
    last = next(at for at in reversed(frames) if rms(pcm[at : at + step]) > SILENCE_RMS)
    return pcm[first : last + step]


class LineTap:
    """One leg's audio from loop time ``origin`` on (see the module doc); ``now`` is the
    loop's clock, ``detach`` what :meth:`stop` calls to stop receiving audio."""

    def __init__(
        self,
        origin: float,
        now: Callable[[], float],
        detach: Callable[[LineTap], None] | None = None,
    ) -> None:
        self.origin = origin
        self.now = now
        self.detach = detach
        self.heard = Track()
        self.sent = Track()
        self.stopped = False
        #: per stream (the far end's, the relayed one): (SSRC, RTP timestamp, position)
        self._anchors: dict[str, tuple[int, int, int]] = {}

    def position(self, at: float) -> int:
        """The sample position of loop time ``at``."""
        return round((at - self.origin) * SAMPLE_RATE)

    def place(self, ssrc: int, timestamp: int, at: float, stream: str = "heard") -> int:
        """Where a packet of ``stream`` (RTP ``ssrc``, ``timestamp``), arriving or sent at
        loop time ``at``, goes: by its timestamp, so arrival jitter moves nothing (see
        the module doc)."""
        arrival = self.position(at)
        anchor = self._anchors.get(stream)
        if anchor is not None and ssrc == anchor[0]:
            _, ts0, pos0 = anchor
            delta = (timestamp - ts0) % 2**32
            if delta >= 2**31:
                delta -= 2**32
            position = pos0 + delta
            if abs(position - arrival) <= MAX_JUMP_SECONDS * SAMPLE_RATE:
                return position
        self._anchors[stream] = (ssrc, timestamp, arrival)
        return arrival

    def start_earlier(self, seconds: float) -> None:
        """Begin the recording ``seconds`` before it was put on (silence: nothing was
        kept then), e.g. from the ringing of a ``<Dial record-from-ringing>``."""
        self.origin -= seconds
        for stream, (ssrc, ts, position) in list(self._anchors.items()):
            self._anchors[stream] = (ssrc, ts, position + round(seconds * SAMPLE_RATE))
        for track in (self.heard, self.sent):
            track.shift(round(seconds * SAMPLE_RATE))

    def stop(self) -> Captured:
        """Stop keeping audio now; the two tracks up to now (or to the end of the longer
        one, if later)."""
        if not self.stopped and self.detach is not None:
            self.detach(self)
        self.stopped = True
        samples = max(len(self.heard), len(self.sent), self.position(self.now()))
        return Captured(self.heard.pcm(samples), self.sent.pcm(samples))
