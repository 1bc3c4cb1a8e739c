"""RTP packets (RFC 3550 section 5.1): the 12-byte fixed header, CSRCs, an extension and
padding, as plain data.

Nothing here touches a socket.  :func:`parse` refuses what is not an RTP version 2
packet (:class:`RtpError`); :meth:`RtpPacket.to_bytes` writes a packet back.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION = 2
HEADER = struct.Struct("!BBHII")
#: Sequence numbers wrap at 2**16, timestamps at 2**32 (RFC 3550 5.1).
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


class RtpError(ValueError):
    """Bytes that are not an RTP packet (too short, wrong version, bad lengths)."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet: the header fields and the payload (padding removed)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()

    def to_bytes(self) -> bytes:
        """The packet on the wire (no extension, no padding)."""
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type must be 0-127, got {self.payload_type}")
        if len(self.csrcs) > 15:
            raise ValueError(f"at most 15 CSRCs, got {len(self.csrcs)}")
        first = (VERSION << 6) | len(self.csrcs)
        second = (0x80 if self.marker else 0) | self.payload_type
        head = HEADER.pack(
            first, second, self.sequence % SEQ_MOD, self.timestamp % TS_MOD, self.ssrc
        )
        if self.csrcs:
            head += struct.pack(f"!{len(self.csrcs)}I", *self.csrcs)
        return head + self.payload


def pack(
    payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, marker: bool
) -> bytes:
    """A packet with no CSRC, extension or padding (the sender's fast path)."""
    return (
        HEADER.pack(
            0x80,
            (0x80 if marker else 0) | payload_type,
            sequence % SEQ_MOD,
            timestamp % TS_MOD,
            ssrc,
        )
        + payload
    )


def parse(data: bytes) -> RtpPacket:
    """The packet in ``data``; raises :class:`RtpError` when it is not RTP version 2."""
    if len(data) < HEADER.size:
        raise RtpError(f"an RTP packet has at least {HEADER.size} bytes, got {len(data)}")
    first, second, sequence, timestamp, ssrc = HEADER.unpack_from(data)
    if first >> 6 != VERSION:
        raise RtpError(f"RTP version must be {VERSION}, got {first >> 6}")
    count = first & 0x0F
    offset = HEADER.size + 4 * count
    if len(data) < offset:
        raise RtpError(f"{count} CSRCs do not fit in {len(data)} bytes")
    csrcs = struct.unpack_from(f"!{count}I", data, HEADER.size) if count else ()
    if first & 0x10:  # header extension: 16-bit profile, 16-bit length in words
        if len(data) < offset + 4:
            raise RtpError("the header extension does not fit in the packet")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
        if len(data) < offset:
            raise RtpError("the header extension does not fit in the packet")
    end = len(data)
    if first & 0x20:  # padding: the last byte counts the padding bytes, itself included
        padding = data[-1]
        if padding == 0 or end - padding < offset:
            raise RtpError(f"bad padding length {padding}")
        end -= padding
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset:end]),
        marker=bool(second & 0x80),
        csrcs=tuple(csrcs),
    )


def seq_distance(newer: int, older: int) -> int:
    """How far sequence number ``newer`` is ahead of ``older`` (negative: behind), across the
    16-bit wrap."""
    d = (newer - older) % SEQ_MOD
    return d - SEQ_MOD if d >= SEQ_MOD // 2 else d
