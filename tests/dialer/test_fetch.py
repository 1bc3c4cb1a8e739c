"""The dialer's HTTP client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

import pytest
from support.net import serving

from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer.callbacks import Deliverer
from voiceapp.dialer.clock import RealClock
from voiceapp.dialer.fetch import HttpClient
from voiceapp.dialer.interpreter import Environment, OutboundCall, place_call
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.errors import FetchError
from voiceapp.netguard import Allowlist, Guard
from voiceapp.settings_tables.retry import RetryPolicy
from voiceapp.signatures import HEADER, verify_request

SECRET = "a-test-signing-secret-of-some-length"


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


# A route answers (status, body) or None to drop the connection without answering.
Route = Callable[[Seen, int], tuple[int, bytes] | None]


@dataclass
class Server:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def handle_any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(
                self.command,
                parts.path,
                parse_qsl(parts.query),
                parse_qsl(body.decode()),
                dict(self.headers.items()),
                body,
            )
            state.seen.append(seen)
            n = state.hits.get(parts.path, 0) + 1
            state.hits[parts.path] = n
            route = state.routes.get(parts.path)
            answer = (404, b"not found") if route is None else route(seen, n)
            if answer is None:
                self.close_connection = True
                self.connection.close()
                return
            status, payload = answer
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://10.0.0.1/internal")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = handle_any

    with serving(Handler) as port:
        state.base = f"http://127.0.0.1:{port}"
        yield state


def allowing(base: str) -> Guard:
    """A guard that allows the test server's ``127.0.0.1:port`` (loopback is refused)."""
    return Guard(Allowlist.parse([base.removeprefix("http://")]))


PARAMS = [("CallSid", "CA1"), ("From", "+19499300360"), ("To", "+886912345678")]
PIN = b"<Response><Say>Your pin is 8 9 7 0</Say></Response>"


def test_post_is_form_encoded_and_signed(server: Server) -> None:
    server.routes["/voice"] = lambda seen, n: (200, PIN)
    client = HttpClient(secret=SECRET, guard=allowing(server.base))
    assert client.fetch("POST", server.base + "/voice", PARAMS) == PIN
    seen = server.seen[0]
    assert seen.method == "POST" and seen.form == PARAMS
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    verify_request(
        [SECRET], seen.headers[HEADER], "POST", server.base + "/voice", seen.body, now=time.time()
    )


def test_get_puts_params_in_the_query_and_signs_that_url(server: Server) -> None:
    server.routes["/voice"] = lambda seen, n: (200, PIN)
    client = HttpClient(secret=SECRET, guard=allowing(server.base))
    client.fetch("GET", server.base + "/voice?token=abc", [("Digits", "8970")])
    seen = server.seen[0]
    assert seen.query == [("token", "abc"), ("Digits", "8970")]
    url = server.base + "/voice?token=abc&Digits=8970"
    verify_request([SECRET], seen.headers[HEADER], "GET", url, b"", now=time.time())


def test_unsigned_without_a_secret(server: Server) -> None:
    server.routes["/voice"] = lambda seen, n: (200, PIN)
    HttpClient(guard=allowing(server.base)).fetch("POST", server.base + "/voice", PARAMS)
    assert HEADER not in server.seen[0].headers


@pytest.mark.parametrize(
    ("route", "code", "message"),
    [
        (lambda seen, n: (410, b"gone"), "fetch-status", "HTTP 410"),
        (lambda seen, n: (500, b"oops"), "fetch-status", "HTTP 500"),
        (lambda seen, n: (302, b""), "fetch-redirect", "10.0.0.1"),
        (lambda seen, n: (200, b"<Response/>" + b" " * 3000), "fetch-too-large", "2048 bytes"),
    ],
)
def test_fetch_errors(server: Server, route: Route, code: str, message: str) -> None:
    server.routes["/voice"] = route
    with pytest.raises(FetchError) as info:
        HttpClient(max_bytes=2048, guard=allowing(server.base)).fetch(
            "POST", server.base + "/voice", PARAMS
        )
    assert info.value.code == code
    assert message in info.value.message
    assert server.hits["/voice"] == 1  # answered requests are never retried


def test_one_retry_when_the_connection_fails(server: Server) -> None:
    server.routes["/flaky"] = lambda seen, n: None if n == 1 else (200, PIN)
    assert (
        HttpClient(guard=allowing(server.base)).fetch("POST", server.base + "/flaky", PARAMS) == PIN
    )
    assert server.hits["/flaky"] == 2


def test_gives_up_after_the_retry(server: Server) -> None:
    server.routes["/down"] = lambda seen, n: None
    with pytest.raises(FetchError) as info:
        HttpClient(guard=allowing(server.base)).fetch("POST", server.base + "/down", PARAMS)
    assert info.value.code == "fetch-connect"
    assert server.hits["/down"] == 2


def test_nothing_listening() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(FetchError) as info:
            guard = allowing(f"http://127.0.0.1:{port}")
            HttpClient(guard=guard).fetch("GET", f"http://127.0.0.1:{port}/", [])
    assert info.value.code == "fetch-connect"


def test_slow_answer_times_out(server: Server) -> None:
    def slow(seen: Seen, n: int) -> tuple[int, bytes]:
        time.sleep(1.0)
        return 200, PIN

    server.routes["/slow"] = slow
    started = time.perf_counter()
    with pytest.raises(FetchError) as info:
        HttpClient(total_timeout=0.3, guard=allowing(server.base)).fetch(
            "POST", server.base + "/slow", PARAMS
        )
    assert info.value.code == "fetch-timeout"
    assert time.perf_counter() - started < 1.0
    assert server.hits["/slow"] == 1


def test_callback_sender_returns_the_status_and_sends_the_event_id(server: Server) -> None:
    server.routes["/cb"] = lambda seen, n: (503 if n == 1 else 204, b"")
    clock = RealClock()
    client = HttpClient(secret=SECRET, guard=allowing(server.base))
    deliverer = Deliverer(clock, client.send_callback, RetryPolicy(first_delay=0.05), threaded=True)
    sub = Subscription(url=server.base + "/cb", method="GET")
    delivery = deliverer.submit(
        event_id="CA1:completed", key="CA1", subscription=sub, params=[("CallStatus", "busy")]
    )
    clock.run_until_idle()
    assert delivery.state == "delivered"
    assert [a.status for a in delivery.attempts] == [503, 204]
    assert {s.headers["X-Voiceapp-Event-Id"] for s in server.seen} == {"CA1:completed"}
    assert server.seen[-1].query == [("CallStatus", "busy")]


def test_a_pin_call_over_real_http_on_the_real_clock(server: Server) -> None:
    short = b"<Response><Say>Pin 8970</Say></Response>"  # 0.8 s of real speech
    server.routes["/voice/pin"] = lambda seen, n: (200, short) if n == 1 else (410, b"used")
    server.routes["/status"] = lambda seen, n: (200, b"")
    clock = RealClock()
    client = HttpClient(secret=SECRET, guard=allowing(server.base))
    env = Environment(
        clock,
        SimulatedNetwork(clock, {"ring_seconds": 0.05}),
        client.fetch,
        deliverer=Deliverer(clock, client.send_callback, threaded=True),
        fetch_in_thread=True,
    )
    sub = Subscription.from_fields(
        status_callback=server.base + "/status", status_callback_event="answered completed"
    )
    spec = OutboundCall(
        from_="+19499300360", to="+886912345678", url=server.base + "/voice/pin", subscription=sub
    )
    call = place_call(env, spec)
    clock.run_until_idle()
    assert call.a.leg.said() == ["Pin 8970"]
    fetched = server.seen[0]
    assert dict(fetched.form)["CallSid"] == call.sid
    statuses = [dict(s.form)["CallStatus"] for s in server.seen if s.path == "/status"]
    assert statuses == ["in-progress", "completed"]
    # the session URL is single use: a second fetch is refused with 410
    with pytest.raises(FetchError, match="HTTP 410"):
        client.fetch("POST", server.base + "/voice/pin", [])
