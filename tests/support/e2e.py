"""Real HTTP parts for the end-to-end tests: the app on a WSGI server (support.servers), a
callback receiver.

Everything listens on 127.0.0.1 (port 0, so the OS picks a free one) and every
``start`` has a ``stop``; the fixtures in conftest.py call both.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import requests

from support import servers
from support.servers import wait_for
from voiceapp.cli.call import settled

#: the ``voiceapp`` console script of this virtualenv
VOICEAPP = str(Path(sys.executable).with_name("voiceapp"))
API_KEY = "e2e-api-key"
AUTH = {"X-API-Key": API_KEY}
FROM = "+19499300360"  # an active outbound number in every test config
INACTIVE_FROM = "+19499300361"
PIN_CALLEE = "+886912345678"
IVR = "+18005797676"
BUSY = "+886223456789"
NO_ANSWER = "+886223456788"
FAILING = "+886223456787"
SLOW = "+886912000111"  # rings a long time: a call that stays queued/ringing

NETWORK: dict[str, Any] = {
    "ring_seconds": 1.0,
    "default": {"rings": 1},
    "numbers": {
        PIN_CALLEE: {"rings": 1},
        IVR: {"rings": 1, "hangup_after": 8, "ivr": {"expect": "101", "after": 2.0, "within": 6}},
        BUSY: {"rings": 1, "outcome": "busy"},
        NO_ANSWER: {"outcome": "no-answer"},
        FAILING: {"outcome": "fail"},
        SLOW: {"rings": 100},
        FROM: {"rings": 1, "hangup_after": 5},
    },
}


def clean_env() -> dict[str, str]:
    """This process's environment without ``VOICEAPP_*`` settings (the command's own decide)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VOICEAPP_")}


def base_config(tmp_path: Path, allow: list[str]) -> dict[str, Any]:
    return {
        "TESTING": True,
        "API_KEYS": [API_KEY],
        "SECRET_KEYS": ["e2e-secret-key-0123456789"],
        "STORE_URL": f"sqlite:///{tmp_path / 'voiceapp.db'}",
        "DEFAULT_REGION": "TW",
        "OUTBOUND_NUMBERS": {FROM: "active", INACTIVE_FROM: "inactive"},
        "URL_ALLOWLIST": allow,
        "DIALER": "external",
        # the callees the tests' dialer simulates: the deployment's own numbers, which the
        # destination policy lets this TW deployment call (the IVR is +1)
        "NETWORK": NETWORK,
    }


class Server(servers.Server):
    """voiceapp on 127.0.0.1 with the e2e API key (servers.Server)."""

    def __init__(self) -> None:
        super().__init__(AUTH)

    def post_call(self, **fields: Any) -> requests.Response:
        return self.post("/v1/calls", fields, AUTH)


@dataclass
class Received:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int  # what the receiver answered
    body: bytes = b""  # the raw body (to verify its signature)


@dataclass
class HttpReceiver:
    """A status-callback receiver: records every request; ``fail_first`` answers 503 first."""

    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/status"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                params = dict(parse_qsl(parts.query))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if body:
                    params.update(parse_qsl(body.decode()))
                with receiver.lock:
                    failed = sum(1 for r in receiver.received if r.status >= 500)
                    status = 503 if failed < receiver.fail_first else 204
                    receiver.received.append(
                        Received(self.command, parts.path, params, dict(self.headers), status, body)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = _handle
            do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(10)

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.status < 300]

    def events(self) -> list[tuple[str, str]]:
        """(CallSid, StatusCallbackEvent) of every delivered callback, in order."""
        return [(r.params["CallSid"], r.params["StatusCallbackEvent"]) for r in self.delivered()]


class Calls(Protocol):
    def call(self, sid: str) -> dict[str, Any]: ...


def finished(server: Calls, sid: str) -> dict[str, Any]:
    """Poll ``server.call(sid)`` until the call ended and its callbacks are settled (bounded)."""

    def done() -> dict[str, Any] | None:
        call = server.call(sid)
        return call if settled(call) else None

    result: dict[str, Any] = wait_for(done, timeout=30)
    return result


def problem(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.text
    data: dict[str, Any] = json.loads(response.text)
    return data


def statuses(call: dict[str, Any], leg: int = 0) -> list[str]:
    return [change["status"] for change in call["legs"][leg]["history"]]


def only(items: Iterable[Any]) -> Any:
    (item,) = list(items)
    return item
