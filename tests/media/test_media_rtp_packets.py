"""RTP packets (RFC 3550 5.1) as plain data."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voiceapp.media import rtp


def test_the_fixed_header() -> None:
    data = rtp.pack(0, 0x1234, 0xDEADBEEF, 0x01020304, b"\xff" * 160, True)
    assert data[:12] == bytes.fromhex("80801234deadbeef01020304")
    packet = rtp.parse(data)
    assert packet == rtp.RtpPacket(0, 0x1234, 0xDEADBEEF, 0x01020304, b"\xff" * 160, True)


@given(
    pt=st.integers(0, 127),
    seq=st.integers(0, 2**16 - 1),
    ts=st.integers(0, 2**32 - 1),
    ssrc=st.integers(0, 2**32 - 1),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15),
)
def test_round_trip(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool, csrcs: list[int]
) -> None:
    packet = rtp.RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrcs))
    assert rtp.parse(packet.to_bytes()) == packet


def test_extension_and_padding_are_skipped() -> None:
    head = bytes([0x80 | 0x20 | 0x10 | 1, 8]) + struct.pack("!HII", 7, 160, 99)
    csrc = struct.pack("!I", 5)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x01\x02\x03\x04"
    data = head + csrc + extension + b"audio" + b"\x00\x00\x03"
    packet = rtp.parse(data)
    assert (packet.payload, packet.csrcs, packet.payload_type) == (b"audio", (5,), 8)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x00",
        bytes([0x40]) + bytes(11),  # version 1
        bytes([0x82]) + bytes(11),  # two CSRCs announced, none there
        bytes([0x90]) + bytes(11),  # an extension announced, none there
        bytes([0x90]) + bytes(11) + struct.pack("!HH", 0, 4),  # extension too long
        bytes([0xA0]) + bytes(11) + b"\x00",  # padding of 0
        bytes([0xA0]) + bytes(11) + b"\x09",  # padding longer than the payload
    ],
)
def test_what_is_not_rtp(data: bytes) -> None:
    with pytest.raises(rtp.RtpError):
        rtp.parse(data)


def test_wraps_and_distances() -> None:
    packet = rtp.parse(rtp.pack(0, 65536 + 3, 2**32 + 5, 1, b"", False))
    assert (packet.sequence, packet.timestamp) == (3, 5)
    assert rtp.seq_distance(2, 65534) == 4
    assert rtp.seq_distance(65534, 2) == -4
    with pytest.raises(ValueError):
        rtp.RtpPacket(128, 0, 0, 0, b"").to_bytes()
