"""Fixtures: ``vendors(**settings)`` starts voiceapp with examples/vendors.toml (plus
``settings``: a SQLite store in tmp, the external dialer) on a real HTTP server;
``dial(server)`` starts that server's dialer (virtual clock, simulated network of the
config).  Everything started is stopped at the end of the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.compat import VENDORS, Server

from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.worker import Dialer
from voiceapp.web import create_app


@pytest.fixture
def vendors(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(**settings: Any) -> Server:
        server = Server()
        servers.append(server)
        config: dict[str, Any] = {
            "TESTING": True,
            "STORE_URL": f"sqlite:///{tmp_path / f'voiceapp-{len(servers)}.db'}",
            "DIALER": "external",
            "PUBLIC_URL": server.base,  # session URLs name this server (and it is allowed)
        }
        config.update(settings)
        server.start(create_app(config, config_file=VENDORS))
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def dial() -> Callable[[Server], Dialer]:
    def make(server: Server) -> Dialer:
        # virtual time from now: the call's times are then near the store's clock
        return server.start_dialer(VirtualClock(start=datetime.now(UTC)))

    return make
