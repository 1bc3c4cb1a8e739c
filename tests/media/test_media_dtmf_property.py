"""Any valid digit string goes out as the RFC 4733 events (or in-band tones) of its
timeline: checked by the test-side RTP peer on loopback UDP, on virtual time."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.rtp import RtpPeer

from voiceapp.dialer.clock import VirtualClock
from voiceapp.dtmf import Timeline, parse_digits
from voiceapp.dtmf.audio import decode
from voiceapp.media.audio import samples_of
from voiceapp.media.session import MediaSession

SYMBOLS = "0123456789*#ABCDwW"


@st.composite
def timelines(draw: st.DrawFn) -> Timeline:
    body = draw(st.text(SYMBOLS, min_size=1, max_size=10).filter(lambda t: t.strip("wW")))
    tone_ms = draw(st.sampled_from([40, 60, 100, 200, 250]))
    gap_ms = draw(st.sampled_from([40, 80, 400]))
    return parse_digits(body, tone_ms=tone_ms, gap_ms=gap_ms)


def send(timeline: Timeline, codec: str, dtmf: int | None) -> RtpPeer:
    clock = VirtualClock()

    async def body() -> RtpPeer:
        session = await MediaSession.open("127.0.0.1", (32000, 32999), clock)
        peer = RtpPeer(clock.loop)
        session.set_remote("127.0.0.1", peer.port, codec, None, dtmf)
        await session.send_dtmf(timeline)
        session.close()
        peer.close()
        return peer

    try:
        return clock.run_until(body())
    finally:
        clock.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timeline=timelines(), codec=st.sampled_from(["PCMU", "PCMA"]), pt=st.integers(96, 127))
def test_rfc4733_carries_the_timeline(timeline: Timeline, codec: str, pt: int) -> None:
    peer = send(timeline, codec, pt)
    peer.check_dtmf(timeline, pt)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timeline=timelines(), codec=st.sampled_from(["PCMU", "PCMA"]))
def test_in_band_tones_carry_the_timeline(timeline: Timeline, codec: str) -> None:
    peer = send(timeline, codec, None)
    found = decode(samples_of(peer.audio(codec)))  # type: ignore[arg-type]
    assert "".join(t.digit for t in found) == timeline.pressed
    for heard, sent in zip(found, timeline.tones, strict=True):
        assert abs(heard.start_ms - sent.start_ms) <= 20
