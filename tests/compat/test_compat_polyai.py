"""PolyAI's outbound-calling routes on a real server: the seed's examples, metadata rules,
encryption, the status route and its retention, errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import requests
from support.compat import POLYAI_INBOUND_TOKEN, Server, ShiftClock, said
from support.polyai import AUTH, EXAMPLE, PATH, PLACEHOLDERS

from voiceapp.dialer.worker import Dialer
from voiceapp.web.compat.polyai import MAX_METADATA_BASE64, metadata_size


def error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "code"}
    return body


def sid_of(call_sid: str) -> str:
    assert call_sid.startswith("OUT-")
    return "CA" + uuid.UUID(call_sid[4:]).hex


def test_the_seed_example_verbatim_completes_with_its_metadata_then_expires(
    vendors: Callable[..., Server], dial: Callable[[Server], Dialer]
) -> None:
    clock = ShiftClock()
    server = vendors(CLOCK=clock)
    response = server.post(PATH, EXAMPLE, AUTH)
    assert response.status_code == 200, response.text
    call_sid = response.json()["call_sid"]
    assert list(response.json()) == ["call_sid"] and uuid.UUID(call_sid[4:]).version == 4
    queued = server.get(f"{PATH}/{call_sid}", AUTH).json()
    assert queued["status"] == "queued" and queued["encryption"] == "TLS/SRTP"
    dial(server)
    call = server.finished(sid_of(call_sid))
    assert call["status"] == "completed" and call["variables"] == EXAMPLE["metadata"]
    spoken = said(call)
    assert spoken[0] == "Hello."
    assert "patient_first_name: Paul." in spoken and "patient_zip_code: 07676." in spoken
    assert "referred_by_name: Dr. Alex Deerman." in spoken
    done = server.get(f"{PATH}/{call_sid}", AUTH).json()
    assert done["status"] == "completed" and done["ended_at"] is not None
    clock.offset = 7000.0  # still inside "about 2 hours" after the end
    assert server.get(f"{PATH}/{call_sid}", AUTH).status_code == 200
    clock.offset = 7300.0
    assert error(server.get(f"{PATH}/{call_sid}", AUTH), 404)["code"] == "expired"


def test_the_placeholder_example_is_400(vendors: Callable[..., Server]) -> None:
    server = vendors()
    body = error(server.post(PATH, PLACEHOLDERS, AUTH), 400)
    assert body["code"] in {"phone-unparseable", "phone-bad-country", "invalid-encryption"}


def test_national_numbers_need_a_country_code(vendors: Callable[..., Server]) -> None:
    server = vendors()
    national = {"to_number": "0912345678", "country_code": "TW"}
    response = server.post(PATH, national, AUTH)
    assert response.status_code == 200, response.text
    assert server.call(sid_of(response.json()["call_sid"]))["to"] == "+886912345678"
    bare = error(server.post(PATH, {"to_number": "0912 345 679"}, AUTH), 400)
    assert bare["code"] == "phone-no-region"
    assert error(server.post(PATH, {**national, "country_code": "XX"}, AUTH), 400)["code"] == (
        "phone-bad-country"
    )
    assert error(server.post(PATH, {"to_number": "not a number"}, AUTH), 400)["message"].startswith(
        "to_number "
    )


def test_metadata_values_must_be_strings(vendors: Callable[..., Server]) -> None:
    server = vendors()
    for value in (3, True, {"a": "b"}, ["x"], None):
        body = error(server.post(PATH, {**EXAMPLE, "metadata": {"k": value}}, AUTH), 400)
        assert body["code"] == "metadata-not-string"
    assert error(server.post(PATH, {**EXAMPLE, "metadata": "k=v"}, AUTH), 400)["code"] == (
        "invalid-type"
    )


def test_metadata_must_be_under_26_kb_in_base64(vendors: Callable[..., Server]) -> None:
    server = vendors()
    fits = {f"note_{i:02d}": "x" * 900 for i in range(20)}
    assert metadata_size(fits) < MAX_METADATA_BASE64
    response = server.post(PATH, {"to_number": "+14155550101", "metadata": fits}, AUTH)
    assert response.status_code == 200, response.text
    big = {f"note_{i:02d}": "x" * 900 for i in range(30)}
    assert metadata_size(big) >= MAX_METADATA_BASE64
    body = error(server.post(PATH, {"to_number": "+14155550102", "metadata": big}, AUTH), 400)
    assert body["code"] == "metadata-too-large" and "26 KB" in body["message"]


def test_encryption_is_one_of_four(vendors: Callable[..., Server]) -> None:
    server = vendors()
    for i, choice in enumerate(("TLS/SRTP", "TLS/RTP", "UDP/SRTP", "UDP/RTP")):
        request = {"to_number": f"+1415555012{i}", "encryption": choice}
        response = server.post(PATH, request, AUTH)
        assert response.status_code == 200, response.text
        status = server.get(f"{PATH}/{response.json()['call_sid']}", AUTH).json()
        assert status["encryption"] == choice
    body = error(server.post(PATH, {**EXAMPLE, "encryption": "TLS"}, AUTH), 400)
    assert body["code"] == "invalid-encryption"


def test_authentication_and_other_errors(vendors: Callable[..., Server]) -> None:
    server = vendors()
    assert error(server.post(PATH, EXAMPLE, {}), 401)["code"] == "unauthorized"
    bad = {"X-PolyAi-Auth-Token": "nope"}
    assert error(server.post(PATH, EXAMPLE, bad), 401)["code"] == "unauthorized"
    inbound = {"X-PolyAi-Auth-Token": POLYAI_INBOUND_TOKEN}
    assert error(server.post(PATH, EXAMPLE, inbound), 401)["code"] == "outbound-not-configured"
    raw = requests.post(server.base + PATH, data="{}", headers=AUTH, timeout=10)
    assert error(raw, 400)["code"] == "invalid-content-type"
    assert error(server.post(PATH, {**EXAMPLE, "priority": 1}, AUTH), 400)["code"] == (
        "unknown-field"
    )
    assert error(server.post(PATH, {"metadata": {}}, AUTH), 400)["code"] == "missing"
    # metadata the connector's app refuses (a key it cannot name) is a 400 from the core
    body = error(server.post(PATH, {**EXAMPLE, "metadata": {"bad key": "v"}}, AUTH), 400)
    assert body["code"] == "invalid-name"
    # the status of an unknown call, of a malformed sid
    assert error(server.get(f"{PATH}/OUT-{uuid.uuid4()}", AUTH), 404)["code"] == "call-not-found"
    assert error(server.get(f"{PATH}/CA123", AUTH), 404)["code"] == "call-not-found"
    # a second call to a number that has one queued
    assert server.post(PATH, EXAMPLE, AUTH).status_code == 200
    assert error(server.post(PATH, EXAMPLE, AUTH), 409)["code"] == "call-to-busy"
