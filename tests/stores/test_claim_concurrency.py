"""64 concurrent first fetches of one token: exactly one acceptance, every time.

Each trial creates a session, releases 64 fetchers at once through a barrier, and
each calls ``Sessions.open`` (verify, destination check, render, claim) with its own
CallSid.  Exactly one must get its document; the 63 others must get ``TokenUsed``.
Run with threads (one process, one shared store object) and with 64 forked
processes (each opening its own store from the URL), 20 trials, SQLite and Redis.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from voiceapp.errors import TokenUsed
from voiceapp.sessions import Sessions
from voiceapp.stores import open_store
from voiceapp.stores.base import Session, Store
from voiceapp.tokens import Signer

FETCHERS = 64
TRIALS = 20
TO = "+14155550123"
KEYS = ["old", "new"]


def fetch(sessions: Sessions, token: str, index: int) -> tuple[str, int, bytes | str]:
    """One dialer fetch: ("ok", index, body) or ("used"|"error", index, detail)."""

    def render(session: Session) -> bytes:
        return f"<Response><Say>{session.variables['pin']}</Say><!--{index}--></Response>".encode()

    try:
        return "ok", index, sessions.open(token, to=TO, call_sid=f"CA{index:02d}", render=render)
    except TokenUsed as exc:
        return "used", index, exc.code
    except Exception as exc:  # reported, and fails the trial
        return "error", index, repr(exc)


def check_trial(
    sessions: Sessions, token: str, pin: str, results: list[tuple[str, int, bytes | str]]
) -> None:
    kinds = sorted(kind for kind, _, _ in results)
    errors = [r for r in results if r[0] == "error"]
    assert not errors, errors
    assert len(results) == FETCHERS
    assert kinds.count("ok") == 1, kinds
    assert kinds.count("used") == FETCHERS - 1
    (_, winner, body) = next(r for r in results if r[0] == "ok")
    assert body == f"<Response><Say>{pin}</Say><!--{winner}--></Response>".encode()
    # the store agrees on who won: the winner's retry gets its own bytes back
    again = sessions.open(token, to=TO, call_sid=f"CA{winner:02d}", render=lambda s: b"other")
    assert again == body


def test_64_threads_one_acceptance_per_token(store_url: str) -> None:
    store = open_store(store_url)
    sessions = Sessions(store, Signer(KEYS))
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=FETCHERS) as pool:
            for trial in range(TRIALS):
                pin = f"{trial:04d}"
                _, token, _ = sessions.create("pin", TO, {"pin": pin}, ttl=600)
                barrier = threading.Barrier(FETCHERS, timeout=60)

                def go(index: int, token: str = token, barrier: threading.Barrier = barrier) -> Any:
                    barrier.wait()
                    return fetch(sessions, token, index)

                results = list(pool.map(go, range(FETCHERS), timeout=120))
                check_trial(sessions, token, pin, results)
    finally:
        store.close()
    print(
        f"\n{store_url.split(':')[0]} threads: {TRIALS} trials x {FETCHERS} fetches "
        f"in {time.perf_counter() - started:.2f} s"
    )


def _process_fetcher(url: str, index: int, inbox: Connection, outbox: Any, barrier: Any) -> None:
    store: Store = open_store(url)
    sessions = Sessions(store, Signer(KEYS))
    try:
        while True:
            token = inbox.recv()
            if token is None:
                return
            barrier.wait(60)
            outbox.put(fetch(sessions, token, index))
    finally:
        store.close()


def test_64_processes_one_acceptance_per_token(store_url: str) -> None:
    ctx = multiprocessing.get_context("fork")
    store = open_store(store_url)
    sessions = Sessions(store, Signer(KEYS))
    barrier = ctx.Barrier(FETCHERS)
    outbox = ctx.Queue()
    pipes: list[Connection] = []
    workers = []
    started = time.perf_counter()
    try:
        for index in range(FETCHERS):
            ours, theirs = ctx.Pipe()
            worker = ctx.Process(
                target=_process_fetcher,
                args=(store_url, index, theirs, outbox, barrier),
                daemon=True,
            )
            worker.start()
            theirs.close()
            pipes.append(ours)
            workers.append(worker)
        for trial in range(TRIALS):
            pin = f"{trial:04d}"
            _, token, _ = sessions.create("pin", TO, {"pin": pin}, ttl=600)
            for pipe in pipes:
                pipe.send(token)
            results = [outbox.get(timeout=120) for _ in range(FETCHERS)]
            check_trial(sessions, token, pin, results)
    finally:
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=10)
        outbox.close()
        outbox.join_thread()
        store.close()
    assert all(worker.exitcode == 0 for worker in workers)
    print(
        f"\n{store_url.split(':')[0]} processes: {TRIALS} trials x {FETCHERS} fetches "
        f"in {time.perf_counter() - started:.2f} s"
    )
