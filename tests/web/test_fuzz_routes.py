"""Every route of the app, fuzzed in process: no 5xx, and every refusal in its shape.

Hypothesis sends near-valid requests (support.fuzz: the real field names with right and
wrong types, deep nesting, long strings, unicode, forms, raw bytes, wrong content types,
real / tampered / junk tokens, with the route's credentials and without) through the
Flask test client to ``create_app`` with examples/vendors.toml.  Each rule of the app's
``url_map`` runs its budget of examples (21,400 in all, plus 1,000 on the voice routes
with request signatures required), derandomized, so CI sees the same cases every run.
``TESTING`` propagates exceptions: a crash fails with its traceback instead of hiding
behind a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.compat import VENDORS
from support.fuzz import (
    ALLOWED,
    RULES,
    SIGNATURES,
    TWILIO_ACCOUNT,
    TWILIO_TOKEN,
    Post,
    Req,
    Seeds,
    check_answer,
    requests_for,
    routes,
    seed,
    vendor_of,
    voice_form,
)
from support.servers import close_app
from support.web import API_KEY
from werkzeug.routing import MapAdapter

from voiceapp.web import create_app

#: at least this many cases across the suite (the issue's CI budget)
TOTAL = 20_000
#: cases per signature mode
SIGNED = 500
SIGNATURE_HEADERS = ("X-Voiceapp-Signature", "X-Twilio-Signature")


@dataclass
class Fuzz:
    app: Flask
    client: FlaskClient
    seeds: Seeds
    adapter: MapAdapter


def client_post(client: FlaskClient) -> Post:
    def post(
        path: str, body: dict[str, Any] | None, form: dict[str, str] | None, headers: dict[str, str]
    ) -> tuple[int, str]:
        response = client.post(path, json=body, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    return post


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    tmp = tmp_path_factory.mktemp("fuzz")
    config = {
        "TESTING": True,
        "STORE_URL": f"sqlite:///{tmp / 'fuzz.db'}",
        "DIALER": "external",
        "URL_ALLOWLIST": [ALLOWED],
        "TWILIO_ACCOUNTS": {TWILIO_ACCOUNT: TWILIO_TOKEN},
    }
    app = create_app(config, config_file=VENDORS)
    client = app.test_client()
    try:
        yield Fuzz(app, client, seed(client_post(client)), app.url_map.bind("localhost"))
    finally:
        close_app(app)


def send(client: FlaskClient, req: Req) -> tuple[int, str, bytes]:
    response = client.open(
        req.path,
        method=req.method,
        headers=req.headers,
        data=req.body,
        query_string=req.query,
    )
    return response.status_code, response.content_type or "", response.get_data()


def test_every_route_of_the_app_has_a_strategy(fuzz: Fuzz) -> None:
    rules = [rule.rule for rule in fuzz.app.url_map.iter_rules()]
    # a rule string may stand twice (GET and POST /v1/calls are two rules)
    assert sorted(set(rules)) == sorted(RULES), (
        "a new route needs a strategy in tests/support/fuzz.py"
    )
    assert set(routes(fuzz.seeds)) == set(RULES)
    assert sum(budget for budget, _ in routes(fuzz.seeds).values()) >= TOTAL


@pytest.mark.timeout(600)
@pytest.mark.parametrize("rule", RULES)
def test_no_route_answers_5xx_and_every_refusal_has_its_shape(fuzz: Fuzz, rule: str) -> None:
    budget, strategy = routes(fuzz.seeds)[rule]
    seen = 0

    @settings(
        max_examples=budget,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(req=strategy())
    def run(req: Req) -> None:
        nonlocal seen
        seen += 1
        status, content_type, body = send(fuzz.client, req)
        check_answer(vendor_of(fuzz.adapter, req), req, status, content_type, body)

    run()
    assert seen >= budget


@pytest.mark.parametrize("mode", ["voiceapp", "twilio"])
def test_voice_routes_with_signatures_required_answer_no_5xx(
    make_app: Callable[..., Flask], mode: str
) -> None:
    """The voice routes' own credential, the request signature: junk and near-valid headers."""
    app = make_app(REQUIRE_SIGNATURE=mode, TWILIO_AUTH_TOKEN="twilio-auth-token")
    client = app.test_client()
    made = client.post(
        "/v1/sessions",
        json={"app": "pin", "to": "+14155550123", "variables": {"pin": "8970"}},
        headers={"X-API-Key": API_KEY},
    )
    token = made.get_json()["token"]
    paths = st.sampled_from([f"/voice/{token}", "/voice/x.y", "/voice/step/x.y"])
    adapter = app.url_map.bind("localhost")
    seen = 0

    @settings(
        max_examples=SIGNED,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(req=requests_for(["GET", "POST"], paths, SIGNATURES, voice_form()))
    def run(req: Req) -> None:
        nonlocal seen
        seen += 1
        status, content_type, body = send(client, req)
        check_answer(vendor_of(adapter, req), req, status, content_type, body)
        if status == 403:
            assert json.loads(body)["field"] in ("token", "To", "CallSid", *SIGNATURE_HEADERS)

    run()
    assert seen >= SIGNED
