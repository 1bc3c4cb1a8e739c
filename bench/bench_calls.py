"""Benchmark: outbound calls end to end, calls in flight, and the call store's cost per call.

Three parts (``--part``, default all), each in this one process:

* **api** — simulated PIN calls per second on the virtual clock, end to end
  through the API: ``POST /v1/calls {"app": "pin"}`` (validation, session, call
  created and queued in the store), then the
  :class:`~voiceapp.dialer.worker.Dialer` on a virtual clock takes the calls,
  rings and answers them on the simulated network, fetches each single-use
  session document through the same app (signed), runs it ("Your pin is 8 9 7
  0", Hangup) and writes every status to the store.  Both requests go through the
  app's WSGI callable, in process, as a WSGI server hands them over (a PEP 3333
  environ with the body, the headers and the content type; the status and body
  read back from the response): Flask's routing, request parsing, API key,
  validation, error handling and response all run; no sockets, and not
  werkzeug's test-client request builder, which cost about 0.2 ms a request.
  Peer: the bare interpreter running the same PIN document the same number of
  times in this process (no API, no store, no HTTP).  Target >= 500 calls/s.
  Both rates are per second of this process's CPU time (``time.process_time``;
  everything but redis-server runs in this process, whose CPU is not counted): on
  the shared 2-core machine
  wall time measured mostly the neighbours (the same code ran 71-189 calls/s wall
  within ten minutes).
* **inflight** — calls in flight: 10,000 calls queued in the call store whose
  callees answer and keep the line open while the document's
  ``<Pause length="600"/>`` runs; printed: the peak number of calls answered at
  the same time (target 10,000), the real seconds it took, the process's peak RSS.
  ``gc.freeze()`` after setup keeps the collector off the long-lived objects.
* **inflight-real** (not in ``all``: about a minute of real time) — the same on
  the real clock, as the demo and deployments run: the dialer started on its
  thread takes the calls as fast as it can, each holds the line for
  ``--hold`` seconds; printed: the peak answered at once and how late the loop
  ran timers (a probe timer every 100 ms: median, p99 and worst lateness).
* **store** — the call store's work per call, against the session store's work
  per call (peer): 13 single operations, 50 calls in one ``batch()``, 50 calls
  through ``take_many`` and one ``apply`` per step (as the dialer writes), and SQLite with
  ``synchronous = FULL`` (the default is NORMAL).

* **poll** — a dialer worker's reads each ``DIALER_POLL`` (``take_many``,
  ``cancel_requests``, ``change_requests``) with 1,000 and ``--inflight`` ended calls
  kept in the store, against the same on an empty store (peer): a poll must not cost
  more as the calls of the retention time pile up.

The api and inflight parts run on SQLite (the embedded default) and on a real
redis-server started here (``--store``).

    .venv/bin/python bench/bench_calls.py [--part api|inflight|store|poll|all]
        [--store sqlite|redis|both] [--calls N] [--inflight N] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_server import redis_server

from voiceapp.calls.records import AttemptRecord, CallSpec
from voiceapp.calls.writes import AddEvent, RecordAttempt, SetStatus, Write
from voiceapp.stores import open_store
from voiceapp.stores.base import Session
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore

API_KEY = secrets.token_urlsafe(32)
SECRET = secrets.token_urlsafe(32)  # production settings refuse low-entropy keys
PIN_TARGET = 500.0
INFLIGHT_TARGET = 10_000
HOLD_XML = b'<Response><Pause length="600"/></Response>'

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


def lifecycle(url: str, n: int, group: int, synchronous: str = "NORMAL") -> float:
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


def applied(url: str, n: int, group: int) -> float:
    """The same work per call, ``group`` calls at a time through ``take_many`` and one
    ``apply`` per step (as the dialer writes): one transaction / one round trip each."""
    calls = open_call_store(url)
    tag = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    for base in range(0, n, group):
        sids = [f"CA{tag}{i}" for i in range(base, min(n, base + group))]
        for i, sid in enumerate(sids, base):
            calls.create(CallSpec(sid=sid, from_=FROM, to=f"+1415{i:07d}"))
        assert len(calls.take_many("bench", 60, len(sids))) == len(sids)
        previous = "queued"
        for sequence, status in enumerate(PATH):
            writes: list[Write] = []
            for sid in sids:
                duration = 7 if status == "completed" else None
                writes.append(SetStatus(sid, status, expect=(previous,), duration=duration))
                if status in ("initiated", "completed"):
                    event_id = f"{sid}:{status}"
                    params = (("CallSid", sid), ("CallStatus", status))
                    url_ = "http://127.0.0.1:9/cb"
                    writes.append(
                        AddEvent(sid, event_id, sid, sequence, status, url_, "POST", params)
                    )
            assert not any(isinstance(r, Exception) for r in calls.apply(writes))
            if status in ("initiated", "completed"):
                attempt = AttemptRecord(1, time.time(), True, 200)
                done = [RecordAttempt(sid, f"{sid}:{status}", attempt, "delivered") for sid in sids]
                assert not any(isinstance(r, Exception) for r in calls.apply(done))
            previous = status
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
    grouped_apply = best(lambda: applied(url, n, 50), args.rounds)
    rows = [
        ("peer (session put + claim)", peer_rate),
        ("call store, 13 ops/call", plain),
        ("call store, batch() of 50", grouped),
        ("call store, apply() of 50", grouped_apply),
    ]
    if name == "sqlite":
        full = best(lambda: lifecycle(url, n, 1, "FULL"), args.rounds)
        rows.append(("call store, sync FULL", full))
    for label, rate in rows:
        print(f"{name:7s} {label:28s} {rate:8.0f} calls/s   ratio {rate / peer_rate:.2f}")


# -- poll: a dialer worker's reads of the queue, against a store full of ended calls --------


def poll_rate(url: str, ended: int, polls: int) -> float:
    """Polls per second of CPU time (what a worker reads each ``DIALER_POLL``:
    ``take_many``, ``cancel_requests``, ``change_requests``) on a store that also holds
    ``ended`` calls another worker made (completed, kept for the retention time)."""
    calls = open_call_store(url)
    tag = uuid.uuid4().hex[:8]
    with calls.batch():
        for i in range(ended):
            sid = f"CA{tag}{i}"
            calls.create(CallSpec(sid=sid, from_=FROM, to=f"+1415{i:07d}"))
            assert calls.take("other", 60) is not None
            dial(calls, sid)
    started = time.process_time()
    for _ in range(polls):
        assert calls.take_many("poller", 60, 10) == []
        assert calls.cancel_requests("poller") == []
        assert calls.change_requests("poller") == []
    elapsed = time.process_time() - started
    calls.close()
    return polls / elapsed


def run_poll(name: str, url_for: Callable[[], str], args: argparse.Namespace) -> None:
    polls = 2000
    empty = best(lambda: poll_rate(url_for(), 0, polls), args.rounds)
    for ended in (1_000, args.inflight):
        full = best(lambda e=ended: poll_rate(url_for(), e, polls), args.rounds)
        print(
            f"{name:7s} worker poll, {ended:6d} ended calls in the store "
            f"{full:8.0f} polls/s   ratio {full / empty:.2f} (empty store: {empty:.0f}/s)"
        )


# -- api: PIN calls end to end through the API, on the virtual clock -------------------------


def callee(index: int) -> str:
    return f"+8869123{index:05d}"


def bare_interpreter(n: int) -> float:
    """Peer: the interpreter alone runs ``n`` PIN calls (no API, no store, no HTTP)."""
    from voiceapp.dialer.clock import VirtualClock
    from voiceapp.dialer.interpreter import Environment, OutboundCall, place_call
    from voiceapp.dialer.network import SimulatedNetwork

    xml = b"<Response><Say>Your pin is 8 9 7 0.</Say><Hangup/></Response>"
    clock = VirtualClock()
    env = Environment(clock, SimulatedNetwork(clock), lambda method, url, params: xml)
    started = time.process_time()
    handles = [
        place_call(env, OutboundCall(from_=FROM, to=callee(i), url="http://app/pin"))
        for i in range(n)
    ]
    clock.run_until_idle()
    elapsed = time.process_time() - started
    assert all(h.status == "completed" for h in handles)
    return n / elapsed


class Wsgi:
    """Requests straight into a WSGI app, as a WSGI server would pass them (no sockets)."""

    def __init__(self, app: Callable[..., Any], host: str = "localhost") -> None:
        self.app = app
        self.base = {
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": host,
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": host,
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }

    def request(
        self, method: str, path: str, body: bytes, content_type: str, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        path, _, query = path.partition("?")
        environ = dict(self.base)
        environ.update(
            REQUEST_METHOD=method,
            PATH_INFO=path,
            QUERY_STRING=query,
            CONTENT_TYPE=content_type,
            CONTENT_LENGTH=str(len(body)),
        )
        environ["wsgi.input"] = io.BytesIO(body)
        for name, value in headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        status: list[str] = []

        def start_response(line: str, _headers: object, _exc: object = None) -> None:
            status.append(line)

        result = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return int(status[0].split(" ", 1)[0]), data


def api_run(url: str, n: int) -> tuple[float, float, float]:
    """(end-to-end calls/s, POST /v1/calls per s, dialer calls/s) for ``n`` PIN calls."""
    from urllib.parse import urlsplit

    from voiceapp.dialer.clock import VirtualClock
    from voiceapp.dialer.worker import Dialer
    from voiceapp.signatures import HEADER, sign_request
    from voiceapp.web import create_app, runtime
    from voiceapp.web.calls import call_service, shutdown

    app = create_app(
        {
            "TESTING": True,
            "API_KEYS": [API_KEY],
            "SECRET_KEYS": [SECRET],
            "STORE_URL": url,
            "OUTBOUND_NUMBERS": {FROM: "active"},
            "DEFAULT_REGION": "TW",
            "DIALER": "external",
            "NETWORK": {"default": {"rings": 1}},
            # the measured path: no rate limit (one key, thousands of calls a second)
            "RATE_LIMIT_PER_KEY": "",
            "RATE_LIMIT_PER_DESTINATION": "",
            "LOG_LEVEL": "warning",  # no "call queued" line per call: the call path is measured
        }
    )
    client = Wsgi(app)
    form = "application/x-www-form-urlencoded"

    def fetch(method: str, target: str, params: object) -> bytes:
        from urllib.parse import urlencode

        body = urlencode(list(params)).encode()  # type: ignore[call-overload]
        parts = urlsplit(target)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        secret = settings.signature_secrets[-1]  # the fetch key, never a token key
        signature = sign_request(secret, method, target, body, timestamp=int(time.time()))
        status, data = client.request(method, path, body, form, {HEADER: signature})
        if status != 200:
            raise RuntimeError(f"{target}: HTTP {status}")
        return data

    with app.app_context():
        settings = runtime().settings
    service = call_service(app)
    dialer = Dialer(settings, service.store, clock=VirtualClock(), fetch=fetch)
    headers = {"X-API-Key": API_KEY}
    started = time.process_time()
    sids = []
    for i in range(n):
        body = json.dumps(
            {"from": FROM, "to": callee(i), "app": "pin", "variables": {"pin": "8970", "repeat": 1}}
        ).encode()
        status, data = client.request("POST", "/v1/calls", body, "application/json", headers)
        assert status == 201, data
        sids.append(json.loads(data)["sid"])
    posted = time.process_time()
    finished = dialer.run_until_idle()
    done = time.process_time()
    assert finished == n, (finished, n)
    for sid in sids[:: max(1, n // 50)]:
        record = service.store.require(sid)
        assert record.status == "completed", record.status
        trace = dialer.trace(sid)
        # the PIN was said; the trace shows it masked (a secret variable)
        assert trace is None or any(
            e.detail["text"].startswith("Your pin is") for e in trace.of("say")
        )
    shutdown(app)
    with app.app_context():
        runtime().store.close()
    return n / (done - started), n / (posted - started), n / (done - posted)


def run_api(name: str, url_for: Callable[[], str], args: argparse.Namespace) -> None:
    n = args.calls
    rows = [api_run(url_for(), n) for _ in range(args.rounds)]
    e2e = statistics.median(r[0] for r in rows)
    post = statistics.median(r[1] for r in rows)
    dial = statistics.median(r[2] for r in rows)
    peer_rate = statistics.median(bare_interpreter(n) for _ in range(args.rounds))
    print(
        f"{name:7s} PIN calls end to end (POST + dial)  {e2e:8.0f} calls/s   "
        f"ratio to target {e2e / PIN_TARGET:.2f}   ratio to bare interpreter {e2e / peer_rate:.2f}"
    )
    print(f"{name:7s}   POST /v1/calls (WSGI, in process)  {post:8.0f} calls/s")
    print(f"{name:7s}   dialer (take, dial, fetch, store)  {dial:8.0f} calls/s")
    print(f"{name:7s}   peer: bare interpreter             {peer_rate:8.0f} calls/s")


# -- inflight: calls on the line at the same time --------------------------------------------


def run_inflight(name: str, url: str, args: argparse.Namespace) -> None:
    import gc
    import resource

    from voiceapp.config import load_settings
    from voiceapp.dialer.clock import VirtualClock
    from voiceapp.dialer.worker import Dialer

    n = args.inflight
    calls = open_call_store(url)
    tag = uuid.uuid4().hex[:6]
    with calls.batch():
        for i in range(n):
            calls.create(
                CallSpec(sid=f"CA{tag}{i}", from_=FROM, to=callee(i), url="http://app/hold")
            )
    settings, _ = load_settings(
        environ={},
        overrides={
            "TESTING": True,
            "SECRET_KEYS": [SECRET],
            "DIALER_CONCURRENCY": n,
            "DIALER_LEASE": 600,
            "NETWORK": {"default": {"rings": 1}},
        },
    )
    dialer = Dialer(
        settings, calls, clock=VirtualClock(), fetch=lambda method, target, params: HOLD_XML
    )
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    finished = dialer.run_until_idle()
    elapsed = time.perf_counter() - started
    gc.unfreeze()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert finished == n, (finished, n)
    peak = dialer.peak_answered
    print(
        f"{name:7s} calls in flight (answered at once)   {peak:8d} calls    "
        f"ratio to target {peak / INFLIGHT_TARGET:.2f}   "
        f"{elapsed:.1f} s real for {n} calls of 600 s each, peak RSS {rss_mb:.0f} MB"
    )
    calls.close()


def run_inflight_real(name: str, url: str, args: argparse.Namespace) -> None:
    import gc
    import resource

    from voiceapp.config import load_settings
    from voiceapp.dialer.clock import RealClock
    from voiceapp.dialer.worker import Dialer

    n = args.inflight
    hold = f'<Response><Pause length="{args.hold:g}"/></Response>'.encode()
    calls = open_call_store(url)
    tag = uuid.uuid4().hex[:6]
    with calls.batch():
        for i in range(n):
            calls.create(CallSpec(sid=f"CA{tag}{i}", from_=FROM, to=callee(i), url="http://app/h"))
    settings, _ = load_settings(
        environ={},
        overrides={
            "TESTING": True,
            "SECRET_KEYS": [SECRET],
            "DIALER_CONCURRENCY": n,
            "DIALER_LEASE": 600,
            "DIALER_POLL": 0.05,
            "NETWORK": {"default": {"rings": 1}},
        },
    )
    clock = RealClock()
    dialer = Dialer(settings, calls, clock=clock, fetch=lambda method, target, params: hold)
    lateness: list[float] = []

    def probe(due: float) -> None:
        lateness.append(clock.now() - due)
        if dialer.finished < n:
            following = clock.now() + 0.1
            clock.call_later(0.1, lambda: probe(following))

    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    dialer.start()
    clock.call_soon_threadsafe(lambda: probe(clock.now()))
    deadline = time.monotonic() + args.hold * 3 + 120
    while dialer.finished < n and time.monotonic() < deadline:
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    dialer.stop(timeout=10)
    gc.unfreeze()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    late = sorted(lateness) or [0.0]
    peak = dialer.peak_answered
    print(
        f"{name:7s} calls in flight, real clock           {peak:8d} calls    "
        f"ratio to target {peak / INFLIGHT_TARGET:.2f}   {dialer.finished}/{n} done in "
        f"{elapsed:.1f} s (hold {args.hold:g} s), timer lateness median "
        f"{late[len(late) // 2] * 1000:.0f} ms, p99 {late[int(len(late) * 0.99)] * 1000:.0f} ms, "
        f"worst {late[-1] * 1000:.0f} ms, peak RSS {rss_mb:.0f} MB"
    )
    calls.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part",
        choices=["api", "inflight", "inflight-real", "store", "poll", "all"],
        default="all",
    )
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--store", choices=["sqlite", "redis", "both"], default="both")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--inflight", type=int, default=INFLIGHT_TARGET)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    parts = ["api", "inflight", "store", "poll"] if args.part == "all" else [args.part]
    with tempfile.TemporaryDirectory(prefix="voiceapp-bench-calls-") as tmp:
        workdir = Path(tmp)
        counter = iter(range(1_000_000))
        stores: list[tuple[str, Callable[[], str]]] = []
        if args.store in ("sqlite", "both"):
            stores.append(("sqlite", lambda: f"sqlite:///{workdir / f'store{next(counter)}.db'}"))
        with contextlib.ExitStack() as stack:
            if args.store in ("redis", "both"):
                redis_url = stack.enter_context(redis_server(workdir))
                stores.append(("redis", lambda: f"{redis_url}?prefix=b{next(counter)}:"))
            for name, url_for in stores:
                if "api" in parts:
                    run_api(name, url_for, args)
                if "inflight" in parts:
                    run_inflight(name, url_for(), args)
                if "inflight-real" in parts:
                    run_inflight_real(name, url_for(), args)
                if "store" in parts:
                    run(name, url_for(), args)
                if "poll" in parts:
                    run_poll(name, url_for, args)


if __name__ == "__main__":
    main()
