"""sipp (Debian ``sip-tester``) as a SIP callee, started by the tests on free ports.

:func:`start_sipp` runs one sipp UAS with a scenario of ``tests/sip/scenarios`` on
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
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[1] / "sip" / "scenarios"
SIPP = shutil.which("sipp")


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
    raise RuntimeError("no free UDP ports")


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
    """Start sipp as the callee of ``scenario`` (a name in tests/sip/scenarios)."""
    assert SIPP is not None, "sipp is not installed (scripts/setup installs sip-tester)"
    port = free_udp_port()
    media = free_udp_port(count=2, step=2)
    log = folder / f"sipp-{scenario}-{port}.log"
    args = [
        SIPP,
        "-sf",
        str(SCENARIOS / f"{scenario}.xml"),
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
            raise RuntimeError(f"sipp did not start: {sipp.errors()}")
        time.sleep(0.02)
    return sipp


EVENTS = "0123456789*#ABCD"


def dtmf_pcap(path: Path, digits: str, *, gap_ms: int = 400, payload_type: int = 101) -> Path:
    """A pcap of RFC 4733 events for ``digits`` (100 ms each, ``gap_ms`` apart; start
    packet with the marker bit, growing durations, three end packets), as sipp's
    ``play_pcap_audio`` replays them."""
    packets: list[tuple[float, bytes]] = []
    seq, ssrc, at = 1000, 0x5157E000, 0.0
    for index, digit in enumerate(digits):
        event = EVENTS.index(digit)
        timestamp = 8000 + index * gap_ms * 8
        start = at + index * gap_ms / 1000
        steps = [(i * 160, 0) for i in range(1, 6)] + [(800, 0x80)] * 3
        for number, (duration, end) in enumerate(steps):
            marker = 0x80 if number == 0 else 0
            rtp = struct.pack(
                "!BBHII", 0x80, marker | payload_type, seq & 0xFFFF, timestamp, ssrc
            ) + struct.pack("!BBH", event, end | 10, duration)
            seq += 1
            packets.append((start + min(number, 5) * 0.02, rtp))
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for moment, rtp in packets:
        udp = struct.pack("!HHHH", 10000, 10000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(udp),
            0,
            0,
            64,
            17,
            0,
            bytes([127, 0, 0, 1]),
            bytes([127, 0, 0, 1]),
        )
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        seconds = 1_700_000_000 + int(moment)
        micros = round((moment % 1) * 1_000_000)
        out += struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path
