"""Fixtures shared by every test directory.

``redis_server``: a real ``redis-server`` (Debian's package) on a free 127.0.0.1
port, no persistence, started once per test session and stopped at the end.  It
yields the server's URL, ``redis://127.0.0.1:<port>/0``.  Tests that need a clean
keyspace use their own key prefix or database number (0 to 15).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_redis(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer on port {port}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """Start a throwaway redis-server; yield its URL; stop it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (scripts/setup installs it)")
    workdir = tempfile.mkdtemp(prefix="voiceapp-redis-")
    last_error: Exception | None = None
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = free_port()
        proc = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
                "--protected-mode",
                "yes",
                "--maxclients",
                "1000",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_redis(port, proc, time.monotonic() + 10)
        except RuntimeError as exc:
            last_error = exc
            proc.kill()
            proc.wait(timeout=10)
            continue
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            shutil.rmtree(workdir, ignore_errors=True)
        return
    shutil.rmtree(workdir, ignore_errors=True)
    pytest.fail(f"could not start redis-server: {last_error}")


def _dialer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("voiceapp-dialer")}


@pytest.fixture(autouse=True)
def _no_leaked_dialer_threads() -> Iterator[None]:
    """Fail a test that leaves a dialer thread running: a stray thread holding a store
    lock can hang a later test that forks (and it would be a leak in real use too)."""
    before = _dialer_threads()
    yield
    deadline = time.monotonic() + 5.0
    leaked = _dialer_threads() - before
    while leaked and time.monotonic() < deadline:
        time.sleep(0.05)
        leaked = {t for t in leaked if t.is_alive()}
    if leaked:
        names = sorted(t.name for t in leaked)
        pytest.fail(f"dialer threads still running after the test: {names}")
