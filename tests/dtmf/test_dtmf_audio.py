from __future__ import annotations

import io
import math
import wave
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceapp.dtmf import Timeline, parse_digits
from voiceapp.dtmf.audio import (
    FREQUENCIES,
    SAMPLE_RATE,
    DecodedTone,
    add_noise,
    decode,
    read_wav,
    synthesize,
    wav_bytes,
    write_wav,
)


def goertzel_power(samples: list[int], freq: float) -> float:
    w = 2 * math.pi * freq / SAMPLE_RATE
    re = sum(x * math.cos(w * n) for n, x in enumerate(samples))
    im = sum(x * math.sin(w * n) for n, x in enumerate(samples))
    return re * re + im * im


def test_standard_frequency_pairs() -> None:
    assert FREQUENCIES["1"] == (697, 1209)
    assert FREQUENCIES["5"] == (770, 1336)
    assert FREQUENCIES["9"] == (852, 1477)
    assert FREQUENCIES["#"] == (941, 1477)
    assert FREQUENCIES["*"] == (941, 1209)
    assert FREQUENCIES["0"] == (941, 1336)
    assert FREQUENCIES["D"] == (941, 1633)
    assert len(set(FREQUENCIES.values())) == 16


def test_synthesis_places_tones_and_silence_exactly() -> None:
    timeline = parse_digits("5w9", tone_ms=100, gap_ms=100)
    samples = synthesize(timeline)
    assert len(samples) == timeline.duration_ms * 8
    assert not any(samples[800:4800])  # the 500 ms wait is digital silence
    tone = list(samples[:800])
    assert max(map(abs, tone)) <= 32767
    powers = {f: goertzel_power(tone, f) for f in (697, 770, 852, 941, 1209, 1336, 1477, 1633)}
    strongest = sorted(powers, key=powers.__getitem__)[-2:]
    assert sorted(strongest) == [770, 1336]


def test_wav_file_is_8khz_16bit_mono_and_reads_back(tmp_path: Path) -> None:
    samples = synthesize(parse_digits("123"))
    path = tmp_path / "digits.wav"
    write_wav(path, samples)
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == len(samples)
    again, rate = read_wav(path)
    assert rate == 8000 and again == samples
    assert wav_bytes(samples)[:4] == b"RIFF"
    assert read_wav(io.BytesIO(wav_bytes(samples)))[0] == samples


def test_read_wav_refuses_stereo() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0\0\0")
    buffer.seek(0)
    with pytest.raises(ValueError, match="mono"):
        read_wav(buffer)


def test_decoder_hears_nothing_in_silence_and_noise() -> None:
    silence = synthesize(parse_digits("W"))
    assert decode(silence) == []
    noisy = add_noise(synthesize(parse_digits("1w")), 20, seed=3)
    assert decode(noisy[800 * 2 :]) == []  # only the noise after the tone


def check_round_trip(
    timeline: Timeline, decoded: list[DecodedTone], tolerance_ms: float = 10
) -> None:
    assert "".join(d.digit for d in decoded) == timeline.pressed
    for tone, found in zip(timeline.tones, decoded, strict=True):
        assert abs(found.start_ms - tone.start_ms) <= tolerance_ms, (tone, found)
        assert abs(found.end_ms - tone.end_ms) <= tolerance_ms, (tone, found)


def test_all_sixteen_digits_at_the_shortest_tone_and_gap() -> None:
    timeline = parse_digits("0123456789*#ABCD", tone_ms=40, gap_ms=40)
    check_round_trip(timeline, decode(synthesize(timeline)))


digit_strings = st.text(alphabet="0123456789*#ABCDwW", min_size=1, max_size=12).filter(
    lambda s: s.strip("wW") != ""
)


@settings(max_examples=40, deadline=None)
@given(
    text=digit_strings,
    tone_ms=st.sampled_from([40, 65, 100, 250]),
    gap_ms=st.sampled_from([40, 65, 100, 250]),
)
def test_round_trip_parse_audio_decode(text: str, tone_ms: int, gap_ms: int) -> None:
    timeline = parse_digits(text, tone_ms=tone_ms, gap_ms=gap_ms)
    check_round_trip(timeline, decode(synthesize(timeline)))


@settings(max_examples=25, deadline=None)
@given(
    text=digit_strings,
    tone_ms=st.sampled_from([50, 100, 250]),
    gap_ms=st.sampled_from([50, 100, 250]),
    seed=st.integers(0, 2**16),
)
def test_round_trip_with_noise_at_20_db_snr(
    text: str, tone_ms: int, gap_ms: int, seed: int
) -> None:
    timeline = parse_digits(text, tone_ms=tone_ms, gap_ms=gap_ms)
    noisy = add_noise(synthesize(timeline), 20, seed=seed)
    check_round_trip(timeline, decode(noisy))


def test_noise_is_seeded_and_at_the_asked_level() -> None:
    clean = synthesize(parse_digits("8@1000"))
    a = add_noise(clean, 20, seed=7)
    assert a == add_noise(clean, 20, seed=7) and a != add_noise(clean, 20, seed=8)
    signal = sum(x * x for x in clean)
    noise = sum((x - y) ** 2 for x, y in zip(a, clean, strict=True))
    assert 10 * math.log10(signal / noise) == pytest.approx(20, abs=0.5)
