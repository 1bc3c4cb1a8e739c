"""Every route of the app, fuzzed in process: no 5xx, and every refusal in its shape.

Hypothesis sends near-valid requests (fuzzkit: the real field names with right and
wrong types, deep nesting, long strings, unicode, forms, raw bytes, wrong content types,
real / tampered / junk tokens, with the route's credentials and without) through the
Flask test client to ``create_app`` with examples/vendors.toml.  Each rule of the app's
``url_map`` runs its budget of examples (21,400 in all), derandomized, so CI sees the
same cases every run.  ``TESTING`` propagates exceptions: a crash fails with its
traceback instead of hiding behind a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from fuzzkit import (
    ALLOWED,
    API_KEY,
    POLYAI_TOKEN,
    RULES,
    THUNDER_KEY,
    VENDORS,
    Req,
    Seeds,
    check_answer,
    routes,
    vendor_of,
)
from hypothesis import HealthCheck, given, settings
from serverkit import close_app
from werkzeug.routing import MapAdapter

from voiceapp.web import create_app

#: at least this many cases across the suite (the issue's CI budget)
TOTAL = 20_000
CORE = {"X-API-Key": API_KEY}
STEP = re.compile(r"/voice/step/([A-Za-z0-9_.\-]+)")


@dataclass
class Fuzz:
    app: Flask
    client: FlaskClient
    seeds: Seeds
    adapter: MapAdapter


def _seed(client: FlaskClient) -> Seeds:
    """Real tokens, step tokens and calls for the strategies to pick from."""
    tokens, steps, sids = [], [], []
    sessions: list[dict[str, Any]] = [
        {"app": "pin", "variables": {"pin": "8970"}},
        {"app": "pin", "variables": {"pin": "1234"}},
        {"app": "pin-verify", "variables": {"pin": "8970"}},
        {"app": "ivr", "variables": {"prompt": "p", "options": {"1": {"say": "hi"}}}},
        {"app": "bridge", "variables": {"number": "+14155550100"}},
    ]
    for payload in sessions:
        made = client.post("/v1/sessions", json={"to": "+14155550123", **payload}, headers=CORE)
        assert made.status_code == 201, made.get_json()
        tokens.append(made.get_json()["token"])
    for token in tokens[2:]:  # the documents with continuation steps
        document = client.post(f"/voice/{token}", data={"CallSid": "CA1", "To": "+14155550123"})
        assert document.status_code == 200, document.get_data()
        steps += STEP.findall(document.get_data(as_text=True))
    assert steps
    for i, to in enumerate(["+14155550124", "+14155550125"]):
        placed = client.post(
            "/v1/calls",
            json={"from": "+19499300360", "to": to, "url": f"http://{ALLOWED}/doc{i}"},
            headers=CORE,
        )
        assert placed.status_code == 201, placed.get_json()
        sids.append(placed.get_json()["sid"])
    thunder = client.post(
        "/v1/call",
        json={"from_number": "+15551234567", "to_number": "+14155550126"},
        headers={"Authorization": f"Bearer {THUNDER_KEY}"},
    )
    assert thunder.status_code == 201, thunder.get_json()
    poly = client.post(
        "/v1/outbound-calling",
        json={"to_number": "+14155550127", "metadata": {"patient_first_name": "Paul"}},
        headers={"X-PolyAi-Auth-Token": POLYAI_TOKEN},
    )
    assert poly.status_code == 200, poly.get_json()
    return Seeds(
        tokens, steps, sids, [thunder.get_json()["call_id"]], [poly.get_json()["call_sid"]]
    )


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    tmp = tmp_path_factory.mktemp("fuzz")
    config = {
        "TESTING": True,
        "STORE_URL": f"sqlite:///{tmp / 'fuzz.db'}",
        "DIALER": "external",
        "URL_ALLOWLIST": [ALLOWED],
    }
    app = create_app(config, config_file=VENDORS)
    client = app.test_client()
    try:
        yield Fuzz(app, client, _seed(client), app.url_map.bind("localhost"))
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
    assert sorted(rules) == sorted(RULES), "a new route needs a strategy in tests/web/fuzzkit.py"
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
