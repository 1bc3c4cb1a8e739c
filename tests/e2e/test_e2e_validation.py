"""POST /v1/calls validation through a real HTTP server: every refusal names its field,
and a refused request creates nothing (the number stays free)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from support.e2e import AUTH, FROM, INACTIVE_FROM, PIN_CALLEE, Server, problem

CALLEE_URL = "/voice/none"  # never fetched: no dialer runs in these tests


@pytest.fixture
def server(serve: Callable[..., Server]) -> Server:
    return serve()


def good(server: Server, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"from": FROM, "to": PIN_CALLEE, "url": server.base + CALLEE_URL}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def assert_nothing_created(server: Server) -> None:
    """The callee's number is still free: a valid call to it is accepted."""
    response = server.post_call(**good(server))
    assert response.status_code == 201, response.text


CASES: list[tuple[str, dict[str, Any], int, str, str]] = [
    # (name, changes, status, code, field)
    ("missing from", {"from": None}, 400, "missing", "from"),
    ("missing to", {"to": None}, 400, "missing", "to"),
    ("empty to", {"to": ""}, 400, "missing", "to"),
    ("to not a string", {"to": 886912345678}, 422, "invalid-type", "to"),
    ("to letters", {"to": "1-800-FLOWERS"}, 422, "phone-unparseable", "to"),
    ("to invalid", {"to": "+886123"}, 422, "phone-invalid", "to"),
    ("to not valid for TW", {"to": "091234567"}, 422, "phone-invalid", "to"),
    ("from invalid", {"from": "+1555"}, 422, "phone-invalid", "from"),
    (
        "bad country",
        {"country_code": "XX", "to": "0912345678"},
        422,
        "phone-bad-country",
        "country_code",
    ),
    ("from not configured", {"from": "+14155550100"}, 404, "from-not-configured", "from"),
    ("from inactive", {"from": INACTIVE_FROM}, 404, "from-inactive", "from"),
    ("bad digits", {"senddigits": "ww1x2"}, 422, "digits-bad-char", "senddigits"),
    ("url scheme", {"url": "ftp://example.com/a.xml"}, 422, "url-scheme", "url"),
    ("url private", {"url": "http://10.1.2.3/a.xml"}, 422, "url-not-public", "url"),
    ("url loopback not allowed", {"url": "http://127.0.0.1:9/a.xml"}, 422, "url-not-public", "url"),
    ("url link-local", {"url": "http://169.254.169.254/latest"}, 422, "url-not-public", "url"),
    ("url no host", {"url": "http:///a.xml"}, 422, "url-invalid", "url"),
    (
        "callback private",
        {"statusCallback": "https://192.168.1.1/cb"},
        422,
        "url-not-public",
        "statusCallback",
    ),
    (
        "callback ipv6 loopback",
        {"statusCallback": "http://[::1]:8080/cb"},
        422,
        "url-not-public",
        "statusCallback",
    ),
    (
        "callback method",
        {"statusCallback": "https://93.184.215.14/cb", "statusCallbackMethod": "PUT"},
        422,
        "callback-bad-method",
        "statusCallbackMethod",
    ),
    (
        "callback event",
        {"statusCallback": "https://93.184.215.14/cb", "statusCallbackEvent": "initiated hungup"},
        422,
        "callback-bad-event",
        "statusCallbackEvent",
    ),
    (
        "events without callback",
        {"statusCallbackEvent": "ringing"},
        422,
        "invalid-combination",
        "statusCallbackEvent",
    ),
    (
        "optional reserved",
        {"statusCallback": "https://93.184.215.14/cb", "optional": "CallSid=x"},
        422,
        "callback-reserved-param",
        "optional",
    ),
    (
        "url and app",
        {"app": "pin", "variables": {"pin": "8970"}},
        422,
        "invalid-combination",
        "app",
    ),
    ("unknown app", {"url": None, "app": "nope"}, 422, "unknown-app", "app"),
    (
        "bad pin",
        {"url": None, "app": "pin", "variables": {"pin": "12"}},
        422,
        "invalid-pin",
        "variables.pin",
    ),
    ("unknown field", {"Url": "x"}, 422, "unknown-field", "Url"),
    ("method", {"method": "PUT"}, 422, "invalid-choice", "method"),
]


@pytest.mark.parametrize(
    ("changes", "status", "code", "field"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_refused_with_field(
    server: Server, changes: dict[str, Any], status: int, code: str, field: str
) -> None:
    response = server.post_call(**good(server, **changes))
    assert response.status_code == status, response.text
    body = problem(response)
    assert (body["status"], body["code"], body["field"]) == (status, code, field)
    assert body["type"] == "urn:voiceapp:problem:" + code
    assert_nothing_created(server)


def test_digit_error_has_index(server: Server) -> None:
    response = server.post_call(**good(server, senddigits="wwww10x1"))
    body = problem(response)
    assert (response.status_code, body["field"], body["index"]) == (422, "senddigits", 6)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "api-key-missing"),
        ({"X-API-Key": "wrong"}, "api-key-invalid"),
        ({"Authorization": "Bearer wrong"}, "api-key-invalid"),
    ],
)
def test_api_key(server: Server, headers: dict[str, str], code: str) -> None:
    response = requests.post(
        f"{server.base}/v1/calls", json=good(server), headers=headers, timeout=10
    )
    assert response.status_code == 401
    assert problem(response)["code"] == code
    for path in ("/v1/calls/CA0", "/v1/calls/CA0/cancel"):
        method = requests.get if path.endswith("CA0") else requests.post
        assert method(server.base + path, headers=headers, timeout=10).status_code == 401
    assert_nothing_created(server)


def test_body_formats(server: Server) -> None:
    bad_json = requests.post(
        f"{server.base}/v1/calls",
        data="{not json",
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=10,
    )
    assert (bad_json.status_code, problem(bad_json)["code"]) == (400, "invalid-json")
    text = requests.post(
        f"{server.base}/v1/calls",
        data="from=x",
        headers={**AUTH, "Content-Type": "text/plain"},
        timeout=10,
    )
    assert (text.status_code, problem(text)["code"]) == (400, "invalid-content-type")
    # form-encoded, national numbers in the default region (TW), variables as JSON text
    form = requests.post(
        f"{server.base}/v1/calls",
        data={"from": FROM, "to": "0912 345 678", "app": "pin", "variables": '{"pin": "8970"}'},
        headers=AUTH,
        timeout=10,
    )
    assert form.status_code == 201, form.text
    call = server.call(form.json()["sid"])
    assert (call["to"], call["app"], call["status"]) == (PIN_CALLEE, "pin", "queued")
    assert call["url"].startswith(server.base + "/voice/")
    # a form may repeat statusCallbackEvent, one event per value
    repeated = requests.post(
        f"{server.base}/v1/calls",
        data=[
            ("from", FROM),
            ("to", "+886912000999"),
            ("statusCallback", "https://93.184.215.14/cb"),
            ("statusCallbackEvent", "ringing"),
            ("statusCallbackEvent", "completed"),
        ],
        headers=AUTH,
        timeout=10,
    )
    assert repeated.status_code == 201, repeated.text
    stored = server.call(repeated.json()["sid"])
    assert stored["statusCallbackEvent"] == ["completed", "ringing"]
    twice = requests.post(
        f"{server.base}/v1/calls",
        data=[("from", FROM), ("to", PIN_CALLEE), ("to", PIN_CALLEE)],
        headers=AUTH,
        timeout=10,
    )
    assert (twice.status_code, problem(twice)["code"]) == (422, "duplicate-field")


def test_created_call_is_stored(server: Server) -> None:
    response = server.post_call(
        **good(
            server,
            senddigits="wwww101",
            statusCallback="https://93.184.215.14/cb",
            statusCallbackEvent="initiated answered",
            statusCallbackMethod="get",
            secretKey="s3cret",
            optional="token=123456",
        )
    )
    assert response.status_code == 201
    created = response.json()
    assert created["status"] == "queued" and created["sid"].startswith("CA")
    call = server.call(created["sid"])
    assert call["sid"] == created["sid"]
    assert call["senddigits"] == "wwww101"
    assert call["statusCallbackEvent"] == ["answered", "initiated"]
    assert call["statusCallbackMethod"] == "GET"
    assert call["secretKey"] == "***"  # never echoed
    assert call["optional"] == "token=123456"


def test_409_on_a_queued_number_and_cancel(server: Server) -> None:
    first = server.post_call(**good(server))
    assert first.status_code == 201
    second = server.post_call(**good(server, to="0912-345-678"))  # the same number, national
    body = problem(second)
    assert (second.status_code, body["code"], body["field"]) == (409, "call-to-busy", "to")
    sid = first.json()["sid"]
    canceled = requests.post(f"{server.base}/v1/calls/{sid}/cancel", headers=AUTH, timeout=10)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    again = requests.post(f"{server.base}/v1/calls/{sid}/cancel", headers=AUTH, timeout=10)
    assert (again.status_code, problem(again)["code"]) == (409, "call-not-cancelable")
    assert server.post_call(**good(server)).status_code == 201  # the number is free again


def test_unknown_call(server: Server) -> None:
    response = requests.get(f"{server.base}/v1/calls/CAnope", headers=AUTH, timeout=10)
    assert (response.status_code, problem(response)["code"]) == (404, "call-not-found")
