"""One call leg's media on one asyncio loop: :class:`MediaSession`.

A session owns one UDP socket (an even port from the range, RFC 3550 section 11) and
speaks RTP with one peer:

* **sending** — everything sent is a queue of *jobs* (a DTMF timeline, PCM to play,
  rendered speech); a :class:`Pacer` (one per session, or one shared by the sessions
  of a loop) takes one 20 ms packet's worth from each active session's head job per
  tick.  Ticks fall on an absolute grid, ``origin + n * 20 ms`` of the loop's own
  clock (``loop.call_at``): a late tick does not push the later ones back, and on
  the dialer's virtual time the grid is exact.  The RTP timestamp advances 160 per
  tick (8 kHz) and keeps counting across the quiet between jobs (nothing is sent
  when nothing is queued); the first packet of each job carries the marker bit
  (a talkspurt's start, RFC 3551 section 4.1);
* **DTMF** — with a negotiated ``telephone-event`` payload type, the timeline's
  tones become RFC 4733 events (:func:`voiceapp.dtmf.rfc4733.render_packets`, one
  update per 20 ms packet: marker on the first packet, growing duration, the end
  packet three times) with silence between them; without one, the timeline's tones
  are synthesised (:func:`voiceapp.dtmf.audio.synthesize`) and played in-band;
* **symmetric RTP** — packets go to the address from the SDP until the peer's first
  packet arrives; from then on they go where the peer's packets come from (a NAT's
  outside address), once: the latch is not moved again;
* **receiving** — RFC 4733 events (each event once, by its timestamp) and, when no
  telephone-event was negotiated, in-band tones (:class:`~voiceapp.media.inband.
  ToneDetector`) are reported to :attr:`MediaSession.on_digit`; audio goes to a
  recording (:meth:`MediaSession.record`) and to a bridged session;
* **bridging** — :meth:`MediaSession.bridge` relays each packet received on one leg
  to the other leg's peer as it arrives (no pacing: the source paces), with the
  receiving leg's SSRC, sequence, payload types and codec (transcoded when the two
  legs' codecs differ).  While a leg plays something of its own, the relay into it
  pauses.

Malformed packets and packets of payload types that were not negotiated are
counted (:attr:`MediaSession.stats`) and dropped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import wave
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from voiceapp.dtmf import TONES, Timeline
from voiceapp.dtmf.audio import synthesize
from voiceapp.dtmf.rfc4733 import DEFAULT_VOLUME, decode_payload, render_packets
from voiceapp.errors import MediaError, OutboundBlocked
from voiceapp.media import g711, rtp
from voiceapp.media.audio import SAMPLE_BYTES, SAMPLE_RATE, rms
from voiceapp.media.inband import ToneDetector
from voiceapp.media.speech import Speech
from voiceapp.media.track import LineTap, tone_samples
from voiceapp.netguard import Guard

_log = logging.getLogger(__name__)

#: Packet time: 20 ms of audio per packet, 160 samples at 8 kHz.
PTIME = 0.020
PTIME_MS = 20
SAMPLES_PER_PACKET = 160
FRAME_BYTES = SAMPLES_PER_PACKET * SAMPLE_BYTES
#: A received 20 ms frame louder than this RMS (of 32767) is sound, not silence, for
#: ``<Record timeout>``.
SILENCE_RMS = 200.0
#: The longest gap in a recording's RTP timestamps that is filled with silence.
MAX_GAP_SECONDS = 5.0


class LoopClock(Protocol):
    """What the session needs of a clock: its event loop (``voiceapp.dialer.clock.Clock``)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...


@dataclass(frozen=True, slots=True)
class _Out:
    """One packet a job sends at a tick."""

    event: bool  # telephone-event (else audio)
    marker: bool
    ts_offset: int  # RTP timestamp relative to the job's first tick
    payload: bytes  # an event's 4 bytes, or 20 ms of PCM (encoded when sent)


@dataclass(slots=True)
class _Job:
    ticks: Iterator[list[_Out]] | None  # None while the content is being made (speech)
    future: asyncio.Future[None]
    ts0: int | None = None


@dataclass(slots=True)
class Stats:
    """Counters of one session."""

    sent: int = 0
    received: int = 0
    dropped: int = 0  # malformed, or a payload type not negotiated
    relayed: int = 0


@dataclass(slots=True)
class _Recording:
    wav: wave.Wave_write | None  # None: timing only (a tap keeps the audio)
    future: asyncio.Future[float]
    max_samples: int
    timeout: float
    finish_on_key: str
    samples: int = 0
    next_ts: int | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


def _bind_even(host: str, port_range: tuple[int, int]) -> socket.socket:
    low, high = port_range
    if not 0 < low <= high <= 65535:
        raise ValueError(f"bad RTP port range {port_range}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    ports = range(low + (low & 1), high + 1, 2)
    start = random.randrange(len(ports)) if ports else 0
    for k in range(len(ports)):  # from a random even port on, round the range once
        port = ports[(start + k) % len(ports)]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        return sock
    raise MediaError(
        f"no free even UDP port for RTP on {host} in {low}-{high}",
        code="media-no-port",
        field="port_range",
    )


class Pacer:
    """The 20 ms tick of a set of sessions on one loop: one timer for all of them.

    Ticks fall on ``origin + n * 20 ms`` of the loop's clock (``loop.call_at``), so a
    late tick does not push the later ones back.  A session joins when it has
    something to send (its first packet goes on the next tick) and leaves when it is
    quiet; with no session left the timer stops (a virtual-time loop can go idle) and
    the grid starts again at the next join.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._sessions: dict[MediaSession, None] = {}  # in joining order
        self._timer: asyncio.TimerHandle | None = None
        self._origin = 0.0
        self._next = 0  # the number of the next tick to run

    def add(self, session: MediaSession) -> float:
        """Join ``session``; returns the loop time of its first tick."""
        if self._timer is None:
            self._origin, self._next = self.loop.time(), 0
            self._timer = self.loop.call_at(self._origin, self._run)
        self._sessions[session] = None
        return self._origin + self._next * PTIME

    def remove(self, session: MediaSession) -> None:
        self._sessions.pop(session, None)
        if not self._sessions and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __len__(self) -> int:
        return len(self._sessions)

    def _run(self) -> None:
        self._timer = None
        for session in list(self._sessions):
            try:
                active = session._tick()
            except Exception:  # one broken session must not stop the others' media
                _log.exception(
                    "media session on port %s failed; it stops sending", session.local_port
                )
                session._pacing = False
                active = False
            if not active:
                del self._sessions[session]
        self._next += 1
        if self._sessions:
            self._timer = self.loop.call_at(self._origin + self._next * PTIME, self._run)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, session: MediaSession) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.session._received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        self.session.stats.dropped += 1


class MediaSession:
    """The media of one call leg (see the module doc).  Make one with :meth:`open`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        *,
        speech: Speech,
        guard: Guard | None,
        pacer: Pacer,
    ) -> None:
        self.loop = loop
        self._sock = sock
        self.local_host, self.local_port = sock.getsockname()[:2]
        self.speech = speech
        self.guard = guard
        self.on_digit: Callable[[str], None] | None = None
        #: called with each piece of the peer's audio, decoded (RFC 4733 digits as tones)
        self.on_audio: Callable[[MediaSession, bytes], None] | None = None
        self.stats = Stats()
        self.ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._transport: asyncio.DatagramTransport | None = None
        # the peer
        self.remote: tuple[str, int] | None = None  # where packets go now (None: on hold)
        self.announced: tuple[str, int] | None = None  # the address of the last SDP
        self.latched = False
        self.codec: g711.Codec = "PCMU"
        self.payload_type = g711.STATIC_PAYLOAD_TYPES["PCMU"]
        self.dtmf_payload_type: int | None = None
        # sending
        self._jobs: deque[_Job] = deque()
        self._pacer = pacer
        self._pacing = False  # on the pacer's list
        self._origin = 0.0  # loop time of tick 0 of the current run of ticks
        self._tick_no = 0
        self._ts_origin = 0  # RTP timestamp of tick 0
        self._next_ts = random.getrandbits(32)  # what the next packet's timestamp would be
        self._next_ts_time: float | None = None  # ... if it were sent at this loop time
        # receiving
        self._last_event_ts: int | None = None
        self._last_event_ended = False
        self._event_digit = ""
        self._event_rendered = 0  # samples of the peer's current event rendered as a tone
        self._sent_rendered: dict[int, int] = {}  # our events' timestamps -> samples rendered
        self._taps: list[LineTap] = []
        self._feed: Callable[[], bytes] | None = None  # 20 ms frames when no job sends
        self._fed = False  # the last packet sent came from the feed
        self._detector: ToneDetector | None = None
        self._recording: _Recording | None = None
        self._peer: MediaSession | None = None
        self._relay_offset: int | None = None
        self.closed = False

    # -- life -----------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        local_host: str,
        port_range: tuple[int, int],
        clock: LoopClock,
        *,
        speech: Speech | None = None,
        guard: Guard | None = None,
        pacer: Pacer | None = None,
    ) -> MediaSession:
        """Bind an even UDP port in ``port_range`` (inclusive) on ``local_host``.

        ``speech`` renders ``<Say>`` (give it the cache folder under the instance
        folder); ``guard``, when given, checks every address RTP is sent to; ``pacer``
        is the 20 ms tick the session sends on (share one :class:`Pacer` among the
        sessions of a loop: one timer for all of them; by default the session has its
        own).
        """
        loop = clock.loop
        sock = _bind_even(local_host, port_range)
        session = cls(
            loop,
            sock,
            speech=speech or Speech(),
            guard=guard,
            pacer=Pacer(loop) if pacer is None else pacer,
        )
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(session), sock=sock)
        session._transport = transport
        return session

    def close(self) -> None:
        """Stop sending and receiving; pending sends resolve, a recording ends."""
        if self.closed:
            return
        self.closed = True
        self._feed = self.on_audio = None
        self.unbridge()
        self.stop()
        if self._recording is not None:
            self._finish_recording()
        if self._transport is not None:
            self._transport.close()
        else:
            self._sock.close()

    # -- the peer ---------------------------------------------------------------------------
    def set_remote(
        self,
        host: str,
        port: int,
        codec: str = "PCMU",
        payload_type: int | None = None,
        dtmf_payload_type: int | None = None,
    ) -> None:
        """Where to send, and how (from the SDP answer).  ``payload_type`` defaults to the
        codec's static type; ``dtmf_payload_type`` is the ``telephone-event`` type, or
        ``None`` for in-band DTMF both ways."""
        self.codec = g711.check_codec(codec)
        pt = g711.STATIC_PAYLOAD_TYPES[self.codec] if payload_type is None else payload_type
        for name, value in (("payload_type", pt), ("dtmf_payload_type", dtmf_payload_type)):
            if value is not None and not 0 <= value <= 127:
                raise ValueError(f"{name} must be 0-127, got {value}")
        if not 0 < port <= 65535:
            raise ValueError(f"bad RTP port {port}")
        self.payload_type = pt
        self.dtmf_payload_type = dtmf_payload_type
        self._detector = ToneDetector() if dtmf_payload_type is None else None
        announced = (self._address(host, port), port)
        if announced != self.announced:  # a new media address: follow it, latch again
            self.announced = announced
            self.latched = False
            self.remote = None if ipaddress.ip_address(announced[0]).is_unspecified else announced

    @property
    def on_hold(self) -> bool:
        """The SDP's address is ``0.0.0.0`` / ``::`` (RFC 2543 hold): nothing is sent; jobs
        still run on the clock."""
        return self.announced is not None and self.remote is None

    def _address(self, host: str, port: int) -> str:
        host = host.strip("[]")
        if self.guard is not None:
            addresses = self.guard.addresses(host, port)
            if not addresses:
                raise MediaError(f"the media address {host} does not resolve", code="media-address")
            return addresses[0]
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            raise MediaError(
                f"the media address must be an IP address, got {host!r}",
                code="media-address",
                field="host",
            ) from None

    # -- sending ----------------------------------------------------------------------------
    def send_dtmf(
        self, timeline: Timeline, *, volume: int = DEFAULT_VOLUME
    ) -> asyncio.Future[None]:
        """Send ``timeline`` (RFC 4733 events with a telephone-event type, tones without);
        the future resolves after its last packet.  Time 0 of the timeline is the first
        tick of the job."""
        if self.dtmf_payload_type is None:
            return self.play(bytes(synthesize(timeline)))
        return self._enqueue(_rfc4733_ticks(timeline, volume))

    def play(self, pcm: bytes) -> asyncio.Future[None]:
        """Send 16-bit little-endian 8 kHz mono PCM; resolves after its last packet."""
        if len(pcm) % SAMPLE_BYTES:
            raise ValueError(f"16-bit PCM has an even number of bytes, got {len(pcm)}")
        return self._enqueue(_audio_ticks(pcm))

    def say(self, text: str, voice: str = "man", language: str = "en-US") -> asyncio.Future[None]:
        """Speak ``text`` (espeak-ng in a thread, cached); keeps its place in the queue."""
        self._need_remote()
        job = _Job(None, self.loop.create_future())
        self._jobs.append(job)
        rendering = self.loop.run_in_executor(None, self.speech.render, text, voice, language)

        def rendered(done: asyncio.Future[bytes]) -> None:
            if job.future.done():
                return
            if done.cancelled() or done.exception() is not None:
                error = None if done.cancelled() else done.exception()
                if job in self._jobs:
                    self._jobs.remove(job)
                if error is not None:
                    job.future.set_exception(error)
                else:
                    job.future.cancel()
                self._kick()
                return
            job.ticks = _audio_ticks(done.result())
            self._kick()

        rendering.add_done_callback(rendered)
        return job.future

    def stop(self) -> None:
        """Drop everything queued (barge-in, hangup); the futures resolve now."""
        while self._jobs:
            job = self._jobs.popleft()
            if not job.future.done():
                job.future.set_result(None)
        if self._pacing:
            self._pacer.remove(self)
            self._pacing = False
            self._went_quiet()
            self._kick()  # a feed goes on

    @property
    def sending(self) -> bool:
        return bool(self._jobs)

    def _need_remote(self) -> None:
        if self.closed:
            raise MediaError("the media session is closed", code="media-closed")
        if self.announced is None:
            raise MediaError(
                "no remote media address yet (set_remote first)", code="media-no-remote"
            )

    def _enqueue(self, ticks: Iterator[list[_Out]]) -> asyncio.Future[None]:
        self._need_remote()
        job = _Job(ticks, self.loop.create_future())
        self._jobs.append(job)
        self._kick()
        return job.future

    def _kick(self) -> None:
        """Start the pacer if it is idle and the head job is ready (or a feed is set)."""
        if self._pacing or self.closed:
            return
        if self._feed is None and (not self._jobs or self._jobs[0].ticks is None):
            return  # wait for the content; the pacer starts when it arrives
        first = self._pacer.add(self)
        self._pacing = True
        ts = self._next_ts
        if self._next_ts_time is not None and first > self._next_ts_time:
            # the RTP clock kept running through the quiet, in whole packets
            ts += round((first - self._next_ts_time) / PTIME) * SAMPLES_PER_PACKET
        self._origin, self._tick_no, self._ts_origin = first, 0, ts

    def _tick(self) -> bool:
        """Send this tick's packets (called by the pacer); ``False`` when quiet."""
        ts = self._ts_origin + self._tick_no * SAMPLES_PER_PACKET
        outs = self._next_outs(ts)
        if outs is None:  # nothing queued, or the head job is not ready yet (speech)
            if self._feed is not None:  # a conference's mix
                frame = self._feed()
                self._send(self.payload_type, ts, g711.encode(frame, self.codec), not self._fed)
                self._fed = True
                self._tap_sent(frame)
                self._tick_no += 1
                return True
            self._pacing = False
            self._went_quiet()
            return False
        self._fed = False
        job, packets = outs
        assert job.ts0 is not None
        for out in packets:
            if not out.event:  # in the codec of the moment (a re-INVITE may change it)
                payload = g711.encode(out.payload, self.codec)
                self._send(self.payload_type, job.ts0 + out.ts_offset, payload, out.marker)
                if self._taps:
                    self._tap_sent(out.payload)
            elif self.dtmf_payload_type is not None:
                self._send(self.dtmf_payload_type, job.ts0 + out.ts_offset, out.payload, out.marker)
                if self._taps:
                    self._tap_sent_event(out, job.ts0, ts)
        self._tick_no += 1
        return True

    def _tap_sent(self, pcm: bytes, offset: int = 0) -> None:
        """``pcm`` sent now (``offset`` samples from this tick) is what the peer hears."""
        at = self._origin + self._tick_no * PTIME if self._pacing else self.loop.time()
        for tap in self._taps:
            tap.sent.add(tap.position(at) + offset, pcm)

    def _tap_sent_event(self, out: _Out, ts0: int, ts: int) -> None:
        """An RFC 4733 packet we send (job start ``ts0``, this tick ``ts``), as the tone
        the peer hears (the samples not rendered yet)."""
        event, _end, _volume, duration = decode_payload(out.payload)
        start = (ts0 + out.ts_offset) % rtp.TS_MOD
        done = self._sent_rendered.get(start, 0)
        if event >= len(TONES) or duration <= done:
            return
        if start not in self._sent_rendered and len(self._sent_rendered) >= 4:
            self._sent_rendered.clear()  # the events of the past
        self._sent_rendered[start] = duration
        pcm = tone_samples(TONES[event], done, duration - done)
        self._tap_sent(pcm, out.ts_offset + done - (ts - ts0))

    def _went_quiet(self) -> None:
        self._next_ts = self._ts_origin + self._tick_no * SAMPLES_PER_PACKET
        self._next_ts_time = self._origin + self._tick_no * PTIME

    def _next_outs(self, ts: int) -> tuple[_Job, list[_Out]] | None:
        while self._jobs:
            job = self._jobs[0]
            if job.future.done():  # cancelled by its caller
                self._jobs.popleft()
                continue
            if job.ticks is None:
                return None
            if job.ts0 is None:
                job.ts0 = ts
            packets = next(job.ticks, None)
            if packets is not None:
                return job, packets
            self._jobs.popleft()
            job.future.set_result(None)
        return None

    def _send(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> None:
        if self._transport is None or self.remote is None or self.closed:
            return
        data = rtp.pack(payload_type, self._seq, timestamp, self.ssrc, payload, marker)
        self._seq = (self._seq + 1) % rtp.SEQ_MOD
        self._transport.sendto(data, self.remote)
        self.stats.sent += 1

    # -- receiving --------------------------------------------------------------------------
    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packet = rtp.parse(data)
        except rtp.RtpError:
            self.stats.dropped += 1
            return
        pt = packet.payload_type
        is_event = pt == self.dtmf_payload_type
        if self.announced is None or (pt != self.payload_type and not is_event):
            self.stats.dropped += 1
            return
        self.stats.received += 1
        if not self.latched:
            self._latch(addr)
        if is_event:
            self._received_event(packet)
        else:
            self._received_audio(packet)
        if self._peer is not None:
            self._peer._relay(packet, self)

    def _latch(self, addr: tuple[str, int]) -> None:
        self.latched = True
        if addr == self.remote or self.on_hold:
            return
        if self.guard is not None:
            try:
                self.guard.check_address(addr[0], addr[1], addr[0])
            except OutboundBlocked:
                return  # keep sending to the SDP's address
        self.remote = addr

    def _received_event(self, packet: rtp.RtpPacket) -> None:
        if len(packet.payload) < 4:
            return
        event, end, _volume, duration = decode_payload(packet.payload[:4])
        if event >= len(TONES):
            return  # not a DTMF key (RFC 4733 section 3.2 has more events)
        same = packet.timestamp == self._last_event_ts
        if same and not (self._last_event_ended and packet.marker and not end):
            # an update or an end repeat of the event already reported; a marked start
            # after the end with the same timestamp is a new press (a replayed capture)
            self._last_event_ended = self._last_event_ended or end
            self._event_audio(packet, duration)
            return
        self._last_event_ts = packet.timestamp
        self._last_event_ended = end
        self._event_digit, self._event_rendered = TONES[event], 0
        self._digit(TONES[event])  # a finishOnKey digit ends a recording before its tone
        self._event_audio(packet, duration)

    def _event_audio(self, packet: rtp.RtpPacket, duration: int) -> None:
        """The peer's event so far as its tone, to a recording, the taps and
        :attr:`on_audio` (a recording of a line holds the tones it carried)."""
        first = self._event_rendered
        if duration <= first or (
            not self._taps and self.on_audio is None and self._recording is None
        ):
            return
        self._event_rendered = duration
        pcm = tone_samples(self._event_digit, first, duration - first)
        if self._recording is not None:
            self._record_audio((packet.timestamp + first) % rtp.TS_MOD, pcm)
        now = self.loop.time()
        for tap in self._taps:
            tap.heard.add(tap.place(packet.ssrc, packet.timestamp, now) + first, pcm)
        if self.on_audio is not None:
            self.on_audio(self, pcm)

    def _received_audio(self, packet: rtp.RtpPacket) -> None:
        if (
            self._detector is None
            and self._recording is None
            and not self._taps
            and self.on_audio is None
        ):
            return
        pcm = g711.decode(packet.payload, self.codec)
        if self._recording is not None:
            self._record_audio(packet.timestamp, pcm)
        if self._taps:
            now = self.loop.time()
            for tap in self._taps:
                tap.heard.add(tap.place(packet.ssrc, packet.timestamp, now), pcm)
        if self.on_audio is not None:
            self.on_audio(self, pcm)
        if self._detector is not None:
            for digit in self._detector.feed(pcm):
                self._digit(digit)

    def _digit(self, digit: str) -> None:
        recording = self._recording
        if recording is not None and digit in recording.finish_on_key:
            self._finish_recording()
        if self.on_digit is not None:
            self.on_digit(digit)

    # -- taps and feeds ---------------------------------------------------------------------
    def tap(self, *, spill_dir: str | Path | None = None) -> LineTap:
        """Keep what passes through this leg from now on, both ways (a call recording):
        see :mod:`voiceapp.media.track` (``spill_dir``: where its older audio waits);
        :meth:`untap` ends it.  Closing the session leaves the tap's audio to its
        :meth:`~voiceapp.media.track.LineTap.stop`."""
        tap = LineTap(self.loop.time(), self.loop.time, self.untap, spill_dir=spill_dir)
        self._taps.append(tap)
        return tap

    def untap(self, tap: LineTap) -> None:
        if tap in self._taps:
            self._taps.remove(tap)

    def set_feed(self, feed: Callable[[], bytes] | None) -> None:
        """Send ``feed()`` (20 ms of PCM) on every tick this leg has no job of its own (a
        conference's mix, :mod:`voiceapp.media.mixer`); None stops it."""
        self._feed = feed
        if feed is not None:
            self._kick()

    # -- recording --------------------------------------------------------------------------
    def record(
        self,
        path: str | Path | None,
        max_length: float,
        timeout: float,
        *,
        finish_on_key: str = "",
    ) -> asyncio.Future[float]:
        """Write what the peer sends to a WAV file (8 kHz 16-bit mono) until ``max_length``
        seconds are recorded or elapsed, ``timeout`` seconds pass without sound (0: no
        silence limit), a digit of ``finish_on_key`` arrives, or :meth:`stop_recording`;
        the future resolves with the recorded length in seconds.  ``path`` None: no file
        (a :meth:`tap` keeps the audio), only the limits and the length."""
        if self._recording is not None:
            raise MediaError("a recording is already running", code="media-busy")
        if max_length <= 0 or timeout < 0:
            raise ValueError(f"bad record limits: max_length={max_length}, timeout={timeout}")
        wav = None
        if path is not None:
            wav = wave.open(str(path), "wb")  # noqa: SIM115 - open until the recording ends
            wav.setnchannels(1)
            wav.setsampwidth(SAMPLE_BYTES)
            wav.setframerate(SAMPLE_RATE)
        recording = _Recording(
            wav=wav,
            future=self.loop.create_future(),
            max_samples=round(max_length * SAMPLE_RATE),
            timeout=timeout,
            finish_on_key=finish_on_key,
        )
        self._recording = recording
        recording.timers.append(self.loop.call_later(max_length, self._finish_recording))
        self._arm_silence(recording)
        return recording.future

    def stop_recording(self) -> None:
        if self._recording is not None:
            self._finish_recording()

    def _arm_silence(self, recording: _Recording) -> None:
        if recording.timeout <= 0:
            return
        if len(recording.timers) > 1:
            recording.timers.pop().cancel()
        recording.timers.append(self.loop.call_later(recording.timeout, self._finish_recording))

    def _record_audio(self, timestamp: int, pcm: bytes) -> None:
        recording = self._recording
        assert recording is not None
        if recording.next_ts is not None:
            gap = (timestamp - recording.next_ts) % rtp.TS_MOD
            if gap >= rtp.TS_MOD // 2:
                return  # late or repeated
            if gap:
                fill = min(gap, round(MAX_GAP_SECONDS * SAMPLE_RATE))
                pcm = bytes(SAMPLE_BYTES * fill) + pcm
        recording.next_ts = (timestamp + len(pcm) // SAMPLE_BYTES) % rtp.TS_MOD
        room = recording.max_samples - recording.samples
        pcm = pcm[: room * SAMPLE_BYTES]
        if recording.wav is not None:
            recording.wav.writeframes(pcm)
        recording.samples += len(pcm) // SAMPLE_BYTES
        if rms(pcm[-FRAME_BYTES:]) > SILENCE_RMS:
            self._arm_silence(recording)
        if recording.samples >= recording.max_samples:
            self._finish_recording()

    def _finish_recording(self) -> None:
        recording = self._recording
        if recording is None:
            return
        self._recording = None
        for timer in recording.timers:
            timer.cancel()
        if recording.wav is not None:
            recording.wav.close()
        if not recording.future.done():
            recording.future.set_result(recording.samples / SAMPLE_RATE)

    # -- bridging ---------------------------------------------------------------------------
    def bridge(self, other: MediaSession) -> None:
        """Relay RTP both ways between this leg and ``other`` until :meth:`unbridge`."""
        if other is self:
            raise ValueError("a session cannot be bridged to itself")
        self.unbridge()
        other.unbridge()
        self._peer, other._peer = other, self
        self._relay_offset = other._relay_offset = None

    def unbridge(self) -> None:
        other = self._peer
        self._peer = None
        if other is not None and other._peer is self:
            other._peer = None

    @property
    def bridged(self) -> MediaSession | None:
        return self._peer

    def _relay(self, packet: rtp.RtpPacket, source: MediaSession) -> None:
        if self._jobs or self.remote is None or self.closed:
            return  # this leg's own media goes first
        if packet.payload_type == source.dtmf_payload_type:
            if self.dtmf_payload_type is None:
                return
            pt, payload = self.dtmf_payload_type, packet.payload
        else:
            pt, payload = self.payload_type, packet.payload
            if source.codec != self.codec:
                payload = g711.encode(g711.decode(payload, source.codec), self.codec)
        if self._relay_offset is None:
            self._relay_offset = (self._next_ts - packet.timestamp) % rtp.TS_MOD
        timestamp = (packet.timestamp + self._relay_offset) % rtp.TS_MOD
        self._send(pt, timestamp, payload, packet.marker)
        self.stats.relayed += 1
        if self._taps and pt == self.payload_type:
            pcm, now = g711.decode(payload, self.codec), self.loop.time()
            for tap in self._taps:  # by the relayed timestamps: no jitter of arrival
                tap.sent.add(tap.place(source.ssrc, timestamp, now, "relayed"), pcm)
        if pt == self.payload_type:
            self._next_ts = (timestamp + len(payload)) % rtp.TS_MOD
            self._next_ts_time = self.loop.time() + PTIME


def _audio_ticks(pcm: bytes) -> Iterator[list[_Out]]:
    """20 ms of PCM per tick (the last frame padded with silence), each encoded when its
    tick comes (a long file costs no more at its start than later)."""
    for n, start in enumerate(range(0, len(pcm), FRAME_BYTES)):
        frame = pcm[start : start + FRAME_BYTES]
        if len(frame) < FRAME_BYTES:
            frame += bytes(FRAME_BYTES - len(frame))
        yield [_Out(False, n == 0, n * SAMPLES_PER_PACKET, frame)]


def _rfc4733_ticks(timeline: Timeline, volume: int) -> Iterator[list[_Out]]:
    """RFC 4733 events on the 20 ms grid, with silence where no tone sounds.

    The event packets come from :func:`voiceapp.dtmf.rfc4733.render_packets` with a
    20 ms update interval (the audio's packet time, RFC 4733 section 2.5.1.2): a
    packet is sent when the time it covers ends, so a tone starting at 4000 ms sends
    its first packet (duration 160) at 4020 ms, and its three end packets at the
    tone's end and 20 and 40 ms later.
    """
    events = render_packets(timeline, interval_ms=PTIME_MS, volume=volume)
    by_tick: dict[int, list[_Out]] = {}
    for packet in events:
        by_tick.setdefault(packet.send_ms // PTIME_MS, []).append(
            _Out(True, packet.marker, packet.timestamp, packet.payload)
        )
    last = max([*by_tick, -(-timeline.duration_ms // PTIME_MS) - 1])
    silence = bytes(FRAME_BYTES)
    for tick in range(last + 1):
        if tick in by_tick:
            yield by_tick[tick]
        else:
            # silence: between the tones, and at a tone's first tick (its first event
            # packet goes when that tick's 20 ms are over), so every tick sends a packet
            # and media start is the job's first tick
            yield [_Out(False, tick == 0, tick * SAMPLES_PER_PACKET, silence)]
