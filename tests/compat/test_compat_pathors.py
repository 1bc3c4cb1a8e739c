"""Pathors' outbound route on a real server: the seed's example, every documented error."""

from __future__ import annotations

from collections.abc import Callable

import requests
from support.compat import Server, fetched, said
from support.pathors import AUTH, EXAMPLE, PATH

from voiceapp.dialer.worker import Dialer


def error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str)
    message: str = body["error"]
    return message


def test_the_seed_example_with_a_taiwan_local_number_completes_with_its_variables(
    vendors: Callable[..., Server], dial: Callable[[Server], Dialer]
) -> None:
    server = vendors()
    dial(server)
    response = server.post(PATH, {**EXAMPLE, "toNumber": "0912345678"}, AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    call = server.finished(body["callSid"])
    assert call["status"] == "completed"
    assert call["to"] == "+886912345678" and call["from"] == "+1234567890"
    assert call["app"] == "greeting"
    assert call["extra"]["compat"] == {"vendor": "pathors", "project": "proj_abc123"}
    assert said(call) == ["Hello John Doe.", "We are calling about your order 12345."]
    assert len(fetched(call)) == 1


def test_the_seed_example_verbatim_completes_on_the_simulated_network(
    vendors: Callable[..., Server], dial: Callable[[Server], Dialer]
) -> None:
    # "+0987654321" has country calling code 0, which phonenumbers knows no range for; the
    # example config's simulated network defines it, so the core dials it as written.
    server = vendors()
    dial(server)
    response = server.post(PATH, EXAMPLE, AUTH)
    assert response.status_code == 200, response.text
    call = server.finished(response.json()["callSid"])
    assert call["status"] == "completed"
    assert call["to"] == "+0987654321" and call["from"] == "+1234567890"
    assert said(call) == ["Hello John Doe.", "We are calling about your order 12345."]


def test_a_country_code_zero_number_the_network_does_not_define_is_400(
    vendors: Callable[..., Server],
) -> None:
    server = vendors()
    message = error(server.post(PATH, {**EXAMPLE, "toNumber": "+0987654322"}, AUTH), 400)
    assert message == "toNumber '+0987654322' starts with an unknown country calling code"


def test_an_e164_to_number_works(vendors: Callable[..., Server]) -> None:
    server = vendors()
    response = server.post(PATH, {**EXAMPLE, "toNumber": "+14155550199"}, AUTH)
    assert response.status_code == 200, response.text
    assert server.call(response.json()["callSid"])["to"] == "+14155550199"


def test_missing_fields_and_bad_bodies_are_400(vendors: Callable[..., Server]) -> None:
    server = vendors()
    assert "fromNumber" in error(server.post(PATH, {"toNumber": "0912345678"}, AUTH), 400)
    assert "toNumber" in error(server.post(PATH, {"fromNumber": "+1234567890"}, AUTH), 400)
    assert "fromNumber, toNumber" in error(server.post(PATH, {}, AUTH), 400)
    assert "JSON" in error(server.post(PATH, ["a"], AUTH), 400)
    raw = requests.post(server.base + PATH, data="x", headers=AUTH, timeout=10)
    assert "Content-Type" in error(raw, 400)
    nested = {**EXAMPLE, "toNumber": "0912345678", "dynamicVariables": {"order": {"id": 1}}}
    assert error(server.post(PATH, nested, AUTH), 400).startswith("dynamicVariables.order ")
    bad_to = {**EXAMPLE, "toNumber": "call me"}
    assert error(server.post(PATH, bad_to, AUTH), 400).startswith("toNumber ")


def test_authentication_is_401(vendors: Callable[..., Server]) -> None:
    server = vendors()
    assert "API key" in error(server.post(PATH, EXAMPLE, {}), 401)
    assert "API key" in error(server.post(PATH, EXAMPLE, {"Authorization": "Bearer nope"}), 401)
    # voiceapp's own key is not a Pathors key
    own = {"Authorization": "Bearer vendors-api-key-for-localhost-only"}
    error(server.post(PATH, EXAMPLE, own), 401)


def test_from_numbers_not_configured_or_not_active_are_404(vendors: Callable[..., Server]) -> None:
    server = vendors()
    unknown = {**EXAMPLE, "fromNumber": "+19499300360", "toNumber": "0912345678"}
    assert error(server.post(PATH, unknown, AUTH), 404) == (
        "The given phone number is not configured for outbound"
    )
    inactive = {**EXAMPLE, "fromNumber": "+19499300361", "toNumber": "0912345678"}
    assert "inactive" in error(server.post(PATH, inactive, AUTH), 404)
    other_project = "/project/proj_other/integration/phone/call/outbound"
    assert "proj_other" in error(server.post(other_project, EXAMPLE, AUTH), 404)


def test_a_to_number_already_in_the_queue_is_409(vendors: Callable[..., Server]) -> None:
    server = vendors()  # no dialer: the first call stays queued
    request = {**EXAMPLE, "toNumber": "0912345678"}
    assert server.post(PATH, request, AUTH).status_code == 200
    message = error(server.post(PATH, {**request, "toNumber": "+886912345678"}, AUTH), 409)
    assert "already in the call queue" in message


def test_an_http_error_inside_the_route_keeps_its_status_in_pathors_shape(
    vendors: Callable[..., Server],
) -> None:
    server = vendors(MAX_CONTENT_LENGTH=256)
    big = {**EXAMPLE, "dynamicVariables": {"note": "x" * 1000}}
    assert error(server.post(PATH, big, AUTH), 413)
