"""The destination policy behind every vendor route: a premium-rate, satellite or
not-permitted toNumber is refused with 403 in the vendor's own error body, and
nothing is queued (real server on 127.0.0.1, examples/vendors.toml)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.compat import FEATHER_KEY, PATHORS_KEY, POLYAI_TOKEN, SEED_UUID, THUNDER_KEY, Server

from voiceapp.web.calls import call_service

PREMIUM = "+19005550100"
SATELLITE = "+881612345678"
UK = "+442079460018"


def pathors(to: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    return (
        "/project/proj_abc123/integration/phone/call/outbound",
        {"Authorization": f"Bearer {PATHORS_KEY}"},
        {"fromNumber": "+1234567890", "toNumber": to, "dynamicVariables": {"orderId": "1"}},
    )


def feather(to: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    return (
        "/v1/voice/outbound",
        {"x-api-key": FEATHER_KEY},
        {"from_phone_number_id": SEED_UUID, "to_phone_number": to, "agent_id": SEED_UUID},
    )


def thunderphone(to: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    return (
        "/v1/call",
        {"Authorization": f"Bearer {THUNDER_KEY}"},
        {"from_number": "+15551234567", "to_number": to, "agent_id": 12},
    )


def polyai(to: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    return (
        "/v1/outbound-calling",
        {"X-PolyAi-Auth-Token": POLYAI_TOKEN},
        {"to_number": to, "metadata": {"patient_first_name": "Paul"}},
    )


Route = Callable[[str], tuple[str, dict[str, str], dict[str, Any]]]


def body_of(route: Route, to: str, code: str) -> dict[str, Any]:
    """The vendor's error body for a refused ``to`` (the detail is checked separately)."""
    if route is pathors:
        return {"error": f"toNumber {to} "}
    if route is feather:
        return {"detail": f"to_phone_number {to} "}
    if route is thunderphone:
        return {"detail": f"Outbound blocked: to_number {to} ", "code": code}
    return {"message": f"to_number {to} ", "code": code}


def assert_vendor_refusal(response: Any, route: Route, to: str, code: str, words: str) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    expected = body_of(route, to, code)
    assert set(body) == set(expected)
    for key, value in expected.items():
        if key == "code":
            assert body[key] == value
        else:
            assert body[key].startswith(value) and words in body[key], body


def assert_nothing_queued(server: Server) -> None:
    assert call_service(server.app).store.take("w-check", 30) is None


@pytest.mark.parametrize("route", [pathors, feather, thunderphone, polyai])
def test_blocked_numbers_get_403_in_the_vendors_shape(
    vendors: Callable[..., Server], route: Route
) -> None:
    server = vendors()
    for to, words in ((PREMIUM, "premium-rate"), (SATELLITE, "+881")):
        path, headers, body = route(to)
        response = server.post(path, body, headers)
        assert_vendor_refusal(response, route, to, "destination-blocked", words)
    assert_nothing_queued(server)


@pytest.mark.parametrize("route", [pathors, feather, thunderphone, polyai])
def test_a_country_outside_the_geo_permissions_gets_403(
    vendors: Callable[..., Server], route: Route
) -> None:
    server = vendors(DEFAULT_REGION="US")
    path, headers, body = route(UK)
    response = server.post(path, body, headers)
    assert_vendor_refusal(response, route, UK, "destination-not-permitted", "+44 (GB)")
    assert_nothing_queued(server)
    path, headers, body = route("+14155550142")  # a US number is still called
    assert server.post(path, body, headers).status_code in (200, 201)
