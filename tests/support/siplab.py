"""Calls over the SIP backend with sipp callees, several at once on one dialer environment.

:class:`SipLab` starts sipp callees (each in its own folder, so each plays its own
pcap), one :class:`~voiceapp.dialer.sip_backend.SipNetwork` routing a number to each,
an :class:`~voiceapp.dialer.interpreter.Environment` with a real recorder (WAV files in
a folder, the records it writes kept in :attr:`SipLab.writes`), and runs calls on a
RealClock until they end (bounded).  :class:`RtpSink` is a UDP socket a sipp callee's
SDP can point at (``answer_sink``, ``talk_sink``): what the dialer sends that callee
arrives there; :func:`tone_frames` counts the 20 ms frames of one frequency in audio.
"""

from __future__ import annotations

import asyncio
import io
import math
import wave
from array import array
from pathlib import Path
from typing import Any

from support.dialer import CALLER, Receiver, Site
from support.sipp import Sipp, free_udp_port, start_sipp
from voiceapp.calls.records import RecordingRecord
from voiceapp.calls.subscriptions import Subscription
from voiceapp.calls.writes import SaveRecording, Write
from voiceapp.dialer.callbacks import Deliverer
from voiceapp.dialer.clock import RealClock
from voiceapp.dialer.interpreter import CallHandle, Environment, OutboundCall, place_call
from voiceapp.dialer.recording import Recorder
from voiceapp.dialer.sip_backend import SipNetwork
from voiceapp.media import g711
from voiceapp.media.audio import samples_of
from voiceapp.settings_tables.retry import RetryPolicy
from voiceapp.settings_tables.sip import SipConfig
from voiceapp.stores.media import FolderMedia

ACCOUNT = "AC" + "0" * 32


class RtpSink(asyncio.DatagramProtocol):
    """A UDP socket on the loop that keeps every RTP packet (arrival time, bytes)."""

    def __init__(self, clock: RealClock) -> None:
        self.clock = clock
        self.packets: list[tuple[float, bytes]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = free_udp_port()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append((self.clock.now(), data))

    def pcm(self, *, before: float | None = None) -> bytes:
        """The PCMU audio received (only what arrived before clock time ``before`` when
        given), decoded, packet after packet."""
        return b"".join(
            g711.decode(d[12:], "PCMU")
            for at, d in self.packets
            if d[1] & 0x7F == 0 and (before is None or at < before)
        )


def tone_frames(pcm: bytes, hz: float, *, share: float = 0.6) -> int:
    """20 ms frames of ``pcm`` whose energy is mostly at ``hz`` (and loud)."""
    samples = samples_of(pcm)
    count = 0
    for start in range(0, len(samples) - 159, 160):  # every whole frame
        frame = samples[start : start + 160]
        energy = sum(s * s for s in frame)
        if energy < 160 * 2000**2:
            continue
        w = 2 * math.pi * hz / 8000
        re = sum(s * math.cos(w * n) for n, s in enumerate(frame))
        im = sum(s * math.sin(w * n) for n, s in enumerate(frame))
        if 2 * (re * re + im * im) / 160 >= share * energy:
            count += 1
    return count


class SipLab:
    def __init__(self, clock: RealClock, folder: Path) -> None:
        self.clock = clock
        self.folder = folder
        self.site = Site()
        self.receiver = Receiver()
        self.sipps: list[Sipp] = []
        self.sinks: list[RtpSink] = []
        self.routes: dict[str, Sipp] = {}
        self.media = FolderMedia(folder / "recordings")
        self.writes: list[Write] = []
        self.network: SipNetwork | None = None
        self.env: Environment | None = None

    def sipp(self, number: str, scenario: str, **options: Any) -> Sipp:
        """A sipp callee for ``number`` in its own folder (``folder(number)``)."""
        sipp = start_sipp(scenario, self.callee_folder(number), **options)
        self.sipps.append(sipp)
        self.routes[number] = sipp
        return sipp

    def callee_folder(self, number: str) -> Path:
        path = self.folder / number.lstrip("+")
        path.mkdir(exist_ok=True)
        return path

    def sink(self) -> RtpSink:
        sink = RtpSink(self.clock)
        self.clock.run_until(
            self.clock.loop.create_datagram_endpoint(
                lambda: sink, local_addr=("127.0.0.1", sink.port)
            )
        )
        self.sinks.append(sink)
        return sink

    def environment(self) -> Environment:
        if self.env is None:
            sip_port = free_udp_port()
            rtp = free_udp_port(count=16, step=1)
            first = next(iter(self.routes.values()))
            config = SipConfig(
                trunk=first.uri,
                from_domain="voiceapp.test",
                local_host="127.0.0.1",
                sip_ports=(sip_port, sip_port),
                rtp_ports=(rtp, rtp + 15),
                routes=tuple((number, s.uri) for number, s in self.routes.items()),
            )
            self.network = SipNetwork(self.clock, config, media_folder=self.folder / "media")
            self.env = Environment(
                self.clock,
                self.network,
                self.site,
                deliverer=Deliverer(self.clock, self.receiver, RetryPolicy(first_delay=1)),
                recorder=Recorder(self.media, self.writes.append),
            )
        return self.env

    def start(self, to: str, url: str, **spec: Any) -> CallHandle:
        sub = Subscription.from_fields(
            status_callback="http://hooks.test/status", status_callback_event="completed"
        )
        spec.setdefault("account_sid", ACCOUNT)
        return place_call(
            self.environment(), OutboundCall(from_=CALLER, to=to, url=url, subscription=sub, **spec)
        )

    def run(self, *handles: CallHandle, limit: float = 30.0) -> None:
        """Run until every call ended (at most ``limit`` seconds)."""

        async def every() -> None:
            await asyncio.wait_for(asyncio.gather(*(h.task for h in handles)), limit)

        self.clock.run_until(every())
        self.clock.sleep(0.3)  # the last BYE/ACK leaves, the deliverer settles

    def recordings(self) -> list[RecordingRecord]:
        """The finished recordings the recorder stored (completed or absent)."""
        return [
            w.recording
            for w in self.writes
            if isinstance(w, SaveRecording) and w.recording.status != "in-progress"
        ]

    def wav(self, record: RecordingRecord) -> tuple[int, list[array[int]]]:
        """(channels, samples of each channel) of a stored recording."""
        data = self.media.get(record.media or "")
        assert data is not None, record
        with wave.open(io.BytesIO(data), "rb") as wav:
            assert (wav.getframerate(), wav.getsampwidth()) == (8000, 2)
            channels = wav.getnchannels()
            samples = samples_of(wav.readframes(wav.getnframes()))
        return channels, [samples[c::channels] for c in range(channels)]

    def close(self) -> None:
        if self.network is not None:
            self.network.close()
        for sink in self.sinks:
            if sink.transport is not None:
                sink.transport.close()
        self.clock.sleep(0.05)  # the sockets close on the loop
        for sipp in self.sipps:
            sipp.stop()
