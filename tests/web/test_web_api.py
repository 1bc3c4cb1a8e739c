"""POST /v1/sessions: API keys, validation with the offending field, problem+json shapes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.clocks import Clock
from support.web import API_KEY, AUTH, TO, new_session

from voiceapp.web import runtime

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def session_rows(app: Flask) -> int:
    with app.app_context():
        path = runtime().store.path  # type: ignore[attr-defined]
    with sqlite3.connect(path) as db:
        count: int = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    return count


def assert_problem(
    response: Any, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    body = response.get_json(force=True)
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:voiceapp:problem:{code}"
    assert body["title"] and body["detail"]
    if field is not None:
        assert body["field"] == field
    return dict(body)


def test_create_returns_token_absolute_url_and_expiry(client: FlaskClient, clock: Clock) -> None:
    response = client.post(
        "/v1/sessions",
        json={"app": "pin", "to": TO, "variables": {"pin": "8970"}, "ttl": 120},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 201
    data = response.get_json()
    assert set(data) == {"token", "url", "expires_at"}
    assert data["url"] == f"http://localhost/voice/{data['token']}"
    expected = datetime.fromtimestamp(clock.now + 120, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["expires_at"] == expected


def test_public_url_makes_the_voice_url(make_app: Callable[..., Flask]) -> None:
    client = make_app(PUBLIC_URL="https://voice.example.com/base/").test_client()
    data = new_session(client)
    assert data["url"] == f"https://voice.example.com/base/voice/{data['token']}"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "api-key-missing"),
        ({"X-API-Key": "wrong"}, "api-key-invalid"),
        ({"Authorization": "Bearer wrong"}, "api-key-invalid"),
        ({"Authorization": f"Basic {API_KEY}"}, "api-key-missing"),
    ],
)
def test_missing_or_bad_api_key_is_401_and_creates_nothing(
    app: Flask, client: FlaskClient, headers: dict[str, str], code: str
) -> None:
    before = session_rows(app)
    response = client.post(
        "/v1/sessions", json={"app": "pin", "to": TO, "variables": {"pin": "8970"}}, headers=headers
    )
    assert_problem(response, 401, code, "Authorization")
    assert session_rows(app) == before


def test_no_configured_keys_means_the_api_is_closed(make_app: Callable[..., Flask]) -> None:
    client = make_app(API_KEYS=[]).test_client()
    response = client.post("/v1/sessions", json={}, headers=AUTH)
    assert_problem(response, 401, "api-key-invalid")


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [
        ({"app": "fax"}, 422, "unknown-app", "app"),
        ({"to": "not a number"}, 422, "phone-unparseable", "to"),
        ({"to": "0912345678"}, 422, "phone-no-region", "to"),
        ({"to": "+1415555012"}, 422, "phone-invalid", "to"),
        ({"variables": {"pin": "12"}}, 422, "invalid-pin", "variables.pin"),
        ({"variables": "8970"}, 422, "invalid-type", "variables"),
        ({"ttl": 0}, 422, "invalid-range", "ttl"),
        ({"ttl": "60"}, 422, "invalid-range", "ttl"),
        ({"ttl": 86401}, 422, "invalid-range", "ttl"),
        ({"app": "pin-verify", "ttl": 601}, 422, "invalid-range", "ttl"),
        ({"language": "fr"}, 422, "invalid-language", "language"),
        ({"colour": "red"}, 422, "unknown-field", "colour"),
        (
            {"app": "bridge", "variables": {"number": "+14155550100", "send_digits": "12x"}},
            422,
            "digits-bad-char",
            "variables.send_digits",
        ),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    app: Flask,
    client: FlaskClient,
    payload: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    body = {"app": "pin", "to": TO, "variables": {"pin": "8970"}, **payload}
    before = session_rows(app)
    problem = assert_problem(
        client.post("/v1/sessions", json=body, headers=AUTH), status, code, field
    )
    if code.startswith("digits"):
        assert problem["index"] == 2
    assert session_rows(app) == before


def test_body_must_be_a_json_object(client: FlaskClient) -> None:
    response = client.post("/v1/sessions", data="app=pin", headers=AUTH)
    assert_problem(response, 400, "invalid-content-type", "Content-Type")
    response = client.post(
        "/v1/sessions", data="[1, 2", content_type="application/json", headers=AUTH
    )
    assert_problem(response, 400, "invalid-json", "body")


def test_default_region_accepts_national_numbers(make_app: Callable[..., Flask]) -> None:
    client = make_app(DEFAULT_REGION="TW").test_client()
    data = new_session(client, to="0912345678")
    response = client.get(f"/voice/{data['token']}?CallSid=CA1&To=%2B886912345678")
    assert response.status_code == 200


def test_http_errors_are_problems_too(client: FlaskClient) -> None:
    response = client.get("/no/such/route")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    body = response.get_json(force=True)
    assert body["type"] == "about:blank" and body["status"] == 404 and body["title"] == "Not Found"
    response = client.get("/v1/sessions")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.get_json(force=True)["status"] == 405


def test_health(client: FlaskClient) -> None:
    assert client.get("/v1/health").get_json() == {"status": "ok"}


def test_proxy_fix_uses_the_forwarded_address(make_app: Callable[..., Flask]) -> None:
    client = make_app(PROXY_FIX=1).test_client()
    response = client.post(
        "/v1/sessions",
        json={"app": "pin", "to": TO, "variables": {"pin": "8970"}},
        headers={**AUTH, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "voice.example.org"},
    )
    assert response.status_code == 201
    assert response.get_json()["url"].startswith("https://voice.example.org/voice/")
    # without the setting the headers are not trusted
    plain = make_app().test_client()
    data = plain.post(
        "/v1/sessions",
        json={"app": "pin", "to": TO, "variables": {"pin": "8970"}},
        headers={**AUTH, "X-Forwarded-Host": "evil.example"},
    ).get_json()
    assert data["url"].startswith("http://localhost/voice/")
