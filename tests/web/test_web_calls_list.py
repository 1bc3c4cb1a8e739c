"""``GET /v1/calls``: filters, newest first, opaque cursors; ``GET /v1/calls/<sid>``'s trace and
error come from the call store (whatever process dialed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.clocks import Clock
from support.web import AUTH

from voiceapp.calls.records import CallSpec, trace_json
from voiceapp.stores.calls.base import CallStore
from voiceapp.web.calls import call_service, decode_cursor, encode_cursor

FROM = "+19499300360"


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: Clock) -> Flask:
    return make_app(CLOCK=clock, DEFAULT_REGION="TW")


@pytest.fixture
def store(app: Flask) -> CallStore:
    return call_service(app).store


def make_calls(store: CallStore, clock: Clock, n: int) -> list[str]:
    sids = []
    for i in range(n):
        sid = f"CA{i:032x}"
        store.create(CallSpec(sid=sid, from_=FROM, to=f"+8869120004{i:02d}"))
        sids.append(sid)
        clock.advance(1)
    return sids


def listing(client: FlaskClient, **query: Any) -> dict[str, Any]:
    response = client.get("/v1/calls", query_string=query, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def test_newest_first_in_pages_with_an_opaque_cursor(
    client: FlaskClient, store: CallStore, clock: Clock
) -> None:
    sids = make_calls(store, clock, 5)
    first = listing(client, limit=2)
    assert [c["sid"] for c in first["calls"]] == [sids[4], sids[3]]
    assert "trace" not in first["calls"][0] and first["calls"][0]["error"] is None
    second = listing(client, limit=2, cursor=first["next_cursor"])
    third = listing(client, limit=2, cursor=second["next_cursor"])
    assert [c["sid"] for c in second["calls"] + third["calls"]] == [sids[2], sids[1], sids[0]]
    assert third["next_cursor"] is None
    assert listing(client)["next_cursor"] is None  # default limit 20


def test_filters(client: FlaskClient, store: CallStore, clock: Clock) -> None:
    start = clock.now
    sids = make_calls(store, clock, 4)
    store.set_status(sids[1], "completed", duration=0)
    assert [c["sid"] for c in listing(client, status="completed")["calls"]] == [sids[1]]
    assert [c["sid"] for c in listing(client, to="+886912000402")["calls"]] == [sids[2]]
    assert [c["sid"] for c in listing(client, to="0912000402")["calls"]] == [sids[2]]  # national
    assert len(listing(client, **{"from": FROM})["calls"]) == 4
    window = listing(client, created_after=start + 1, created_before=start + 3)
    assert [c["sid"] for c in window["calls"]] == [sids[2], sids[1]]
    iso = listing(client, created_after="2027-01-15T08:00:01Z")  # start + 1 s
    assert [c["sid"] for c in iso["calls"]] == [sids[3], sids[2], sids[1]]


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        ({"cursor": "not-a-cursor"}, 400, "invalid-cursor", "cursor"),
        ({"cursor": encode_cursor((1.0, "CA1"))[:-2] + "!!"}, 400, "invalid-cursor", "cursor"),
        ({"limit": "0"}, 422, "invalid-range", "limit"),
        ({"limit": "101"}, 422, "invalid-range", "limit"),
        ({"limit": "²"}, 422, "invalid-range", "limit"),
        ({"status": "done"}, 422, "invalid-choice", "status"),
        ({"created_after": "yesterday"}, 422, "invalid-time", "created_after"),
        ({"sort": "asc"}, 422, "unknown-field", "sort"),
        ({"to": "call me"}, 422, "phone-unparseable", "to"),
    ],
)
def test_bad_queries_are_problems(
    client: FlaskClient, query: dict[str, str], status: int, code: str, field: str
) -> None:
    response = client.get("/v1/calls", query_string=query, headers=AUTH)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert (body["code"], body["field"]) == (code, field)


def test_listing_needs_the_api_key(client: FlaskClient) -> None:
    response = client.get("/v1/calls")
    assert response.status_code == 401 and response.get_json()["code"] == "api-key-missing"


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor((1_800_000_000.25, "CAabc"))) == (1_800_000_000.25, "CAabc")


def test_get_call_shows_the_stored_trace_and_error(
    client: FlaskClient, store: CallStore, clock: Clock
) -> None:
    (sid,) = make_calls(store, clock, 1)
    error = {"code": "fetch-status", "message": "POST http://h/x: HTTP 404", "status": 404}
    rows = [
        trace_json({"ms": 5, "leg": "a", "kind": "fetch-error", "detail": {"code": "fetch-status"}})
    ]
    store.append_trace(sid, rows, error=trace_json(error))
    body = client.get(f"/v1/calls/{sid}", headers=AUTH).get_json()
    assert body["error"] == error
    assert body["trace"] == [
        {"ms": 5, "leg": "a", "kind": "fetch-error", "detail": {"code": "fetch-status"}}
    ]
    listed = listing(client)["calls"][0]
    assert listed["error"]["code"] == "fetch-status"
