"""The console with Flask's test client: when it is served, login and its cookie, CSRF,
and that no page renders a secret (keys, PINs, secretKey, voice tokens, passwords)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from voiceapp.calls.records import trace_json
from voiceapp.config import load_settings
from voiceapp.web import create_app, runtime
from voiceapp.web.calls import call_service, shutdown

API_KEY = "console-test-api-key"
OTHER_KEY = "console-other-api-key"
FROM = "+19499300360"
STRONG = "FrMGWrjBQ73VwS5hYw84bjr6EI5E3ImAfL3ohGWaRrU"
STRONG_KEY = "Zt8xQ2mN5vR7bK3wL9pY4cH6dJ1fG0sAeU"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        config: dict[str, Any] = {
            "TESTING": True,
            "API_KEYS": [API_KEY, OTHER_KEY],
            "SECRET_KEYS": ["console-secret-key-0123"],
            "STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
            "DIALER": "external",
            "OUTBOUND_NUMBERS": {FROM: "active"},
            "DEFAULT_REGION": "TW",
            "URL_ALLOWLIST": ["127.0.0.1:9"],
        }
        config.update(settings)
        app = create_app(config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        shutdown(app)
        with app.app_context():
            runtime().store.close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def login_token(client: FlaskClient) -> str:
    page = client.get("/console/login")
    assert page.status_code == 200
    found = CSRF.search(page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def log_in(client: FlaskClient, key: str = API_KEY) -> str:
    """Log in; the session's CSRF token (read from a page's form)."""
    token = login_token(client)
    answer = client.post("/console/login", data={"csrf_token": token, "api_key": key})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    page = client.get("/console/lint")
    found = CSRF.search(page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


# -- CONSOLE -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "enabled"),
    [
        ({}, False),  # production: auto is off
        ({"DEBUG": True}, True),
        ({"TESTING": True}, True),
        ({"CONSOLE": "on"}, True),
        ({"TESTING": True, "CONSOLE": "off"}, False),
    ],
)
def test_console_setting(overrides: dict[str, Any], enabled: bool) -> None:
    settings, _ = load_settings(environ={}, overrides=overrides)
    assert settings.console_enabled is enabled


def test_the_console_is_not_served_when_off(make_app: Callable[..., Flask]) -> None:
    client = make_app(CONSOLE="off").test_client()
    assert client.get("/console/login").status_code == 404
    assert client.get("/console/calls").status_code == 404


def test_production_is_off_by_default_and_on_when_configured(tmp_path: Path) -> None:
    config = {
        "SECRET_KEYS": [STRONG],
        "API_KEYS": [STRONG_KEY],
        "DIALER": "external",
        "PUBLIC_URL": "https://voice.example.com",
    }
    off = create_app({**config, "STORE_URL": f"sqlite:///{tmp_path / 'a.db'}"})
    assert off.test_client().get("/console/login").status_code == 404
    on = create_app({**config, "CONSOLE": "on", "STORE_URL": f"sqlite:///{tmp_path / 'b.db'}"})
    client = on.test_client()
    token = login_token(client)
    answer = client.post("/console/login", data={"csrf_token": token, "api_key": STRONG_KEY})
    assert answer.status_code == 302
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    for made in (off, on):
        shutdown(made)
        with made.app_context():
            runtime().store.close()


# -- login -------------------------------------------------------------------------------------


def test_pages_redirect_to_login_without_a_session(app: Flask) -> None:
    client = app.test_client()
    for path in ("/console/calls", "/console/sessions", "/console/lint", "/console/digits"):
        answer = client.get(path)
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith("/console/login?next=" + path)


def test_login_sets_a_signed_httponly_strict_cookie_without_the_key(app: Flask) -> None:
    client = app.test_client()
    token = login_token(client)
    answer = client.post(
        "/console/login",
        data={"csrf_token": token, "api_key": API_KEY, "next": "/console/sessions"},
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/sessions"
    cookies = answer.headers.getlist("Set-Cookie")
    session = next(c for c in cookies if c.startswith("voiceapp_console="))
    assert "HttpOnly" in session and "SameSite=Strict" in session and "Path=/console" in session
    assert "Secure" not in session  # TESTING: plain http on 127.0.0.1
    assert API_KEY not in session
    assert client.get("/console/calls").status_code == 200


def test_login_refuses_a_wrong_key_and_an_open_redirect(app: Flask) -> None:
    client = app.test_client()
    token = login_token(client)
    answer = client.post("/console/login", data={"csrf_token": token, "api_key": "nope"})
    assert answer.status_code == 401
    assert "That API key is not valid." in answer.get_data(as_text=True)
    assert not any(c.startswith("voiceapp_console=") for c in answer.headers.getlist("Set-Cookie"))
    answer = client.post(
        "/console/login",
        data={"csrf_token": token, "api_key": API_KEY, "next": "https://evil.example/"},
    )
    assert answer.headers["Location"] == "/console/calls"


def test_login_without_its_csrf_token_is_refused(app: Flask) -> None:
    client = app.test_client()
    login_token(client)
    answer = client.post("/console/login", data={"api_key": API_KEY})
    assert answer.status_code == 403 and "console-csrf" in answer.get_data(as_text=True)
    answer = client.post("/console/login", data={"api_key": API_KEY, "csrf_token": "guess"})
    assert answer.status_code == 403


def test_a_tampered_cookie_or_a_removed_key_is_no_session(
    app: Flask, make_app: Callable[..., Flask]
) -> None:
    client = app.test_client()
    log_in(client, OTHER_KEY)
    cookie = client.get_cookie("voiceapp_console", path="/console")
    assert cookie is not None
    # the same secrets, but OTHER_KEY is no longer an API key: the session is over
    fewer = make_app(API_KEYS=[API_KEY]).test_client()
    fewer.set_cookie("voiceapp_console", cookie.value, path="/console")
    assert fewer.get("/console/calls").status_code == 302
    client.set_cookie("voiceapp_console", cookie.value[:-2] + "xx", path="/console")
    assert client.get("/console/calls").status_code == 302


def test_logout_needs_its_token_and_ends_the_session(app: Flask) -> None:
    client = app.test_client()
    csrf = log_in(client)
    assert client.post("/console/logout").status_code == 403
    answer = client.post("/console/logout", data={"csrf_token": csrf})
    assert answer.status_code == 302
    assert client.get("/console/calls").status_code == 302


def test_forms_need_the_sessions_csrf_token(app: Flask) -> None:
    client = app.test_client()
    csrf = log_in(client)
    refused = client.post("/console/lint", data={"document": "<Response/>"})
    assert refused.status_code == 403 and "console-csrf" in refused.get_data(as_text=True)
    other = app.test_client()
    other_csrf = log_in(other, OTHER_KEY)
    assert client.post("/console/lint", data={"csrf_token": other_csrf}).status_code == 403
    ok = client.post("/console/lint", data={"csrf_token": csrf, "document": "<Response/>"})
    assert ok.status_code == 200 and "No problem" in ok.get_data(as_text=True)


def test_pages_carry_security_headers(app: Flask) -> None:
    client = app.test_client()
    log_in(client)
    answer = client.get("/console/calls")
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"


# -- what is shown -----------------------------------------------------------------------------


def test_no_page_renders_a_secret(app: Flask) -> None:
    client = app.test_client()
    log_in(client)
    made = client.post(
        "/v1/calls",
        json={
            "from": FROM,
            "to": "0912345678",
            "app": "pin-verify",
            "variables": {"pin": "8970"},
            "statusCallback": "http://127.0.0.1:9/status",
            "secretKey": "receiver-secret",
        },
        headers={"X-API-Key": API_KEY},
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    sid = made.get_json()["sid"]
    store = call_service(app).store
    spec_url = store.require(sid).spec.url
    assert spec_url is not None
    token = spec_url.rpartition("/voice/")[2]
    step = "http://localhost/voice/step/" + "Ab1" * 12
    rows = [
        {"ms": 0, "leg": "a", "kind": "fetch", "detail": {"method": "POST", "url": spec_url}},
        {
            "ms": 40,
            "leg": "a",
            "kind": "document",
            "detail": {
                "url": spec_url,
                "verbs": ["Gather"],
                "body": f'<Response><Gather action="{step}" numDigits="4"/>'
                '<Dial><Sip password="hunter2">sip:a@b</Sip></Dial></Response>',
            },
        },
        *(
            {"ms": 1000 + i * 500, "leg": "a", "kind": "digit-heard", "detail": {"digit": d}}
            for i, d in enumerate("8970")
        ),
    ]
    # what a dialer writes is redacted already; these rows are raw, as a worst case
    store.append_trace(sid, [trace_json(r) for r in rows])
    store.add_event(
        sid,
        f"{sid}:initiated",
        leg_sid=sid,
        sequence=0,
        name="initiated",
        url="http://127.0.0.1:9/status",
        method="POST",
        params=[("CallSid", sid), ("apikey", "receiver-secret")],
    )
    pages = [f"/console/calls/{sid}", "/console/calls", "/console/sessions"]
    for path in pages:
        text = client.get(path).get_data(as_text=True)
        for secret in ("8970", API_KEY, "receiver-secret", token, "Ab1Ab1Ab1", "hunter2"):
            assert secret not in text, (path, secret)
    page = client.get(f"/console/calls/{sid}").get_data(as_text=True)
    assert "apikey" in page and "/voice/***" in page
    # the digits heard, one a row, are the PIN together: every one is masked
    assert page.count("digit heard: ***") == 8  # in the chart and in its table
    assert "digit heard: 8" not in page
    sessions = client.get("/console/sessions").get_data(as_text=True)
    assert "pin-verify" in sessions and "live" in sessions


def test_the_call_page_of_an_unknown_call_is_a_404_page(app: Flask) -> None:
    client = app.test_client()
    log_in(client)
    answer = client.get("/console/calls/CA" + "0" * 32)
    assert answer.status_code == 404 and "call-not-found" in answer.get_data(as_text=True)


def test_bad_filters_are_shown_with_their_code(app: Flask) -> None:
    client = app.test_client()
    log_in(client)
    answer = client.get("/console/calls?date=yesterday")
    assert answer.status_code == 422 and "invalid-time" in answer.get_data(as_text=True)
    answer = client.get("/console/calls?status=nope")
    assert answer.status_code == 422 and "invalid-choice" in answer.get_data(as_text=True)


def test_the_digits_wav_and_its_refusal(app: Flask) -> None:
    client = app.test_client()
    log_in(client)
    wav = client.get("/console/digits.wav?digits=1w2")
    assert wav.status_code == 200 and wav.mimetype == "audio/wav"
    assert wav.data[:4] == b"RIFF"
    bad = client.get("/console/digits.wav?digits=1x")
    assert bad.status_code == 422


def test_openapi_lists_the_console_as_html(app: Flask) -> None:
    spec = json.loads(app.test_client().get("/openapi.json").get_data(as_text=True))
    page = spec["paths"]["/console/calls/{sid}"]["get"]
    assert "text/html" in page["responses"]["200"]["content"]
    assert page["security"] == [{"console": []}]


def test_the_calls_list_pages_through_the_calls(app: Flask) -> None:
    client = app.test_client()
    log_in(client)
    for n in range(21):  # one queued call a number: 21 numbers
        made = client.post(
            "/v1/calls",
            json={"from": FROM, "to": f"09123456{n:02d}", "url": "http://127.0.0.1:9/doc"},
            headers={"X-API-Key": API_KEY},
        )
        assert made.status_code == 201, made.get_data(as_text=True)
    first = client.get("/console/calls").get_data(as_text=True)
    assert first.count('<tr>\n      <td><a href="/console/calls/CA') == 20
    assert "in flight: this list refreshes every 2 s" in first
    older = re.search(r'href="(/console/calls\?cursor=[^"]+)" rel="next"', first)
    assert older is not None
    second = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('<tr>\n      <td><a href="/console/calls/CA') == 1
    assert "Newest calls" in second and 'rel="next"' not in second
    # the list as its script fetches it: the table part alone
    part = client.get("/console/calls?partial=1").get_data(as_text=True)
    assert part.startswith('<section id="calls"') and 'data-live="1"' in part
