"""X-Twilio-Signature and Twilio's connection overrides, against a real HTTP server on
127.0.0.1; signatures are checked with twilio-python's own RequestValidator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

import pytest
from support.net import serving
from twilio.request_validator import RequestValidator

from voiceapp.dialer.callbacks import CallbackRequest
from voiceapp.dialer.fetch import Connection, HttpClient, split_overrides
from voiceapp.errors import FetchError
from voiceapp.netguard import Allowlist, Guard
from voiceapp.signatures import TWILIO_HEADER

ACCOUNT = "AC" + "1" * 32
ACCOUNT_TOKEN = "the-accounts-auth-token"
DEPLOYMENT_TOKEN = "the-deployments-twilio-auth-token"
PIN = b"<Response><Say>Your pin is 8 9 7 0</Say></Response>"
SEED_PARAMS = [("CallSid", "CA1"), ("From", "+19499300360"), ("To", "+886912345678")]
TWILIO_PARAMS = [*SEED_PARAMS, ("AccountSid", ACCOUNT), ("ApiVersion", "2010-04-01")]


@dataclass
class Seen:
    method: str
    path: str  # with the query, as sent
    form: dict[str, str]
    headers: dict[str, str]


#: A route: (status, body) for the n-th request to its path, after ``delay`` seconds.
Route = Callable[[int], tuple[int, bytes]]


@dataclass
class Server:
    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    delay: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def handle_any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
            state.seen.append(Seen(self.command, self.path, form, dict(self.headers.items())))
            n = state.hits[parts.path] = state.hits.get(parts.path, 0) + 1
            route = state.routes.get(parts.path)
            status, payload = (404, b"not found") if route is None else route(n)
            time.sleep(state.delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a read timeout)

        do_GET = do_POST = handle_any

    with serving(Handler) as port:
        state.base = f"http://127.0.0.1:{port}"
        yield state


def token_for(account_sid: str | None) -> str | None:
    """The worker's rule: the account's AuthToken, else the deployment's TWILIO_AUTH_TOKEN."""
    return ACCOUNT_TOKEN if account_sid == ACCOUNT else DEPLOYMENT_TOKEN


def client(server: Server, callback_secret: str | None = None) -> HttpClient:
    guard = Guard(Allowlist.parse([server.base.removeprefix("http://")]))
    return HttpClient(
        secret="fetch-secret",
        callback_secret=callback_secret,
        guard=guard,
        twilio_token=token_for,
    )


def test_post_fetch_of_an_account_is_signed_with_its_auth_token(server: Server) -> None:
    server.routes["/voice"] = lambda n: (200, PIN)
    assert client(server).fetch("POST", server.base + "/voice?x=1", TWILIO_PARAMS) == PIN
    seen = server.seen[0]
    signature = seen.headers[TWILIO_HEADER]
    url = server.base + seen.path
    assert RequestValidator(ACCOUNT_TOKEN).validate(url, seen.form, signature)
    assert not RequestValidator(DEPLOYMENT_TOKEN).validate(url, seen.form, signature)
    assert "X-Voiceapp-Signature" in seen.headers  # voiceapp's own stays


def test_get_fetch_without_account_is_signed_with_the_deployment_token(server: Server) -> None:
    server.routes["/voice"] = lambda n: (200, PIN)
    client(server).fetch("GET", server.base + "/voice", SEED_PARAMS)
    seen = server.seen[0]
    assert "CallSid=CA1" in seen.path
    url = server.base + seen.path
    assert RequestValidator(DEPLOYMENT_TOKEN).validate(url, {}, seen.headers[TWILIO_HEADER])


def test_no_token_no_twilio_signature(server: Server) -> None:
    server.routes["/voice"] = lambda n: (200, PIN)
    guard = Guard(Allowlist.parse([server.base.removeprefix("http://")]))
    HttpClient(guard=guard, twilio_token=lambda sid: None).fetch(
        "POST", server.base + "/voice", SEED_PARAMS
    )
    assert TWILIO_HEADER not in server.seen[0].headers


def test_callbacks_are_signed_too(server: Server) -> None:
    server.routes["/cb"] = lambda n: (204, b"")
    request = CallbackRequest(
        "CA1:completed",
        "POST",
        server.base + "/cb?token=123456#rc=0",
        (*TWILIO_PARAMS, ("CallStatus", "completed")),
        {"X-Voiceapp-Event-Id": "CA1:completed"},
    )
    assert client(server, callback_secret="cb-secret").send_callback(request) == 204
    seen = server.seen[0]
    assert seen.path == "/cb?token=123456"  # the fragment is never sent
    url = server.base + seen.path
    assert RequestValidator(ACCOUNT_TOKEN).validate(url, seen.form, seen.headers[TWILIO_HEADER])


def test_the_fragment_is_neither_sent_nor_signed(server: Server) -> None:
    server.routes["/voice"] = lambda n: (200, PIN)
    client(server).fetch("POST", server.base + "/voice#ct=2000&rt=3000&e=dublin", TWILIO_PARAMS)
    seen = server.seen[0]
    assert seen.path == "/voice"
    url = server.base + "/voice"
    assert RequestValidator(ACCOUNT_TOKEN).validate(url, seen.form, seen.headers[TWILIO_HEADER])


def test_retry_count_and_policy_from_the_fragment(server: Server) -> None:
    server.routes["/flaky"] = lambda n: (503, b"busy") if n <= 2 else (200, PIN)
    assert client(server).fetch("POST", server.base + "/flaky#rc=2&rp=5xx", SEED_PARAMS) == PIN
    assert server.hits["/flaky"] == 3


def test_by_default_a_5xx_is_not_retried(server: Server) -> None:
    server.routes["/flaky"] = lambda n: (503, b"busy")
    with pytest.raises(FetchError) as info:
        client(server).fetch("POST", server.base + "/flaky", SEED_PARAMS)
    assert (info.value.code, info.value.http_status) == ("fetch-status", 503)
    assert server.hits["/flaky"] == 1


def test_retries_stop_at_the_count(server: Server) -> None:
    server.routes["/down"] = lambda n: (500, b"down")
    with pytest.raises(FetchError):
        client(server).fetch("POST", server.base + "/down#rc=3&rp=all", SEED_PARAMS)
    assert server.hits["/down"] == 4


def test_read_timeout_from_the_fragment(server: Server) -> None:
    server.routes["/slow"] = lambda n: (200, PIN)
    server.delay = 0.6
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        client(server).fetch("POST", server.base + "/slow#rt=200", SEED_PARAMS)
    assert info.value.code == "fetch-timeout"
    assert time.monotonic() - started < 0.55
    assert server.hits["/slow"] == 1  # a read timeout is retried only when rp names rt


def test_read_timeouts_retried_when_rp_names_rt(server: Server) -> None:
    server.routes["/slow"] = lambda n: (200, PIN)
    server.delay = 0.4
    with pytest.raises(FetchError):
        client(server).fetch("POST", server.base + "/slow#rt=100&rc=1&rp=rt", SEED_PARAMS)
    assert server.hits["/slow"] == 2


@pytest.mark.parametrize(
    ("fragment", "field"),
    [("ct=50", "ct"), ("rt=15001", "rt"), ("rc=6", "rc"), ("tt=x", "tt"), ("rp=3xx", "rp")],
)
def test_bad_overrides_are_refused_with_their_key(fragment: str, field: str) -> None:
    with pytest.raises(FetchError) as info:
        split_overrides("https://app.example/voice#" + fragment, Connection(5, 15, 15, 1))
    assert (info.value.code, info.value.field) == ("fetch-override", field)


def test_overrides_parse_and_anchors_are_ignored() -> None:
    defaults = Connection(5, 15, 15, 1)
    url, connection = split_overrides(
        "https://app.example/v?a=1#ct=1000&rt=2000&tt=9000&rc=3&rp=4xx,ct&sni=y", defaults
    )
    assert url == "https://app.example/v?a=1"
    assert connection == Connection(1.0, 2.0, 9.0, 3, frozenset({"4xx", "ct"}))
    assert split_overrides("https://app.example/v#top", defaults) == (
        "https://app.example/v",
        defaults,
    )
    _, every = split_overrides("https://app.example/v#rp=all", defaults)
    assert every.retry_on == {"4xx", "5xx", "ct", "rt"}


def test_a_host_that_does_not_resolve_is_fetch_dns() -> None:
    guard = Guard(resolve=lambda host, port: [])
    with pytest.raises(FetchError) as info:
        HttpClient(guard=guard, connect_retries=0).fetch(
            "POST", "http://nowhere.example/voice", SEED_PARAMS
        )
    assert info.value.code == "fetch-dns"


def test_total_time_bounds_every_try(server: Server) -> None:
    server.routes["/slow"] = lambda n: (200, PIN)
    server.delay = 0.5
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        client(server).fetch("POST", server.base + "/slow#rt=400&tt=600&rc=5&rp=rt", SEED_PARAMS)
    assert info.value.code == "fetch-timeout"
    assert time.monotonic() - started < 1.2  # not six tries of 0.4 s
    assert 2 <= server.hits["/slow"] <= 3  # the later tries get what is left of the 0.6 s
