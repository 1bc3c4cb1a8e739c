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

A track keeps only its last :data:`WINDOW_SECONDS` in memory, where a packet placed by
its timestamp can still land (at most :data:`MAX_JUMP_SECONDS` before its arrival,
while the track's end is at most as far after it); what is older is appended to an
anonymous temporary file, a second or more at a time.  A piece that would land before
the window is cut there (``late`` counts such pieces).

:meth:`LineTap.stop` detaches the tap and returns a :class:`Captured`, the two tracks
of equal length read from those files; its :meth:`~Captured.mono_audio` (both mixed),
:meth:`~Captured.stereo_audio` (heard left, sent right) and
:meth:`~Captured.far_end_audio` (heard only, silence trimmed or not) give the audio a
few seconds at a time (:class:`Pcm`), plain CPU and file work meant for the loop's
executor; :meth:`Captured.close` (or :meth:`LineTap.discard`) removes the files.
"""

from __future__ import annotations

import io
import math
import tempfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from voiceapp.dtmf.audio import DEFAULT_AMPLITUDE, FREQUENCIES
from voiceapp.media.audio import SAMPLE_BYTES, SAMPLE_RATE, pcm_of, rms, samples_of

#: A jump in the far end's RTP timestamps larger than this (a new stream, a clock
#: reset) is placed by arrival time, not by timestamp.
MAX_JUMP_SECONDS = 5.0
#: How much of a track is kept in memory behind its end: a piece is placed at most
#: :data:`MAX_JUMP_SECONDS` before its arrival and the end is at most as far after it,
#: plus two seconds for long pieces (an RFC 4733 tone rendered at once).
WINDOW_SECONDS = 2 * MAX_JUMP_SECONDS + 2.0
#: Samples read, mixed or written at a time by a :class:`Captured` (five seconds; a
#: whole number of frames).  Long enough that the executor thread computes for more
#: than the interpreter's 5 ms switch interval between two file operations: with a
#: file operation every few ms the loop's thread waits for the GIL until it is done.
CHUNK = 5 * SAMPLE_RATE
#: Samples a track moves to its file at a time (at least a second: fewer copies).
SPILL = SAMPLE_RATE
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


class Kept:
    """A stopped track's samples: ``lead`` samples of silence, then ``written`` samples
    of ``file`` (from its start), then silence up to ``samples``."""

    def __init__(self, file: IO[bytes], lead: int, written: int, samples: int) -> None:
        self.file = file
        self.lead = lead
        self.written = written
        self.samples = samples

    @classmethod
    def of(cls, pcm: bytes) -> Kept:
        """``pcm`` held in memory (short audio, tests)."""
        samples = len(pcm) // SAMPLE_BYTES
        return cls(io.BytesIO(pcm), 0, samples, samples)

    def read(self, start: int, count: int) -> bytes:
        """``count`` samples from ``start`` (silence where nothing was kept)."""
        out = bytearray()
        if start < self.lead:
            silent = min(count, self.lead - start)
            out += bytes(silent * SAMPLE_BYTES)
            start, count = start + silent, count - silent
        offset = start - self.lead
        if count > 0 and offset < self.written:
            stored = min(count, self.written - offset)
            self.file.seek(offset * SAMPLE_BYTES)
            out += self.file.read(stored * SAMPLE_BYTES)
            count -= stored
        out += bytes(count * SAMPLE_BYTES)
        return bytes(out)

    def close(self) -> None:
        self.file.close()


class Track:
    """PCM on a time line: :meth:`add` lays a piece at a sample position, mixing it with
    what is there (summed, clipped to 16 bits); positions never written are silence.
    The last :data:`WINDOW_SECONDS` stay in memory; older samples go to a temporary
    file in ``spill_dir`` (the system's temporary folder when None)."""

    def __init__(self, spill_dir: str | Path | None = None, *, window: float = WINDOW_SECONDS):
        self.spill_dir = spill_dir
        self.window = round(window * SAMPLE_RATE)
        #: pieces cut (or dropped) because they began before the window
        self.late = 0
        self._pcm = bytearray()  # the samples from position ``_base`` on
        self._base = 0
        self._lead = 0  # silence before the file's first sample (moved by :meth:`shift`)
        self._file: IO[bytes] | None = None
        self._stopped = False

    def __len__(self) -> int:
        """Samples from position 0 to the end of the last piece."""
        return self._base + len(self._pcm) // SAMPLE_BYTES

    @property
    def buffered(self) -> int:
        """Samples held in memory."""
        return len(self._pcm) // SAMPLE_BYTES

    def add(self, position: int, pcm: bytes) -> None:
        if self._stopped:
            return
        if position < 0:
            pcm = pcm[-position * SAMPLE_BYTES :]
            position = 0
        if position < self._base:  # in the file already: too late to be mixed in
            self.late += 1
            pcm = pcm[(self._base - position) * SAMPLE_BYTES :]
            position = self._base
        if not pcm:
            return
        end = max(len(self), position + len(pcm) // SAMPLE_BYTES)
        self._spill(min(end - self.window, position))
        start = (position - self._base) * SAMPLE_BYTES
        stop = start + len(pcm)
        if start >= len(self._pcm):  # the usual case: the piece comes after the end
            self._pcm += bytes(start - len(self._pcm))
            self._pcm += pcm
            return
        overlap = min(stop, len(self._pcm)) - start
        here = samples_of(bytes(self._pcm[start : start + overlap]))
        new = samples_of(pcm[:overlap])
        self._pcm[start : start + overlap] = pcm_of([a + b for a, b in zip(here, new, strict=True)])
        self._pcm += pcm[overlap:]

    def _spill(self, keep_from: int) -> None:
        """Move the samples before position ``keep_from`` to the file, once there is a
        second of them (silence past the end of memory extends the file with zeros)."""
        count = keep_from - self._base
        if count < SPILL:
            return
        if self._file is None:
            if self.spill_dir is not None:
                Path(self.spill_dir).mkdir(parents=True, exist_ok=True)
            # kept open past this call: closed by discard() or the Captured it goes to
            self._file = tempfile.TemporaryFile(dir=self.spill_dir, prefix="tap-")  # noqa: SIM115
        held = min(count, self.buffered) * SAMPLE_BYTES
        self._file.seek(0, io.SEEK_END)  # (a reader may have moved it)
        self._file.write(self._pcm[:held])
        del self._pcm[:held]
        if held < count * SAMPLE_BYTES:  # a long silence: the file grows by zeros (a hole)
            self._file.truncate((keep_from - self._lead) * SAMPLE_BYTES)
        self._base = keep_from

    def shift(self, samples: int) -> None:
        """Move everything ``samples`` later (silence before it)."""
        if samples <= 0:
            return
        if self._file is None:
            self._pcm[0:0] = bytes(samples * SAMPLE_BYTES)
        else:
            self._lead += samples
            self._base += samples

    def pcm(self, samples: int) -> bytes:
        """The first ``samples`` samples (padded with silence), the file's part too."""
        out = bytearray()
        if self._file is not None:
            self._file.flush()
            spilled = Kept(self._file, self._lead, self._base - self._lead, self._base)
            out += spilled.read(0, min(samples, self._base))
        out += self._pcm[: max(0, samples - self._base) * SAMPLE_BYTES]
        return bytes(out) + bytes(samples * SAMPLE_BYTES - len(out))

    def stop(self, samples: int) -> Kept:
        """Keep nothing more; the track as :class:`Kept`, ``samples`` long (padded with
        silence; at least its length); the file now belongs to it."""
        kept = self._kept(max(samples, len(self)))
        self._stopped = True
        self._pcm, self._file = bytearray(), None
        return kept

    def discard(self) -> None:
        """Keep nothing more and remove the file."""
        self._stopped = True
        self._pcm = bytearray()
        if self._file is not None:
            self._file.close()
            self._file = None

    def _kept(self, samples: int) -> Kept:
        if self._file is None:
            return Kept(io.BytesIO(bytes(self._pcm)), self._base, self.buffered, samples)
        self._file.seek(0, io.SEEK_END)
        self._file.write(self._pcm)
        self._file.flush()
        written = self._base - self._lead + self.buffered
        self._base, self._pcm = len(self), bytearray()
        return Kept(self._file, self._lead, written, samples)


@dataclass(frozen=True, slots=True)
class Pcm:
    """Audio read a piece at a time: ``frames`` samples per channel, ``channels`` of
    them (interleaved), :meth:`chunks` yields it in order (:data:`CHUNK` at a time)."""

    channels: int
    frames: int
    chunks: Callable[[], Iterator[bytes]]

    def whole(self) -> bytes:
        return b"".join(self.chunks())


class Captured:
    """What a tap kept: the far end's audio (``heard``) and what it heard from us
    (``sent``), the same number of samples each; ``bytes`` (short audio, tests) or the
    tap's files (:meth:`close` removes them; it is a context manager)."""

    def __init__(self, heard: bytes | Kept, sent: bytes | Kept) -> None:
        self._heard = Kept.of(heard) if isinstance(heard, bytes) else heard
        self._sent = Kept.of(sent) if isinstance(sent, bytes) else sent
        if self._heard.samples != self._sent.samples:
            raise ValueError("the two tracks of a capture have the same length")
        self.samples = self._heard.samples

    def __enter__(self) -> Captured:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._heard.close()
        self._sent.close()

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def heard(self) -> bytes:
        """The far end's track, whole (in memory: for short audio)."""
        return self._heard.read(0, self.samples)

    @property
    def sent(self) -> bytes:
        """What the far end heard, whole (in memory: for short audio)."""
        return self._sent.read(0, self.samples)

    # -- a chunk at a time ------------------------------------------------------------------
    def _mixed(self, start: int, count: int) -> bytes:
        here = samples_of(self._heard.read(start, count))
        there = samples_of(self._sent.read(start, count))
        return pcm_of([a + b for a, b in zip(here, there, strict=True)])

    def _stereo(self, start: int, count: int) -> bytes:
        both = array("h", bytes(2 * count * SAMPLE_BYTES))
        both[0::2] = samples_of(self._heard.read(start, count))
        both[1::2] = samples_of(self._sent.read(start, count))
        return pcm_of(both)

    def _pcm(self, read: Callable[[int, int], bytes], span: range, channels: int) -> Pcm:
        def chunks() -> Iterator[bytes]:
            for at in range(span.start, span.stop, CHUNK):
                yield read(at, min(CHUNK, span.stop - at))

        return Pcm(channels, len(span), chunks)

    def mono_audio(self, *, trim: bool = False) -> Pcm:
        """Both directions mixed (summed, clipped): the call as one channel; ``trim``:
        without its silent frames at the start and end."""
        span = _loud_span(self._mixed, self.samples) if trim else range(self.samples)
        return self._pcm(self._mixed, span, 1)

    def stereo_audio(self) -> Pcm:
        """2 channels: the far end left, what it heard right."""
        return self._pcm(self._stereo, range(self.samples), 2)

    def far_end_audio(self, *, trim: bool) -> Pcm:
        """The far end's audio; ``trim``: without the silence before and after it."""
        read = self._heard.read
        span = _loud_span(read, self.samples) if trim else range(self.samples)
        return self._pcm(read, span, 1)

    def near_end_audio(self, *, trim: bool) -> Pcm:
        """What the far end heard from us; ``trim`` as :meth:`far_end_audio`."""
        read = self._sent.read
        span = _loud_span(read, self.samples) if trim else range(self.samples)
        return self._pcm(read, span, 1)

    # -- whole (short audio, tests) ---------------------------------------------------------
    def mono(self) -> bytes:
        """Both directions mixed: the call as one channel."""
        return self.mono_audio().whole()

    def stereo(self) -> bytes:
        """Interleaved 2-channel PCM: the far end left, what it heard right."""
        return self.stereo_audio().whole()

    def far_end(self, *, trim: bool) -> bytes:
        """The far end's audio; ``trim``: without the silence before and after it."""
        return self.far_end_audio(trim=trim).whole()

    def near_end(self, *, trim: bool) -> bytes:
        """What the far end heard from us; ``trim`` as :meth:`far_end`."""
        return self.near_end_audio(trim=trim).whole()


def _loud_frames(read: Callable[[int, int], bytes], samples: int, chunks: range) -> Iterator[int]:
    """The sample positions of the 20 ms frames louder than :data:`SILENCE_RMS`, in the
    ``chunks`` (start positions, forward or backward) of ``samples`` of ``read``."""
    step = _FRAME * SAMPLE_BYTES
    for at in chunks:
        pcm = read(at, min(CHUNK, samples - at))
        frames = range(0, len(pcm), step)
        order = frames if chunks.step > 0 else reversed(frames)
        for offset in order:
            if rms(pcm[offset : offset + step]) > SILENCE_RMS:
                yield at + offset // SAMPLE_BYTES


def _loud_span(read: Callable[[int, int], bytes], samples: int) -> range:
    """The samples from the first loud frame to the end of the last (empty when all is
    silence): :func:`trimmed` read a chunk at a time from both ends."""
    first = next(_loud_frames(read, samples, range(0, samples, CHUNK)), None)
    if first is None:
        return range(0)
    last_chunk = (samples - 1) // CHUNK * CHUNK
    backward = range(last_chunk, first // CHUNK * CHUNK - 1, -CHUNK)
    last = next(_loud_frames(read, samples, backward))
    return range(first, min(samples, last + _FRAME))


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
    loop's clock, ``detach`` what :meth:`stop` calls to stop receiving audio,
    ``spill_dir`` where the tracks' older audio is kept (the temporary folder: None)."""

    def __init__(
        self,
        origin: float,
        now: Callable[[], float],
        detach: Callable[[LineTap], None] | None = None,
        *,
        spill_dir: str | Path | None = None,
    ) -> None:
        self.origin = origin
        self.now = now
        self.detach = detach
        self.heard = Track(spill_dir)
        self.sent = Track(spill_dir)
        self.stopped = False
        #: per stream (the far end's, the relayed one): (SSRC, RTP timestamp, position)
        self._anchors: dict[str, tuple[int, int, int]] = {}

    @property
    def buffered(self) -> int:
        """Samples held in memory, both tracks."""
        return self.heard.buffered + self.sent.buffered

    @property
    def late(self) -> int:
        """Pieces cut because they began before a track's window."""
        return self.heard.late + self.sent.late

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

    def _detach(self) -> None:
        if not self.stopped and self.detach is not None:
            self.detach(self)
        self.stopped = True

    def stop(self) -> Captured:
        """Stop keeping audio now; the two tracks up to now (or to the end of the longer
        one, if later).  The files now belong to the :class:`Captured` (a second stop
        is an error)."""
        if self.stopped:
            raise RuntimeError("the tap was stopped or discarded already")
        self._detach()
        samples = max(len(self.heard), len(self.sent), self.position(self.now()))
        return Captured(self.heard.stop(samples), self.sent.stop(samples))

    def discard(self) -> None:
        """Stop keeping audio and remove what was kept (nothing will be recorded)."""
        self._detach()
        self.heard.discard()
        self.sent.discard()
