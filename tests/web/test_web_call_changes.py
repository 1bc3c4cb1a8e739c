"""POST /v1/calls/<sid> (live changes through the API, over web.calls.change_call) and
the create fields twiml, timeout, timeLimit, fallbackUrl and fallbackMethod."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.web import AUTH

from voiceapp.web import runtime
from voiceapp.web.calls import call_service

FROM = "+19499300360"
TO = "+14155550123"
ALLOWED = "127.0.0.1:9"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(OUTBOUND_NUMBERS={FROM: "active"}, URL_ALLOWLIST=[ALLOWED], DIALER="external")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def place(client: FlaskClient, **fields: Any) -> str:
    body = {"from": FROM, "to": TO, "url": f"http://{ALLOWED}/a.xml", **fields}
    answer = client.post("/v1/calls", json=body, headers=AUTH)
    assert answer.status_code == 201, answer.get_json()
    sid: str = answer.get_json()["sid"]
    return sid


def drive(app: Flask, sid: str, *path: str) -> None:
    """What a dialer would write: take the call and move its a-leg along ``path``."""
    with app.app_context():
        store = call_service().store
        taken = store.take("w1", 60)
        assert taken is not None and taken.sid == sid
        previous = "queued"
        for status in path:
            store.set_status(sid, status, expect=previous)
            previous = status


def test_create_takes_the_new_fields_and_shows_them(client: FlaskClient) -> None:
    sid = place(
        client,
        url=None,
        twiml="<Response><Say>hi</Say></Response>",
        timeout=25,
        timeLimit=600,
        fallbackUrl=f"http://{ALLOWED}/fallback",
        fallbackMethod="GET",
    )
    call = client.get(f"/v1/calls/{sid}", headers=AUTH).get_json()
    assert call["twiml"] == "<Response><Say>hi</Say></Response>"
    assert (call["url"], call["timeout"], call["timeLimit"]) == (None, 25, 600)
    assert (call["fallbackUrl"], call["fallbackMethod"]) == (f"http://{ALLOWED}/fallback", "GET")
    assert (call["direction"], call["accountSid"]) == ("outbound-api", None)


def test_create_defaults(client: FlaskClient) -> None:
    call = client.get(f"/v1/calls/{place(client)}", headers=AUTH).get_json()
    assert (call["timeout"], call["timeLimit"], call["twiml"]) == (60, 14400, None)


def test_create_as_a_form(client: FlaskClient) -> None:
    form = {"from": FROM, "to": TO, "url": f"http://{ALLOWED}/a.xml", "timeout": "30"}
    answer = client.post("/v1/calls", data=form, headers=AUTH)
    assert answer.status_code == 201
    assert (
        client.get(f"/v1/calls/{answer.get_json()['sid']}", headers=AUTH).get_json()["timeout"]
        == 30
    )


@pytest.mark.parametrize(
    ("fields", "status", "code", "field"),
    [
        ({"timeout": 0}, 422, "invalid-range", "timeout"),
        ({"timeout": 601}, 422, "invalid-range", "timeout"),
        ({"timeLimit": 86401}, 422, "invalid-range", "timeLimit"),
        ({"fallbackMethod": "PUT"}, 422, "invalid-choice", "fallbackMethod"),
        ({"fallbackUrl": "http://10.0.0.1/x"}, 422, "url-not-public", "fallbackUrl"),
        ({"twiml": "<Response/>"}, 422, "invalid-combination", "twiml"),  # and url
        ({"url": None, "twiml": "<Response><Nope/></Response>"}, 422, None, "twiml"),
        ({"url": None, "twiml": "<Response>"}, 422, None, "twiml"),
    ],
)
def test_create_refusals(
    client: FlaskClient, fields: dict[str, Any], status: int, code: str | None, field: str
) -> None:
    body = {"from": FROM, "to": TO, "url": f"http://{ALLOWED}/a.xml", **fields}
    answer = client.post("/v1/calls", json=body, headers=AUTH)
    problem = answer.get_json()
    assert answer.status_code == status, problem
    assert problem["field"] == field
    if code is not None:
        assert problem["code"] == code
    else:  # a document error: located in the document
        assert "line" in problem or "path" in problem


def test_a_new_document_for_a_waiting_call(client: FlaskClient) -> None:
    sid = place(client)
    answer = client.post(f"/v1/calls/{sid}", json={"twiml": "<Response><Hangup/></Response>"},
                         headers=AUTH)  # fmt: skip
    assert answer.status_code == 200, answer.get_json()
    call = answer.get_json()
    assert (call["status"], call["url"], call["twiml"]) == (
        "queued",
        None,
        "<Response><Hangup/></Response>",
    )
    answer = client.post(
        f"/v1/calls/{sid}", data={"url": f"http://{ALLOWED}/b.xml", "method": "GET"}, headers=AUTH
    )
    assert answer.status_code == 200
    assert (answer.get_json()["url"], answer.get_json()["method"]) == (
        f"http://{ALLOWED}/b.xml",
        "GET",
    )


def test_hang_up_an_answered_call_is_kept_for_its_dialer(app: Flask, client: FlaskClient) -> None:
    sid = place(client)
    drive(app, sid, "initiated", "in-progress")
    answer = client.post(f"/v1/calls/{sid}", json={"status": "completed"}, headers=AUTH)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "in-progress"  # the dialer ends it
    with app.app_context():
        changes = call_service().store.change_requests("w1")
    assert [(s, c.status) for s, c in changes] == [(sid, "completed")]


def test_cancel_a_queued_call(client: FlaskClient) -> None:
    sid = place(client)
    answer = client.post(f"/v1/calls/{sid}", json={"status": "canceled"}, headers=AUTH)
    assert (answer.status_code, answer.get_json()["status"]) == (200, "canceled")
    again = client.post(f"/v1/calls/{sid}", json={"status": "completed"}, headers=AUTH)
    problem = again.get_json()
    assert (again.status_code, problem["code"]) == (409, "call-not-changeable")


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 400, "missing", "url"),
        ({"status": "busy"}, 422, "invalid-choice", "status"),
        ({"url": f"http://{ALLOWED}/b", "twiml": "<Response/>"}, 422, "invalid-combination",
         "twiml"),
        ({"twiml": "<Response/>", "method": "GET"}, 422, "invalid-combination", "method"),
        ({"url": "ftp://example.com/x"}, 422, "url-scheme", "url"),
        ({"url": "http://10.0.0.1/x"}, 422, "url-not-public", "url"),
        ({"status": "completed", "extra": 1}, 422, "unknown-field", "extra"),
        ({"twiml": "<Response><Nope/></Response>"}, 422, None, "twiml"),
    ],
)  # fmt: skip
def test_change_refusals(
    client: FlaskClient, body: dict[str, Any], status: int, code: str | None, field: str
) -> None:
    sid = place(client)
    answer = client.post(f"/v1/calls/{sid}", json=body, headers=AUTH)
    problem = answer.get_json()
    assert answer.status_code == status, problem
    assert problem["field"] == field
    if code is not None:
        assert problem["code"] == code
    assert client.get(f"/v1/calls/{sid}", headers=AUTH).get_json()["status"] == "queued"


def test_change_an_unknown_call_and_without_a_key(client: FlaskClient) -> None:
    answer = client.post("/v1/calls/CAnope", json={"status": "completed"}, headers=AUTH)
    assert (answer.status_code, answer.get_json()["code"]) == (404, "call-not-found")
    answer = client.post("/v1/calls/CAnope", json={"status": "completed"})
    assert answer.status_code == 401


def test_change_call_is_the_core(app: Flask, client: FlaskClient) -> None:
    from voiceapp.calls.records import CallChange
    from voiceapp.web.calls import change_call

    sid = place(client)
    with app.test_request_context():
        runtime()
        record = change_call(sid, CallChange(status="completed"))
    assert record.status == "canceled"
