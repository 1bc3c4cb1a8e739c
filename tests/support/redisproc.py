"""A throwaway ``redis-server`` (Debian's package) on 127.0.0.1, for the tests and benchmarks.

Imported by name (``from redisproc import ...``): pytest's default import mode puts
``tests/`` on ``sys.path`` for ``tests/conftest.py``; bench/bench_server.py adds it.
No persistence; the server's files go to a folder the caller owns.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from support.net import free_port


class RedisServer:
    """``redis-server`` on a free 127.0.0.1 port; :meth:`start` after :meth:`stop` starts it
    again on the same port (a store that goes away and comes back)."""

    def __init__(self, workdir: str | Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/setup installs it)")
        self.binary = binary
        self.workdir = str(workdir)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait (bounded) until it answers PING."""
        argv = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.workdir]
        argv += ["--save", "", "--appendonly", "no"]  # no persistence
        argv += ["--protected-mode", "yes", "--maxclients", "1000"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc = proc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"redis-server exited with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 10 s)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_redis(workdir: str | Path, attempts: int = 3) -> RedisServer:
    """A started :class:`RedisServer`; a free port can be taken between probe and bind, so
    up to ``attempts`` ports are tried."""
    last_error: RuntimeError | None = None
    for _attempt in range(attempts):
        server = RedisServer(workdir)
        try:
            server.start()
        except RuntimeError as exc:
            last_error = exc
            continue
        return server
    raise RuntimeError(f"could not start redis-server: {last_error}")
