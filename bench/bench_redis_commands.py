"""Benchmark: client CPU of the two Redis commands of a voice fetch, redis-py's way vs
the store's way.

A session document costs a ``GET`` of the session, then the claim's ``SET key value NX
EX ttl GET`` (they cannot share a round trip: the document is rendered between them).
:class:`~voiceapp.stores.redis.RedisStore` sends those two on a connection of the
client's pool that the thread keeps (``_Pinned``); everything else goes through the
client.  This measures both ways against a real redis-server started here, in this
process, as CPU time per command (``time.process_time``: it does not depend on what else
the machine runs), median of ``--rounds``:

* ``client.get`` / ``client.set(..., nx=True, ex=..., get=True)``: redis-py's dispatch
  (a pool round trip per command, its retry wrapper and event hooks);
* the store's ``get_session`` / ``claim`` (with their JSON and dataclass work, so these
  are upper bounds of the command's share).

    .venv/bin/python bench/bench_redis_commands.py [--commands N] [--rounds R]
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

from voiceapp.stores import open_store
from voiceapp.stores.base import Session
from voiceapp.stores.redis import RedisStore


def cpu_us(fn: Callable[[int], object], n: int) -> float:
    start = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - start) / n * 1e6


def one_round(store: RedisStore, key: str, n: int) -> dict[str, float]:
    client, run, body = store.client, uuid.uuid4().hex, b"<Response/>"
    return {
        "GET: client.get": cpu_us(lambda i: client.get(key), n),
        "GET: store.get_session": cpu_us(lambda i: store.get_session("s1"), n),
        "SET NX EX GET: client.set": cpu_us(
            lambda i: client.set(f"bench:a{run}{i}", body, nx=True, ex=60, get=True), n
        ),
        "SET NX EX GET: store.claim": cpu_us(
            lambda i: store.claim(f"b{run}{i}", "CA1", body, 60), n
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.commands
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as url:
        store = open_store(url)
        assert isinstance(store, RedisStore)
        session = Session("s1", "pin", "+15550001", {}, "en", 0.0, time.time() + 3600)
        store.put_session(session)
        key = f"{store.prefix}session:s1"
        rows: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for name, value in one_round(store, key, n).items():
                rows.setdefault(name, []).append(value)
        store.close()
    for name, values in rows.items():
        print(f"{name:30s} {statistics.median(values):7.1f} us CPU per command")


if __name__ == "__main__":
    main()
