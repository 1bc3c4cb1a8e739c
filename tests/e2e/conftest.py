"""Fixtures for the end-to-end tests: the app on a real HTTP server, callback receivers.

``serve(**settings)`` starts ``create_app`` on a threaded werkzeug server on
127.0.0.1 (the SQLite store in tmp, the server's own port and every receiver's
port in ``URL_ALLOWLIST``) and returns the :class:`~support.e2e.Server`; everything
started is stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.e2e import NETWORK, HttpReceiver, Server, base_config

from voiceapp.dialer.clock import Clock, RealClock, VirtualClock
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.dialer.worker import Dialer
from voiceapp.settings_tables.network import NetworkConfig
from voiceapp.settings_tables.retry import RetryPolicy
from voiceapp.web import create_app


@pytest.fixture
def receiver() -> Iterator[Callable[..., HttpReceiver]]:
    """``receiver(fail_first=0)``: a started callback receiver (stopped at the end)."""
    started: list[HttpReceiver] = []

    def make(fail_first: int = 0) -> HttpReceiver:
        rec = HttpReceiver(fail_first=fail_first).start()
        started.append(rec)
        return rec

    yield make
    for rec in started:
        rec.stop()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(*, allow: tuple[int, ...] = (), **settings: Any) -> Server:
        server = Server()
        servers.append(server)
        ports = [server.port, *allow]
        config = base_config(tmp_path, [f"127.0.0.1:{p}" for p in ports])
        config.update(settings)
        app = create_app(config)
        server.start(app)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def dialer() -> Callable[..., Dialer]:
    """``dialer(server, policy=None, real=False)``: the server's dialer, started.

    It takes calls from the server's call store on a background thread; rings,
    waits and retry delays cost no real time, fetches and callbacks are real HTTP.
    ``real=True`` puts it on the real clock (for a call that must stay ringing a
    while).  ``shutdown`` (in ``serve``) stops it.
    """

    def make(server: Server, policy: RetryPolicy | None = None, *, real: bool = False) -> Dialer:
        clock: Clock = RealClock() if real else VirtualClock()
        network = SimulatedNetwork(clock, NetworkConfig.from_dict(NETWORK))
        return server.start_dialer(clock, network, policy)

    return make
