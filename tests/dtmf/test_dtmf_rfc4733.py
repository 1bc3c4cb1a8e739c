from __future__ import annotations

from itertools import pairwise

import pytest

from voiceapp.dtmf import Tone, parse_digits
from voiceapp.dtmf.rfc4733 import (
    END_REPEATS,
    EVENT_CODES,
    MAX_DURATION,
    decode_payload,
    encode_payload,
    render_packets,
    tone_packets,
)


def test_event_codes_follow_rfc4733() -> None:
    assert [EVENT_CODES[d] for d in "0123456789"] == list(range(10))
    assert (EVENT_CODES["*"], EVENT_CODES["#"]) == (10, 11)
    assert [EVENT_CODES[d] for d in "ABCD"] == [12, 13, 14, 15]


def test_payload_layout_is_event_e_r_volume_duration() -> None:
    assert encode_payload(11, end=True, volume=10, duration=960) == bytes(
        [11, 0x80 | 10, 0x03, 0xC0]
    )
    assert encode_payload(5, end=False, volume=63, duration=MAX_DURATION) == b"\x05\x3f\xff\xff"
    assert decode_payload(b"\x0b\x8a\x03\xc0") == (11, True, 10, 960)


@pytest.mark.parametrize(
    "kwargs", [{"event": 256}, {"volume": 64}, {"duration": MAX_DURATION + 1}, {"duration": -1}]
)
def test_payload_fields_are_range_checked(kwargs: dict[str, int]) -> None:
    args = {"event": 1, "volume": 10, "duration": 0, **kwargs}
    with pytest.raises(ValueError):
        encode_payload(args["event"], end=False, volume=args["volume"], duration=args["duration"])


def test_one_tone_updates_every_interval_then_ends_three_times() -> None:
    packets = tone_packets(Tone("1", 1000, 120), interval_ms=50, volume=10, timestamp_base=160)
    assert [(p.send_ms, p.duration, p.end, p.marker) for p in packets] == [
        (1050, 400, False, True),
        (1100, 800, False, False),
        (1120, 960, True, False),
        (1170, 960, True, False),
        (1220, 960, True, False),
    ]
    # every packet of the event carries the event's start timestamp
    assert {p.timestamp for p in packets} == {160 + 1000 * 8}
    assert [decode_payload(p.payload) for p in packets][-1] == (1, True, 10, 960)
    assert len({p.payload for p in packets if p.end}) == 1


def test_a_tone_shorter_than_the_interval_is_marked_on_its_first_end_packet() -> None:
    packets = tone_packets(Tone("#", 0, 40), interval_ms=50)
    assert [(p.marker, p.end, p.duration) for p in packets] == [(True, True, 320)] + [
        (False, True, 320)
    ] * (END_REPEATS - 1)


def test_long_tones_are_cut_into_segments() -> None:
    # 6000 ms at a 16 kHz event clock is 96000 units: one full segment + the rest.
    packets = tone_packets(Tone("5", 0, 6000), clock_rate=16000)
    ends = [p for p in packets if p.end]
    assert len(ends) == END_REPEATS
    assert {(p.timestamp, p.duration) for p in ends} == {(MAX_DURATION, 96000 - MAX_DURATION)}
    closing = [p for p in packets if p.duration == MAX_DURATION and not p.end]
    assert len(closing) == 1 and closing[0].timestamp == 0
    assert [p.marker for p in packets].count(True) == 1 and packets[0].marker
    # within a segment durations only grow; the new segment restarts from its timestamp
    for a, b in pairwise(packets):
        if a.timestamp == b.timestamp:
            assert b.duration >= a.duration
    assert all(p.duration <= MAX_DURATION for p in packets)


def test_timestamps_wrap_at_32_bits() -> None:
    packets = tone_packets(Tone("1", 1000, 100), timestamp_base=2**32 - 8000)
    assert {p.timestamp for p in packets} == {0}


def test_render_packets_covers_tones_only_in_send_order() -> None:
    timeline = parse_digits("1w#2", tone_ms=100, gap_ms=60)
    packets = render_packets(timeline)
    assert [p.send_ms for p in packets] == sorted(p.send_ms for p in packets)
    assert [p.digit for p in packets if p.marker] == ["1", "#", "2"]
    starts = {p.digit: p.timestamp for p in packets}
    assert starts == {t.digit: t.start_ms * 8 for t in timeline.tones}
    assert sum(p.end for p in packets) == END_REPEATS * 3
