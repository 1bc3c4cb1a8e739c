"""The fuzz over real HTTP: gunicorn (production mode, examples/vendors.toml) on 127.0.0.1.

A few hundred requests: the issue's own inputs on every route that reads a body (JSON
nested 1,000 and 100,000 levels, IVR options nested 980 menus, bodies of 100 KB and
1 MB, a chunked body with no Content-Length) and 20 hypothesis cases for every rule
(support.fuzz).  No answer is a 5xx; every refusal has the shape of its route.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from support.compat import FEATHER_KEY, PATHORS_KEY, POLYAI_TOKEN, THUNDER_KEY, VENDORS
from support.fuzz import (
    ALLOWED,
    RULES,
    TWILIO_ACCOUNT,
    TWILIO_AUTH,
    TWILIO_PREFIX,
    TWILIO_TOKEN,
    Post,
    Req,
    check_answer,
    ivr_text,
    nested,
    routes,
    seed,
    vendor_of,
)
from support.servers import close_app
from support.web import GUNICORN_API_KEY, Gunicorn
from werkzeug.routing import MapAdapter

from voiceapp.web import create_app

PER_RULE = 20
JSON = {"Content-Type": "application/json"}
#: every route that reads a body, with its credential
POSTS: dict[str, dict[str, str]] = {
    "/v1/calls": {"X-API-Key": GUNICORN_API_KEY},
    "/v1/sessions": {"X-API-Key": GUNICORN_API_KEY},
    "/project/proj_abc123/integration/phone/call/outbound": {
        "Authorization": f"Bearer {PATHORS_KEY}"
    },
    "/v1/voice/outbound": {"x-api-key": FEATHER_KEY},
    "/v1/call": {"Authorization": f"Bearer {THUNDER_KEY}"},
    "/v1/outbound-calling": {"X-PolyAi-Auth-Token": POLYAI_TOKEN},
    f"{TWILIO_PREFIX}{TWILIO_ACCOUNT}/Calls.json": TWILIO_AUTH,
}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MapAdapter]:
    """The same app's URL map, to know which route (core or vendor) answers a request."""
    tmp = tmp_path_factory.mktemp("routes")
    config = {"TESTING": True, "STORE_URL": f"sqlite:///{tmp / 'r.db'}", "DIALER": "external"}
    app = create_app(config, config_file=VENDORS)
    try:
        yield app.url_map.bind("localhost")
    finally:
        close_app(app)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    tmp = tmp_path_factory.mktemp("gunicorn")
    env = {
        "VOICEAPP_CONFIG": str(VENDORS),
        # examples/vendors.toml's keys are published (for 127.0.0.1): production refuses them
        "VOICEAPP_DEBUG": "true",
        "VOICEAPP_DIALER": "external",  # nothing dials: no request leaves 127.0.0.1
        "VOICEAPP_URL_ALLOWLIST": ALLOWED,
        "VOICEAPP_TWILIO_ACCOUNTS": f"{TWILIO_ACCOUNT}={TWILIO_TOKEN}",
    }
    with Gunicorn(f"sqlite:///{tmp / 'store.db'}", tmp, workers=2, env=env) as running:
        yield running


def http_post(http: requests.Session, base: str) -> Post:
    def post(
        path: str, body: dict[str, Any] | None, form: dict[str, str] | None, headers: dict[str, str]
    ) -> tuple[int, str]:
        response = http.post(base + path, json=body, data=form, headers=headers, timeout=30)
        return response.status_code, response.text

    return post


def send(http: requests.Session, base: str, req: Req) -> tuple[int, str, bytes]:
    url = base + req.path + ("?" + req.query if req.query else "")
    response = http.request(req.method, url, headers=req.headers, data=req.body, timeout=30)
    return response.status_code, response.headers.get("Content-Type", ""), response.content


def issue_cases() -> list[Req]:
    """The issue's inputs, on every route that reads a body."""
    cases = []
    deep_variables = '{"from": "+19499300360", "to": "+14155550199", "app": "ivr", "variables": '
    for path, key in POSTS.items():
        head = {**key, **JSON}
        for depth in (1_000, 100_000):
            cases.append(Req("POST", path, head, nested(depth, "[").encode()))
            cases.append(Req("POST", path, head, nested(depth, "{").encode()))
        cases.append(Req("POST", path, head, (deep_variables + ivr_text(980) + "}").encode()))
        for size in (100_000, 1_000_000):
            cases.append(Req("POST", path, head, b'{"pad": "' + b"x" * size + b'"}'))
        cases.append(Req("POST", path, key, b"x" * 100_000))  # no Content-Type
    form = {"Content-Type": "application/x-www-form-urlencoded", **POSTS["/v1/calls"]}
    for variables in ("[[]]", "8970", "5", "true", "[1]", nested(1_000, "[")):
        body = "from=%2B19499300360&to=%2B14155550198&app=pin&variables=" + variables
        cases.append(Req("POST", "/v1/calls", form, body.encode()))
    twilio = {"Content-Type": "application/x-www-form-urlencoded", **TWILIO_AUTH}
    for size in (5_000, 100_000, 1_000_000):  # Twiml over 4000 characters, over the body bound
        body = "To=%2B14155550197&From=%2B19499300360&Twiml=" + "x" * size
        cases.append(
            Req("POST", f"{TWILIO_PREFIX}{TWILIO_ACCOUNT}/Calls.json", twilio, body.encode())
        )
    voice_form = {"Content-Type": "application/x-www-form-urlencoded"}
    cases.append(Req("POST", "/voice/x", voice_form, b"CallSid=" + b"9" * 100_000))
    return cases


@pytest.mark.timeout(300)
def test_real_http_answers_no_5xx(server: Gunicorn, adapter: MapAdapter) -> None:
    statuses: list[int] = []
    with requests.Session() as http:

        def check(req: Req) -> None:
            status, content_type, body = send(http, server.base, req)
            if req.path != "/v1/ready":  # 503 by contract: no dialer runs (check_answer)
                statuses.append(status)
            check_answer(vendor_of(adapter, req), req, status, content_type, body)

        for req in issue_cases():
            check(req)
        deep = [s for s in statuses if s in (400, 413, 422)]
        assert len(deep) == len(statuses), statuses

        # a chunked body (no Content-Length) longer than MAX_CONTENT_LENGTH
        chunks = (b'{"pad": "' if i == 0 else b"x" * 8192 for i in range(40))
        chunked = http.post(
            server.base + "/v1/sessions",
            data=chunks,
            headers={**POSTS["/v1/sessions"], **JSON},
            timeout=30,
        )
        assert chunked.status_code == 413, chunked.text
        assert chunked.json()["code"] == "body-too-large"

        seeds = seed(http_post(http, server.base), GUNICORN_API_KEY)
        strategies = routes(seeds, GUNICORN_API_KEY)
        for rule in RULES:

            @settings(
                max_examples=PER_RULE,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(req=strategies[rule][1]())
            def run(req: Req) -> None:
                check(req)

            run()
    assert len(statuses) >= 300
    assert max(statuses) < 500
