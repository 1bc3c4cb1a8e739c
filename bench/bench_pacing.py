"""Benchmark: the dialer's pacing (``voiceapp.dialer.pacing``) on the virtual clock.

``--calls`` calls (2,000) from ``--numbers`` caller numbers (20) are queued in a SQLite
call store; a :class:`~voiceapp.dialer.worker.Dialer` on a virtual clock runs them to
their end (ring once, answer, an in-process ``<Hangup/>`` document, every status
written).  Four runs in this one process, each on a fresh store:

* **peer**: pacing off (the default), every call dialed as soon as it is taken;
* **1 CPS per number**: ``DIALER_CPS_PER_FROM = 1`` (Twilio's default rate), so the
  calls of each number start one a second, the numbers side by side;
* **1 CPS per number, 10 CPS in all**: ``DIALER_CPS = 10`` on top;
* **pacing off, one call at a time** (``DIALER_CONCURRENCY = 1``): the same calls, none
  beside another, so each call's writes go to the store in groups of their own, as at a
  low rate: what spreading the calls out costs without the pacer.

Printed per run: CPU seconds (``time.process_time``: load-independent enough on the
shared 2-core machine) per 1,000 calls, the ratio to the peer, the virtual seconds from
the first dial to the last (what the limits predict: calls / numbers / CPS, or calls /
total CPS).

    .venv/bin/python bench/bench_pacing.py [--calls N] [--numbers K] [--rounds R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from voiceapp.calls.records import CallSpec
from voiceapp.config import load_settings
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.worker import Dialer
from voiceapp.stores.calls import open_call_store

HANG_UP = b"<Response><Hangup/></Response>"


def one_run(folder: Path, calls: int, numbers: int, limits: dict[str, Any]) -> tuple[float, float]:
    """(CPU seconds, virtual seconds from the first dial to the last) of one run."""
    store = open_call_store(f"sqlite:///{folder / (uuid.uuid4().hex + '.db')}")
    try:
        with store.batch():
            for i in range(calls):
                store.create(
                    CallSpec(
                        sid=f"CA{i:06d}",
                        from_=f"+194993{i % numbers:05d}",
                        to=f"+8869123{i:05d}",
                        url="http://app/doc",
                    )
                )
        settings, _ = load_settings(
            environ={},
            overrides={
                "TESTING": True,
                "DIALER_LEASE": 600,
                "NETWORK": {"default": {"rings": 1}},
                **limits,
            },
        )
        dialer = Dialer(settings, store, clock=VirtualClock(), fetch=lambda m, u, p: HANG_UP)
        started = time.process_time()
        finished = dialer.run_until_idle()
        cpu = time.process_time() - started
        assert finished == calls, (finished, calls)
        dialed = [
            r.timestamps["initiated"] for r in store.list_calls(limit=calls).calls if r.timestamps
        ]
        span = max(dialed) - min(dialed)
        return cpu, span
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--numbers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: list[tuple[str, dict[str, Any]]] = [
        ("peer: pacing off", {}),
        ("1 CPS per number", {"DIALER_CPS_PER_FROM": 1}),
        ("1 CPS per number, 10 in all", {"DIALER_CPS_PER_FROM": 1, "DIALER_CPS": 10}),
        ("pacing off, one call at a time", {"DIALER_CONCURRENCY": 1}),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[str, tuple[float, float]] = {}
        for _ in range(args.rounds):  # interleaved rounds: the machine's load hits all alike
            for label, limits in runs:
                cpu, span = one_run(Path(tmp), args.calls, args.numbers, limits)
                best = results.get(label)
                results[label] = (min(cpu, best[0]) if best else cpu, span)
    peer_cpu = results[runs[0][0]][0]
    for label, _limits in runs:
        cpu, span = results[label]
        print(
            f"{label:30s} {cpu * 1000 / args.calls:7.3f} CPU s / 1000 calls   "
            f"ratio {cpu / peer_cpu:5.2f}   first to last dial {span:7.1f} virtual s"
        )


if __name__ == "__main__":
    main()
