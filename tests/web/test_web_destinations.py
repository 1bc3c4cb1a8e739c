"""The destination policy at the REST API: POST /v1/calls and POST /v1/sessions refuse
premium-rate, shared-cost, personal, UAN, voicemail, pager and satellite numbers and
countries outside the geo permissions with 403 problem+json, and store nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import phonenumbers
import pytest
from flask import Flask
from phonenumbers import PhoneNumberType
from support.web import AUTH

from voiceapp.web import runtime
from voiceapp.web.calls import call_service

FROM = "+19499300360"


def example(region: str, kind: int) -> str:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None, (region, kind)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def non_geo(code: int) -> str:
    number = phonenumbers.example_number_for_non_geo_entity(code)
    assert number is not None, code
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


BLOCKED = [
    "+19005550100",
    example("US", PhoneNumberType.PREMIUM_RATE),
    example("FR", PhoneNumberType.SHARED_COST),
    example("GB", PhoneNumberType.PERSONAL_NUMBER),
    example("GB", PhoneNumberType.UAN),
    example("DE", PhoneNumberType.VOICEMAIL),
    example("GB", PhoneNumberType.PAGER),
    non_geo(881),
    non_geo(882),
    non_geo(883),
]


def make(make_app: Callable[..., Flask], **settings: Any) -> Flask:
    return make_app(OUTBOUND_NUMBERS={FROM: "active"}, **settings)


def nothing_stored(app: Flask) -> None:
    """No call is queued and no session was created."""
    with app.app_context():
        assert call_service(app).store.take("w-check", 30) is None
        path = runtime().store.path  # type: ignore[attr-defined]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


def refused(response: Any, code: str) -> dict[str, Any]:
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = response.get_json(force=True)
    assert body["type"] == f"urn:voiceapp:problem:{code}"
    assert body["code"] == code and body["status"] == 403 and body["field"] == "to"
    assert body["title"] in ("Destination blocked", "Destination not permitted")
    return body


def call(app: Flask, to: str, **fields: Any) -> Any:
    body = {"from": FROM, "to": to, "app": "pin", "variables": {"pin": "8970"}, **fields}
    return app.test_client().post("/v1/calls", json=body, headers=AUTH)


@pytest.mark.parametrize("number", BLOCKED)
def test_calls_to_blocked_types_are_refused_and_nothing_is_queued(
    make_app: Callable[..., Flask], number: str
) -> None:
    app = make(make_app)
    body = refused(call(app, number), "destination-blocked")
    assert number in body["detail"]
    nothing_stored(app)


@pytest.mark.parametrize("number", BLOCKED[:3] + BLOCKED[-3:])
def test_sessions_for_blocked_numbers_are_refused(
    make_app: Callable[..., Flask], number: str
) -> None:
    app = make(make_app)
    response = app.test_client().post(
        "/v1/sessions",
        json={"app": "pin", "to": number, "variables": {"pin": "8970"}},
        headers=AUTH,
    )
    refused(response, "destination-blocked")
    nothing_stored(app)


def test_a_national_premium_number_is_refused_too(make_app: Callable[..., Flask]) -> None:
    app = make(make_app, DEFAULT_REGION="US")
    body = refused(call(app, "(900) 555-0100"), "destination-blocked")
    assert "+19005550100 is a premium-rate number" in body["detail"]
    nothing_stored(app)


def test_geo_permissions_follow_the_region_and_the_list(make_app: Callable[..., Flask]) -> None:
    app = make(make_app, DEFAULT_REGION="US")
    body = refused(call(app, "+442079460018"), "destination-not-permitted")
    assert "+44 (GB)" in body["detail"]
    nothing_stored(app)
    assert call(app, "+14155552671").status_code == 201
    with app.app_context():  # the check above would have seen a queued call
        assert call_service(app).store.take("w-check", 30) is not None

    listed = make(make_app, DEFAULT_REGION="US", ALLOWED_COUNTRY_CODES=["44"])
    assert call(listed, "+442079460018").status_code == 201
    refused(call(listed, "+886912345678"), "destination-not-permitted")


def test_the_exact_allowlist_and_the_simulated_network(make_app: Callable[..., Flask]) -> None:
    app = make(
        make_app,
        DEFAULT_REGION="US",
        DESTINATION_ALLOWLIST=["+19005550100"],
        NETWORK={"numbers": {"+442079460018": {"rings": 1}}},
    )
    assert call(app, "+19005550100").status_code == 201
    assert call(app, "+442079460018").status_code == 201
    refused(call(app, "+19002345678"), "destination-blocked")
    refused(call(app, "+442079460019"), "destination-not-permitted")


def test_a_phone_error_still_comes_first(make_app: Callable[..., Flask]) -> None:
    app = make(make_app)
    response = call(app, "+1900555")
    assert response.status_code == 422 and response.get_json()["code"] == "phone-invalid"
