"""Recordings: real WAV files, their records and callbacks.

A recording is 8 kHz 16-bit PCM (the telephone's rate, :mod:`voiceapp.dtmf.audio`).
On a network with media (SIP) it is the audio that passed on the leg's line, kept by a
:class:`~voiceapp.media.track.LineTap` (:meth:`NetworkBackend.capture`): ``<Record>``
keeps the far end (silence trimmed unless ``trim="do-not-trim"``), a call or
``<Dial record>`` recording both directions, mixed (mono) or the far end left and
what it heard right (``dual``).  What the simulated network "hears" is rendered as
audio:

* silence where nobody speaks;
* DTMF tones (:func:`voiceapp.dtmf.synthesize`) for the digits on the line;
* the far end's scripted speech (a callee's ``talk_seconds``) as a voice-band signal:
  a 220 Hz tone with its harmonics and a little noise, so a file is not silence.

:class:`Recorder` makes a recording end to end: it renders the audio, writes the file
to the :class:`~voiceapp.stores.media.MediaStore`, stores the
:class:`~voiceapp.calls.records.RecordingRecord` (``in-progress`` when it starts,
``completed`` or ``absent`` when it stops) and sends the ``recordingStatusCallback``
events the document or the call asked for (:func:`voiceapp.dialer.webhooks.recording_params`).
Making the audio and writing the file are CPU and disk work: :meth:`Recorder.finish`
runs them in the loop's executor, so the other calls' 20 ms media pacing goes on.  A
capture is read from its tap's files and written to the store a few seconds at a time
(:func:`wav_pieces`: the header first, its length known), so an hour's recording is
never whole in memory.
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from voiceapp.calls.records import RecordingRecord
from voiceapp.calls.subscriptions import DEFAULT_RECORDING_EVENTS, parse_recording_events
from voiceapp.calls.writes import SaveRecording, Write
from voiceapp.dialer.network import Leg
from voiceapp.document import Node
from voiceapp.dtmf import parse_digits
from voiceapp.dtmf.audio import SAMPLE_RATE, synthesize, wav_bytes
from voiceapp.media.track import Captured, Pcm
from voiceapp.schema import HttpMethod
from voiceapp.stores.media import MediaStore

#: The attributes of ``<Record>`` and ``<Dial>`` that say where a recording's events go.
RECORDING_ATTRIBUTES: Final = frozenset(
    {"recordingStatusCallback", "recordingStatusCallbackMethod", "recordingStatusCallbackEvent"}
)
#: One DTMF tone on the line in a call recording (milliseconds).
TONE_MS: Final = 100
_VOICE_HZ: Final = 220.0
_VOICE_PEAK: Final = 0.25 * 32767


# -- audio ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sound:
    """Something heard in a recording: ``kind`` ``digit`` (``value`` the key) or ``talk``
    (the far end speaking for ``seconds``), ``at`` seconds after the recording starts."""

    at: float
    kind: str
    value: str = ""
    seconds: float = 0.0


def voice(seconds: float, *, seed: int = 0) -> array[int]:
    """``seconds`` of the far end's scripted speech: a voice-band signal (a 220 Hz tone,
    two harmonics, a 4 Hz syllable envelope and a little noise)."""
    count = max(0, round(seconds * SAMPLE_RATE))
    rng = random.Random(seed)
    step = 2 * math.pi * _VOICE_HZ / SAMPLE_RATE
    out = array("h", bytes(2 * count))
    for n in range(count):
        envelope = 0.6 + 0.4 * math.sin(2 * math.pi * 4 * n / SAMPLE_RATE)
        tone = math.sin(step * n) + 0.5 * math.sin(2 * step * n) + 0.25 * math.sin(3 * step * n)
        value = _VOICE_PEAK * envelope * tone / 1.75 + rng.gauss(0.0, 300.0)
        out[n] = max(-32768, min(32767, round(value)))
    return out


def render(seconds: float, sounds: Iterable[Sound]) -> array[int]:
    """``seconds`` of 8 kHz audio: silence with each of ``sounds`` mixed in at its time
    (cut at the end)."""
    total = max(0, round(seconds * SAMPLE_RATE))
    samples = array("h", bytes(2 * total))
    for index, sound in enumerate(sounds):
        if sound.kind == "digit":
            part = synthesize(parse_digits(sound.value, tone_ms=TONE_MS))
            part = part[: TONE_MS * SAMPLE_RATE // 1000]
        elif sound.kind == "talk":
            part = voice(sound.seconds, seed=index)
        else:
            continue
        first = max(0, round(sound.at * SAMPLE_RATE))
        for offset, value in enumerate(part[: max(0, total - first)]):
            mixed = samples[first + offset] + value
            samples[first + offset] = max(-32768, min(32767, mixed))
    return samples


def heard_sounds(
    legs: Iterable[Leg],
    start: float,
    seconds: float,
    talk: Iterable[tuple[float, float]] = (),
    *,
    part: Part = "line",
) -> list[Sound]:
    """What a recording from clock time ``start`` for ``seconds`` hears on the line of
    ``legs``: the digits sent to them (what we send: not in a ``far-end`` recording),
    and the far end's ``talk`` ((clock time, seconds); not in a ``near-end`` one)."""
    end = start + seconds
    sounds: list[Sound] = []
    if part != "far-end":
        sounds += [
            Sound(h.at - start, "digit", h.value)
            for leg in legs
            for h in leg.heard
            if h.kind == "digit" and start <= h.at < end
        ]
    if part != "near-end":
        sounds += [
            Sound(at - start, "talk", seconds=length) for at, length in talk if start <= at < end
        ]
    return sorted(sounds, key=lambda s: s.at)


# -- making recordings ------------------------------------------------------------------------

#: What of a captured line a recording keeps: the far end (``<Record>``, Twilio's
#: ``inbound`` track), what we send it (``outbound``) or both ways.
Part = Literal["far-end", "near-end", "line"]
#: Twilio's recording track (``RecordingTrack`` of a call, ``<Dial recordingTrack>``) →
#: the part of the line it keeps.  One track is always one channel.
TRACK_PARTS: Final[Mapping[str, Part]] = {
    "inbound": "far-end",
    "outbound": "near-end",
    "both": "line",
}


@dataclass(frozen=True, slots=True)
class RecordingCallback:
    """Where a recording's status events go (``recordingStatusCallback`` + method + events)."""

    url: str
    method: HttpMethod = "POST"
    events: frozenset[str] = DEFAULT_RECORDING_EVENTS

    @classmethod
    def of(cls, node: Node) -> RecordingCallback | None:
        """A ``<Record>``'s or ``<Dial>``'s (the schema checked the values); None without
        a ``recordingStatusCallback``."""
        url = node.get("recordingStatusCallback")
        if not url:
            return None
        events = node.get("recordingStatusCallbackEvent")
        words = " ".join(events) if isinstance(events, list | tuple) else events
        return cls(
            str(url),
            node.get("recordingStatusCallbackMethod") or "POST",
            parse_recording_events(words),
        )


@dataclass
class Recorder:
    """Makes recordings: files in ``media``, records through ``write`` (the dialer's
    write buffer; the interpreter sends the status events)."""

    media: MediaStore
    write: Callable[[Write], None]
    base_url: str = "http://recordings.voiceapp.invalid"
    made: list[RecordingRecord] = field(default_factory=list)

    def url(self, sid: str, account_sid: str | None = None) -> str:
        """A recording's address: the API's resource (the key that reads the API reads it;
        ``.wav`` appended is the audio); a call of the Twilio API's: Twilio's form
        (``/2010-04-01/Accounts/<AccountSid>/Recordings/<Sid>``, its auth)."""
        base = self.base_url.rstrip("/")
        if account_sid is not None:
            return f"{base}/2010-04-01/Accounts/{account_sid}/Recordings/{sid}"
        return f"{base}/v1/recordings/{sid}"

    def start(
        self, sid: str, call_sid: str, source: str, *, at: float, channels: int = 1
    ) -> RecordingRecord:
        record = RecordingRecord(sid, call_sid, "in-progress", source, at, channels=channels)
        self.write(SaveRecording(call_sid, record))
        return record

    async def finish(
        self,
        record: RecordingRecord,
        seconds: float,
        sounds: Iterable[Sound] = (),
        *,
        captured: Captured | None = None,
        part: Part = "line",
        trim: bool = False,
    ) -> RecordingRecord:
        """Write the audio and the finished record: ``captured`` (a network's real audio:
        the far end only, or the whole ``line``; silence trimmed or not), else
        ``seconds`` of the rendered ``sounds``; nothing (``seconds`` 0, or only silence
        trimmed away): ``absent``.  The audio is made and written in the loop's executor."""
        name = f"{record.sid}.wav"
        size, length = 0, 0.0
        if seconds > 0:
            job = (name, record.channels, seconds, tuple(sounds), captured, part, trim)
            size, length = await asyncio.get_running_loop().run_in_executor(
                None, self._write_audio, *job
            )
        elif captured is not None:
            captured.close()
        if size == 0:
            done = RecordingRecord(
                record.sid,
                record.call_sid,
                "absent",
                record.source,
                record.started_at,
                channels=record.channels,
            )
        else:
            done = RecordingRecord(
                record.sid,
                record.call_sid,
                "completed",
                record.source,
                record.started_at,
                duration=math.ceil(length - 1e-9),
                channels=record.channels,
                media=name,
                size=size,
            )
        self.write(SaveRecording(record.call_sid, done))
        self.made.append(done)
        return done

    def _write_audio(
        self,
        name: str,
        channels: int,
        seconds: float,
        sounds: tuple[Sound, ...],
        captured: Captured | None,
        part: Part,
        trim: bool,
    ) -> tuple[int, float]:
        """(In the executor) make the WAV, store it; (its size, its seconds), (0, 0)
        when there is no audio.  A capture is read a few seconds at a time and its files
        are removed here, written or not."""
        if captured is None:
            samples = render(seconds, sounds)
            # a dual recording has the same mix on both channels
            data = _stereo(samples) if channels == 2 else wav_bytes(samples)
            self.media.put(name, data)
            return len(data), seconds
        with captured:
            if part == "far-end":
                audio = captured.far_end_audio(trim=trim)
            elif part == "near-end":
                audio = captured.near_end_audio(trim=trim)
            elif channels == 2:
                audio = captured.stereo_audio()
            else:
                audio = captured.mono_audio(trim=trim)
            if audio.frames == 0:
                return 0, 0.0
            self.media.put(name, wav_pieces(audio))
        return WAV_HEADER_BYTES + audio.frames * audio.channels * 2, audio.frames / SAMPLE_RATE


def _stereo(samples: array[int]) -> bytes:
    both = array("h", bytes(4 * len(samples)))
    both[0::2] = samples
    both[1::2] = samples
    return _wav(both.tobytes(), 2)


#: The size of :func:`wav_header` (RIFF, ``fmt`` and ``data`` chunk headers).
WAV_HEADER_BYTES: Final = 44


def wav_header(frames: int, channels: int) -> bytes:
    """The header of a 16-bit 8 kHz PCM WAV file of ``frames`` samples per channel (as
    the standard library's :mod:`wave` writes it): known before the audio is made, so a
    file can be written a piece at a time."""
    data = frames * channels * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        WAV_HEADER_BYTES - 8 + data,
        b"WAVE",
        b"fmt ",
        16,  # the size of a PCM format chunk
        1,  # WAVE_FORMAT_PCM
        channels,
        SAMPLE_RATE,
        SAMPLE_RATE * channels * 2,
        channels * 2,
        16,
        b"data",
        data,
    )


def wav_pieces(audio: Pcm) -> Iterator[bytes]:
    """``audio`` as a WAV file, the header first, then its chunks."""
    yield wav_header(audio.frames, audio.channels)
    yield from audio.chunks()


def _wav(pcm: bytes, channels: int) -> bytes:
    """A WAV file of 16-bit little-endian 8 kHz ``pcm`` (interleaved when 2 channels)."""
    return wav_header(len(pcm) // 2 // channels, channels) + pcm
