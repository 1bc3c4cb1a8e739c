"""Feather's outbound route on a real server: the seed's example, bindings, typed context
variables, every error."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from support.compat import SEED_UUID, Server, said
from support.feather import AUTH, EXAMPLE, FILLED, PATH, SECOND_AGENT, UNBOUND_NUMBER

from voiceapp.dialer.worker import Dialer
from voiceapp.web.compat.feather import coerce


def problems(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    detail: list[dict[str, Any]] = response.json()["detail"]
    assert all(set(p) == {"loc", "msg", "type"} and p["loc"][0] == "body" for p in detail)
    return detail


def detail(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    text: str = response.json()["detail"]
    return text


def test_the_seed_example_verbatim_is_422_for_its_placeholder_and_both_bindings(
    vendors: Callable[..., Server],
) -> None:
    server = vendors()
    found = problems(server.post(PATH, EXAMPLE, AUTH))
    assert [p["loc"] for p in found] == [["body", "to_phone_number"], ["body"]]
    assert "^\\+[1-9]\\d{6,14}$" in found[0]["msg"]
    assert "XOR" in found[1]["msg"]


def test_the_filled_example_completes_as_the_agent(
    vendors: Callable[..., Server], dial: Callable[[Server], Dialer]
) -> None:
    server = vendors()
    dial(server)
    response = server.post(PATH, FILLED, AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"room_name", "dispatch_id", "agent_name", "session_id"}
    session = uuid.UUID(body["session_id"])
    assert body["dispatch_id"] == "CA" + session.hex
    assert body["room_name"] == f"outbound-{session}"
    assert body["agent_name"] == "order-desk"
    call = server.finished(body["dispatch_id"])
    assert call["status"] == "completed" and call["from"] == "+19499300360"
    assert said(call) == ["Hello."]


def test_context_variables_are_coerced_to_their_declared_types(
    vendors: Callable[..., Server], dial: Callable[[Server], Dialer]
) -> None:
    server = vendors()
    dial(server)
    context = {
        "customerName": "Ann Lee",
        "orderId": 12345,  # a number for a string variable
        "items": "3",
        "total": "12.5",
        "vip": "true",
        "priority": "HIGH",
    }
    response = server.post(PATH, {**FILLED, "context_variables": context}, AUTH)
    assert response.status_code == 200, response.text
    call = server.finished(response.json()["dispatch_id"])
    assert call["variables"] == {
        "customerName": "Ann Lee",
        "orderId": "12345",
        "items": 3,
        "total": 12.5,
        "vip": True,
        "priority": "high",
    }
    assert said(call) == [
        "Hello Ann Lee.",
        "We are calling about your order 12345.",
        "items: 3.",
        "priority: high.",
        "total: 12.5.",
        "vip: yes.",
    ]


def test_unknown_or_uncoercible_context_variables_are_422(vendors: Callable[..., Server]) -> None:
    server = vendors()
    bad = {"nickname": "Al", "items": "three", "priority": "urgent", "vip": "maybe"}
    found = problems(server.post(PATH, {**FILLED, "context_variables": bad}, AUTH))
    assert [(p["loc"][-1], p["type"]) for p in found] == [
        ("nickname", "extra_forbidden"),
        ("items", "type_error"),
        ("priority", "type_error"),
        ("vip", "type_error"),
    ]
    assert "low, normal, high" in found[2]["msg"]
    # the second agent declares only customerName
    second = {**FILLED, "agent_id": SECOND_AGENT, "context_variables": {"items": 1}}
    assert problems(server.post(PATH, second, AUTH))[0]["loc"] == [
        "body",
        "context_variables",
        "items",
    ]
    not_object = {**FILLED, "context_variables": ["a"]}
    assert problems(server.post(PATH, not_object, AUTH))[0]["loc"] == ["body", "context_variables"]


def test_a_team_dials_as_its_default_member_and_ignores_context_variables(
    vendors: Callable[..., Server], dial: Callable[[Server], Dialer]
) -> None:
    server = vendors()
    dial(server)
    request = {**FILLED, "agent_id": None, "team_id": SEED_UUID, "context_variables": {"x": 1}}
    response = server.post(PATH, request, AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["agent_name"] == "order-desk"
    call = server.finished(response.json()["dispatch_id"])
    assert call["variables"] == {} and call["extra"]["compat"]["team_id"] == SEED_UUID


def test_neither_agent_nor_team_picks_a_bound_one_at_random(vendors: Callable[..., Server]) -> None:
    server = vendors()
    names = set()
    for i in range(24):  # three bindings; 24 tries miss one with probability 3 * (2/3)**24
        request = {"from_phone_number_id": SEED_UUID, "to_phone_number": f"+1415555{i:04d}"}
        response = server.post(PATH, request, AUTH)
        assert response.status_code == 200, response.text
        call = server.call(response.json()["dispatch_id"])
        names.add((response.json()["agent_name"], call["extra"]["compat"]["team_id"]))
    assert names == {("order-desk", None), ("reminders", None), ("order-desk", SEED_UUID)}


def test_the_second_agent_speaks_zh_tw(
    vendors: Callable[..., Server], dial: Callable[[Server], Dialer]
) -> None:
    server = vendors()
    dial(server)
    request = {**FILLED, "agent_id": SECOND_AGENT, "context_variables": {"customerName": "王小明"}}
    response = server.post(PATH, request, AUTH)
    assert response.status_code == 200, response.text
    assert said(server.finished(response.json()["dispatch_id"])) == ["王小明\uff0c您好。"]


def test_errors(vendors: Callable[..., Server]) -> None:
    server = vendors()
    assert "API key" in detail(server.post(PATH, FILLED, {}), 401)
    assert "API key" in detail(server.post(PATH, FILLED, {"x-api-key": "nope"}), 401)
    missing = problems(server.post(PATH, {}, AUTH))
    assert [(p["loc"][-1], p["type"]) for p in missing] == [
        ("from_phone_number_id", "missing"),
        ("to_phone_number", "missing"),
    ]
    not_uuid = problems(server.post(PATH, {**FILLED, "from_phone_number_id": "n1"}, AUTH))
    assert not_uuid[0]["type"] == "uuid_parsing"
    national = problems(server.post(PATH, {**FILLED, "to_phone_number": "0912345678"}, AUTH))
    assert national[0]["type"] == "string_pattern_mismatch"
    other = str(uuid.uuid4())
    assert other in detail(server.post(PATH, {**FILLED, "from_phone_number_id": other}, AUTH), 404)
    assert "outbound_call binding" in detail(
        server.post(PATH, {**FILLED, "agent_id": other}, AUTH), 400
    )
    assert "outbound_call binding" in detail(
        server.post(PATH, {**FILLED, "agent_id": None, "team_id": other}, AUTH), 400
    )
    unbound = {"from_phone_number_id": UNBOUND_NUMBER, "to_phone_number": "+14155550199"}
    assert "no outbound_call" in detail(server.post(PATH, unbound, AUTH), 400)
    # the pattern passes but the number is not a valid one: the core refuses it (422)
    invalid = problems(server.post(PATH, {**FILLED, "to_phone_number": "+15555550123"}, AUTH))
    assert (
        invalid[0]["loc"] == ["body", "to_phone_number"] and invalid[0]["type"] == "phone-invalid"
    )
    # a second call to a number with a call queued: the core's 409
    assert server.post(PATH, FILLED, AUTH).status_code == 200
    assert "already has a queued" in detail(server.post(PATH, FILLED, AUTH), 409)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("string", "a", "a"),
        ("string", 7, "7"),
        ("integer", "-12", -12),
        ("integer", 4.0, 4),
        ("number", "1e3", 1000.0),
        ("boolean", "No", False),
        ("boolean", 1, True),
        (("low", "high"), "Low", "low"),
    ],
)
def test_coerce_accepts(kind: Any, value: Any, expected: Any) -> None:
    result = coerce(kind, value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("string", True),
        ("string", {"a": 1}),
        ("integer", True),
        ("integer", 4.5),
        ("integer", "4.5"),
        ("number", "nan"),
        ("number", []),
        ("boolean", 2),
        ("boolean", "maybe"),
        (("low", "high"), 1),
    ],
)
def test_coerce_refuses(kind: Any, value: Any) -> None:
    with pytest.raises(ValueError, match="must be"):
        coerce(kind, value)
