"""voiceapp.flask: documents as views, str() as XML, guarded views, serve --app."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Blueprint, Flask
from flask import Response as FlaskResponse

from voiceapp import Response, VoiceResponse, parse
from voiceapp.document.model import heard_text
from voiceapp.flask import (
    VoiceApp,
    current_call,
    mount,
    step_url,
    voice_session,
    voice_step,
)
from voiceapp.signatures import twilio_signature
from voiceapp.stores.base import Session
from voiceapp.testing import PHONE_NUMBER, VoiceCall, new_session

API_KEY = "kit-test-api-key"
VOICEAPP = str(Path(sys.executable).with_name("voiceapp"))


def test_str_of_a_document_is_its_xml() -> None:
    r = Response()
    r.say("Hello").hangup()
    assert str(r) == r.to_xml().decode()
    assert str(r).startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert parse(str(r)) == r
    assert VoiceResponse is Response


@pytest.mark.parametrize(
    ("xml", "plain", "with_pauses"),
    [
        (
            "<Say>Your pin is <say-as interpret-as='digits'>8970</say-as></Say>",
            "Your pin is 8 9 7 0",
            "Your pin is 8 9 7 0",
        ),
        (
            "<Say>Call <say-as interpret-as='telephone'>5550100</say-as>.</Say>",
            "Call 5 5 5 0 1 0 0 .",
            "Call 5 5 5 0 1 0 0 .",
        ),
        (
            "<Say>Hello<break time='2s'/>there <sub alias='World Wide Web'>WWW</sub></Say>",
            "Hello there World Wide Web",
            "Hello [pause 2s] there World Wide Web",
        ),
        (
            "<Say><prosody rate='slow'>Code <say-as interpret-as='characters'>AB1</say-as>"
            "</prosody><break strength='strong'/></Say>",
            "Code A B 1",
            "Code A B 1 [pause 1s]",
        ),
        ("<Say>Year <say-as interpret-as='cardinal'>2026</say-as></Say>", "Year 2026", None),
    ],
)
def test_heard_text(xml: str, plain: str, with_pauses: str | None) -> None:
    say = parse(f"<Response>{xml}</Response>").elements[0]
    assert heard_text(say) == plain
    assert heard_text(say, pauses=True) == (with_pauses or plain)


def shop() -> Flask:
    app = Flask("shop")
    VoiceApp(app)

    @app.post("/doc")
    def doc() -> VoiceResponse:
        r = VoiceResponse()
        r.say("Hello")
        return r

    @app.post("/created")
    def created() -> Any:
        r = VoiceResponse()
        r.hangup()
        return r, 201, {"X-Shop": "yes"}

    @app.post("/plain")
    def plain() -> FlaskResponse:
        return FlaskResponse("not a document", mimetype="text/plain")

    return app


def test_a_view_returns_a_document() -> None:
    client = shop().test_client()
    got = client.post("/doc")
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert got.headers["Cache-Control"] == "no-store"
    expected = VoiceResponse()
    expected.say("Hello")
    assert got.data == expected.to_xml()  # the canonical bytes
    tupled = client.post("/created")
    assert tupled.status_code == 201 and tupled.headers["X-Shop"] == "yes"
    assert parse(tupled.data).elements[0].tag == "Hangup"
    assert client.post("/plain").data == b"not a document"  # flask.Response is untouched


def test_a_guarded_view_needs_a_runtime() -> None:
    app = Flask("bare")
    VoiceApp(app)

    @app.post("/v/<token>")
    @voice_session
    def view(session: Session) -> str:
        return "<Response/>"

    app.testing = True
    with pytest.raises(RuntimeError, match="needs VoiceApp"):
        app.test_client().post("/v/x")


def guarded_app(server: Flask) -> Flask:
    app = Flask("guarded")
    VoiceApp(app, server=server)

    @app.route("/ask/<token>", methods=["GET", "POST"])
    @voice_session
    def ask(session: Session) -> VoiceResponse:
        call = current_call()
        r = VoiceResponse()
        with r.gather(
            num_digits=len(session.variables["pin"]),
            action=step_url(session, "check", {"tries": 1}),
        ) as g:
            g.say(f"Hello {call.to}. Enter your code.")
        return r

    @app.route("/check/<token>", methods=["GET", "POST"])
    @voice_step
    def check(session: Session, data: dict[str, Any]) -> VoiceResponse:
        r = VoiceResponse()
        ok = current_call_digits() == session.variables["pin"]
        r.say(f"{'Right' if ok else 'Wrong'} on try {data['tries']} of step {data['step']}.")
        r.hangup()
        return r

    return app


def current_call_digits() -> str:
    from flask import request

    return request.values.get("Digits", "")


def test_guarded_views_with_a_step(
    make_server: Callable[..., Flask], voice_call: Callable[..., VoiceCall]
) -> None:
    server = make_server()
    app = guarded_app(server)
    url = new_session(server, "pin", {"pin": "1357"}, to=PHONE_NUMBER, api_key=API_KEY)
    token = url.rsplit("/", 1)[1]
    call = voice_call(app, f"/ask/{token}")
    call.hears(f"Hello {PHONE_NUMBER}. Enter your code").press("1357")
    call.hears("Right on try 1 of step check").ended_with("completed")
    assert call.requests[1].path.startswith("/check/")


def test_a_plus_sent_as_a_space_is_the_same_number(make_server: Callable[..., Flask]) -> None:
    server = make_server()
    app = guarded_app(server)
    for target, path in ((server, "/voice/"), (app, "/ask/")):
        url = new_session(server, "pin", {"pin": "1357"}, to=PHONE_NUMBER, api_key=API_KEY)
        token = url.rsplit("/", 1)[1]
        # an unencoded "+" in a form body arrives as a space
        body = f"CallSid=CA1&To={PHONE_NUMBER}&From={PHONE_NUMBER}"
        got = target.test_client().post(
            path + token, data=body, content_type="application/x-www-form-urlencoded"
        )
        assert got.status_code == 200, got.get_json()


def test_guarded_views_check_the_signature(
    make_server: Callable[..., Flask], voice_call: Callable[..., VoiceCall]
) -> None:
    server = make_server(REQUIRE_SIGNATURE="twilio", TWILIO_AUTH_TOKEN="kit-token")
    app = guarded_app(server)

    def token() -> str:
        url = new_session(server, "pin", {"pin": "1357"}, to=PHONE_NUMBER, api_key=API_KEY)
        return url.rsplit("/", 1)[1]

    unsigned = voice_call(app, f"/ask/{token()}")
    unsigned.hears("an application error has occurred")
    assert unsigned.requests[0].status == 403
    path = f"/ask/{token()}"
    client = app.test_client()
    params = {"CallSid": "CA1", "To": PHONE_NUMBER}
    good = twilio_signature(
        "kit-token", "http://localhost" + path, {"CallSid": ["CA1"], "To": [PHONE_NUMBER]}
    )
    bad = client.post(path, data=params, headers={"X-Twilio-Signature": "x" + good})
    assert bad.status_code == 403 and bad.get_json()["code"] == "signature-mismatch"
    assert client.post(path, data=params, headers={"X-Twilio-Signature": good}).status_code == 200
    signed = voice_call(app, f"/ask/{token()}", account_sid="AC" + "1" * 32, auth_token="kit-token")
    signed.hears("Enter your code").press("1357").hears("Right on try 1")


def test_a_blueprint_is_served_by_the_server(
    make_server: Callable[..., Flask], voice_call: Callable[..., VoiceCall]
) -> None:
    server = make_server()
    bp = Blueprint("extra", __name__)

    @bp.post("/extra/hello")
    def hello() -> VoiceResponse:
        r = VoiceResponse()
        r.say("Hello from the blueprint")
        return r

    both = mount(server, bp)
    assert both is server
    voice_call(both, "/extra/hello").hears("Hello from the blueprint").ended_with("completed")


def test_serve_with_a_user_app(tmp_path: Path) -> None:
    (tmp_path / "myshop.py").write_text(
        textwrap.dedent(
            """
            from flask import Flask, request
            from voiceapp.flask import VoiceApp, VoiceResponse

            app = Flask("myshop")
            VoiceApp(app)

            @app.post("/shop/voice")
            def voice():
                r = VoiceResponse()
                r.say("Welcome to my shop, " + request.form.get("To", "nobody"))
                return r
            """
        )
    )
    config = tmp_path / "voiceapp.toml"
    config.write_text(
        'secret_keys = ["serve-test-secret-DbkQk65pyX8kHns1L2X-XKs9wXU3"]\n'
        'callback_secrets = ["serve-test-callbacks-r_zAzaZUxRAD-5YN_jd5pMOhVZ"]\n'
        'api_keys = ["serve-test-api-key-_VwpqSC7L5zY2KiVzmOur8H8"]\n'
        f'store_url = "sqlite:///{tmp_path / "serve.db"}"\n'
        'dialer = "external"\n'
    )
    from support.net import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEAPP_")}
    proc = subprocess.Popen(
        [VOICEAPP, "serve", "--config", str(config), "--port", str(port), "--app", "myshop:app"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "voiceapp serve did not start"
            try:
                if requests.get(base + "/v1/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        got = requests.post(base + "/shop/voice", data={"To": PHONE_NUMBER}, timeout=10)
        assert got.status_code == 200
        assert got.headers["Content-Type"] == "text/xml; charset=utf-8"
        assert f"Welcome to my shop, {PHONE_NUMBER}" in got.text
        assert requests.get(base + "/openapi.json", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_serve_refuses_what_is_no_app(tmp_path: Path) -> None:
    (tmp_path / "notapp.py").write_text("app = 42\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEAPP_")}
    for spec, message in (
        ("notapp:app", "notapp:app is a int, not a Flask app or Blueprint"),
        ("nosuchmodule:app", "cannot import nosuchmodule:app"),
        ("notapp", "expected MODULE:OBJECT"),
    ):
        done = subprocess.run(
            [VOICEAPP, "serve", "--app", spec, "--port", "0"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
