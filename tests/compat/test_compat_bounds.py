"""Issue 10 on the vendor routes (real server): deep JSON, long bodies and variables that
are not an object are 4xx in each vendor's own error shape, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from support.compat import FEATHER_KEY, PATHORS_KEY, POLYAI_TOKEN, SEED_UUID, THUNDER_KEY, Server

PATHORS = "/project/proj_abc123/integration/phone/call/outbound"
JSON = {"Content-Type": "application/json"}
#: route → (its credential, a valid request, the field that carries variables)
ROUTES: dict[str, tuple[dict[str, str], dict[str, Any], str]] = {
    PATHORS: (
        {"Authorization": f"Bearer {PATHORS_KEY}"},
        {"fromNumber": "+1234567890", "toNumber": "+14155550150"},
        "dynamicVariables",
    ),
    "/v1/voice/outbound": (
        {"x-api-key": FEATHER_KEY},
        {
            "from_phone_number_id": SEED_UUID,
            "to_phone_number": "+14155550151",
            "agent_id": SEED_UUID,
        },
        "context_variables",
    ),
    "/v1/call": (
        {"Authorization": f"Bearer {THUNDER_KEY}"},
        {"from_number": "+15551234567", "to_number": "+14155550152"},
        "config",
    ),
    "/v1/outbound-calling": (
        {"X-PolyAi-Auth-Token": POLYAI_TOKEN},
        {"to_number": "+14155550153"},
        "metadata",
    ),
}
#: the keys of each route's error body
SHAPES = {
    PATHORS: {"error"},
    "/v1/voice/outbound": {"detail"},
    "/v1/call": {"detail", "code"},
    "/v1/outbound-calling": {"message", "code"},
}


def refused(response: requests.Response, path: str, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == SHAPES[path], body
    return body


def post_text(server: Server, path: str, text: str | bytes) -> requests.Response:
    headers = {**ROUTES[path][0], **JSON}
    return requests.post(server.base + path, data=text, headers=headers, timeout=10)


@pytest.mark.parametrize("path", list(ROUTES))
def test_json_nested_1000_levels_is_a_4xx_in_the_vendor_shape(
    vendors: Callable[..., Server], path: str
) -> None:
    server = vendors()
    status = 422 if path == "/v1/voice/outbound" else 400
    for kind in ("[", "{"):
        deep = kind * 1000 + ("]" if kind == "[" else "}") * 1000
        body = refused(post_text(server, path, deep), path, status)
        assert "32 levels" in str(body)
    _credential, valid, name = ROUTES[path]
    inner = '{"a": ' * 1000 + "1" + "}" * 1000  # deep in the field that carries variables
    text = json.dumps(valid)[:-1] + f', "{name}": {inner}}}'
    refused(post_text(server, path, text), path, status)


@pytest.mark.parametrize("path", list(ROUTES))
def test_a_body_over_max_content_length_is_413_in_the_vendor_shape(
    vendors: Callable[..., Server], path: str
) -> None:
    server = vendors()
    refused(post_text(server, path, b'{"pad": "' + b"x" * 70_000 + b'"}'), path, 413)


@pytest.mark.parametrize("variables", ["8970", 5, True, [1], [], ""])
@pytest.mark.parametrize("path", list(ROUTES))
def test_variables_that_are_not_an_object_are_a_4xx_in_the_vendor_shape(
    vendors: Callable[..., Server], path: str, variables: Any
) -> None:
    server = vendors()
    credential, valid, name = ROUTES[path]
    value: Any = {"variables": variables} if path == "/v1/call" else variables
    response = server.post(path, {**valid, name: value}, credential)
    status = 422 if path == "/v1/voice/outbound" else 400
    body = refused(response, path, status)
    assert "object" in str(body), body


def test_thunderphone_inline_config_variables_were_a_502(vendors: Callable[..., Server]) -> None:
    server = vendors()
    credential, valid, _ = ROUTES["/v1/call"]
    response = server.post("/v1/call", {**valid, "config": {"variables": "8970"}}, credential)
    body = refused(response, "/v1/call", 400)
    assert body == {"detail": "config.variables must be an object", "code": "invalid-type"}


def test_feather_a_number_variable_of_400_digits_is_422_not_500(
    vendors: Callable[..., Server],
) -> None:
    server = vendors()
    credential, valid, _ = ROUTES["/v1/voice/outbound"]
    text = json.dumps(valid)[:-1] + ', "context_variables": {"total": ' + "1" * 400 + "}}"
    response = requests.post(
        server.base + "/v1/voice/outbound",
        data=text,
        headers={**credential, **JSON},
        timeout=10,
    )
    body = refused(response, "/v1/voice/outbound", 422)
    assert body["detail"][0]["loc"] == ["body", "context_variables", "total"]
