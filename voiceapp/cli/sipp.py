"""sipp (Debian ``sip-tester``) as a SIP callee on free ports: the tests' and the demo's.

:func:`start_sipp` runs one sipp UAS with a scenario of ``tests/sip/scenarios``
(found from the source tree: the demo runs in a checkout, as the tests do) on
127.0.0.1: its own SIP port (``-p``) and media ports (``-mp`` and ``-mp+2``), a
global ``-timeout`` so it always ends, stopped (killed if need be) by
:meth:`Sipp.stop`.  :func:`dtmf_pcap` writes a pcap of RFC 4733 packets for
``<exec play_pcap_audio>`` (what sipp plays as the callee pressing keys).
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SIPP = shutil.which("sipp")
#: the scenarios, shipped with the tests (a source checkout has them; a wheel has not)
SCENARIOS = Path(__file__).resolve().parents[2] / "tests" / "sip" / "scenarios"


def scenario_path(name: str) -> Path:
    """The scenario ``name`` (tests/sip/scenarios/<name>.xml); OSError when absent."""
    path = SCENARIOS / f"{name}.xml"
    if not path.is_file():
        raise OSError(f"no sipp scenario {path} (run from a source checkout of voiceapp)")
    return path


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_udp_port(count: int = 1, step: int = 1) -> int:
    """A UDP port p with p, p+step, ... (``count`` ports) all free on 127.0.0.1."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port % 2:
            port -= 1
        if port + step * count < 65535 and all(_udp_free(port + i * step) for i in range(count)):
            return port
    raise OSError("no free UDP ports")


@dataclass
class Sipp:
    process: subprocess.Popen[bytes]
    port: int
    media_port: int
    log: Path

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.port}"

    def wait(self, timeout: float = 20.0) -> int:
        """sipp's exit status once its calls are done (0: every call passed)."""
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def errors(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


def start_sipp(
    scenario: str,
    folder: Path,
    *,
    calls: int = 1,
    duration_ms: int | None = None,
    keys: dict[str, str] | None = None,
    timeout: int = 30,
) -> Sipp:
    """Start sipp as the callee of ``scenario`` (a name in tests/sip/scenarios); its
    working folder is ``folder`` (where ``play_pcap_audio`` finds its pcap)."""
    if SIPP is None:
        raise OSError("sipp is not installed (Debian sip-tester; scripts/setup installs it)")
    port = free_udp_port()
    media = free_udp_port(count=2, step=2)
    log = folder / f"sipp-{scenario}-{port}.log"
    args = [
        SIPP,
        "-sf",
        str(scenario_path(scenario)),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        str(media),
        "-m",
        str(calls),
        "-timeout",
        f"{timeout}s",
        "-nostdin",
        "-error_file",
        str(log),
    ]
    if duration_ms is not None:
        args += ["-d", str(duration_ms)]
    for name, value in (keys or {}).items():
        args += ["-key", name, value]
    process = subprocess.Popen(
        args, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    sipp = Sipp(process, port, media, log)
    deadline = time.monotonic() + 5.0
    while _udp_free(port):  # bound: sipp is listening once the port is taken
        if process.poll() is not None or time.monotonic() > deadline:
            sipp.stop()
            raise OSError(f"sipp did not start: {sipp.errors()}")
        time.sleep(0.02)
    return sipp


EVENTS = "0123456789*#ABCD"


def dtmf_pcap(path: Path, digits: str, *, gap_ms: int = 400, payload_type: int = 101) -> Path:
    """A pcap of RFC 4733 events for ``digits`` (100 ms each, ``gap_ms`` apart; start
    packet with the marker bit, growing durations, three end packets), as sipp's
    ``play_pcap_audio`` replays them."""
    packets: list[tuple[float, bytes]] = []
    seq, ssrc = 1000, 0x5157E000
    for index, digit in enumerate(digits):
        event = EVENTS.index(digit)
        timestamp = 8000 + index * gap_ms * 8
        start = index * gap_ms / 1000
        steps = [(i * 160, 0) for i in range(1, 6)] + [(800, 0x80)] * 3
        for number, (duration, end) in enumerate(steps):
            marker = 0x80 if number == 0 else 0
            header = struct.pack(
                "!BBHII", 0x80, marker | payload_type, seq & 0xFFFF, timestamp, ssrc
            )
            seq += 1
            packets.append(
                (
                    start + min(number, 5) * 0.02,
                    header + struct.pack("!BBH", event, end | 10, duration),
                )
            )
    return _write_pcap(path, packets)


def audio_pcap(path: Path, pcm: bytes) -> Path:
    """A pcap of 20 ms PCMU packets carrying ``pcm`` (16-bit 8 kHz mono): a callee talking."""
    from voiceapp.media import g711

    payload = g711.encode(pcm, "PCMU")
    packets = []
    for number, offset in enumerate(range(0, len(payload), 160)):
        header = struct.pack("!BBHII", 0x80, 0, (2000 + number) & 0xFFFF, number * 160, 0x5157E001)
        packets.append((number * 0.02, header + payload[offset : offset + 160]))
    return _write_pcap(path, packets)


def _write_pcap(path: Path, packets: list[tuple[float, bytes]]) -> Path:
    """RTP payloads as an Ethernet/IPv4/UDP pcap (what ``play_pcap_audio`` reads)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    loopback = bytes([127, 0, 0, 1])
    for moment, rtp in packets:
        udp = struct.pack("!HHHH", 10000, 10000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, loopback, loopback
        )
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        seconds = 1_700_000_000 + int(moment)
        micros = round((moment % 1) * 1_000_000)
        out += struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path


# -- the demo's callees ---------------------------------------------------------------------

#: ``voiceapp demo --network sip``: who answers each demo number (scenario, sipp options)
DEMO_CALLEES: dict[str, tuple[str, dict[str, Any]]] = {
    "+886912345678": ("answer", {}),  # the PIN customer listens, the app hangs up
    "+886912000222": ("answer", {}),  # the click-to-call customer
    "+18005797676": ("hangup", {"duration_ms": 8000}),  # the call centre hangs up after 8 s
    "+14155552671": ("press", {}),  # the IVR walker presses 3, then 9 (digits.pcap)
}
#: when the walker presses: 3 during the welcome prompt, 9 once the second menu listens
WALKER_DIGITS = "39"
WALKER_GAP_MS = 9000


@contextmanager
def demo_network(folder: Path, echo: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """sipp callees for the demo numbers; yields the settings that route the calls there
    (``[network] backend = "sip"``, ``[sip] routes``); stops every sipp at the end."""
    dtmf_pcap(folder / "digits.pcap", WALKER_DIGITS, gap_ms=WALKER_GAP_MS)
    started: list[Sipp] = []
    try:
        routes = {}
        for number, (scenario, options) in DEMO_CALLEES.items():
            sipp = start_sipp(scenario, folder, timeout=120, **options)
            started.append(sipp)
            routes[number] = sipp.uri
            echo(f"sipp     {number} -> {sipp.uri}  (scenario {scenario})")
        sip_port = free_udp_port()
        rtp = free_udp_port(count=16)
        yield {
            "NETWORK": {"backend": "sip"},
            "SIP": {
                "trunk": next(iter(routes.values())),
                "from_domain": "voiceapp.demo",
                "local_host": "127.0.0.1",
                "sip_ports": [sip_port, sip_port],
                "rtp_ports": [rtp, rtp + 15],
                "routes": routes,
            },
            "DESTINATION_ALLOWLIST": list(routes),
        }
    finally:
        for sipp in started:
            sipp.stop()
