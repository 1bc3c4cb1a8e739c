"""G.711 μ-law and A-law: the tables agree with the per-sample rules, known codes, round
trips and the quantisation error bound."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voiceapp.media import g711

LAWS = [
    ("PCMU", g711.ulaw_from_linear, g711.linear_from_ulaw),
    ("PCMA", g711.alaw_from_linear, g711.linear_from_alaw),
]


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


@pytest.mark.parametrize(("codec", "encode_one", "decode_one"), LAWS)
def test_the_table_is_the_rule_for_every_sample(
    codec: g711.Codec, encode_one: Callable[[int], int], decode_one: Callable[[int], int]
) -> None:
    samples = list(range(-32768, 32768))
    encoded = g711.encode(pcm(*samples), codec)
    assert encoded == bytes(encode_one(s) for s in samples)
    decoded = g711.decode(bytes(range(256)), codec)
    assert decoded == pcm(*(decode_one(c) for c in range(256)))


@pytest.mark.parametrize(
    ("codec", "sample", "code"),
    [
        ("PCMU", 0, 0xFF),
        ("PCMU", -1, 0x7F),
        ("PCMU", 32767, 0x80),
        ("PCMU", -32768, 0x00),
        ("PCMU", 1000, 0xCE),
        ("PCMA", 0, 0xD5),
        ("PCMA", -1, 0x55),
        ("PCMA", 32767, 0xAA),
        ("PCMA", -32768, 0x2A),
        ("PCMA", 1000, 0xFA),
    ],
)
def test_known_codes(codec: g711.Codec, sample: int, code: int) -> None:
    assert g711.encode(pcm(sample), codec) == bytes([code])


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_every_code_survives_a_round_trip(codec: g711.Codec) -> None:
    codes = bytes(range(256))
    linear = g711.decode(codes, codec)
    again = g711.encode(linear, codec)
    # μ-law has two codes for zero (0x7F, 0xFF); every other code is its own image
    assert g711.decode(again, codec) == linear
    assert sum(a != b for a, b in zip(codes, again, strict=True)) <= 1


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
@given(sample=st.integers(-32768, 32767))
def test_the_error_is_within_one_step_of_the_segment(codec: g711.Codec, sample: int) -> None:
    (back,) = struct.unpack("<h", g711.decode(g711.encode(pcm(sample), codec), codec))
    # the step doubles per segment: 1/16 of the magnitude plus the smallest step
    assert abs(back - sample) <= abs(sample) / 16 + 140


def test_silence_and_bad_input() -> None:
    assert g711.SILENCE == {"PCMU": 0xFF, "PCMA": 0xD5}
    assert g711.encode(b"", "PCMU") == b"" and g711.decode(b"", "PCMA") == b""
    with pytest.raises(ValueError):
        g711.encode(b"\x00", "PCMU")
    with pytest.raises(ValueError):
        g711.check_codec("G729")
