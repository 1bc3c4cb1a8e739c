"""A call placed with the real twilio-python client, run by the bundled dialer: the app's
server receives Twilio's parameters and an X-Twilio-Signature keyed by the account's
AuthToken (checked with twilio-python's RequestValidator), as Twilio would send them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

import pytest
from support.e2e import AUTH, FROM, PIN_CALLEE, Server, finished
from support.net import serving
from support.servers import wait_for
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from voiceapp.dialer.worker import Dialer

ACCOUNT = "AC" + "7a" * 16
TOKEN = "4c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
DEPLOYMENT_TOKEN = "the-deployments-own-twilio-token"
HOLD = b"<Response><Say loop='0'>Please hold the line</Say></Response>"


@dataclass
class Request:
    method: str
    url: str  # as requested (query included)
    form: dict[str, str]
    signature: str


@dataclass
class App:
    """The user's voice app: TwiML at /voice, /hold and /next, status callbacks at /status."""

    base: str = ""
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if urlsplit(r.url).path == path]


@pytest.fixture
def app() -> Iterator[App]:
    state = App()
    pages = {
        "/voice": b"<Response><Say>Hello from the app</Say></Response>",
        "/hold": HOLD,
        "/next": b"<Response><Say>You are through</Say></Response>",
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = dict(parse_qsl(body, keep_blank_values=True))
            signature = self.headers.get("X-Twilio-Signature", "")
            with state.lock:
                state.requests.append(
                    Request(self.command, state.base + self.path, form, signature)
                )
            page = pages.get(urlsplit(self.path).path, b"")
            self.send_response(200 if page else 204)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        do_GET = do_POST = handle_any

    with serving(Handler) as port:
        state.base = f"http://127.0.0.1:{port}"
        yield state


def twilio_server(serve: Callable[..., Server], app: App) -> tuple[Server, Client]:
    port = int(app.base.rsplit(":", 1)[1])
    server = serve(
        allow=(port,), TWILIO_ACCOUNTS={ACCOUNT: TOKEN}, TWILIO_AUTH_TOKEN=DEPLOYMENT_TOKEN
    )
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = server.base
    return server, client


def test_a_twilio_client_call_gets_twilios_webhooks(
    serve: Callable[..., Server], dialer: Callable[..., Dialer], app: App
) -> None:
    server, client = twilio_server(serve, app)
    dialer(server)
    call = client.calls.create(
        to=PIN_CALLEE,
        from_=FROM,
        url=app.base + "/voice",
        status_callback=app.base + "/status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert finished(server, call.sid)["status"] == "completed"
    wait_for(lambda: len(app.of("/status")) == 4)
    (fetch,) = app.of("/voice")
    assert fetch.method == "POST"
    assert fetch.form["AccountSid"] == ACCOUNT and fetch.form["CallSid"] == call.sid
    assert fetch.form["ApiVersion"] == "2010-04-01" and fetch.form["Direction"] == "outbound-api"
    assert fetch.form["CallStatus"] == "in-progress" and fetch.form["Caller"] == FROM
    callbacks = app.of("/status")
    assert [r.form["CallStatus"] for r in callbacks] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [r.form["SequenceNumber"] for r in callbacks] == ["0", "1", "2", "3"]
    assert {r.form["CallbackSource"] for r in callbacks} == {"call-progress-events"}
    # every request is signed with the account's AuthToken, not the deployment's
    account, deployment = RequestValidator(TOKEN), RequestValidator(DEPLOYMENT_TOKEN)
    for request in [fetch, *callbacks]:
        assert account.validate(request.url, request.form, request.signature)
        assert not deployment.validate(request.url, request.form, request.signature)
    assert client.calls(call.sid).fetch().status == "completed"


def test_update_with_twiml_and_url_changes_the_running_call(
    serve: Callable[..., Server], dialer: Callable[..., Dialer], app: App
) -> None:
    server, client = twilio_server(serve, app)
    dialer(server, real=True)
    call = client.calls.create(to=PIN_CALLEE, from_=FROM, url=app.base + "/hold")
    wait_for(lambda: client.calls(call.sid).fetch().status == "in-progress")
    wait_for(lambda: app.of("/hold"))
    client.calls(call.sid).update(url=app.base + "/next", method="POST")
    wait_for(lambda: app.of("/next"))
    (changed,) = app.of("/next")
    assert changed.form["AccountSid"] == ACCOUNT and changed.form["CallSid"] == call.sid
    assert RequestValidator(TOKEN).validate(changed.url, changed.form, changed.signature)
    assert finished(server, call.sid)["status"] == "completed"


def test_require_signature_twilio_accepts_an_accounts_call_to_a_session_url(
    serve: Callable[..., Server], dialer: Callable[..., Dialer], app: App
) -> None:
    """A Twilio API call fetching one of the server's own session URLs is signed with its
    account's AuthToken; the server checks it with that token (not TWILIO_AUTH_TOKEN)."""
    port = int(app.base.rsplit(":", 1)[1])
    server = serve(
        allow=(port,),
        REQUIRE_SIGNATURE="twilio",
        TWILIO_AUTH_TOKEN=DEPLOYMENT_TOKEN,
        TWILIO_ACCOUNTS={ACCOUNT: TOKEN},
    )
    dialer(server)
    session = server.post(
        "/v1/sessions", {"app": "pin", "to": PIN_CALLEE, "variables": {"pin": "8970"}}, AUTH
    )
    assert session.status_code == 201, session.text
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = server.base
    call = client.calls.create(to=PIN_CALLEE, from_=FROM, url=session.json()["url"])
    done = finished(server, call.sid)
    assert done["status"] == "completed" and done["error"] is None
    assert [row for row in done["trace"] if row["kind"] == "fetch-error"] == []
    assert any(row["kind"] == "say" for row in done["trace"])
