"""G.711 μ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8), table based.

The per-sample rules are ITU-T G.711's, written as in the classic public-domain
``g711.c`` (Sun Microsystems): μ-law on the 16-bit scale with bias 0x84 and clip
32635, A-law on the 13-bit scale.  They run once, at import, to fill a 65536-entry
table per law for encoding (indexed by the sample as an unsigned 16-bit number) and
a 256-entry table for decoding; a frame is then one ``bytes(map(...))``.

PCM is 16-bit signed little-endian mono, the layout of a WAV file's data.
"""

from __future__ import annotations

import sys
from array import array
from operator import itemgetter
from typing import Final, Literal

Codec = Literal["PCMU", "PCMA"]
#: The static payload types of RFC 3551 (section 6).
STATIC_PAYLOAD_TYPES: Final[dict[str, int]] = {"PCMU": 0, "PCMA": 8}
CODECS: Final = ("PCMU", "PCMA")

_BIAS = 0x84
_CLIP = 32635
_A_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def ulaw_from_linear(sample: int) -> int:
    """One 16-bit sample to its μ-law byte."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sign else sample, _CLIP) + _BIAS
    exponent = (magnitude >> 7).bit_length() - 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def linear_from_ulaw(code: int) -> int:
    """One μ-law byte to its 16-bit sample."""
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + _BIAS) << ((u & 0x70) >> 4)
    return _BIAS - t if u & 0x80 else t - _BIAS


def alaw_from_linear(sample: int) -> int:
    """One 16-bit sample to its A-law byte."""
    pcm = sample >> 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    seg = next((i for i, end in enumerate(_A_SEG_END) if pcm <= end), 8)
    if seg >= 8:
        return 0x7F ^ mask
    value = seg << 4
    value |= (pcm >> 1 if seg < 2 else pcm >> seg) & 0x0F
    return value ^ mask


def linear_from_alaw(code: int) -> int:
    """One A-law byte to its 16-bit sample."""
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def _ulaw_table() -> bytes:
    # μ-law of a magnitude m depends on m >> 2 only (the bias 0x84 adds 1 at bit 2 and
    # the mantissa starts at bit 3), and a negative sample's code is its magnitude's
    # code with the sign bit (bit 7, inverted) cleared: 8193 evaluations, not 65536.
    by_quarter = bytes(ulaw_from_linear(min(4 * q, 32767)) for q in range(8193))
    positive = bytes(by_quarter[u >> 2] for u in range(0x8000))
    negative = bytes(by_quarter[(0x10000 - u) >> 2] & 0x7F for u in range(0x8000, 0x10000))
    return positive + negative


def _alaw_table() -> bytes:
    # A-law reads the sample's top 13 bits (``sample >> 3``): 8192 evaluations.
    by_eighth = [alaw_from_linear((v - 8192 if v >= 4096 else v) << 3) for v in range(8192)]
    return bytes(by_eighth[u >> 3] for u in range(0x10000))


#: Encoding tables, indexed by the sample as an unsigned 16-bit number.
_ENCODE: Final[dict[str, bytes]] = {"PCMU": _ulaw_table(), "PCMA": _alaw_table()}
_DECODE: Final[dict[str, tuple[bytes, ...]]] = {
    "PCMU": tuple(linear_from_ulaw(c).to_bytes(2, "little", signed=True) for c in range(256)),
    "PCMA": tuple(linear_from_alaw(c).to_bytes(2, "little", signed=True) for c in range(256)),
}
#: The code of digital silence (sample 0) in each law.
SILENCE: Final[dict[str, int]] = {"PCMU": _ENCODE["PCMU"][0], "PCMA": _ENCODE["PCMA"][0]}


def check_codec(codec: str) -> Codec:
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
    return codec  # type: ignore[return-value]


def encode(pcm: bytes, codec: Codec) -> bytes:
    """16-bit little-endian PCM to G.711 bytes (one byte per sample)."""
    if len(pcm) % 2:
        raise ValueError(f"16-bit PCM has an even number of bytes, got {len(pcm)}")
    samples = array("H", pcm)
    if sys.byteorder == "big":  # pragma: no cover
        samples.byteswap()
    table = _ENCODE[codec]
    if len(samples) < 2:  # itemgetter of one index returns the item, not a tuple
        return bytes(map(table.__getitem__, samples))
    # one C call for the whole frame: about 1.5x faster than map() for 160 samples
    return bytes(itemgetter(*samples)(table))


def decode(data: bytes, codec: Codec) -> bytes:
    """G.711 bytes to 16-bit little-endian PCM."""
    return b"".join(map(_DECODE[codec].__getitem__, data))
