"""Fixtures shared by every test directory.

``redis_server``: a real ``redis-server`` (tests/support/redisproc.py) on a free 127.0.0.1
port, no persistence, started once per test session and stopped at the end.  It
yields the server's URL, ``redis://127.0.0.1:<port>/0``.  Tests that need a clean
keyspace use their own key prefix or database number (0 to 15).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest
from support.redisproc import start_redis

from voiceapp.dialer.clock import DialerLoop


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """Start a throwaway redis-server; yield its URL; stop it."""
    workdir = tempfile.mkdtemp(prefix="voiceapp-redis-")
    try:
        server = start_redis(workdir)
    except RuntimeError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(str(exc))
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


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


@pytest.fixture(autouse=True)
def _close_dialer_loops(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every dialer event loop a test made, so the tasks it left pending (a leg
    placed on a clock that never ran) end there, cancelled, not in the garbage collector."""
    made: list[DialerLoop] = []
    init = DialerLoop.__init__

    def record(self: DialerLoop, *, virtual: bool) -> None:
        init(self, virtual=virtual)
        made.append(self)

    monkeypatch.setattr(DialerLoop, "__init__", record)
    yield
    for loop in made:
        loop.close()
