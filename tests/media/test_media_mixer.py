"""The conference mixer on real UDP sockets (127.0.0.1), on the dialer's virtual time:
each member hears the others but not itself, muted members are not mixed in, RFC 4733
digits are mixed as their tones, sums are clipped, announcements reach everyone."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import pytest
from support.rtp import RtpPeer

from voiceapp.dialer.clock import VirtualClock
from voiceapp.dtmf import parse_digits
from voiceapp.dtmf.audio import decode, synthesize
from voiceapp.media.audio import beep, pcm_of, samples_of
from voiceapp.media.mixer import FRAME_BYTES, MAX_QUEUED, PLAYOUT_FRAMES, Mixer
from voiceapp.media.session import MediaSession, Pacer

PORTS = (30000, 39999)
EVENT_PT = 101


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    c = VirtualClock()
    yield c
    c.close()


async def members(
    clock: VirtualClock, count: int
) -> tuple[Mixer, list[MediaSession], list[RtpPeer]]:
    pacer = Pacer(clock.loop)  # one tick for all, as the SIP backend has
    mixer = Mixer()
    sessions, peers = [], []
    for _ in range(count):
        session = await MediaSession.open("127.0.0.1", PORTS, clock, pacer=pacer)
        peer = RtpPeer(clock.loop)
        session.set_remote("127.0.0.1", peer.port, "PCMU", None, EVENT_PT)
        mixer.add(session)
        sessions.append(session)
        peers.append(peer)
    return mixer, sessions, peers


def to(session: MediaSession) -> tuple[str, int]:
    return ("127.0.0.1", session.local_port)


def tones(digits: str) -> bytes:
    return pcm_of(synthesize(parse_digits(digits, tone_ms=120, gap_ms=120)))


def heard(peer: RtpPeer) -> str:
    return "".join(t.digit for t in decode(samples_of(peer.audio("PCMU", 0))))


def close(sessions: list[MediaSession], peers: list[RtpPeer]) -> None:
    for session in sessions:
        session.close()
    for peer in peers:
        peer.close()


def test_each_member_hears_the_others_but_not_itself(clock: VirtualClock) -> None:
    async def body() -> list[RtpPeer]:
        mixer, sessions, peers = await members(clock, 3)
        await peers[0].send_audio(to(sessions[0]), tones("12"))
        await asyncio.sleep(0.2)
        await peers[1].send_events(to(sessions[1]), "5", EVENT_PT)  # RFC 4733: mixed as a tone
        await asyncio.sleep(0.3)
        assert mixer.rounds > 0
        close(sessions, peers)
        return peers

    a, b, c = clock.run_until(body())
    assert heard(a) == "5"
    assert heard(b) == "12"
    assert heard(c) == "125"
    # one round per 20 ms tick: every member got a packet on each tick, silence included
    assert len(c.of_type(0)) == pytest.approx(len(a.of_type(0)), abs=2)


def test_a_muted_member_is_not_mixed_in(clock: VirtualClock) -> None:
    async def body() -> list[RtpPeer]:
        mixer, sessions, peers = await members(clock, 3)
        mixer.set_part(sessions[0], speaks=False, hears=True)
        mixer.set_part(sessions[2], speaks=True, hears=False)  # on hold: hears nothing
        await asyncio.gather(
            peers[0].send_audio(to(sessions[0]), tones("1")),
            peers[1].send_audio(to(sessions[1]), tones("w9")),
        )
        await asyncio.sleep(0.2)
        close(sessions, peers)
        return peers

    a, b, c = clock.run_until(body())
    assert heard(a) == "9"  # a muted member still hears
    assert heard(b) == ""  # nobody hears the muted one
    assert heard(c) == ""


def test_sums_are_clipped_not_wrapped(clock: VirtualClock) -> None:
    loud = pcm_of([round(30000 * math.sin(2 * math.pi * 400 * n / 8000)) for n in range(800)])

    async def body() -> list[bytes]:
        mixer, sessions, peers = await members(clock, 3)
        await asyncio.sleep(0.02)  # one whole round (tick): the next call starts a new one
        a, b, c = sessions
        mixer.heard(a, loud)
        mixer.heard(b, loud)
        frames = [mixer.frame_for(c)]
        close(sessions, peers)
        return frames

    (frame,) = clock.run_until(body())
    out = samples_of(frame)
    first = samples_of(loud[:FRAME_BYTES])
    for mixed, one in zip(out, first, strict=True):
        assert abs(mixed) >= abs(one) - 1  # the sum never loses loudness by wrapping
        assert (mixed >= 0) == (one >= 0) or abs(one) < 2
    assert max(out) == 32767 and min(out) == -32768


def test_queues_are_bounded_and_announcements_reach_everyone(clock: VirtualClock) -> None:
    burst = pcm_of([round(8000 * math.sin(2 * math.pi * 400 * n / 8000)) for n in range(1600)])

    async def body() -> list[list[bytes]]:
        mixer, sessions, peers = await members(clock, 2)
        await asyncio.sleep(0.02)  # one whole round (tick): the next call starts a new one
        a = sessions[0]
        mixer.heard(a, burst)  # 0.2 s arrives at once: the oldest frames are dropped
        mixer.announce(beep(0.06))
        served = [[mixer.frame_for(s) for s in sessions] for _ in range(MAX_QUEUED + 2)]
        close(sessions, peers)
        return served

    served = clock.run_until(body())
    b_frames = [frames[1] for frames in served]
    a_frames = [frames[0] for frames in served]
    assert sum(1 for f in b_frames if any(f)) == MAX_QUEUED  # only the newest 120 ms of a
    assert [any(f) for f in a_frames] == [True] * 3 + [False] * (MAX_QUEUED - 1)  # the beep


def test_a_late_packet_does_not_cut_a_gap(clock: VirtualClock) -> None:
    """The jitter buffer: a member's frames play PLAYOUT_FRAMES rounds after they come,
    so one frame that misses its tick is still on time, and a tone stays one tone."""
    tone = pcm_of(synthesize(parse_digits("3", tone_ms=200)))[: 10 * FRAME_BYTES]  # 200 ms
    frames = [tone[i : i + FRAME_BYTES] for i in range(0, len(tone), FRAME_BYTES)]

    async def body() -> list[bytes]:
        mixer, sessions, peers = await members(clock, 2)
        await asyncio.sleep(0.02)
        a, b = sessions
        out = []
        for n, frame in enumerate(frames):
            if n != 4:  # frame 4 is late: it comes with frame 5, one round after its own
                mixer.heard(a, frame if n != 5 else frames[4] + frame)
            out.append(mixer.frame_for(b))
            mixer.frame_for(a)
        for _ in range(PLAYOUT_FRAMES + 1):
            out.append(mixer.frame_for(b))
            mixer.frame_for(a)
        close(sessions, peers)
        return out

    out = clock.run_until(body())
    silent = [not any(f) for f in out]
    first = silent.index(False)
    assert first == PLAYOUT_FRAMES - 1  # the playout delay
    assert not any(silent[first : first + len(frames)])  # no gap where frame 4 was late
    assert b"".join(out[first : first + len(frames)]) == b"".join(frames)
    assert "".join(t.digit for t in decode(samples_of(b"".join(out)))) == "3"
