"""``[inbound]`` bindings and ``POST /v1/calls/inbound``: a caller dials one of our
numbers; the call is stored with ``direction="inbound"`` and the bound url or app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from support.web import API_KEY, AUTH, path_of

from voiceapp.calls.records import CallSpec
from voiceapp.config import load_settings
from voiceapp.errors import ConfigError
from voiceapp.web.calls import call_service

LINE = "+14155550100"  # bound to a url
IVR_LINE = "+14155550101"  # bound to an app
CALLER = "+14155552671"
DOC = "http://127.0.0.1:9/answer.xml"
MENU = {"prompt": "Press 1.", "options": {"1": {"say": "Hi.", "then": "hangup"}}}
INBOUND = {
    LINE: {"url": DOC, "method": "GET"},
    IVR_LINE: {
        "app": "ivr",
        "variables": MENU,
        "status_callback": "http://127.0.0.1:9/cb",
        "status_callback_event": "ringing answered completed",
    },
}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(INBOUND=INBOUND, URL_ALLOWLIST=["127.0.0.1:9"])


def stored(app: Flask, sid: str) -> CallSpec:
    return call_service(app).store.require(sid).spec


def test_a_call_to_a_number_bound_to_a_url(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/v1/calls/inbound", json={"from": CALLER, "to": LINE}, headers=AUTH)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "queued"
    spec = stored(app, body["sid"])
    assert (spec.from_, spec.to, spec.direction) == (CALLER, LINE, "inbound")
    assert (spec.url, spec.method, spec.app) == (DOC, "GET", None)
    shown = client.get(f"/v1/calls/{body['sid']}", headers=AUTH).get_json()
    assert shown["direction"] == "inbound"
    assert shown["legs"][0]["direction"] == "inbound"
    assert shown["from"] == CALLER and shown["to"] == LINE


def test_a_call_to_a_number_bound_to_an_app(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/v1/calls/inbound", json={"from": CALLER, "to": IVR_LINE}, headers=AUTH)
    assert response.status_code == 201, response.get_json()
    spec = stored(app, response.get_json()["sid"])
    assert spec.direction == "inbound" and spec.app == "ivr"
    assert spec.url is not None and "/voice/" in spec.url  # the session's single-use URL
    assert spec.method == "POST"
    assert spec.status_callback == "http://127.0.0.1:9/cb"
    assert spec.status_callback_events == ("answered", "completed", "ringing")
    # the session document is made for the call to our number
    fetched = client.post(
        path_of(spec.url),
        data={"CallSid": spec.sid, "From": CALLER, "To": IVR_LINE, "Direction": "inbound"},
    )
    assert fetched.status_code == 200, fetched.get_data(as_text=True)
    assert b"Press 1." in fetched.get_data()


def test_a_national_number_is_read_in_the_region(make_app: Callable[..., Flask]) -> None:
    app = make_app(
        INBOUND={"+886223456780": {"url": DOC}}, DEFAULT_REGION="TW", URL_ALLOWLIST=["127.0.0.1:9"]
    )
    response = app.test_client().post(
        "/v1/calls/inbound", json={"from": "0912345678", "to": "0223456780"}, headers=AUTH
    )
    assert response.status_code == 201, response.get_json()
    spec = stored(app, response.get_json()["sid"])
    assert (spec.from_, spec.to) == ("+886912345678", "+886223456780")


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"from": CALLER, "to": "+14155550199"}, 404, "inbound-not-bound", "to"),
        ({"from": CALLER}, 400, "missing", "to"),
        ({"to": LINE}, 400, "missing", "from"),
        ({"from": "12", "to": LINE}, 422, None, "from"),
        ({"from": CALLER, "to": LINE, "url": DOC}, 422, "unknown-field", "url"),
        ({"from": CALLER, "to": LINE, "app": "ivr"}, 422, "unknown-field", "app"),
    ],
)
def test_refusals(
    app: Flask, body: dict[str, Any], status: int, code: str | None, field: str
) -> None:
    response = app.test_client().post("/v1/calls/inbound", json=body, headers=AUTH)
    assert response.status_code == status, response.get_json()
    problem = response.get_json()
    assert response.content_type.startswith("application/problem+json")
    if code is not None:
        assert problem["code"] == code
    assert problem["field"] == field
    assert not call_service(app).store.list_calls(limit=10).calls  # nothing queued


def test_the_unbound_refusal_says_what_is_missing(app: Flask) -> None:
    response = app.test_client().post(
        "/v1/calls/inbound", json={"from": CALLER, "to": "+14155550199"}, headers=AUTH
    )
    assert "+14155550199 is not bound" in response.get_json()["detail"]


def test_an_api_key_is_needed(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/v1/calls/inbound", json={"from": CALLER, "to": LINE}).status_code == 401
    wrong = {"X-API-Key": API_KEY + "x"}
    response = client.post("/v1/calls/inbound", json={"from": CALLER, "to": LINE}, headers=wrong)
    assert response.status_code == 401


def test_a_bound_url_passes_the_network_policy(make_app: Callable[..., Flask]) -> None:
    app = make_app(INBOUND={LINE: {"url": "http://10.0.0.1/doc.xml"}})
    response = app.test_client().post(
        "/v1/calls/inbound", json={"from": CALLER, "to": LINE}, headers=AUTH
    )
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["code"] == "url-not-public"
    assert problem["field"] == f'inbound."{LINE}".url'


def test_the_route_is_in_the_openapi_document(app: Flask) -> None:
    doc = app.test_client().get("/openapi.json").get_json()
    operation = doc["paths"]["/v1/calls/inbound"]["post"]
    assert "201" in operation["responses"] and "404" in operation["responses"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"from", "to", "country_code"}


# -- the [inbound] setting ----------------------------------------------------------------------


def settings(inbound: Any) -> Any:
    return load_settings(
        environ={}, overrides={"SECRET_KEYS": ["k"], "TESTING": True, "INBOUND": inbound}
    )[0]


def test_bindings_are_typed_and_the_numbers_are_our_own() -> None:
    loaded = settings(INBOUND)
    binding = loaded.inbound_binding(IVR_LINE)
    assert binding is not None and binding.app == "ivr" and binding.url is None
    assert loaded.inbound_binding(LINE).method == "GET"  # type: ignore[union-attr]
    assert loaded.inbound_binding(CALLER) is None
    assert {LINE, IVR_LINE} <= loaded.own_numbers


@pytest.mark.parametrize(
    ("inbound", "where", "reason"),
    [
        ({"12345": {"url": DOC}}, 'inbound."12345"', "not an E.164 number"),
        ({LINE: {}}, f'inbound."{LINE}"', "needs url or app"),
        ({LINE: {"url": DOC, "app": "ivr"}}, f'inbound."{LINE}"', "needs url or app"),
        ({LINE: {"url": DOC, "variables": {}}}, f'inbound."{LINE}".variables', "goes with app"),
        ({LINE: {"url": DOC, "methd": "GET"}}, f'inbound."{LINE}".methd', "unknown key"),
        ({LINE: {"url": DOC, "method": "PUT"}}, f'inbound."{LINE}".method', "GET or POST"),
        ({LINE: {"url": 5}}, f'inbound."{LINE}".url', "must be a string"),
        ({LINE: "http://x"}, f'inbound."{LINE}"', "must be a table"),
        ({LINE: {"app": "nope"}}, f'inbound."{LINE}".app', "unknown app 'nope'"),
        ({LINE: {"app": "pin", "variables": {}}}, f'inbound."{LINE}".variables', "pin"),
        ("+14155550100", "INBOUND", "must be a table"),
    ],
)
def test_bad_bindings_are_refused_naming_the_key(inbound: Any, where: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(inbound)
    assert where in caught.value.message and reason in caught.value.message, caught.value.message


def test_the_toml_table(tmp_path: Any) -> None:
    path = tmp_path / "voiceapp.toml"
    path.write_text(
        'secret_keys = ["k"]\ntesting = true\n'
        f'[inbound]\n"{LINE}" = {{ url = "{DOC}" }}\n'
        f'[inbound."{IVR_LINE}"]\napp = "ivr"\n'
        f'[inbound."{IVR_LINE}".variables]\nprompt = "Press 1."\n'
        f'[inbound."{IVR_LINE}".variables.options."1"]\nsay = "Hi."\n',
        encoding="utf-8",
    )
    loaded = load_settings(path, environ={})[0]
    assert [b.number for b in loaded.INBOUND] == [LINE, IVR_LINE]
    assert loaded.inbound_binding(IVR_LINE).variables["options"]["1"] == {"say": "Hi."}  # type: ignore[union-attr]
