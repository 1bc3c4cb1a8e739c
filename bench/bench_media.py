"""Benchmark: N concurrent MediaSessions holding 20 ms RTP pacing on one asyncio loop.

Every session plays ``--seconds`` of audio (G.711 PCMU, 160-byte packets) to a sink on
127.0.0.1; the sessions start spread over the first 20 ms, as calls do.  Each
round runs the sessions with a pacer each and with one shared pacer (``--pacer``).  The sink is
a separate process (so its reading does not share the sender's loop or core): it
stamps each packet with ``time.monotonic()`` on arrival and the benchmark reports,
per packet, the inter-packet jitter ``|arrival interval - 20 ms|`` of its stream
(p50, p99, max), the RFC 3550 interarrival jitter estimate (mean over the streams,
from arrival times and RTP timestamps), the packets per second, lost packets, and
the distance of each arrival from its stream's own 20 ms grid (p99: the pacing does
not drift), the sender loop's own lateness (a probe timer on an absolute 10 ms grid:
p99) and the sender's CPU time (share of one core, and per packet sent).

    .venv/bin/python bench/bench_media.py [--calls 100] [--seconds 10] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from itertools import pairwise

from voiceapp.dialer.clock import RealClock
from voiceapp.media.audio import pcm_of
from voiceapp.media.session import MediaSession, Pacer

SINK = r"""
import json, socket, struct, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
sock.bind(("127.0.0.1", 0))
sock.settimeout(3.0)
print(sock.getsockname()[1], flush=True)
expected = int(sys.argv[1])
seen = {}
got = 0
while got < expected:
    try:
        data = sock.recv(2048)
    except socket.timeout:
        break
    now = time.monotonic()
    seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
    seen.setdefault(ssrc, []).append((now, seq, ts))
    got += 1
json.dump(list(seen.values()), sys.stdout)
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def run_round(calls: int, seconds: float, shared: bool) -> dict[str, float]:
    packets_each = round(seconds / 0.02)
    sink = subprocess.Popen(
        [sys.executable, "-c", SINK, str(calls * packets_each)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    sink_port = int(sink.stdout.readline())
    clock = RealClock()
    audio = pcm_of(
        [round(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(packets_each * 160)]
    )

    async def main() -> float:
        pacer = Pacer(clock.loop) if shared else None
        sessions = [
            await MediaSession.open("127.0.0.1", (40000, 60000), clock, pacer=pacer)
            for _ in range(calls)
        ]
        for session in sessions:
            session.set_remote("127.0.0.1", sink_port, "PCMU", 0, 101)
        started = os.times()
        loop = clock.loop
        probe_origin = loop.time()

        def probe(n: int) -> None:  # the loop's own lateness, on an absolute 10 ms grid
            lag_ms.append((loop.time() - probe_origin - 0.01 * n) * 1000)
            if not done:
                loop.call_at(probe_origin + 0.01 * (n + 1), probe, n + 1)

        loop.call_at(probe_origin, probe, 0)
        base = loop.time() + 0.05
        plays: list[asyncio.Future[None]] = []
        for n, session in enumerate(sessions):
            loop.call_at(base + 0.02 * n / calls, lambda s=session: plays.append(s.play(audio)))
        await asyncio.sleep(0.1)
        await asyncio.gather(*plays)
        done.append(True)
        cpu = os.times()
        for session in sessions:
            session.close()
        return (cpu.user - started.user) + (cpu.system - started.system)

    lag_ms: list[float] = []
    done: list[bool] = []
    wall = time.monotonic()
    cpu = clock.run_until(main())
    wall = time.monotonic() - wall
    clock.close()
    out, _ = sink.communicate(timeout=60)
    streams = json.loads(out)

    jitter_ms: list[float] = []
    drift_ms: list[float] = []  # distance from the stream's own 20 ms grid
    rfc3550: list[float] = []
    received = 0
    for stream in streams:
        received += len(stream)
        j = 0.0
        origin = stream[0][0]
        drift_ms += [abs(t - origin - 0.02 * n) * 1000 for n, (t, _, _) in enumerate(stream)]
        for (t0, _s0, ts0), (t1, _s1, ts1) in pairwise(stream):
            interval = t1 - t0
            jitter_ms.append(abs(interval - 0.02) * 1000)
            d = abs(interval - ((ts1 - ts0) % 2**32) / 8000)
            j += (d - j) / 16
        rfc3550.append(j * 1000)
    first = min(s[0][0] for s in streams)
    last = max(s[-1][0] for s in streams)
    return {
        "calls": calls,
        "streams": len(streams),
        "packets": received,
        "lost": calls * packets_each - received,
        "packets_per_s": received / (last - first),
        "p50_ms": statistics.median(jitter_ms),
        "p99_ms": percentile(jitter_ms, 0.99),
        "max_ms": max(jitter_ms),
        "rfc3550_ms": statistics.mean(rfc3550),
        "drift_p99_ms": percentile(drift_ms, 0.99),
        "lag_p99_ms": percentile(lag_ms, 0.99),
        "cpu_s": cpu,
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--pacer",
        choices=("own", "shared", "both"),
        default="both",
        help="a pacer per session, one shared by all, or both in turn",
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.calls} calls x {args.seconds:g} s of 20 ms PCMU")
    kinds = ("own", "shared") if args.pacer == "both" else (args.pacer,)
    print(
        f"{'pacer':>6} {'calls':>6} {'packets':>8} {'lost':>5} {'pkt/s':>8} {'p50 ms':>7}"
        f" {'p99 ms':>7} {'max ms':>7} {'RFC3550 ms':>10} {'grid p99':>8} {'lag p99':>7}"
        f" {'CPU %':>6} {'µs/pkt':>6}"
    )
    for _ in range(args.rounds):
        for kind in kinds:
            report(kind, run_round(args.calls, args.seconds, kind == "shared"))


def report(kind: str, r: dict[str, float]) -> None:
    print(
        f"{kind:>6} {r['calls']:>6} {r['packets']:>8} {r['lost']:>5}"
        f" {r['packets_per_s']:>8.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}"
        f" {r['max_ms']:>7.1f} {r['rfc3550_ms']:>10.2f} {r['drift_p99_ms']:>8.2f}"
        f" {r['lag_p99_ms']:>7.2f} {100 * r['cpu_s'] / r['wall_s']:>6.1f}"
        f" {1e6 * r['cpu_s'] / r['packets']:>6.1f}"
    )


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
