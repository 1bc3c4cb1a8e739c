"""Call audio as 16-bit little-endian 8 kHz mono PCM: reading WAV and raw files,
resampling, loudness, the beep tone.

What a ``<Play>`` URL returns is read by :func:`load_audio` (WAV with PCM 8/16/24/32-bit,
IEEE float, μ-law or A-law data, any rate, any channel count; or raw audio named by its
content type).  MP3 and other compressed formats are refused with a
:class:`~voiceapp.errors.MediaError` (``media-format``).  WAV files are written with
:func:`voiceapp.dtmf.audio.write_wav` (one writer for the package).
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from fractions import Fraction
from operator import mul

from voiceapp.errors import MediaError
from voiceapp.media import g711

SAMPLE_RATE = 8000
#: 16-bit samples are 2 bytes each.
SAMPLE_BYTES = 2

_WAVE_PCM = 1
_WAVE_FLOAT = 3
_WAVE_ALAW = 6
_WAVE_MULAW = 7
_WAVE_EXTENSIBLE = 0xFFFE
#: Half-width of the resampling filter, in input samples at the lower of the two rates.
_TAPS = 8


def _error(message: str, code: str = "media-format") -> MediaError:
    return MediaError(message, code=code, field="audio")


def _to_le(samples: array[int]) -> bytes:
    if sys.byteorder == "big":  # pragma: no cover
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def samples_of(pcm: bytes) -> array[int]:
    """16-bit little-endian PCM as an array of ints."""
    if len(pcm) % SAMPLE_BYTES:
        raise ValueError(f"16-bit PCM has an even number of bytes, got {len(pcm)}")
    out = array("h", pcm)
    if sys.byteorder == "big":  # pragma: no cover
        out.byteswap()
    return out


def pcm_of(samples: array[int] | list[int]) -> bytes:
    """Samples (clipped to 16 bits) as little-endian PCM."""
    return _to_le(array("h", (max(-32768, min(32767, int(s))) for s in samples)))


def rms(pcm: bytes) -> float:
    """Root mean square of 16-bit PCM (0 for no samples)."""
    samples = samples_of(pcm)
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def beep(seconds: float, hz: float = 1000.0) -> bytes:
    """A beep: ``seconds`` of a ``hz`` tone at a third of full scale, faded in and out
    over 10 ms (before a ``<Record>``; a conference participant joining or leaving)."""
    count = round(seconds * SAMPLE_RATE)
    fade = SAMPLE_RATE // 100
    step = 2 * math.pi * hz / SAMPLE_RATE
    return pcm_of(
        [
            round(10000 * min(1.0, n / fade, (count - n) / fade) * math.sin(step * n))
            for n in range(count)
        ]
    )


def resample(samples: array[int] | list[int], from_rate: int, to_rate: int) -> array[int]:
    """Band-limited resampling (a Hann-windowed sinc, cut off below the lower Nyquist).

    The ratio is rational, so the filter has a handful of phases; each is computed
    once per call.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} and {to_rate}")
    if from_rate == to_rate:
        return array("h", samples)
    step = Fraction(from_rate, to_rate)  # input samples per output sample
    cutoff = min(1.0, to_rate / from_rate) * 0.92  # of the input Nyquist
    half = math.ceil(_TAPS / min(1.0, to_rate / from_rate))
    n_in = len(samples)
    n_out = n_in * to_rate // from_rate
    padded = [0] * half + list(samples) + [0] * (half + 1)  # no bounds checks below
    phases: dict[Fraction, tuple[float, ...]] = {}
    out = array("h", bytes(2 * n_out))
    for n in range(n_out):
        position = n * step
        base = math.floor(position)
        frac = position - base
        weights = phases.get(frac)
        if weights is None:
            f = float(frac)
            weights = tuple(_kernel(k - f, cutoff, half) for k in range(-half + 1, half + 1))
            phases[frac] = weights
        start = base + 1  # padded index of input sample base - half + 1
        acc = sum(map(mul, weights, padded[start : start + 2 * half]))
        out[n] = max(-32768, min(32767, round(acc)))
    return out


def _kernel(x: float, cutoff: float, half: int) -> float:
    window = 0.5 + 0.5 * math.cos(math.pi * x / half) if abs(x) < half else 0.0
    if x == 0:
        return cutoff * window
    return cutoff * math.sin(math.pi * cutoff * x) / (math.pi * cutoff * x) * window


def mix_down(samples: array[int] | list[int], channels: int) -> array[int]:
    """Interleaved samples of ``channels`` channels to one (the mean)."""
    if channels == 1:
        return array("h", samples)
    return array(
        "h",
        (
            round(sum(samples[i : i + channels]) / channels)
            for i in range(0, len(samples) - channels + 1, channels)
        ),
    )


def _chunks(data: bytes) -> dict[bytes, bytes]:
    """The RIFF WAVE chunks by id (the first of each); a chunk longer than the file (as a
    streaming writer such as ``espeak-ng --stdout`` leaves it) ends at the end."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise _error("not a RIFF WAVE file")
    chunks: dict[bytes, bytes] = {}
    offset = 12
    while offset + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, offset)
        body = data[offset + 8 : offset + 8 + size]
        chunks.setdefault(cid, body)
        offset += 8 + size + (size & 1)
    return chunks


def read_wav(data: bytes) -> tuple[array[int], int]:
    """``(mono 16-bit samples, sample rate)`` of a WAV file's bytes."""
    chunks = _chunks(data)
    fmt = chunks.get(b"fmt ")
    body = chunks.get(b"data")
    if fmt is None or len(fmt) < 16 or body is None:
        raise _error("the WAV file has no fmt or data chunk")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _WAVE_EXTENSIBLE and len(fmt) >= 26:
        (tag,) = struct.unpack_from("<H", fmt, 24)  # the sub-format GUID's first 2 bytes
    if channels < 1 or rate < 1:
        raise _error(f"bad WAV format: {channels} channel(s) at {rate} Hz")
    width = bits // 8
    usable = len(body) - len(body) % max(1, width * channels)
    body = body[:usable]
    samples: array[int]
    if tag == _WAVE_PCM and bits == 16:
        samples = samples_of(body)
    elif tag == _WAVE_PCM and bits == 8:  # unsigned
        samples = array("h", ((b - 128) << 8 for b in body))
    elif tag == _WAVE_PCM and bits in (24, 32):
        samples = array(
            "h",
            (
                int.from_bytes(body[i : i + width], "little", signed=True) >> (bits - 16)
                for i in range(0, len(body), width)
            ),
        )
    elif tag == _WAVE_FLOAT and bits in (32, 64):
        floats = struct.unpack(f"<{len(body) // width}{'f' if bits == 32 else 'd'}", body)
        samples = array("h", (max(-32768, min(32767, round(f * 32767))) for f in floats))
    elif tag in (_WAVE_MULAW, _WAVE_ALAW) and bits == 8:
        samples = samples_of(g711.decode(body, "PCMU" if tag == _WAVE_MULAW else "PCMA"))
    else:
        raise _error(f"unsupported WAV encoding (format tag {tag}, {bits}-bit samples)")
    return mix_down(samples, channels), rate


def _content_type(value: str | None) -> tuple[str, dict[str, str]]:
    if not value:
        return "", {}
    kind, *params = (part.strip() for part in value.split(";"))
    pairs = {}
    for param in params:
        key, _, val = param.partition("=")
        pairs[key.strip().lower()] = val.strip().strip('"')
    return kind.lower(), pairs


def load_audio(data: bytes, content_type: str | None = None) -> bytes:
    """The 8 kHz mono 16-bit PCM of an audio file fetched for ``<Play>``.

    A RIFF WAVE file is read whatever the content type says.  Otherwise the content
    type names raw audio: ``audio/basic``, ``audio/pcmu``, ``audio/x-mulaw`` (μ-law,
    8 kHz), ``audio/pcma``, ``audio/x-alaw`` (A-law, 8 kHz), ``audio/l16`` (big-endian
    16-bit, ``rate`` and ``channels`` parameters, RFC 2586), ``audio/x-raw``,
    ``application/octet-stream`` or none (16-bit little-endian, 8 kHz mono).
    """
    if data[:4] == b"RIFF":
        samples, rate = read_wav(data)
        return _to_le(resample(samples, rate, SAMPLE_RATE))
    kind, params = _content_type(content_type)
    if kind in ("audio/mpeg", "audio/mp3") or data[:3] == b"ID3" or data[:2] in (b"\xff\xfb",):
        raise _error("MP3 audio is not supported: serve WAV or raw 8 kHz audio")
    if kind in ("audio/basic", "audio/pcmu", "audio/x-mulaw", "audio/mulaw"):
        return g711.decode(data, "PCMU")
    if kind in ("audio/pcma", "audio/x-alaw", "audio/alaw"):
        return g711.decode(data, "PCMA")
    if kind == "audio/l16":
        try:
            rate = int(params.get("rate", SAMPLE_RATE))
            channels = int(params.get("channels", 1))
        except ValueError:
            raise _error(f"bad audio/L16 parameters in {content_type!r}") from None
        if rate < 1 or channels < 1:
            raise _error(f"bad audio/L16 parameters in {content_type!r}")
        big = array("h", data[: len(data) - len(data) % 2])
        if sys.byteorder == "little":
            big.byteswap()
        return _to_le(resample(mix_down(big, channels), rate, SAMPLE_RATE))
    if kind in ("", "audio/x-raw", "audio/raw", "application/octet-stream"):
        return bytes(data[: len(data) - len(data) % 2])
    raise _error(f"unsupported audio type {kind!r}: serve WAV or raw 8 kHz audio")
