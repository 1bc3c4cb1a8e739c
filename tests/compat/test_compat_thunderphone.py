"""ThunderPhone's call routes on a real server: the seed's example, live status, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from support.compat import API_KEY, Server, said, vendors_compat
from support.servers import wait_for
from support.thunderphone import AUTH, BUSY, EXAMPLE, NETWORK

from voiceapp.dialer.worker import Dialer


def error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"detail", "code"}
    return body


def status(server: Server, call_id: int) -> dict[str, Any]:
    response = server.get(f"/v1/calls/{call_id}", AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_seed_example_verbatim_then_live_status_until_completed(
    vendors: Callable[..., Server], dial: Callable[[Server], Dialer]
) -> None:
    server = vendors()
    response = server.post("/v1/call", EXAMPLE, AUTH)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"call_id", "status"} and body["status"] == "initiated"
    call_id = body["call_id"]
    assert isinstance(call_id, int) and 10**15 <= call_id < 2**53
    first = status(server, call_id)
    assert first["status"] == "in_progress" and first["detail"] == "queued"
    dial(server)
    done = wait_for(
        lambda: s if (s := status(server, call_id))["status"] != "in_progress" else None
    )
    assert done["status"] == "completed" and done["duration_seconds"] >= 1
    # voiceapp's own GET /v1/calls/<sid> still answers for the CallSid (no route clash)
    call = server.finished(f"CA{call_id:032x}")
    assert call["variables"] == {"customerName": "Alex", "orderId": "A-12"}
    assert said(call) == ["Hello Alex.", "We are calling about your order A-12."]
    assert call["extra"]["compat"]["agent_id"] == 12


def test_inline_config_and_the_numbers_outbound_agent(
    vendors: Callable[..., Server], dial: Callable[[Server], Dialer]
) -> None:
    server = vendors()
    dial(server)
    inline = {
        "from_number": "+15551234567",
        "to_number": "+14155550111",
        "config": {"variables": {"customerName": "Bea", "slot": "9:30"}},
        "max_hold_seconds": 30,
    }
    response = server.post("/v1/call", inline, AUTH)
    assert response.status_code == 201, response.text
    call = server.finished(f"CA{response.json()['call_id']:032x}")
    assert said(call) == ["Hello Bea.", "slot: 9:30."]
    assert call["extra"]["compat"]["max_hold_seconds"] == 30
    neither = {"from_number": "+15551234567", "to_number": "+14155550112"}
    response = server.post("/v1/call", neither, AUTH)
    assert response.status_code == 201, response.text
    call = server.finished(f"CA{response.json()['call_id']:032x}")
    assert call["extra"]["compat"]["agent_id"] == 12 and said(call)[0] == "Hello Alex."


def test_a_call_that_cannot_be_established_is_failed(
    vendors: Callable[..., Server], dial: Callable[[Server], Dialer]
) -> None:
    server = vendors(NETWORK=NETWORK)
    dial(server)
    response = server.post("/v1/call", {**EXAMPLE, "to_number": BUSY}, AUTH)
    assert response.status_code == 201, response.text
    call_id = response.json()["call_id"]
    done = wait_for(
        lambda: s if (s := status(server, call_id))["status"] != "in_progress" else None
    )
    assert done["status"] == "failed" and done["detail"] == "busy"


def test_documented_errors(vendors: Callable[..., Server]) -> None:
    server = vendors()
    assert error(server.post("/v1/call", EXAMPLE, {}), 401)["code"] == "unauthorized"
    missing = error(server.post("/v1/call", {"from_number": "+15551234567"}, AUTH), 400)
    assert missing["detail"] == "from_number and to_number are required"
    both = error(server.post("/v1/call", {**EXAMPLE, "config": {}}, AUTH), 400)
    assert both["detail"] == "Provide either agent_id or config, not both"
    demo = error(server.post("/v1/call", {**EXAMPLE, "from_number": "+15550000001"}, AUTH), 403)
    assert "inbound-only" in demo["detail"]
    unverified = {**EXAMPLE, "from_number": "+15550000002"}
    assert "unverified" in error(server.post("/v1/call", unverified, AUTH), 403)["detail"]
    foreign = {**EXAMPLE, "from_number": "+19499300360"}
    assert error(server.post("/v1/call", foreign, AUTH), 404)["detail"] == (
        "from_number is not registered to this organization"
    )
    no_agent = error(server.post("/v1/call", {**EXAMPLE, "agent_id": 99}, AUTH), 404)
    assert no_agent["detail"] == "Agent not found"
    assert error(server.post("/v1/call", {**EXAMPLE, "agent_id": "12"}, AUTH), 400)
    hold = error(server.post("/v1/call", {**EXAMPLE, "max_hold_seconds": 0}, AUTH), 400)
    assert hold["code"] == "invalid-range"
    bad_config = {**EXAMPLE, "agent_id": None, "config": {"prompt": "hi"}}
    assert error(server.post("/v1/call", bad_config, AUTH), 400)["code"] == "unknown-field"
    bad_to = error(server.post("/v1/call", {**EXAMPLE, "to_number": "+15555550123"}, AUTH), 400)
    assert bad_to["code"] == "phone-invalid" and bad_to["detail"].startswith("to_number ")
    assert error(server.get("/v1/calls/1234567890123456", AUTH), 404)["code"] == "call-not-found"
    assert error(server.get("/v1/calls/1234567890123456", {}), 401)
    # a voiceapp call is not a ThunderPhone call, and vice versa
    own = server.post(
        "/v1/calls",
        {"from": "+19499300360", "to": "+14155550150", "app": "greeting"},
        {"X-API-Key": API_KEY},
    )
    assert own.status_code == 201
    sid = own.json()["sid"]
    assert server.get(f"/v1/calls/{sid}", AUTH).status_code == 401  # the core's key check


def test_balance_at_or_below_zero_is_402(vendors: Callable[..., Server]) -> None:
    compat = vendors_compat()
    compat["thunderphone"]["balance"] = 0
    server = vendors(COMPAT=compat)
    body = error(server.post("/v1/call", EXAMPLE, AUTH), 402)
    assert body["detail"] == "Insufficient balance"


def test_no_outbound_agent_is_400(vendors: Callable[..., Server]) -> None:
    compat = vendors_compat()
    del compat["thunderphone"]["numbers"]["+15551234567"]["outbound_agent"]
    server = vendors(COMPAT=compat)
    neither = {"from_number": "+15551234567", "to_number": "+14155550199"}
    assert error(server.post("/v1/call", neither, AUTH), 400)["code"] == "no-outbound-agent"


def test_an_inactive_outbound_number_is_403(vendors: Callable[..., Server]) -> None:
    numbers = {"+15551234567": "inactive", "+19499300360": "active", "+1234567890": "active"}
    server = vendors(OUTBOUND_NUMBERS={**numbers, "+19499300361": "inactive"})
    body = error(server.post("/v1/call", EXAMPLE, AUTH), 403)
    assert body["code"] == "from-inactive" and body["detail"].startswith("Outbound blocked")
