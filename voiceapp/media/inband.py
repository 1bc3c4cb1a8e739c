"""In-band DTMF in received audio: the Goertzel block test of :mod:`voiceapp.dtmf.audio`,
applied as the audio arrives.

The audio is cut into the decoder's own blocks (205 samples every 80, 25.6 ms every
10 ms) and each is classified by :func:`voiceapp.dtmf.audio.block_digit`.  A digit is
reported when a block holds it and the block before did not hold the same digit; a
block without a digit ends the tone (the batch decoder's rule), so a held key is one
digit.
"""

from __future__ import annotations

from array import array

from voiceapp.dtmf.audio import BLOCK_SAMPLES, HOP_SAMPLES, block_digit
from voiceapp.media.audio import samples_of


class ToneDetector:
    """Digits found in a stream of 8 kHz PCM, in order, each reported once."""

    def __init__(self) -> None:
        self._buffer = array("h")
        self._current: str | None = None

    def feed(self, pcm: bytes) -> list[str]:
        """The digits that start within ``pcm`` (16-bit little-endian, 8 kHz)."""
        self._buffer.extend(samples_of(pcm))
        found: list[str] = []
        while len(self._buffer) >= BLOCK_SAMPLES:
            digit = block_digit(self._buffer[:BLOCK_SAMPLES])
            del self._buffer[:HOP_SAMPLES]
            if digit is not None and digit != self._current:
                found.append(digit)
            self._current = digit
        return found
