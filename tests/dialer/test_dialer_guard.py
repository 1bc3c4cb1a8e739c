"""URLs inside fetched documents go through the same connect-time check as the call's.

The document site is allow-listed (its 127.0.0.1 port); every URL the documents
name points at another 127.0.0.1 port, which is not: a real listening socket there
must see no connection, and the call's trace and stored events show the refusal.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.sites import Site, serve_site

from voiceapp.calls.records import CallSpec
from voiceapp.config import load_settings
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.worker import Dialer
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore

SECRET = "guard-test-token-key-0001"  # tokens only: it signs no request
FETCH_SECRET = "guard-test-fetch-key-0001"
CALLBACK_SECRET = "guard-test-callback-key-0001"
CALLER = "+19499300360"
CALLEE = "+886912345678"
AGENT = "+18005797676"


class Trap:
    """A socket listening on 127.0.0.1 that accepts nothing (a connection would wait)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def connections_waiting(self) -> bool:
        return bool(select.select([self.sock], [], [], 0.1)[0])


@pytest.fixture
def trap() -> Iterator[Trap]:
    listener = Trap()
    yield listener
    listener.sock.close()


def documents(trap: Trap) -> dict[str, bytes]:
    t = trap.port
    return {
        "redirect": f"<Response><Redirect>http://127.0.0.1:{t}/r</Redirect></Response>".encode(),
        # a relative (scheme-relative) action: resolved against the allowed site's URL,
        # it names another host:port
        "gather": (
            f'<Response><Gather action="//127.0.0.1:{t}/g" actionOnEmptyResult="true"'
            ' timeout="1"><Say>Enter</Say></Gather></Response>'
        ).encode(),
        "record": (
            f'<Response><Record action="http://127.0.0.1:{t}/rec" maxLength="2"'
            ' timeout="1"/></Response>'
        ).encode(),
        "dial": (
            f'<Response><Dial action="http://[::ffff:127.0.0.1]:{t}/d" timeout="10">'
            f'<Number url="http://127.0.0.1:{t}/whisper"'
            f' statusCallback="http://127.0.0.1:{t}/cb"'
            f' statusCallbackEvent="initiated ringing answered completed">{AGENT}</Number>'
            "</Dial></Response>"
        ).encode(),
        # the site is allowed; another spelling of the same address is not
        "spelled": f"<Response><Redirect>http://2130706433:{t}/r</Redirect></Response>".encode(),
    }


@pytest.fixture
def site(trap: Trap) -> Iterator[Site]:
    with serve_site(FETCH_SECRET, CALLBACK_SECRET, documents=documents(trap)) as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CallStore]:
    calls = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}")
    yield calls
    calls.close()


def dialer(store: CallStore, site: Site) -> Dialer:
    settings, _ = load_settings(
        environ={},
        overrides={
            "TESTING": True,
            "SECRET_KEYS": [SECRET],
            "SIGNATURE_SECRETS": [FETCH_SECRET],
            "CALLBACK_SECRETS": [CALLBACK_SECRET],
            "URL_ALLOWLIST": [site.base.removeprefix("http://")],
            "NETWORK": {
                "default": {"rings": 1, "hangup_after": 20},
                "numbers": {AGENT: {"rings": 1, "hangup_after": 3}},
            },
            "CALLBACK_RETRY": {"attempts": 5, "first_delay": 1.0},
        },
    )
    return Dialer(settings, store, clock=VirtualClock(), worker_id="w-guard")


@pytest.mark.parametrize(
    ("doc", "blocked"),
    [
        ("redirect", ["/r"]),
        ("gather", ["/g"]),
        ("record", ["/rec"]),
        ("dial", ["/whisper", "/d"]),
        ("spelled", ["/r"]),
    ],
)
def test_urls_in_documents_are_refused_at_connect(
    store: CallStore, site: Site, trap: Trap, doc: str, blocked: list[str]
) -> None:
    sid = f"CAguard{doc}"
    store.create(
        CallSpec(
            sid=sid,
            from_=CALLER,
            to=CALLEE,
            url=site.url(f"/doc/{doc}"),
            status_callback=site.url("/cb"),
            status_callback_events=("completed",),
        )
    )
    worker = dialer(store, site)
    try:
        assert worker.run_until_idle() == 1
        trace = worker.trace(sid)
    finally:
        worker.stop()
    assert trace is not None
    assert site.fetches == {sid: 1}  # the allowed document, once
    errors = trace.of("fetch-error")
    assert [e.detail["code"] for e in errors] == ["fetch-blocked"] * len(blocked)
    assert [e.detail["url"].rsplit("/", 1)[1] for e in errors] == [p[1:] for p in blocked]
    assert not trap.connections_waiting()
    record = store.require(sid)
    assert record.status == "completed"
    # the call's own callback (allowed site) was delivered
    assert site.accepted_events(sid) == ["completed"]
    if doc == "dial":
        # the b-leg reports to <Number statusCallback>: every event stored, each refused
        # on its first attempt and not retried
        b_events = [e for e in record.events if e.leg_sid != sid]
        assert [e.name for e in b_events] == ["initiated", "ringing", "answered", "completed"]
        for event in b_events:
            assert event.state == "failed"
            assert len(event.attempts) == 1
            assert (event.attempts[0].error or "").startswith("fetch-blocked: ")
