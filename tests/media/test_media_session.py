"""MediaSession on real UDP sockets on 127.0.0.1, on the dialer's virtual time (exact)
and, for pacing, on real time."""

from __future__ import annotations

import asyncio
import socket
import statistics
import wave
from collections.abc import Callable, Coroutine, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import pytest
from support.rtp import RtpPeer, rms, speech_seconds

from voiceapp.dialer.clock import Clock, RealClock, VirtualClock
from voiceapp.dtmf import parse_digits
from voiceapp.dtmf.audio import decode, synthesize
from voiceapp.errors import MediaError, OutboundBlocked
from voiceapp.media import g711, rtp
from voiceapp.media.audio import pcm_of, samples_of
from voiceapp.media.session import MediaSession, Pacer
from voiceapp.media.speech import Speech
from voiceapp.netguard import Allowlist, Guard

T = TypeVar("T")
PORTS = (30000, 39999)
EVENT_PT = 101


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    c = VirtualClock()
    yield c
    c.close()


def run(clock: Clock, body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return clock.run_until(body())


async def pair(
    clock: Clock, codec: str = "PCMU", dtmf: int | None = EVENT_PT
) -> tuple[MediaSession, RtpPeer]:
    session = await MediaSession.open("127.0.0.1", PORTS, clock)
    peer = RtpPeer(clock.loop)
    session.set_remote("127.0.0.1", peer.port, codec, None, dtmf)
    return session, peer


def tone(freq: float, seconds: float, amplitude: int = 8000) -> bytes:
    import math

    n = round(seconds * 8000)
    return pcm_of([round(amplitude * math.sin(2 * math.pi * freq * i / 8000)) for i in range(n)])


def test_the_port_is_even_and_in_the_range(clock: VirtualClock) -> None:
    async def body() -> list[int]:
        sessions = [await MediaSession.open("127.0.0.1", (31000, 31011), clock) for _ in range(6)]
        ports = [s.local_port for s in sessions]
        for s in sessions:
            s.close()
        return ports

    ports = run(clock, body)
    assert sorted(ports) == [31000, 31002, 31004, 31006, 31008, 31010]


def test_no_free_port_is_a_media_error(clock: VirtualClock) -> None:
    async def body() -> None:
        held = await MediaSession.open("127.0.0.1", (31100, 31101), clock)
        try:
            with pytest.raises(MediaError) as caught:
                await MediaSession.open("127.0.0.1", (31100, 31101), clock)
            assert caught.value.code == "media-no-port"
        finally:
            held.close()

    run(clock, body)


def test_rfc4733_wwww101_first_digit_at_four_seconds(clock: VirtualClock) -> None:
    async def body() -> RtpPeer:
        session, peer = await pair(clock)
        await session.send_dtmf(parse_digits("WWWW101"))
        session.close()
        return peer

    peer = run(clock, body)
    events = peer.check_dtmf(parse_digits("WWWW101"), EVENT_PT)
    opening = events[0].packets[0]
    assert opening.time - peer.arrivals[0].time == pytest.approx(4.02)  # covers 4.00-4.02
    assert [e.ends for e in events] == [3, 3, 3]
    # silence between the tones is PCMU audio, none while a tone sounds
    audio = peer.of_type(0)
    assert audio and all(a.packet.payload == b"\xff" * 160 for a in audio)
    assert audio[0].packet.marker and not any(a.packet.marker for a in audio[1:])
    peer.close()


def test_rfc4733_with_a_dynamic_type_and_pcma(clock: VirtualClock) -> None:
    async def body() -> RtpPeer:
        session, peer = await pair(clock, "PCMA", 96)
        await session.send_dtmf(parse_digits("1w2@100"))
        session.close()
        return peer

    peer = run(clock, body)
    peer.check_dtmf(parse_digits("1w2@100"), 96)
    assert {a.packet.payload_type for a in peer.arrivals} == {8, 96}
    peer.close()


def test_in_band_dtmf_without_telephone_event(clock: VirtualClock) -> None:
    async def body() -> RtpPeer:
        session, peer = await pair(clock, "PCMU", None)
        await session.send_dtmf(parse_digits("WW123#"))
        session.close()
        return peer

    peer = run(clock, body)
    assert {a.packet.payload_type for a in peer.arrivals} == {0}
    found = decode(samples_of(peer.audio("PCMU")))
    assert "".join(t.digit for t in found) == "123#"
    timeline = parse_digits("WW123#")
    for heard, sent in zip(found, timeline.tones, strict=True):
        assert abs(heard.start_ms - sent.start_ms) <= 20
    peer.close()


def test_pacing_is_exact_on_virtual_time(clock: VirtualClock) -> None:
    async def body() -> RtpPeer:
        session, peer = await pair(clock)
        await session.play(tone(440, 1.0))
        session.close()
        return peer

    peer = run(clock, body)
    assert len(peer.arrivals) == 50
    assert all(abs(i - 0.02) < 1e-9 for i in peer.intervals())
    stamps = [a.packet.timestamp for a in peer.arrivals]
    assert all((b - a) % rtp.TS_MOD == 160 for a, b in pairwise(stamps))
    seqs = [a.packet.sequence for a in peer.arrivals]
    assert all((b - a) % rtp.SEQ_MOD == 1 for a, b in pairwise(seqs))
    assert len({a.packet.ssrc for a in peer.arrivals}) == 1
    peer.close()


def test_play_carries_the_samples(clock: VirtualClock) -> None:
    pcm = tone(1000, 0.5) + tone(300, 0.33)

    async def body() -> RtpPeer:
        session, peer = await pair(clock, "PCMA")
        await session.play(pcm)
        session.close()
        return peer

    peer = run(clock, body)
    got = peer.audio("PCMA")
    expected = g711.decode(g711.encode(pcm, "PCMA"), "PCMA")
    assert got[: len(expected)] == expected
    assert set(got[len(expected) :]) <= {0x08, 0x00}  # the padding: A-law silence (+8)
    peer.close()


def test_the_rtp_clock_runs_through_the_quiet_between_jobs(clock: VirtualClock) -> None:
    async def body() -> RtpPeer:
        session, peer = await pair(clock)
        await session.play(tone(500, 0.1))
        await asyncio.sleep(1.0)
        await session.play(tone(500, 0.1))
        session.close()
        return peer

    peer = run(clock, body)
    first, second = peer.arrivals[0], peer.arrivals[5]
    assert second.packet.marker
    assert second.time - first.time == pytest.approx(1.1)
    assert (second.packet.timestamp - first.packet.timestamp) % rtp.TS_MOD == 8800
    peer.close()


def test_say_produces_speech(clock: VirtualClock, tmp_path: Path) -> None:
    speech = Speech(tmp_path / "speech")

    async def body() -> RtpPeer:
        session = await MediaSession.open("127.0.0.1", PORTS, clock, speech=speech)
        peer = RtpPeer(clock.loop)
        session.set_remote("127.0.0.1", peer.port, "PCMU", 0, EVENT_PT)
        await session.say("Please enter your PIN, then press pound.", "woman", "en-US")
        session.close()
        return peer

    peer = run(clock, body)
    pcm = peer.audio("PCMU")
    seconds = len(pcm) / 16000
    assert 1.0 < seconds < 8.0
    assert speech_seconds(pcm) > 0.8
    assert rms(pcm) > 500
    assert len(list((tmp_path / "speech").iterdir())) == 1  # cached once
    peer.close()


def test_queued_jobs_keep_their_order_behind_speech(clock: VirtualClock, tmp_path: Path) -> None:
    speech = Speech(tmp_path)

    async def body() -> RtpPeer:
        session = await MediaSession.open("127.0.0.1", PORTS, clock, speech=speech)
        peer = RtpPeer(clock.loop)
        session.set_remote("127.0.0.1", peer.port)
        said = session.say("Hello.", "man", "en-GB")
        played = session.play(tone(1000, 0.2))
        await asyncio.gather(said, played)
        session.close()
        return peer

    peer = run(clock, body)
    markers = [i for i, a in enumerate(peer.arrivals) if a.packet.marker]
    assert len(markers) == 2
    tail = peer.audio("PCMU")[-3200:]
    assert rms(tail) > 4000  # the tone comes last
    peer.close()


def test_a_missing_espeak_is_a_media_error(clock: VirtualClock) -> None:
    async def body() -> None:
        session = await MediaSession.open(
            "127.0.0.1", PORTS, clock, speech=Speech(program="no-such-espeak")
        )
        session.set_remote("127.0.0.1", 9)
        with pytest.raises(MediaError) as caught:
            await session.say("hi", "man", "en-US")
        assert caught.value.code == "media-speech"
        session.close()

    run(clock, body)


def test_received_rfc4733_feeds_on_digit(clock: VirtualClock) -> None:
    digits: list[str] = []

    async def body() -> None:
        session, peer = await pair(clock)
        session.on_digit = digits.append
        await peer.send_events(("127.0.0.1", session.local_port), "4#*9", EVENT_PT)
        session.close()
        peer.close()

    run(clock, body)
    assert digits == ["4", "#", "*", "9"]


def test_received_in_band_tones_feed_on_digit(clock: VirtualClock) -> None:
    digits: list[str] = []

    async def body() -> None:
        session, peer = await pair(clock, "PCMA", None)
        session.on_digit = digits.append
        audio = bytes(synthesize(parse_digits("W1234567890*#ABCD@80")))
        await peer.send_audio(("127.0.0.1", session.local_port), audio, "PCMA")
        session.close()
        peer.close()

    run(clock, body)
    assert "".join(digits) == "1234567890*#ABCD"


def test_symmetric_rtp_sends_where_the_peer_sends_from(clock: VirtualClock) -> None:
    async def body() -> tuple[RtpPeer, RtpPeer]:
        session = await MediaSession.open("127.0.0.1", PORTS, clock)
        announced, actual = RtpPeer(clock.loop), RtpPeer(clock.loop)
        session.set_remote("127.0.0.1", announced.port)
        await session.play(tone(440, 0.1))
        await actual.send_audio(("127.0.0.1", session.local_port), tone(440, 0.04))
        await session.play(tone(440, 0.1))
        # the latch holds: a third address is not followed
        third = RtpPeer(clock.loop)
        await third.send_audio(("127.0.0.1", session.local_port), tone(440, 0.04))
        await session.play(tone(440, 0.1))
        session.close()
        third.close()
        assert not third.arrivals
        return announced, actual

    announced, actual = run(clock, body)
    assert len(announced.arrivals) == 5
    assert len(actual.arrivals) == 10
    announced.close()
    actual.close()


def test_record_writes_a_wav_and_stops_on_silence(clock: VirtualClock, tmp_path: Path) -> None:
    path = tmp_path / "message.wav"
    sound = tone(700, 1.5)

    async def body() -> tuple[float, float]:
        session, peer = await pair(clock)
        started = clock.now()
        recording = session.record(path, max_length=30, timeout=2)
        await peer.send_audio(("127.0.0.1", session.local_port), sound)
        seconds = await recording
        elapsed = clock.now() - started
        session.close()
        peer.close()
        return seconds, elapsed

    seconds, elapsed = run(clock, body)
    assert seconds == pytest.approx(1.5)
    assert elapsed == pytest.approx(3.5, abs=0.03)  # 1.5 s of sound, then 2 s of silence
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        frames = wav.readframes(wav.getnframes())
    assert frames == g711.decode(g711.encode(sound, "PCMU"), "PCMU")


def test_record_ends_at_max_length_and_on_finish_key(clock: VirtualClock, tmp_path: Path) -> None:
    async def body() -> tuple[float, float]:
        session, peer = await pair(clock)
        to = ("127.0.0.1", session.local_port)
        capped = session.record(tmp_path / "a.wav", max_length=1, timeout=0)
        await peer.send_audio(to, tone(700, 2.0))
        first = await capped
        keyed = session.record(tmp_path / "b.wav", max_length=60, timeout=0, finish_on_key="#")
        ts = await peer.send_audio(to, tone(700, 0.6), ts=50_000)
        await peer.send_events(to, "#", EVENT_PT, ts=ts)
        second = await keyed
        session.close()
        peer.close()
        return first, second

    first, second = run(clock, body)
    assert first == 1.0
    assert second == pytest.approx(0.6)


def test_bridge_relays_both_ways_and_transcodes(clock: VirtualClock) -> None:
    a_sound, b_sound = tone(600, 0.4), tone(900, 0.4)
    digits: list[str] = []

    async def body() -> tuple[RtpPeer, RtpPeer]:
        a, a_peer = await pair(clock, "PCMU", 101)
        b, b_peer = await pair(clock, "PCMA", 96)
        b.on_digit = digits.append
        a.bridge(b)
        assert a.bridged is b and b.bridged is a
        await a_peer.send_audio(("127.0.0.1", a.local_port), a_sound, "PCMU")
        await b_peer.send_audio(("127.0.0.1", b.local_port), b_sound, "PCMA")
        await a_peer.send_events(("127.0.0.1", a.local_port), "7", 101)
        a.unbridge()
        assert a.bridged is None and b.bridged is None
        await a_peer.send_audio(("127.0.0.1", a.local_port), a_sound, "PCMU")
        a.close()
        b.close()
        return a_peer, b_peer

    a_peer, b_peer = run(clock, body)
    via_a = g711.decode(g711.encode(a_sound, "PCMU"), "PCMU")
    got_b = b_peer.audio("PCMA")
    assert len(got_b) == len(via_a)  # nothing after unbridge
    assert got_b == g711.decode(g711.encode(via_a, "PCMA"), "PCMA")
    via_b = g711.decode(g711.encode(b_sound, "PCMA"), "PCMA")
    assert a_peer.audio("PCMU") == g711.decode(g711.encode(via_b, "PCMU"), "PCMU")
    assert [e.digit for e in b_peer.events(96)] == ["7"]
    assert {a.packet.payload_type for a in b_peer.arrivals} == {8, 96}
    assert digits == []  # b's own peer pressed nothing
    a_peer.close()
    b_peer.close()


def test_garbage_and_unknown_payload_types_are_dropped(clock: VirtualClock) -> None:
    async def body() -> MediaSession:
        session, peer = await pair(clock)
        to = ("127.0.0.1", session.local_port)
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.sendto(b"\x00" * 20, to)  # version 0
        raw.sendto(b"\x80", to)  # too short
        raw.close()
        peer.send(to, 18, 0, b"\x00" * 20)  # G.729: not negotiated
        peer.send(to, 0, 0, b"\xff" * 160)
        await asyncio.sleep(0.1)
        session.close()
        peer.close()
        return session

    session = run(clock, body)
    assert (session.stats.dropped, session.stats.received) == (3, 1)


def test_sending_needs_a_remote_and_an_open_session(clock: VirtualClock) -> None:
    async def body() -> None:
        session = await MediaSession.open("127.0.0.1", PORTS, clock)
        with pytest.raises(MediaError) as caught:
            session.play(b"\x00\x00")
        assert caught.value.code == "media-no-remote"
        with pytest.raises(MediaError):
            session.set_remote("phone.example", 4000)
        session.set_remote("127.0.0.1", 9)
        pending = session.play(tone(400, 1.0))
        session.close()
        assert pending.done()
        with pytest.raises(MediaError) as caught:
            session.play(b"\x00\x00")
        assert caught.value.code == "media-closed"

    run(clock, body)


def test_stop_drops_what_is_queued(clock: VirtualClock) -> None:
    async def body() -> RtpPeer:
        session, peer = await pair(clock)
        first = session.play(tone(400, 1.0))
        second = session.play(tone(400, 1.0))
        await asyncio.sleep(0.1)
        session.stop()
        assert first.done() and second.done()
        await asyncio.sleep(0.5)
        session.close()
        return peer

    peer = run(clock, body)
    assert len(peer.arrivals) == 6  # ticks at 0, 20, ..., 100 ms
    peer.close()


def test_pacing_holds_on_real_time() -> None:
    clock = RealClock()

    async def body() -> RtpPeer:
        session, peer = await pair(clock)
        await session.play(tone(440, 1.0))
        await asyncio.sleep(0.05)
        session.close()
        return peer

    try:
        peer = run(clock, body)
    finally:
        clock.close()
    assert len(peer.arrivals) == 50
    start = peer.arrivals[0].time
    drift = [abs(a.time - start - n * 0.02) for n, a in enumerate(peer.arrivals)]
    assert statistics.median(drift) < 0.005  # on the absolute grid, not drifting
    assert peer.arrivals[-1].time - start == pytest.approx(0.98, abs=0.02)
    peer.close()


def test_hold_and_a_new_media_address(clock: VirtualClock) -> None:
    async def body() -> tuple[RtpPeer, RtpPeer]:
        session, first = await pair(clock)
        second = RtpPeer(clock.loop)
        await first.send_audio(("127.0.0.1", session.local_port), tone(440, 0.04))
        assert session.latched
        session.set_remote("0.0.0.0", first.port)  # re-INVITE: hold
        assert session.on_hold
        await session.play(tone(440, 0.1))  # runs on the clock, sends nothing
        session.set_remote("127.0.0.1", second.port)  # re-INVITE: media moved
        assert not session.on_hold and not session.latched
        await session.play(tone(440, 0.1))
        session.close()
        return first, second

    first, second = run(clock, body)
    assert not first.arrivals
    assert len(second.arrivals) == 5
    first.close()
    second.close()


def test_the_guard_checks_where_rtp_goes(clock: VirtualClock) -> None:
    async def body() -> tuple[RtpPeer, RtpPeer]:
        allowed, other = RtpPeer(clock.loop), RtpPeer(clock.loop)
        strict = await MediaSession.open("127.0.0.1", PORTS, clock, guard=Guard())
        with pytest.raises(OutboundBlocked):
            strict.set_remote("127.0.0.1", allowed.port)
        strict.close()
        guard = Guard(Allowlist.parse([f"127.0.0.1:{allowed.port}"]))
        session = await MediaSession.open("127.0.0.1", PORTS, clock, guard=guard)
        session.set_remote("127.0.0.1", allowed.port)
        # a packet from a port the deployment does not allow does not move the latch
        await other.send_audio(("127.0.0.1", session.local_port), tone(440, 0.04))
        await session.play(tone(440, 0.1))
        session.close()
        return allowed, other

    allowed, other = run(clock, body)
    assert len(allowed.arrivals) == 5 and not other.arrivals
    allowed.close()
    other.close()


def test_a_replayed_press_with_the_same_timestamp_is_a_new_digit(clock: VirtualClock) -> None:
    digits: list[str] = []

    async def body() -> None:
        session, peer = await pair(clock)
        session.on_digit = digits.append
        to = ("127.0.0.1", session.local_port)
        await peer.send_events(to, "5", EVENT_PT, ts=1000)
        await peer.send_events(to, "5", EVENT_PT, ts=1000)  # the same capture again
        peer.send(to, EVENT_PT, 1000, bytes.fromhex("058a0320"))  # a late end repeat
        await asyncio.sleep(0.05)
        session.close()
        peer.close()

    run(clock, body)
    assert digits == ["5", "5"]


def test_a_codec_change_applies_to_what_is_still_queued(clock: VirtualClock) -> None:
    pcm = tone(800, 0.2)

    async def body() -> RtpPeer:
        session, peer = await pair(clock, "PCMU")
        playing = session.play(pcm)
        await asyncio.sleep(0.09)  # ticks at 0, 20, 40, 60, 80 ms went as PCMU
        session.set_remote("127.0.0.1", peer.port, "PCMA", None, EVENT_PT)  # re-INVITE
        await playing
        session.close()
        return peer

    peer = run(clock, body)
    assert [a.packet.payload_type for a in peer.arrivals] == [0] * 5 + [8] * 5
    frames = [pcm[i : i + 320] for i in range(0, len(pcm), 320)]
    assert [a.packet.payload for a in peer.arrivals[5:]] == [
        g711.encode(f, "PCMA") for f in frames[5:]
    ]
    peer.close()


def test_a_shared_pacer_ticks_every_session_with_one_timer(clock: VirtualClock) -> None:
    async def body() -> tuple[list[RtpPeer], int]:
        pacer = Pacer(clock.loop)
        sessions = [
            await MediaSession.open("127.0.0.1", PORTS, clock, pacer=pacer) for _ in range(3)
        ]
        peers = [RtpPeer(clock.loop) for _ in sessions]
        for session, peer in zip(sessions, peers, strict=True):
            session.set_remote("127.0.0.1", peer.port)
        base = clock.pending
        first = sessions[0].play(tone(440, 0.2))
        await asyncio.sleep(0.03)  # the others join between two ticks
        rest = [s.play(tone(440, 0.1)) for s in sessions[1:]]
        timers = clock.pending - base
        await asyncio.gather(first, *rest)
        assert len(pacer) == 0 and clock.pending == 0  # quiet: no timer left
        for session in sessions:
            session.close()
        return peers, timers

    peers, timers = run(clock, body)
    assert timers == 1  # one tick timer for all three
    times = [[round(a.time, 6) for a in peer.arrivals] for peer in peers]
    assert times[0] == [round(0.02 * n, 6) for n in range(10)]
    assert times[1] == times[2] == [round(0.04 + 0.02 * n, 6) for n in range(5)]
    for peer in peers:
        peer.close()


def test_a_broken_session_does_not_stop_the_others(
    clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body() -> tuple[RtpPeer, RtpPeer]:
        pacer = Pacer(clock.loop)
        good = await MediaSession.open("127.0.0.1", PORTS, clock, pacer=pacer)
        bad = await MediaSession.open("127.0.0.1", PORTS, clock, pacer=pacer)
        good_peer, bad_peer = RtpPeer(clock.loop), RtpPeer(clock.loop)
        good.set_remote("127.0.0.1", good_peer.port)
        bad.set_remote("127.0.0.1", bad_peer.port)

        def broken(_ts: int) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(bad, "_next_outs", broken)
        bad.play(tone(440, 0.1))
        await good.play(tone(440, 0.1))
        good.close()
        bad.close()
        return good_peer, bad_peer

    good_peer, bad_peer = run(clock, body)
    assert len(good_peer.arrivals) == 5 and not bad_peer.arrivals
    good_peer.close()
    bad_peer.close()


def test_speech_comes_from_the_cache_once_rendered(tmp_path: Path) -> None:
    first = Speech(tmp_path).render("Goodbye.", "man", "en-US")
    # a renderer that cannot run still answers from the cache, for the same text and voice
    cached = Speech(tmp_path, program="no-such-espeak")
    assert cached.render("Goodbye.", "man", "en-US") == first
    with pytest.raises(MediaError):
        cached.render("Goodbye.", "woman", "en-US")  # another voice: not cached


def test_a_silent_peer_ends_the_recording_after_timeout(
    clock: VirtualClock, tmp_path: Path
) -> None:
    async def body() -> tuple[float, float]:
        session, peer = await pair(clock)
        started = clock.now()
        seconds = await session.record(tmp_path / "none.wav", max_length=60, timeout=3)
        elapsed = clock.now() - started
        session.close()
        peer.close()
        return seconds, elapsed

    seconds, elapsed = run(clock, body)
    assert (seconds, elapsed) == (0.0, 3.0)
    with wave.open(str(tmp_path / "none.wav"), "rb") as wav:
        assert wav.getnframes() == 0
