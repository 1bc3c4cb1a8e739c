"""Benchmark: the call store's work per call, against the session store's work per call.

For each store (a SQLite file, then a real redis-server started here), in this one
process and thread:

* **peer** — what a PIN call costs the session store: ``put_session`` and the
  single-use ``claim`` of its token (the existing, tuned path);
* **calls** — what one call costs the call store: ``create`` (the API's write),
  ``take``, ``initiated`` / ``ringing`` / ``in-progress`` / ``completed``, two
  status-callback events each with one delivery attempt, and one ``get`` (the API's
  ``GET /v1/calls/<sid>``): 13 operations, each its own transaction;
* **batched** — the same, with the dialer's writes for 50 calls grouped in one
  ``batch()`` (``create`` stays alone: the API answers after it);
* **sync NORMAL** (SQLite) — 13 ops/call on connections with ``synchronous = NORMAL``.

Printed: calls per second and the ratio to the peer (> 1: the call store keeps up
with the session store).  SQLite writes calls with ``synchronous = FULL`` (one fsync
per transaction) where sessions use ``NORMAL``.

    .venv/bin/python bench/bench_calls.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench_server import redis_server

from voiceapp.stores import Session, open_call_store, open_store
from voiceapp.stores.calls import AttemptRecord, CallSpec, CallStore

FROM = "+19499300360"
PATH = ("initiated", "ringing", "in-progress", "completed")


def peer(url: str, n: int) -> float:
    store = open_store(url)
    tag = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    for i in range(n):
        now = time.time()
        store.put_session(
            Session(f"{tag}{i}", "pin", "+886912345678", {"pin": "8970"}, "en", now, now + 600)
        )
        store.claim(f"voice:{tag}{i}", f"CA{i}", b"<Response><Say>8 9 7 0</Say></Response>", 600)
    elapsed = time.perf_counter() - started
    store.close()
    return n / elapsed


def dial(calls: CallStore, sid: str) -> None:
    previous = "queued"
    for status in PATH:
        calls.set_status(
            sid, status, expect=previous, duration=7 if status == "completed" else None
        )
        previous = status
        if status in ("initiated", "completed"):
            event_id = f"{sid}:{status}"
            calls.add_event(
                sid,
                event_id,
                leg_sid=sid,
                sequence=0 if status == "initiated" else 1,
                name=status,
                url="http://127.0.0.1:9/cb",
                method="POST",
                params=[("CallSid", sid), ("CallStatus", status)],
            )
            attempt = AttemptRecord(1, time.time(), True, 200)
            calls.record_attempt(sid, event_id, attempt, state="delivered")


def lifecycle(url: str, n: int, group: int, synchronous: str = "FULL") -> float:
    calls = open_call_store(url, sqlite_synchronous=synchronous)
    tag = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    for base in range(0, n, group):
        sids = [f"CA{tag}{i}" for i in range(base, min(n, base + group))]
        for i, sid in enumerate(sids, base):
            calls.create(CallSpec(sid=sid, from_=FROM, to=f"+1415{i:07d}"))
        if group > 1:
            with calls.batch():
                for sid in sids:
                    assert calls.take("bench", 60) is not None
                    dial(calls, sid)
        else:
            for sid in sids:
                assert calls.take("bench", 60) is not None
                dial(calls, sid)
        for sid in sids:
            assert calls.require(sid).status == "completed"
    elapsed = time.perf_counter() - started
    calls.close()
    return n / elapsed


def best(fn: Callable[[], float], rounds: int) -> float:
    return statistics.median(fn() for _ in range(rounds))


def run(name: str, url: str, args: argparse.Namespace) -> None:
    n = args.calls
    peer_rate = best(lambda: peer(url, n), args.rounds)
    plain = best(lambda: lifecycle(url, n, 1), args.rounds)
    grouped = best(lambda: lifecycle(url, n, 50), args.rounds)
    rows = [
        ("peer (session put + claim)", peer_rate),
        ("call store, 13 ops/call", plain),
        ("call store, batch of 50", grouped),
    ]
    if name == "sqlite":
        normal = best(lambda: lifecycle(url, n, 1, "NORMAL"), args.rounds)
        rows.append(("call store, sync NORMAL", normal))
    for label, rate in rows:
        print(f"{name:7s} {label:28s} {rate:8.0f} calls/s   ratio {rate / peer_rate:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voiceapp-bench-calls-") as tmp:
        workdir = Path(tmp)
        run("sqlite", f"sqlite:///{workdir / 'store.db'}", args)
        with redis_server(workdir) as url:
            run("redis", url, args)


if __name__ == "__main__":
    main()
