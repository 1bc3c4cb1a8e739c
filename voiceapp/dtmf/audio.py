"""DTMF audio: 8 kHz 16-bit mono PCM synthesis, WAV files, and a Goertzel decoder.

Pure Python on the standard library (``array``, ``math``, ``wave``): telephone
audio is 8000 samples a second, small enough not to need numpy.

Decoder outline (:func:`decode`):

1. Goertzel power at the eight DTMF frequencies over 205-sample blocks (25.6 ms,
   the classic block for 8 kHz) every 80 samples (10 ms).  A block holds a digit
   when the strongest row and column frequencies each carry a clear share of the
   block's energy and beat the runner-up of their group by 8 dB.
2. Consecutive blocks with the same digit form one tone; a block without a digit
   ends it (a tone or gap of 40 ms always contains a whole block).
3. The tone's edges are then placed to the millisecond from the signal energy in
   a 4 ms window sliding one sample-millisecond at a time: an edge is where that
   energy crosses half of the tone's own level.
"""

from __future__ import annotations

import io
import math
import random
import sys
import wave
from array import array
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import BinaryIO

from voiceapp.dtmf.timeline import Timeline, Tone

SAMPLE_RATE = 8000
LOW_GROUP = (697, 770, 852, 941)
HIGH_GROUP = (1209, 1336, 1477, 1633)
_KEYPAD = ("123A", "456B", "789C", "*0#D")
#: digit → (row frequency, column frequency) in Hz.
FREQUENCIES: dict[str, tuple[int, int]] = {
    key: (LOW_GROUP[row], HIGH_GROUP[col])
    for row, keys in enumerate(_KEYPAD)
    for col, key in enumerate(keys)
}
_DIGIT_AT = {(row, col): key for row, keys in enumerate(_KEYPAD) for col, key in enumerate(keys)}

#: Peak amplitude of each of the two sines (together at most 0.7 of full scale).
DEFAULT_AMPLITUDE = 0.35

_BLOCK = 205
_HOP = 80
_COEFFS = tuple(2.0 * math.cos(2.0 * math.pi * f / SAMPLE_RATE) for f in LOW_GROUP + HIGH_GROUP)
_EDGE_WINDOW = 32  # samples (4 ms) for edge placement
_MIN_SHARE = 0.15  # each group's winner must hold this share of the block energy
_MIN_PAIR_SHARE = 0.5  # and both together this share
_GROUP_MARGIN = 10 ** (8 / 10)  # winner over runner-up in its group: 8 dB
_MIN_RMS = 50.0  # blocks quieter than this (of 32767) are silence


@dataclass(frozen=True, slots=True)
class DecodedTone:
    """A digit found in audio, with its edges in milliseconds."""

    digit: str
    start_ms: float
    end_ms: float

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


def synthesize(
    timeline: Timeline, *, sample_rate: int = SAMPLE_RATE, amplitude: float = DEFAULT_AMPLITUDE
) -> array[int]:
    """16-bit PCM samples for the timeline: tone pairs, silence for waits and gaps."""
    if sample_rate % 1000:
        raise ValueError(f"sample_rate must be a multiple of 1000 Hz, got {sample_rate}")
    if not 0 < amplitude <= 0.5:
        raise ValueError(f"amplitude must be in (0, 0.5], got {amplitude}")
    per_ms = sample_rate // 1000
    samples = array("h", bytes(2 * timeline.duration_ms * per_ms))
    peak = amplitude * 32767
    for event in timeline.events:
        if not isinstance(event, Tone):
            continue
        low, high = FREQUENCIES[event.digit]
        w1 = 2 * math.pi * low / sample_rate
        w2 = 2 * math.pi * high / sample_rate
        first = event.start_ms * per_ms
        count = event.duration_ms * per_ms
        samples[first : first + count] = array(
            "h", (round(peak * (math.sin(w1 * n) + math.sin(w2 * n))) for n in range(count))
        )
    return samples


def add_noise(samples: array[int], snr_db: float, *, seed: int = 0) -> array[int]:
    """White Gaussian noise at ``snr_db`` below the power of the non-silent samples.

    The signal power is measured over samples that are not exactly zero (the tones),
    so the ratio describes how loud the noise is against the tones themselves.
    """
    loud = [s for s in samples if s]
    power = sum(s * s for s in loud) / len(loud) if loud else 0.0
    sigma = math.sqrt(power / 10 ** (snr_db / 10))
    rng = random.Random(seed)
    gauss = rng.gauss
    return array("h", (max(-32768, min(32767, round(s + gauss(0.0, sigma)))) for s in samples))


def wav_bytes(samples: array[int], *, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A complete mono 16-bit PCM WAV file."""
    buffer = io.BytesIO()
    write_wav(buffer, samples, sample_rate=sample_rate)
    return buffer.getvalue()


def write_wav(
    target: str | Path | BinaryIO, samples: array[int], *, sample_rate: int = SAMPLE_RATE
) -> None:
    """Write mono 16-bit little-endian PCM."""
    data = array("h", samples)
    if data.itemsize != 2:  # pragma: no cover - every supported platform has 16-bit "h"
        raise RuntimeError("array('h') is not 16 bits here")
    if sys.byteorder == "big":  # pragma: no cover
        data.byteswap()
    with wave.open(str(target) if isinstance(target, Path) else target, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(data.tobytes())


def read_wav(source: str | Path | BinaryIO) -> tuple[array[int], int]:
    """``(samples, sample_rate)`` from a mono 16-bit PCM WAV file."""
    with wave.open(str(source) if isinstance(source, Path) else source, "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError(
                f"need mono 16-bit PCM, got {wav.getnchannels()} channel(s) of "
                f"{8 * wav.getsampwidth()}-bit samples"
            )
        rate = wav.getframerate()
        data = array("h", wav.readframes(wav.getnframes()))
    if sys.byteorder == "big":  # pragma: no cover
        data.byteswap()
    return data, rate


def _block_digit(block: array[int] | list[int]) -> str | None:
    energy = 0.0
    for x in block:
        energy += x * x
    n = len(block)
    if energy < n * _MIN_RMS * _MIN_RMS:
        return None
    shares = []
    for coeff in _COEFFS:
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + coeff * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2  # |X(k)|^2
        shares.append(2.0 * power / (n * energy))  # ~1.0 for a lone full-scale sine
    low, high = shares[:4], shares[4:]
    row = max(range(4), key=low.__getitem__)
    col = max(range(4), key=high.__getitem__)
    low_best, high_best = low[row], high[col]
    if low_best < _MIN_SHARE or high_best < _MIN_SHARE:
        return None
    if low_best + high_best < _MIN_PAIR_SHARE:
        return None
    low_next = max(v for i, v in enumerate(low) if i != row)
    high_next = max(v for i, v in enumerate(high) if i != col)
    if low_best < _GROUP_MARGIN * low_next or high_best < _GROUP_MARGIN * high_next:
        return None
    return _DIGIT_AT[row, col]


#: Samples per Goertzel block and between block starts, for streaming decoders
#: (``voiceapp.media.inband``) that classify blocks as audio arrives.
BLOCK_SAMPLES = _BLOCK
HOP_SAMPLES = _HOP


def block_digit(block: array[int] | list[int]) -> str | None:
    """The digit one :data:`BLOCK_SAMPLES`-sample block of 8 kHz audio holds, or ``None``
    (the test step 1 of :func:`decode` applies to each block)."""
    return _block_digit(block)


def decode(samples: array[int] | list[int], *, sample_rate: int = SAMPLE_RATE) -> list[DecodedTone]:
    """The DTMF digits in ``samples`` (8 kHz mono PCM), with start and end times."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"the decoder reads {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    n = len(samples)
    # 1-2: blocks → runs of the same digit, as (digit, first block, last block).
    runs: list[tuple[str, int, int]] = []
    current: str | None = None
    for b, offset in enumerate(range(0, max(0, n - _BLOCK) + 1, _HOP)):
        digit = _block_digit(samples[offset : offset + _BLOCK])
        if digit is not None and digit == current:
            runs[-1] = (digit, runs[-1][1], b)
        elif digit is not None:
            runs.append((digit, b, b))
        current = digit
    if not runs:
        return []

    # 3: edges from a sliding 4 ms energy window, via prefix sums of squares.
    prefix = [0, *accumulate(x * x for x in samples)]
    half = _EDGE_WINDOW // 2

    def energy_at(centre: int) -> int:  # energy of [centre - half, centre + half)
        lo = min(max(centre - half, 0), n)
        hi = min(max(centre + half, 0), n)
        return prefix[hi] - prefix[lo]

    found: list[DecodedTone] = []
    per_ms = SAMPLE_RATE / 1000
    for digit, first, last in runs:
        block_lo = first * _HOP
        block_hi = last * _HOP + _BLOCK
        inner = sorted(energy_at(c) for c in range(block_lo + half, block_hi - half, 8))
        level = inner[len(inner) * 3 // 4] if inner else energy_at((block_lo + block_hi) // 2)
        threshold = level / 2
        anchor = max(
            range(block_lo + half, max(block_lo + half + 1, block_hi - half), 8),
            key=energy_at,
        )
        start = anchor
        limit = max(0, block_lo - _BLOCK)
        while start > limit and energy_at(start - 1) >= threshold:
            start -= 1
        end = anchor
        limit = min(n, block_hi + _BLOCK)
        while end < limit and energy_at(end) >= threshold:
            end += 1
        found.append(DecodedTone(digit, start / per_ms, end / per_ms))
    return found
