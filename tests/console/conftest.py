"""Fixtures for the console tests: the app on a real HTTP server with its dialer
(virtual clock, simulated network), a document site, a callback receiver.

The servers are started once per module (the browser tests share them); each test
places its own calls through the API.  ``idle_server`` has no dialer: its calls stay
queued until the test cancels them (the live refresh is watched on it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.e2e import NETWORK, HttpReceiver, Server, base_config
from support.sites import Site, serve_site

from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.settings_tables.network import NetworkConfig
from voiceapp.web import create_app

IVR_NUMBER = "+18005797676"  # support.e2e.IVR: connects when it hears 101

#: The documents of the site, by path under /doc/.
DOCUMENTS = {
    "bridge": (
        b'<?xml version="1.0" encoding="UTF-8"?><Response><Say>Connecting you now</Say>'
        b'<Gather numDigits="1" timeout="2"><Say>Press one</Say></Gather>'
        b'<Dial timeout="20"><Number sendDigits="ww101">' + IVR_NUMBER.encode() + b"</Number>"
        b"</Dial><Hangup/></Response>"
    ),
    "bad": (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n  <Say>Hello</Say>\n'
        b'  <Pause length="zero"/>\n</Response>\n'
    ),
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    """A callback receiver that refuses the first try (so a call shows a retried event)."""
    rec = HttpReceiver(fail_first=1).start()
    yield rec
    rec.stop()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve_site("site-secret", "site-callback-secret", documents=dict(DOCUMENTS)) as served:
        yield served


def _server(tmp: Path, allow: list[int]) -> Server:
    server = Server()
    config = base_config(tmp, [f"127.0.0.1:{p}" for p in (server.port, *allow)])
    server.start(create_app(config))
    return server


@pytest.fixture(scope="module")
def console_server(
    tmp_path_factory: pytest.TempPathFactory, receiver: HttpReceiver, site: Site
) -> Iterator[Server]:
    """voiceapp (TESTING: the console is on) on 127.0.0.1 with a started dialer."""
    site_port = int(site.base.rsplit(":", 1)[1])
    server = _server(tmp_path_factory.mktemp("console"), [receiver.port, site_port])
    clock = VirtualClock()
    server.start_dialer(clock, SimulatedNetwork(clock, NetworkConfig.from_dict(NETWORK)))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """voiceapp without a dialer: a call stays queued until it is canceled."""
    server = _server(tmp_path_factory.mktemp("console-idle"), [])
    yield server
    server.stop()
