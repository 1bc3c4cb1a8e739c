"""A test-side RTP peer on 127.0.0.1: receives what a MediaSession sends, checks it, and
sends RTP back (audio, RFC 4733 events) to act as the far end of a call.

It reads on the test's event loop (``loop.add_reader``), so on the dialer's virtual
time every arrival is stamped with the exact clock time; with a real clock the
stamps are the real arrival times.

The checks are plain functions over what arrived:

* :meth:`RtpPeer.check_dtmf` — the RFC 4733 events carry the digits of a timeline in
  order, each starting where the timeline says (from *media start*, the first packet
  the peer received: by RTP timestamp exactly, and by arrival time within a
  tolerance), with the marker bit on the first packet of each event only, a
  duration that grows by one packet time per update, and the end packet three
  times;
* :meth:`RtpPeer.audio` — the received audio, decoded, laid out by RTP timestamp;
  :func:`speech_seconds` and :func:`rms` judge whether it is speech.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
from array import array
from dataclasses import dataclass
from itertools import pairwise

from voiceapp.dtmf import TONES, Timeline
from voiceapp.dtmf.rfc4733 import END_REPEATS, decode_payload, encode_payload
from voiceapp.media import g711, rtp

CLOCK_RATE = 8000


@dataclass(frozen=True)
class Arrival:
    time: float  # loop time
    source: tuple[str, int]
    packet: rtp.RtpPacket


@dataclass(frozen=True)
class ReceivedEvent:
    """The packets of one RFC 4733 event (one timestamp)."""

    digit: str
    timestamp: int
    packets: tuple[Arrival, ...]

    @property
    def durations(self) -> list[int]:
        return [decode_payload(a.packet.payload)[3] for a in self.packets]

    @property
    def ends(self) -> int:
        return sum(1 for a in self.packets if decode_payload(a.packet.payload)[1])

    @property
    def markers(self) -> list[bool]:
        return [a.packet.marker for a in self.packets]


class RtpPeer:
    """A UDP socket on 127.0.0.1 that records every RTP packet it receives."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str = "127.0.0.1") -> None:
        self.loop = loop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self.arrivals: list[Arrival] = []
        self.garbage = 0
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        loop.add_reader(self.sock.fileno(), self._read)

    def _read(self) -> None:
        for _ in range(64):  # bounded: what is there now
            try:
                data, addr = self.sock.recvfrom(4096)
            except BlockingIOError:
                return
            try:
                packet = rtp.parse(data)
            except rtp.RtpError:
                self.garbage += 1
                continue
            self.arrivals.append(Arrival(self.loop.time(), (addr[0], addr[1]), packet))

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    # -- sending, as the far end ------------------------------------------------------------
    def send(
        self,
        to: tuple[str, int],
        payload_type: int,
        timestamp: int,
        payload: bytes,
        *,
        marker: bool = False,
    ) -> None:
        data = rtp.pack(payload_type, self.seq, timestamp, self.ssrc, payload, marker)
        self.seq = (self.seq + 1) % rtp.SEQ_MOD
        self.sock.sendto(data, to)

    async def send_audio(
        self, to: tuple[str, int], pcm: bytes, codec: g711.Codec = "PCMU", *, ts: int = 0
    ) -> int:
        """Send PCM as 20 ms packets on the loop's clock; returns the next timestamp."""
        encoded = g711.encode(pcm, codec)
        pt = g711.STATIC_PAYLOAD_TYPES[codec]
        start = self.loop.time()
        for n, offset in enumerate(range(0, len(encoded), 160)):
            await asyncio.sleep(max(0.0, start + n * 0.02 - self.loop.time()))
            self.send(to, pt, ts + offset, encoded[offset : offset + 160], marker=n == 0)
        await asyncio.sleep(max(0.0, start + -(-len(encoded) // 160) * 0.02 - self.loop.time()))
        return ts + len(encoded)

    async def send_events(
        self, to: tuple[str, int], digits: str, payload_type: int, *, ts: int = 0
    ) -> None:
        """Press ``digits`` as RFC 4733 events: 100 ms each, updates every 20 ms, three
        end packets, 100 ms apart."""
        for k, digit in enumerate(digits):
            event_ts = ts + k * 1600
            code = TONES.index(digit)
            for n in range(1, 6):
                end = n == 5
                payload = encode_payload(code, end=end, volume=10, duration=160 * n)
                for _ in range(END_REPEATS if end else 1):
                    self.send(to, payload_type, event_ts, payload, marker=n == 1)
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)

    # -- what arrived -----------------------------------------------------------------------
    def of_type(self, payload_type: int) -> list[Arrival]:
        return [a for a in self.arrivals if a.packet.payload_type == payload_type]

    def events(self, payload_type: int) -> list[ReceivedEvent]:
        groups: dict[int, list[Arrival]] = {}
        for arrival in self.of_type(payload_type):
            groups.setdefault(arrival.packet.timestamp, []).append(arrival)
        out = []
        for ts, arrivals in groups.items():
            code = decode_payload(arrivals[0].packet.payload)[0]
            out.append(ReceivedEvent(TONES[code], ts, tuple(arrivals)))
        out.sort(key=lambda e: e.packets[0].time)
        return out

    def check_dtmf(
        self, timeline: Timeline, payload_type: int, *, tolerance: float = 0.020
    ) -> list[ReceivedEvent]:
        """Assert that the RFC 4733 events match ``timeline`` (see the module doc)."""
        assert self.arrivals, "no RTP arrived"
        first = self.arrivals[0]
        events = self.events(payload_type)
        assert "".join(e.digit for e in events) == timeline.pressed
        for event, tone in zip(events, timeline.tones, strict=True):
            start_ts = ((event.timestamp - first.packet.timestamp) % rtp.TS_MOD) / CLOCK_RATE
            assert start_ts == tone.start_ms / 1000, (event.digit, start_ts, tone.start_ms)
            opening = event.packets[0]
            # a packet covers the event up to its sending: it began ``duration`` earlier
            covered = decode_payload(opening.packet.payload)[3] / CLOCK_RATE
            heard = opening.time - first.time - covered
            assert abs(heard - tone.start_ms / 1000) <= tolerance + 1e-9, (event.digit, heard)
            assert event.markers == [True] + [False] * (len(event.packets) - 1), event.digit
            durations = event.durations
            assert durations == sorted(durations), durations
            updates = durations[: len(durations) - END_REPEATS]
            assert all(b - a == 160 for a, b in pairwise(updates))
            assert event.ends == END_REPEATS, (event.digit, event.ends)
            assert len(set(durations[-END_REPEATS:])) == 1
            assert durations[-1] == tone.duration_ms * CLOCK_RATE // 1000
        return events

    def audio(self, codec: g711.Codec, payload_type: int | None = None) -> bytes:
        """The received audio packets, decoded, placed by timestamp (gaps are silence)."""
        pt = g711.STATIC_PAYLOAD_TYPES[codec] if payload_type is None else payload_type
        arrivals = self.of_type(pt)
        if not arrivals:
            return b""
        base = arrivals[0].packet.timestamp
        out = bytearray()
        for arrival in arrivals:
            offset = 2 * ((arrival.packet.timestamp - base) % rtp.TS_MOD)
            pcm = g711.decode(arrival.packet.payload, codec)
            if len(out) < offset:
                out += bytes(offset - len(out))
            out[offset : offset + len(pcm)] = pcm
        return bytes(out)

    def intervals(self) -> list[float]:
        """Seconds between consecutive arrivals."""
        times = [a.time for a in self.arrivals]
        return [b - a for a, b in pairwise(times)]


def rms(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def speech_seconds(pcm: bytes, *, threshold: float = 300.0) -> float:
    """How many seconds of 20 ms frames are louder than ``threshold`` RMS."""
    frames = [pcm[i : i + 320] for i in range(0, len(pcm), 320)]
    return sum(0.02 for frame in frames if rms(frame) > threshold)
