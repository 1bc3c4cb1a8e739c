"""Tones as RFC 4733 ``telephone-event`` RTP payloads, as plain data.

Nothing here touches a socket: :func:`render_packets` turns a :class:`Timeline`
into the list of packets a sender puts on the wire (payload bytes, when to send,
RTP timestamp, marker bit).  The SIP dialer adds the RTP header (sequence number,
SSRC, payload type) and sends them.

Rules followed (RFC 4733 sections in brackets):

* payload: ``event`` (8 bits) | ``E`` (1) | ``R`` (1, zero) | ``volume`` (6) |
  ``duration`` (16, network order) [2.3];
* event codes: ``0``-``9`` → 0-9, ``*`` → 10, ``#`` → 11, ``A``-``D`` → 12-15 [3.2];
* volume: power level expressed in dB below 0 dBm0, 0-63 [2.3.4]; default 10;
* all packets of one event carry the RTP timestamp of the event's start [2.3.1];
  the first packet of an event has the marker bit set [2.3.1];
* ``duration`` counts timestamp units (8000 per second) from the event's start to
  the end of the time the packet covers [2.3.5]; an update is sent every
  ``interval_ms`` (50 ms by default [2.5.1.2]);
* the final packet has the ``E`` bit set and is sent three times in all, at the
  update interval, with the same timestamp and duration [2.5.1.4];
* a tone longer than the 16-bit duration field (65535 units, 8.19 s at 8 kHz) is
  cut into segments: each segment's last packet carries duration 65535 without the
  E bit, and the next segment restarts the count with timestamp raised by 65535 and
  no marker bit [2.5.2.3].  With voiceapp's 6000 ms tone limit this needs a clock
  rate above 10.9 kHz, but the rule is implemented for any input.

Packets are returned ordered by send time; the end-packet repeats of one tone may
fall after the first update of the next tone when the gap is shorter than two
intervals, which RFC 4733 allows (each carries its own timestamp).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from operator import attrgetter

from voiceapp.dtmf.timeline import TONES, Timeline, Tone

#: DTMF symbol → RFC 4733 event code.
EVENT_CODES: dict[str, int] = {digit: code for code, digit in enumerate(TONES)}
DEFAULT_INTERVAL_MS = 50
DEFAULT_VOLUME = 10
#: The final packet of an event is sent this many times in all.
END_REPEATS = 3
#: Largest value of the 16-bit duration field.
MAX_DURATION = 0xFFFF
_PAYLOAD = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class EventPacket:
    """One telephone-event RTP packet, without its RTP header."""

    send_ms: int  # when to send it, in ms from the start of the timeline
    timestamp: int  # RTP timestamp (start of the event or segment), modulo 2**32
    marker: bool  # RTP marker bit
    payload: bytes  # the 4-byte telephone-event payload
    digit: str
    end: bool
    duration: int  # in timestamp units, as in the payload

    @property
    def event(self) -> int:
        return EVENT_CODES[self.digit]


def encode_payload(event: int, *, end: bool, volume: int, duration: int) -> bytes:
    """The 4 bytes of a telephone-event payload."""
    if not 0 <= event <= 255:
        raise ValueError(f"event code must be 0-255, got {event}")
    if not 0 <= volume <= 63:
        raise ValueError(f"volume must be 0-63 (dB below 0 dBm0), got {volume}")
    if not 0 <= duration <= MAX_DURATION:
        raise ValueError(f"duration must be 0-{MAX_DURATION}, got {duration}")
    return _PAYLOAD.pack(event, (0x80 if end else 0) | volume, duration)


def decode_payload(payload: bytes) -> tuple[int, bool, int, int]:
    """``(event, end, volume, duration)`` from a 4-byte payload."""
    event, flags, duration = _PAYLOAD.unpack(payload)
    return event, bool(flags & 0x80), flags & 0x3F, duration


def tone_packets(
    tone: Tone,
    *,
    interval_ms: int = DEFAULT_INTERVAL_MS,
    volume: int = DEFAULT_VOLUME,
    clock_rate: int = 8000,
    timestamp_base: int = 0,
) -> list[EventPacket]:
    """The packets of one tone, in send order."""
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, got {interval_ms}")
    if clock_rate <= 0 or clock_rate % 1000:
        raise ValueError(f"clock_rate must be a positive multiple of 1000 Hz, got {clock_rate}")
    units_per_ms = clock_rate // 1000
    code = EVENT_CODES[tone.digit]
    total = tone.duration_ms * units_per_ms  # event length in timestamp units
    start = timestamp_base + tone.start_ms * units_per_ms
    packets: list[EventPacket] = []

    def emit(send_ms: int, seg_start: int, duration: int, end: bool, marker: bool) -> None:
        packets.append(
            EventPacket(
                send_ms=send_ms,
                timestamp=seg_start % 2**32,
                marker=marker,
                payload=encode_payload(code, end=end, volume=volume, duration=duration),
                digit=tone.digit,
                end=end,
                duration=duration,
            )
        )

    seg_offset = 0  # units from the event start to the current segment start
    elapsed_ms = interval_ms
    first = True
    while elapsed_ms < tone.duration_ms:
        elapsed = elapsed_ms * units_per_ms
        while elapsed - seg_offset >= MAX_DURATION:  # close a full segment
            seg_ms = (seg_offset + MAX_DURATION) // units_per_ms
            emit(tone.start_ms + seg_ms, start + seg_offset, MAX_DURATION, False, first)
            first = False
            seg_offset += MAX_DURATION
        if elapsed > seg_offset:
            emit(tone.start_ms + elapsed_ms, start + seg_offset, elapsed - seg_offset, False, first)
            first = False
        elapsed_ms += interval_ms
    while total - seg_offset > MAX_DURATION:
        seg_ms = (seg_offset + MAX_DURATION) // units_per_ms
        emit(tone.start_ms + seg_ms, start + seg_offset, MAX_DURATION, False, first)
        first = False
        seg_offset += MAX_DURATION
    for repeat in range(END_REPEATS):
        emit(
            tone.end_ms + repeat * interval_ms,
            start + seg_offset,
            total - seg_offset,
            True,
            first and repeat == 0,
        )
    return packets


def render_packets(
    timeline: Timeline,
    *,
    interval_ms: int = DEFAULT_INTERVAL_MS,
    volume: int = DEFAULT_VOLUME,
    clock_rate: int = 8000,
    timestamp_base: int = 0,
) -> list[EventPacket]:
    """Every telephone-event packet for the tones of ``timeline``, by send time.

    Waits and gaps send nothing.  ``timestamp_base`` is the RTP timestamp of the
    timeline's time 0 (the RTP stream's current timestamp when the digits start).
    """
    packets: list[EventPacket] = []
    for event in timeline.events:
        if isinstance(event, Tone):
            packets += tone_packets(
                event,
                interval_ms=interval_ms,
                volume=volume,
                clock_rate=clock_rate,
                timestamp_base=timestamp_base,
            )
    packets.sort(key=attrgetter("send_ms"))  # stable: ties keep per-tone order
    return packets
