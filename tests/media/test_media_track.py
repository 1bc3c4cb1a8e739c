"""LineTap and Track: a leg's audio laid out on time, as call recordings read it."""

from __future__ import annotations

from voiceapp.dtmf.audio import decode
from voiceapp.media.audio import pcm_of, samples_of
from voiceapp.media.track import Captured, LineTap, Track, tone_samples, trimmed


class Now:
    """A loop clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def frame(value: int, samples: int = 160) -> bytes:
    return pcm_of([value] * samples)


def test_packets_are_placed_by_timestamp_not_by_arrival() -> None:
    now = Now()
    tap = LineTap(now(), now)
    ts = 123_456
    for n, jitter in enumerate([0.0, 0.015, -0.01, 0.03, 0.0]):  # arrivals off the 20 ms grid
        at = 100.5 + n * 0.02 + jitter
        tap.heard.add(tap.place(0xABC, ts + n * 160, at), frame(1000 + n))
    now.t = 101.0
    captured = tap.stop()
    samples = samples_of(captured.heard)
    assert len(samples) == 8000  # one second: to the stop, silence after the last packet
    assert set(samples[:4000]) == {0}  # nothing before the first packet, 0.5 s in
    for n in range(5):  # each packet where its timestamp says, whole, nothing overlapping
        assert set(samples[4000 + 160 * n : 4160 + 160 * n]) == {1000 + n}


def test_a_new_stream_or_a_big_jump_is_placed_by_arrival() -> None:
    now = Now()
    tap = LineTap(now(), now)
    assert tap.place(1, 5000, 100.0) == 0
    assert tap.place(1, 5000 + 8000, 101.0) == 8000  # by timestamp
    assert tap.place(2, 999, 101.5) == 12000  # another SSRC: by arrival
    assert tap.place(2, 999 + 10 * 8000, 102.0) == 16000  # a 10 s jump: by arrival


def test_overlapping_pieces_are_mixed_and_clipped() -> None:
    track = Track()
    track.add(0, frame(30000))
    track.add(80, frame(10000))
    samples = samples_of(track.pcm(240))
    assert samples[0] == 30000 and samples[100] == 32767 and samples[200] == 10000
    track.add(-100, frame(5, 160))  # starts before position 0: its first 100 samples cut
    samples = samples_of(track.pcm(240))
    assert samples[0] == 30005 and samples[59] == 30005 and samples[60] == 30000


def test_start_earlier_puts_silence_first() -> None:
    now = Now()
    tap = LineTap(now(), now)
    tap.heard.add(tap.place(1, 0, 100.0), frame(700))
    tap.start_earlier(0.5)
    tap.heard.add(tap.place(1, 160, 100.02), frame(800))
    now.t = 100.04
    samples = samples_of(tap.stop().heard)
    assert len(samples) == 4000 + 320
    assert set(samples[:4000]) == {0}
    assert set(samples[4000:4160]) == {700} and set(samples[4160:]) == {800}


def test_captured_mixes_splits_and_trims() -> None:
    heard = bytes(1600) + frame(2000, 800) + bytes(1600)
    sent = frame(-500, 800) + bytes(3200)
    captured = Captured(heard, sent)
    assert captured.seconds == 0.3
    mono = samples_of(captured.mono())
    assert mono[0] == -500 and mono[900] == 2000
    stereo = samples_of(captured.stereo())
    assert (stereo[2 * 900], stereo[2 * 900 + 1]) == (2000, 0)
    assert (stereo[0], stereo[1]) == (0, -500)
    assert samples_of(captured.far_end(trim=True)) == samples_of(frame(2000, 800))
    assert captured.far_end(trim=False) == heard
    assert trimmed(bytes(3200)) == b""


def test_tone_pieces_join_without_a_phase_jump() -> None:
    whole = tone_samples("7", 0, 960)
    pieces = b"".join(tone_samples("7", start, 160) for start in range(0, 960, 160))
    assert pieces == whole
    (tone,) = decode(samples_of(whole))
    assert tone.digit == "7" and 110 <= tone.duration_ms <= 125
