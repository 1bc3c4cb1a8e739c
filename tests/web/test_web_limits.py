"""Issue 10 over HTTP: rate limits (429 + Retry-After) and Idempotency-Key on
``POST /v1/calls`` and ``POST /v1/sessions``; the store is a real SQLite file or a
real redis-server."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.clocks import Clock
from support.web import API_KEY, AUTH

from voiceapp.config import load_settings
from voiceapp.limits import Idempotency, Ticket, fingerprint
from voiceapp.settings_tables.limits import RateLimit
from voiceapp.web import create_app, runtime
from voiceapp.web.calls import call_service, shutdown

FROM = "+19499300360"
CALLEE = "+886912345678"
OTHER_KEY = "other-api-key"


def call_body(to: str = CALLEE, pin: str = "8970") -> dict[str, Any]:
    return {"from": FROM, "to": to, "app": "pin", "variables": {"pin": pin}}


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    redis_url: str = request.getfixturevalue("redis_server")
    return f"{redis_url}?prefix=lim{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def make_calls_app(store_url: str, clock: Clock) -> Iterator[Callable[..., Flask]]:
    """``make(**settings)``: a TESTING app that can place calls (no dialer runs)."""
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        config: dict[str, Any] = {
            "TESTING": True,
            "API_KEYS": [API_KEY, OTHER_KEY],
            "SECRET_KEYS": ["test-secret-key"],
            "STORE_URL": store_url,
            "OUTBOUND_NUMBERS": {FROM: "active"},
            "DEFAULT_REGION": "TW",
            "DIALER": "external",
            "CLOCK": clock,
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


def problem(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/problem+json"
    data: dict[str, Any] = response.get_json()
    return data


def stored_call(app: Flask, sid: str) -> Any:
    with app.app_context():
        return call_service(app).store.get(sid)


# -- defaults ----------------------------------------------------------------------------------


def test_defaults_protect_a_deployment() -> None:
    settings, _ = load_settings(environ={})
    assert RateLimit(100, 1.0) == settings.RATE_LIMIT_PER_KEY
    assert RateLimit(10, 60.0) == settings.RATE_LIMIT_PER_DESTINATION
    assert settings.IDEMPOTENCY_TTL == 86400


def test_the_default_limit_stops_the_eleventh_call_to_a_number_in_a_minute(
    make_calls_app: Callable[..., Flask], clock: Clock
) -> None:
    clock.now = 1_800_000_000.0 - 1_800_000_000.0 % 60  # the start of a minute
    app = make_calls_app()
    client = app.test_client()
    for _ in range(10):
        created = client.post("/v1/calls", json=call_body(), headers=AUTH)
        assert created.status_code == 201, created.get_json()
        client.post(f"/v1/calls/{created.get_json()['sid']}/cancel", headers=AUTH)
        clock.advance(1)
    refused = client.post("/v1/calls", json=call_body(), headers=AUTH)
    assert refused.status_code == 429
    body = problem(refused)
    assert (body["code"], body["field"]) == ("rate-limited", "to")
    assert refused.headers["Retry-After"] == "50" and body["retryAfter"] == 50
    assert CALLEE in body["detail"]
    assert (
        client.post("/v1/calls", json=call_body("+886912000111"), headers=AUTH).status_code == 201
    )


# -- rate limits -------------------------------------------------------------------------------


def test_per_key_limit_covers_calls_and_sessions(
    make_calls_app: Callable[..., Flask], clock: Clock
) -> None:
    clock.now = 1_800_000_000.0
    app = make_calls_app(RATE_LIMIT_PER_KEY="3/10s", RATE_LIMIT_PER_DESTINATION="")
    client = app.test_client()
    for i in range(2):
        assert (
            client.post("/v1/calls", json=call_body(f"+88691200011{i}"), headers=AUTH).status_code
            == 201
        )
    session = {"app": "pin", "to": CALLEE, "variables": {"pin": "8970"}}
    assert client.post("/v1/sessions", json=session, headers=AUTH).status_code == 201
    clock.advance(2.5)
    for path, body in (("/v1/calls", call_body("+886912000119")), ("/v1/sessions", session)):
        refused = client.post(path, json=body, headers=AUTH)
        assert refused.status_code == 429, path
        data = problem(refused)
        assert (data["code"], data["field"], data["status"]) == (
            "rate-limited",
            "Authorization",
            429,
        )
        assert refused.headers["Retry-After"] == "8"
        assert API_KEY not in refused.get_data(as_text=True)
    # nothing was queued for the refused call
    with app.app_context():
        store = call_service(app).store
        assert store.take("w", 60) is not None and store.take("w", 60) is not None
        assert store.take("w", 60) is None
    # another API key has its own budget; the next window starts afresh
    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    assert client.post("/v1/sessions", json=session, headers=other).status_code == 201
    clock.advance(7.5)
    assert client.post("/v1/sessions", json=session, headers=AUTH).status_code == 201


def test_per_destination_limit(make_calls_app: Callable[..., Flask], clock: Clock) -> None:
    clock.now = 1_800_000_000.0
    app = make_calls_app(RATE_LIMIT_PER_KEY="", RATE_LIMIT_PER_DESTINATION="2/60s")
    client = app.test_client()
    for _ in range(2):
        created = client.post("/v1/calls", json=call_body(), headers=AUTH)
        assert created.status_code == 201
        client.post(f"/v1/calls/{created.get_json()['sid']}/cancel", headers=AUTH)
    national = call_body("0912345678")  # the same number written nationally: counted alike
    refused = client.post("/v1/calls", json=national, headers=AUTH)
    assert refused.status_code == 429
    assert problem(refused)["field"] == "to" and refused.headers["Retry-After"] == "60"
    # a form body is limited the same way
    fields = {"from": FROM, "to": CALLEE, "app": "pin", "variables": '{"pin": "8970"}'}
    assert client.post("/v1/calls", data=fields, headers=AUTH).status_code == 429


def test_limits_off(make_calls_app: Callable[..., Flask], clock: Clock) -> None:
    app = make_calls_app(RATE_LIMIT_PER_KEY="", RATE_LIMIT_PER_DESTINATION="")
    client = app.test_client()
    for _ in range(15):
        created = client.post("/v1/calls", json=call_body(), headers=AUTH)
        assert created.status_code == 201
        client.post(f"/v1/calls/{created.get_json()['sid']}/cancel", headers=AUTH)


# -- Idempotency-Key ---------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_response(
    make_calls_app: Callable[..., Flask],
) -> None:
    app = make_calls_app()
    client = app.test_client()
    headers = {**AUTH, "Idempotency-Key": "order-42"}
    first = client.post("/v1/calls", json=call_body(), headers=headers)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    sid = first.get_json()["sid"]
    # the same body again (its keys in another order): the first answer, not a 409 busy
    reordered = json.dumps({"variables": {"pin": "8970"}, "app": "pin", "to": CALLEE, "from": FROM})
    again = client.post(
        "/v1/calls", data=reordered, content_type="application/json", headers=headers
    )
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert stored_call(app, sid) is not None
    # without the key the same request is a new one: the number is busy
    busy = client.post("/v1/calls", json=call_body(), headers=AUTH)
    assert busy.status_code == 409 and problem(busy)["code"] == "call-to-busy"


def test_same_key_other_body_is_422(make_calls_app: Callable[..., Flask]) -> None:
    client = make_calls_app().test_client()
    headers = {**AUTH, "Idempotency-Key": "order-43"}
    assert client.post("/v1/calls", json=call_body(), headers=headers).status_code == 201
    other = client.post("/v1/calls", json=call_body(pin="1234"), headers=headers)
    assert other.status_code == 422
    body = problem(other)
    assert (body["code"], body["field"]) == ("idempotency-key-reused", "Idempotency-Key")
    # the same key on another route is another request too
    session = {"app": "pin", "to": CALLEE, "variables": {"pin": "8970"}}
    assert client.post("/v1/sessions", json=session, headers=headers).status_code == 422
    # keys are per API key: another key may use the same Idempotency-Key
    other_key = {"X-API-Key": OTHER_KEY, "Idempotency-Key": "order-43"}
    assert client.post("/v1/sessions", json=session, headers=other_key).status_code == 201


def test_a_key_in_flight_is_409(make_calls_app: Callable[..., Flask]) -> None:
    app = make_calls_app()
    client = app.test_client()
    body = call_body()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    with app.app_context():  # another worker is running this very request
        service = Idempotency(runtime().store, 86400)
        taken = service.begin(API_KEY, "order-44", fingerprint("POST", "/v1/calls", canonical))
    assert isinstance(taken, Ticket)
    headers = {**AUTH, "Idempotency-Key": "order-44"}
    busy = client.post("/v1/calls", json=body, headers=headers)
    assert busy.status_code == 409
    data = problem(busy)
    assert (data["code"], data["field"]) == ("idempotency-in-flight", "Idempotency-Key")
    with app.app_context():  # it gave up (a 5xx): the key is free for a retry
        Idempotency(runtime().store, 86400).release(taken)
    assert client.post("/v1/calls", json=body, headers=headers).status_code == 201


def test_a_refused_request_is_replayed_but_a_rate_limited_one_is_not(
    make_calls_app: Callable[..., Flask], clock: Clock
) -> None:
    clock.now = 1_800_000_000.0
    app = make_calls_app(RATE_LIMIT_PER_KEY="2/60s")
    client = app.test_client()
    bad = {**call_body(), "senddigits": "12x"}
    headers = {**AUTH, "Idempotency-Key": "bad-1"}
    first = client.post("/v1/calls", json=bad, headers=headers)
    assert first.status_code == 422 and "Idempotent-Replayed" not in first.headers
    again = client.post("/v1/calls", json=bad, headers=headers)  # not counted: a replay
    assert again.status_code == 422 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers["Content-Type"] == "application/problem+json"
    assert (
        client.post("/v1/calls", json=call_body("+886912000111"), headers=AUTH).status_code == 201
    )
    retry = {**AUTH, "Idempotency-Key": "later-1"}
    limited = client.post("/v1/calls", json=call_body(), headers=retry)
    assert limited.status_code == 429 and "Idempotent-Replayed" not in limited.headers
    clock.advance(60)
    done = client.post("/v1/calls", json=call_body(), headers=retry)  # runs anew
    assert done.status_code == 201 and "Idempotent-Replayed" not in done.headers


@pytest.mark.parametrize("bad", ["", "has space", "x" * 256, "ключ"])
def test_a_malformed_key_is_400(make_calls_app: Callable[..., Flask], bad: str) -> None:
    client = make_calls_app().test_client()
    response = client.post("/v1/calls", json=call_body(), headers={**AUTH, "Idempotency-Key": bad})
    assert response.status_code == 400
    body = problem(response)
    assert (body["code"], body["field"]) == ("idempotency-key-invalid", "Idempotency-Key")


def test_sessions_are_idempotent_too(make_calls_app: Callable[..., Flask]) -> None:
    client = make_calls_app().test_client()
    headers = {**AUTH, "Idempotency-Key": "session-1"}
    session = {"app": "pin", "to": CALLEE, "variables": {"pin": "8970"}}
    first = client.post("/v1/sessions", json=session, headers=headers)
    again = client.post("/v1/sessions", json=session, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json()["token"] == first.get_json()["token"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_concurrent_requests_with_one_key_create_one_session_and_one_call(
    make_calls_app: Callable[..., Flask],
) -> None:
    app = make_calls_app()
    threads = 8

    def race(path: str, body: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any], bool]]:
        barrier = threading.Barrier(threads)
        results: list[tuple[int, dict[str, Any], bool]] = []
        lock = threading.Lock()

        def post() -> None:
            client: FlaskClient = app.test_client()
            barrier.wait(timeout=10)
            response = client.post(path, json=body, headers={**AUTH, "Idempotency-Key": key})
            with lock:
                results.append(
                    (
                        response.status_code,
                        response.get_json(),
                        "Idempotent-Replayed" in response.headers,
                    )
                )

        workers = [threading.Thread(target=post) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        assert len(results) == threads
        return results

    for round_ in range(3):
        # sessions: without the key every thread would make its own
        results = race(
            "/v1/sessions",
            {"app": "pin", "to": CALLEE, "variables": {"pin": "8970"}},
            f"s-{round_}",
        )
        made = [body for status, body, replayed in results if status == 201 and not replayed]
        assert len(made) == 1
        tokens = {body["token"] for status, body, _ in results if status == 201}
        assert tokens == {made[0]["token"]}
        others = [body["code"] for status, body, _ in results if status != 201]
        assert set(others) <= {"idempotency-in-flight"}
        # calls: one created, the rest replay it or wait; none is refused as busy
        results = race("/v1/calls", call_body(f"+88691200020{round_}"), f"c-{round_}")
        created = [body for status, body, replayed in results if status == 201 and not replayed]
        assert len(created) == 1
        assert {body["sid"] for status, body, _ in results if status == 201} == {created[0]["sid"]}
        assert {body["code"] for status, body, _ in results if status != 201} <= {
            "idempotency-in-flight"
        }
