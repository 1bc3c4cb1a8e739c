"""Reading ``<Play>`` audio (WAV in its encodings, raw types), resampling, the beep tone,
and the in-band Goertzel detector on the dtmf module's own tones."""

from __future__ import annotations

import io
import itertools
import math
import struct
import wave

import pytest

from voiceapp.dtmf import parse_digits
from voiceapp.dtmf.audio import add_noise, synthesize, wav_bytes
from voiceapp.errors import MediaError
from voiceapp.media import g711
from voiceapp.media.audio import beep, load_audio, pcm_of, resample, rms, samples_of
from voiceapp.media.inband import ToneDetector
from voiceapp.media.speech import espeak_voices


def sine(freq: float, rate: int, seconds: float, amplitude: int = 10000) -> list[int]:
    n = round(rate * seconds)
    return [round(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)]


def wav(frames: bytes, *, rate: int, channels: int = 1, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


def riff(tag: int, channels: int, rate: int, bits: int, data: bytes) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_an_8khz_wav_is_its_samples() -> None:
    pcm = pcm_of(sine(440, 8000, 0.5))
    assert load_audio(wav(pcm, rate=8000), "audio/wav") == pcm
    assert load_audio(wav_bytes(samples_of(pcm)), None) == pcm  # the dtmf module's writer


def test_a_16khz_stereo_wav_is_mixed_and_resampled() -> None:
    left, right = sine(440, 16000, 1.0), sine(440, 16000, 1.0, 6000)
    frames = pcm_of([s for pair in zip(left, right, strict=True) for s in pair])
    out = samples_of(load_audio(wav(frames, rate=16000, channels=2), "audio/x-wav"))
    assert len(out) == 8000
    assert rms(pcm_of(out[100:-100])) == pytest.approx(8000 / math.sqrt(2), rel=0.02)


@pytest.mark.parametrize(("tag", "codec"), [(7, "PCMU"), (6, "PCMA")])
def test_g711_wav_files(tag: int, codec: g711.Codec) -> None:
    pcm = pcm_of(sine(300, 8000, 0.2))
    data = riff(tag, 1, 8000, 8, g711.encode(pcm, codec))
    assert load_audio(data) == g711.decode(g711.encode(pcm, codec), codec)


def test_8_bit_24_bit_and_float_wav_files() -> None:
    samples = sine(300, 8000, 0.1)
    eight = bytes((s >> 8) + 128 for s in samples)
    assert samples_of(load_audio(wav(eight, rate=8000, width=1))) == samples_of(
        pcm_of([((s >> 8) << 8) for s in samples])
    )
    s24 = b"".join((s << 8).to_bytes(3, "little", signed=True) for s in samples)
    assert samples_of(load_audio(riff(1, 1, 8000, 24, s24))).tolist() == samples
    floats = struct.pack(f"<{len(samples)}f", *(s / 32767 for s in samples))
    got = samples_of(load_audio(riff(3, 1, 8000, 32, floats))).tolist()
    assert max(abs(a - b) for a, b in zip(got, samples, strict=True)) <= 1


def test_raw_audio_by_content_type() -> None:
    pcm = pcm_of(sine(500, 8000, 0.1))
    assert load_audio(pcm, "application/octet-stream") == pcm
    ulaw = g711.encode(pcm, "PCMU")
    assert load_audio(ulaw, "audio/basic") == g711.decode(ulaw, "PCMU")
    alaw = g711.encode(pcm, "PCMA")
    assert load_audio(alaw, "audio/x-alaw") == g711.decode(alaw, "PCMA")
    big = struct.pack(f">{len(pcm) // 2}h", *samples_of(pcm))
    assert load_audio(big, "audio/L16; rate=8000") == pcm


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"ID3\x03\x00" + bytes(100), "audio/mpeg"),
        (bytes(100), "audio/ogg"),
        (b"RIFF\x04\x00\x00\x00WAVE", None),  # no chunks
        (riff(85, 1, 8000, 0, b""), None),  # format tag 85: MP3 in a WAV
        (b"\x00\x00", "audio/L16; rate=fast"),
    ],
)
def test_unsupported_audio_is_a_media_error(data: bytes, content_type: str | None) -> None:
    with pytest.raises(MediaError) as caught:
        load_audio(data, content_type)
    assert caught.value.code == "media-format"
    assert caught.value.to_dict()["field"] == "audio"


@pytest.mark.parametrize(("seconds", "hz"), [(0.5, 1000.0), (0.4, 1000.0), (0.1, 440.0)])
def test_a_beep_is_a_faded_tone_of_its_length(seconds: float, hz: float) -> None:
    samples = samples_of(beep(seconds, hz))
    assert len(samples) == round(seconds * 8000)
    assert abs(samples[0]) <= 1 and abs(samples[-1]) <= 400  # faded in and out (10 ms)
    middle = samples[80:-80]
    assert max(abs(s) for s in middle) in range(9900, 10001)  # a third of full scale
    # its frequency: two sign changes per period
    changes = sum(1 for a, b in itertools.pairwise(middle) if (a < 0) != (b < 0))
    assert abs(changes - 2 * hz * len(middle) / 8000) <= 2


def test_resampling_keeps_the_band_and_drops_what_is_above() -> None:
    for freq, kept in ((1000, True), (3000, True), (5000, False), (9000, False)):
        out = resample(sine(freq, 22050, 1.0), 22050, 8000)
        assert len(out) == 8000
        level = rms(pcm_of(out[300:-300]))
        assert (level > 6500) if kept else (level < 100), (freq, level)
    up = resample(sine(1000, 8000, 0.5), 8000, 16000)
    assert len(up) == 8000 and rms(pcm_of(up[200:-200])) == pytest.approx(7071, rel=0.03)


def frames(pcm: bytes, size: int = 320) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


@pytest.mark.parametrize("codec", [None, "PCMU", "PCMA"])
def test_the_detector_finds_every_digit_of_the_dtmf_tones(codec: g711.Codec | None) -> None:
    pcm = bytes(synthesize(parse_digits("W0123456789*#ABCD")))
    if codec:
        pcm = g711.decode(g711.encode(pcm, codec), codec)
    detector = ToneDetector()
    found = [d for frame in frames(pcm) for d in detector.feed(frame)]
    assert "".join(found) == "0123456789*#ABCD"


def test_the_detector_on_short_tones_and_gaps_and_noise() -> None:
    pcm = bytes(add_noise(synthesize(parse_digits("1122@40", gap_ms=40)), 20.0))
    detector = ToneDetector()
    found = [d for frame in frames(pcm, 160) for d in detector.feed(frame)]
    assert "".join(found) == "1122"


def test_the_detector_ignores_speech_like_sound_and_silence() -> None:
    detector = ToneDetector()
    sound = pcm_of([a + b for a, b in zip(sine(440, 8000, 1), sine(1000, 8000, 1), strict=True)])
    assert detector.feed(sound) == []
    assert detector.feed(bytes(16000)) == []


@pytest.mark.parametrize(
    ("voice", "language", "expected"),
    [
        ("man", "en-US", ["en-us+m3", "en+m3"]),
        ("woman", "fr-FR", ["fr-fr+f3", "fr+f3", "en+f3"]),
        ("Polly.Joanna", "de-DE", ["de-de", "de", "en"]),
        ("alice", "", ["en+f3"]),
    ],
)
def test_espeak_voices(voice: str, language: str, expected: list[str]) -> None:
    assert espeak_voices(voice, language) == expected
