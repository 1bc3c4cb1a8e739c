"""Server benchmark: PIN session documents vs a constant XML view, wrk against gunicorn.

For each store (SQLite file, then a real redis-server started here) the script:

1. starts gunicorn (sync workers, ``--workers``) on a free 127.0.0.1 port with
   ``bench_app:create_bench_app()``: voiceapp plus ``GET /bench/constant``, a plain
   Flask view with a constant XML document, in the same app and the same workers
   (``DIALER=external``: no embedded dialer polls the store during the runs);
2. warms both views up, then runs ``--rounds`` rounds; each round pre-creates PIN
   sessions in the same store with the same secret (every request needs a fresh
   single-use token; one token file per session run) and, for SQLite, checkpoints
   the WAL those creations left, so the session runs do not pay for them;
3. in each round runs wrk five times, constant / session / constant / session /
   constant, all driven by one Lua script that walks a token list (each thread its
   own share, so no token is fetched twice; the constant view gets the token as a
   query parameter); a session request is token verify + claim + render + schema
   validation;
4. prints, per session run, requests/s and the ratio session / mean(the constant
   runs before and after it), the gunicorn workers' CPU time per request of each
   run (from /proc: it does not depend on what else the machine runs), and the
   median ratio over all session runs.  Targets: >= 0.7 with SQLite, >= 0.6 with
   Redis.  Non-2xx answers (a token fetched twice, errors) are reported.

Usage: ``.venv/bin/python bench/bench_server.py [--duration 5] [--workers 2]
[--threads 2] [--connections 16] [--sessions 20000] [--rounds 3] [--store both]``
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
SECRET = secrets.token_urlsafe(32)  # production settings refuse low-entropy keys
API_KEY = secrets.token_urlsafe(32)
TO = "+14155550123"

LUA = r"""
-- Walk the token file: thread k of n takes tokens k, k+n, k+2n, ...
-- args: token file, number of threads, path prefix, separator before the query.
-- The constant view is driven by the same script (its URL carries the token as a
-- query parameter), so both runs pay the same Lua and URL costs.
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  nthreads = tonumber(args[2])
  prefix = args[3]
  sep = args[4]
  index = id
  sent = 0
end

function request()
  local token = tokens[index]
  if token == nil then
    token = "exhausted"
  end
  index = index + nthreads
  sent = sent + 1
  local query = sep .. "CallSid=CA" .. id .. "x" .. sent .. "&To=%2B14155550123"
  return wrk.format("GET", prefix .. token .. query)
end
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server (tests/support/redisproc.py, as the tests start it); its URL."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.append(str(ROOT / "tests"))
    from support.redisproc import start_redis

    try:
        server = start_redis(workdir)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def gunicorn(store_url: str, workers: int, log: Path) -> Iterator[tuple[str, list[int]]]:
    """The base URL and the worker pids of a gunicorn serving the bench app."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEAPP_")}
    env.update(
        VOICEAPP_STORE_URL=store_url,
        VOICEAPP_SECRET_KEYS=SECRET,
        VOICEAPP_API_KEYS=API_KEY,
        VOICEAPP_DIALER="external",
        VOICEAPP_PUBLIC_URL=f"http://127.0.0.1:{port}",  # required in production
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--pythonpath",
                str(ROOT / "bench"),
                "--log-level",
                "warning",
                "bench_app:create_bench_app()",
            ],
            env=env,
            stdout=out,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/v1/health", proc)
        deadline = time.monotonic() + 30
        while len(children(proc.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # every worker booted
        yield base, children(proc.pid)
    finally:
        stop(proc)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def make_tokens(store_url: str, count: int, paths: list[Path]) -> None:
    """Create ``count`` PIN sessions per file in the server's store, as POST /v1/sessions
    would, and write their tokens to ``paths``.  For SQLite, checkpoint the WAL the
    creations left (that is their cost, not the session runs')."""
    import sqlite3

    from voiceapp.sessions import Sessions
    from voiceapp.stores import open_store
    from voiceapp.tokens import Signer

    store = open_store(store_url)
    sessions = Sessions(store, Signer([SECRET]))
    for path in paths:
        with path.open("w") as out:
            for _ in range(count):
                _, token, _ = sessions.create("pin", TO, {"pin": "8970", "repeat": 2}, ttl=3600)
                out.write(token + "\n")
    store.close()
    if store_url.startswith("sqlite:///"):
        db = sqlite3.connect(store_url[len("sqlite:///") :], timeout=30)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()


def wrk(
    url: str, args: argparse.Namespace, script: list[str] | None = None, duration: int = 0
) -> tuple[float, int, int]:
    """(requests/s, requests, non-2xx) of one wrk run."""
    duration = duration or args.duration
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", script[0], url, "--", *script[1:]]
    else:
        cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 60)
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    if errors:
        print(f"    wrk socket errors: {errors.group(1)}")
    return rps, total, int(bad.group(1)) if bad else 0


def check_document(base: str) -> None:
    """One real session through the API, to be sure the measured path serves the PIN."""
    created = requests.post(
        base + "/v1/sessions",
        json={"app": "pin", "to": TO, "variables": {"pin": "8970", "repeat": 2}},
        headers={"X-API-Key": API_KEY},
        timeout=10,
    )
    created.raise_for_status()
    body = requests.get(created.json()["url"], params={"CallSid": "CAcheck", "To": TO}, timeout=10)
    assert body.status_code == 200 and b"Your pin is 8 9 7 0" in body.content, body.text
    constant = requests.get(base + "/bench/constant", timeout=10)
    assert constant.status_code == 200


def breakdown(store_url: str, n: int = 1500) -> str:
    """Microseconds per stage of one session fetch, in this process (no HTTP server)."""
    import io
    import timeit

    from werkzeug.test import EnvironBuilder

    from voiceapp.apps import Templates
    from voiceapp.sessions import Sessions
    from voiceapp.stores import open_store
    from voiceapp.tokens import Signer

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_app import create_bench_app

    store = open_store(store_url)
    signer = Signer([SECRET])
    sessions = Sessions(store, signer)
    made = [
        sessions.create("pin", TO, {"pin": "8970", "repeat": 2}, ttl=3600) for _ in range(2 * n)
    ]
    templates = Templates()
    context = {"pin": "8970", "digits": "8 9 7 0", "repeat": 2}
    keys = iter(range(10**9))
    stages = {
        "token verify": lambda: signer.verify("voice", made[0][1]),
        "store get_session": lambda: store.get_session(made[0][0].id),
        "store claim": lambda: store.claim(f"bench:{next(keys)}", "CA1", b"x" * 300, 3600),
        "render + validate": lambda: templates.document("en", "pin.xml", context),
    }

    def us(fn: Any) -> float:
        """Microseconds per call: the best of 5 batches (the least disturbed by neighbours)."""
        batch = n // 5
        return min(timeit.repeat(fn, number=batch, repeat=5)) / batch * 1e6

    parts = [f"{name} {us(fn):.0f}" for name, fn in stages.items()]

    env = dict(os.environ)
    os.environ.update(
        VOICEAPP_STORE_URL=store_url, VOICEAPP_SECRET_KEYS=SECRET, VOICEAPP_DIALER="external"
    )
    try:
        app = create_bench_app()
    finally:
        os.environ.clear()
        os.environ.update(env)
    base = EnvironBuilder(path="/").get_environ()

    def call(path: str, query: str) -> None:
        environ = {**base, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO()}
        status: list[str] = []
        b"".join(app.wsgi_app(environ, lambda s, h, e=None: status.append(s)))  # type: ignore[arg-type]
        assert status[0].startswith("200"), status

    tokens = iter(made[n:])
    constant = us(lambda: call("/bench/constant", "t=x&CallSid=CA1&To=%2B14155550123"))
    session = us(lambda: call(f"/voice/{next(tokens)[1]}", "CallSid=CA1&To=%2B14155550123"))
    store.close()
    return (
        f"in-process us/request: constant view {constant:.0f}, session {session:.0f} "
        f"({', '.join(parts)})"
    )


def run_store(name: str, store_url: str, workdir: Path, args: argparse.Namespace) -> float:
    lua = workdir / "walk.lua"
    lua.write_text(LUA)
    ratios: list[float] = []
    cpu: dict[str, list[float]] = {"constant": [], "session": []}
    print(f"  {name} {breakdown(store_url)}")
    with gunicorn(store_url, args.workers, workdir / f"gunicorn-{name}.log") as (base, pids):
        check_document(base)
        files = [workdir / f"tokens-{name}-{i}.txt" for i in range(2)]
        warm = workdir / f"tokens-{name}-warm.txt"
        make_tokens(store_url, 3000, [warm])
        walk = [str(lua), "", str(args.threads)]

        def run(view: str, tokens: Path, duration: int = 0) -> tuple[float, int, int, float]:
            walk[1] = str(tokens)
            where = ["/voice/", "?"] if view == "session" else ["/bench/constant?t=", "&"]
            before = cpu_seconds(pids)
            rps, total, bad = wrk(base + "/", args, [*walk, *where], duration)
            per_request = (cpu_seconds(pids) - before) / max(total, 1) * 1e6
            if duration == 0:
                cpu[view].append(per_request)
            return rps, total, bad, per_request

        run("constant", warm, 1)  # warm both views up (imports, caches, connections)
        run("session", warm, 1)
        for round_no in range(1, args.rounds + 1):
            t0 = time.perf_counter()
            make_tokens(store_url, args.sessions, files)
            made = time.perf_counter() - t0
            load = os.getloadavg()[0]
            # constant, session, constant, session, constant: each session run is
            # compared with the mean of the constant runs around it, so a neighbour's
            # load shift counts less.
            constant = [run("constant", files[0])]
            for tokens in files:
                session = run("session", tokens)
                constant.append(run("constant", files[0]))
                plain = (constant[-2][0] + constant[-1][0]) / 2
                ratio = session[0] / plain
                ratios.append(ratio)
                print(
                    f"  {name} round {round_no}: constant {constant[-2][0]:5.0f} / "
                    f"{constant[-1][0]:5.0f} req/s | PIN session {session[0]:5.0f} req/s "
                    f"({session[1]} req, {session[2]} non-2xx) | ratio {ratio:.2f} | worker CPU "
                    f"{constant[-2][3]:.0f} / {session[3]:.0f} us/req | load {load:.1f}"
                )
                if session[1] > args.sessions:
                    print(f"    warning: {session[1]} requests > {args.sessions} tokens")
            bad = sum(c[2] for c in constant)
            if bad:
                print(f"    warning: {bad} non-2xx answers from the constant view")
            print(f"    [{2 * args.sessions} sessions made in {made:.1f} s]")
    median = statistics.median(ratios)
    plain_cpu, session_cpu = statistics.median(cpu["constant"]), statistics.median(cpu["session"])
    print(
        f"  {name}: median ratio {median:.2f} over {len(ratios)} session runs "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}); worker CPU per request: constant "
        f"{plain_cpu:.0f} us, session {session_cpu:.0f} us "
        f"(CPU ratio {plain_cpu / session_cpu:.2f})"
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--sessions", type=int, default=20000, help="tokens made per session run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds per store, two session runs each"
    )
    parser.add_argument("--store", choices=["sqlite", "redis", "both"], default="both")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (scripts/setup installs it)")
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s against gunicorn "
        f"-w {args.workers} on 127.0.0.1 ({os.cpu_count()} CPUs)"
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix="voiceapp-bench-") as tmp:
        workdir = Path(tmp)
        if args.store in ("sqlite", "both"):
            results["sqlite"] = run_store(
                "sqlite", f"sqlite:///{workdir / 'bench.db'}", workdir, args
            )
        if args.store in ("redis", "both"):
            with redis_server(workdir) as url:
                results["redis"] = run_store("redis", url, workdir, args)
    targets = {"sqlite": 0.7, "redis": 0.6}
    for name, ratio in results.items():
        verdict = "meets" if ratio >= targets[name] else "BELOW"
        print(f"{name}: session/constant = {ratio:.2f} ({verdict} target {targets[name]:.1f})")


if __name__ == "__main__":
    main()
