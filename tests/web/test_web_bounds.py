"""Issue 10's 500s from bad input, one plain regression test each: bounded bodies (size and
JSON depth), nested app variables, ``variables`` that is not an object, and the catch-all."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.fuzz import ivr_text, nested
from support.web import AUTH, TO

from voiceapp.apps.base import MAX_VARIABLES_DEPTH, MAX_VARIABLES_ITEMS
from voiceapp.web.bodies import too_deep_at

FROM = "+19499300360"
JSON = {**AUTH, "Content-Type": "application/json"}
FORM = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(OUTBOUND_NUMBERS={FROM: "active"}, URL_ALLOWLIST=["127.0.0.1:9"])


def problem(response: Any, status: int, code: str, field: str) -> dict[str, Any]:
    """The problem body, after checking its status, code and field."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert (body["code"], body["field"]) == (code, field), body
    assert body["type"] in (f"urn:voiceapp:problem:{code}", "about:blank")
    return body


def session_text(variables: str) -> str:
    """A session request whose variables are the JSON text ``variables``."""
    return f'{{"app": "ivr", "to": "{TO}", "variables": {variables}}}'


# -- JSON depth -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/calls", "/v1/sessions"])
@pytest.mark.parametrize("kind", ["[", "{"])
def test_json_nested_1000_levels_is_400_json_too_deep(
    client: FlaskClient, path: str, kind: str
) -> None:
    body = problem(
        client.post(path, data=nested(1000, kind), headers=JSON), 400, "json-too-deep", "body"
    )
    assert "32 levels" in body["detail"]


@pytest.mark.parametrize("path", ["/v1/calls", "/v1/sessions"])
def test_json_nested_30000_levels_is_400_and_100000_is_413(client: FlaskClient, path: str) -> None:
    problem(client.post(path, data=nested(30_000, "["), headers=JSON), 400, "json-too-deep", "body")
    problem(
        client.post(path, data=nested(100_000, "["), headers=JSON), 413, "body-too-large", "body"
    )


def test_the_depth_bound_is_the_setting_and_counts_only_arrays_and_objects(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(MAX_JSON_DEPTH=3).test_client()

    def post(pin: Any) -> Any:
        session = {"app": "pin", "to": TO, "variables": {"pin": pin}}
        return client.post("/v1/sessions", data=json.dumps(session), headers=JSON)

    problem(post(["8970"]), 422, "invalid-pin", "variables.pin")  # 3 levels: decoded
    problem(post([["8970"]]), 400, "json-too-deep", "body")
    problem(post("[[[[{{{{" * 100), 422, "invalid-pin", "variables.pin")


@pytest.mark.parametrize(
    ("text", "limit", "where"),
    [
        ("[]", 1, None),
        ("[[]]", 1, 1),
        ('{"a": [{"b": 1}]}', 3, None),
        ('{"a": [{"b": 1}]}', 2, 7),
        ('["[[[[", "\\"[[[", {}]', 2, None),
        ('"unterminated [[[[', 1, None),
        ("]]]][[", 1, 5),
        ("]]]]" + "[" * 10, 3, 7),
    ],
)
def test_too_deep_at_skips_strings(text: str, limit: int, where: int | None) -> None:
    assert too_deep_at(text, limit) == where


def test_ivr_options_nested_980_menus_are_refused_not_500(client: FlaskClient) -> None:
    for depth in (950, 980):
        text = session_text(ivr_text(depth))
        problem(client.post("/v1/sessions", data=text, headers=JSON), 400, "json-too-deep", "body")


def test_ivr_options_too_deep_for_the_app_name_the_field_path(client: FlaskClient) -> None:
    text = session_text(ivr_text(5))
    where = "variables" + ".options.1.menu" * 5
    problem(client.post("/v1/sessions", data=text, headers=JSON), 422, "too-deep", where)


def test_app_variables_are_bounded_in_depth_and_size(make_app: Callable[..., Flask]) -> None:
    client = make_app(MAX_JSON_DEPTH=64).test_client()
    deep = {"app": "greeting", "to": TO, "variables": {"a": json.loads(nested(30, "["))}}
    where = "variables.a" + ".0" * (MAX_VARIABLES_DEPTH - 1)
    problem(client.post("/v1/sessions", json=deep, headers=AUTH), 422, "too-deep", where)
    many = {"app": "greeting", "to": TO, "variables": {"a": list(range(MAX_VARIABLES_ITEMS))}}
    problem(client.post("/v1/sessions", json=many, headers=AUTH), 422, "too-large", "variables")


# -- variables that are not an object ---------------------------------------------------------


@pytest.mark.parametrize("variables", ["8970", 5, True, [1], [], "", 0, False, [[]]])
def test_call_variables_not_an_object_are_422_invalid_type(
    client: FlaskClient, variables: Any
) -> None:
    call = {"from": FROM, "to": TO, "app": "pin", "variables": variables}
    problem(client.post("/v1/calls", json=call, headers=AUTH), 422, "invalid-type", "variables")


@pytest.mark.parametrize("variables", ["[[]]", '"8970"', "5", "true", "[1]", "8970", "{"])
def test_form_variables_not_an_object_are_422_invalid_type(
    client: FlaskClient, variables: str
) -> None:
    form = {"from": FROM, "to": TO, "app": "pin", "variables": variables}
    problem(client.post("/v1/calls", data=form, headers=AUTH), 422, "invalid-type", "variables")


def test_form_variables_nested_deep_are_400_json_too_deep(client: FlaskClient) -> None:
    form = {"from": FROM, "to": TO, "app": "pin", "variables": nested(1000, "[")}
    problem(client.post("/v1/calls", data=form, headers=AUTH), 400, "json-too-deep", "variables")


@pytest.mark.parametrize("variables", ["8970", 5, True, [1], None])
def test_session_variables_not_an_object_are_422_invalid_type(
    client: FlaskClient, variables: Any
) -> None:
    session = {"app": "pin", "to": TO, "variables": variables}
    problem(
        client.post("/v1/sessions", json=session, headers=AUTH), 422, "invalid-type", "variables"
    )


def test_a_form_call_with_object_variables_still_works(client: FlaskClient) -> None:
    form = {"from": FROM, "to": TO, "app": "pin", "variables": '{"pin": "8970"}'}
    response = client.post("/v1/calls", data=form, headers=AUTH)
    assert response.status_code == 201, response.get_json()


# -- body size, encodings, HTTP errors, the catch-all -------------------------------------------


@pytest.mark.parametrize("headers", [JSON, FORM])
def test_a_body_over_max_content_length_is_413_body_too_large(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    data = b'{"pad": "' + b"x" * 70_000 + b'"}'
    if headers is FORM:
        data = b"from=" + b"9" * 70_000
    body = problem(
        client.post("/v1/calls", data=data, headers=headers), 413, "body-too-large", "body"
    )
    assert "65536" in body["detail"]


def test_max_content_length_is_a_setting(make_app: Callable[..., Flask]) -> None:
    client = make_app(MAX_CONTENT_LENGTH=1024).test_client()
    session = {"app": "pin", "to": TO, "variables": {"pin": "8970"}, "pad": "x" * 1024}
    problem(client.post("/v1/sessions", json=session, headers=AUTH), 413, "body-too-large", "body")
    form = {"CallSid": "9" * 2048}
    problem(client.post("/voice/x", data=form), 413, "body-too-large", "body")


@pytest.mark.parametrize("text", ['{"to": "\\ud800"}', '{"\\udfff": 1}', "\xff\xfe\x00"])
def test_lone_surrogates_and_bad_encodings_are_400_invalid_json(
    client: FlaskClient, text: str
) -> None:
    data = text.encode("latin-1")
    problem(client.post("/v1/sessions", data=data, headers=JSON), 400, "invalid-json", "body")


def test_flask_http_errors_carry_a_code_and_a_field(client: FlaskClient) -> None:
    problem(client.get("/nowhere"), 404, "not-found", "path")
    body = problem(client.put("/v1/calls", headers=AUTH), 405, "method-not-allowed", "method")
    assert body["type"] == "about:blank"


def test_an_unexpected_error_is_a_problem_500_without_internals(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def explode() -> str:
        raise RuntimeError("internal detail /srv/secret.py")

    app.add_url_rule("/explode", view_func=explode)
    response = app.test_client().get("/explode")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "internal-error" and body["status"] == 500
    assert "secret" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
