"""Calls end to end: POST /v1/calls on a real HTTP server, the dialer (virtual clock,
simulated network) fetching documents from that server over HTTP, status callbacks to a
real receiver, and GET /v1/calls/<sid> reading it all back from the store."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from support.e2e import (
    AUTH,
    BUSY,
    FAILING,
    FROM,
    IVR,
    NO_ANSWER,
    PIN_CALLEE,
    SLOW,
    HttpReceiver,
    Server,
    finished,
    problem,
    statuses,
)
from support.servers import wait_for

from voiceapp.dialer.worker import Dialer
from voiceapp.settings_tables.retry import RetryPolicy

ALL = "initiated ringing answered completed"


@pytest.fixture
def running(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    receiver: Callable[..., HttpReceiver],
) -> tuple[Server, HttpReceiver]:
    """A server with its dialer started, and a callback receiver it may call."""
    rec = receiver()
    server = serve(allow=(rec.port,))
    dialer(server)
    return server, rec


def trace(call: dict[str, Any], kind: str, leg: str | None = None) -> list[dict[str, Any]]:
    return [
        row["detail"]
        for row in call.get("trace", ())
        if row["kind"] == kind and (leg is None or row["leg"] == leg)
    ]


def test_pin_call(running: tuple[Server, HttpReceiver]) -> None:
    server, rec = running
    response = server.post_call(
        **{
            "from": FROM,
            "to": "0912345678",  # national, in the default region TW
            "app": "pin",
            "variables": {"pin": "8970", "repeat": 1},
            "statusCallback": rec.url,
            "statusCallbackEvent": ALL,
            "secretKey": "receiver-key",
            "optional": "token=123456",
        }
    )
    assert response.status_code == 201, response.text
    sid = response.json()["sid"]
    call = finished(server, sid)

    assert call["status"] == "completed"
    assert statuses(call) == ["queued", "initiated", "ringing", "in-progress", "completed"]
    # the PIN is secret: said to the callee, masked in the trace
    assert [d["text"] for d in trace(call, "say")] == ["Your pin is ***."]
    fetches = trace(call, "fetch")
    # the session token is not shown: the route stays, the token is masked
    assert fetches[0]["url"] == call["url"] == server.base + "/voice/***"
    assert "/voice/" in fetches[0]["url"] and "/voice/***" in json.dumps(call["trace"])

    # the four events, in order, delivered once each, with the seed's parameters
    assert rec.events() == [(sid, e) for e in ALL.split()]
    completed = rec.delivered()[-1].params
    assert completed["Called"] == PIN_CALLEE and completed["From"] == FROM
    assert completed["CallStatus"] == "completed"
    assert completed["CallbackSource"] == "call-progress-event"
    assert completed["Direction"] == "outbound-api"
    assert completed["apikey"] == "receiver-key" and completed["token"] == "123456"
    assert int(completed["CallDuration"]) == call["duration"] >= 1
    assert "ParentCallSid" not in completed
    assert [r.headers["X-Voiceapp-Event-Id"] for r in rec.delivered()] == [
        f"{sid}:{e}" for e in ALL.split()
    ]
    assert all(r.headers.get("X-Voiceapp-Signature") for r in rec.delivered())
    stored = {e["event"]: e for e in call["events"]}
    assert all(e["state"] == "delivered" and len(e["attempts"]) == 1 for e in stored.values())
    assert call["timestamps"]["completed"] >= call["timestamps"]["in-progress"]


def bridge(server: Server, rec: HttpReceiver, digits: str) -> dict[str, Any]:
    response = server.post_call(
        **{
            "from": FROM,
            "to": PIN_CALLEE,
            "app": "bridge",
            "variables": {"number": IVR, "send_digits": digits},
            "statusCallback": rec.url,
            "statusCallbackEvent": ALL,
        }
    )
    assert response.status_code == 201, response.text
    return finished(server, response.json()["sid"])


def test_bridge_to_ivr_with_waits_connects(running: tuple[Server, HttpReceiver]) -> None:
    server, rec = running
    call = bridge(server, rec, "wwww101")
    assert call["status"] == "completed"
    assert [leg["to"] for leg in call["legs"]] == [PIN_CALLEE, IVR]
    b_leg = call["legs"][1]
    assert b_leg["parentCallSid"] == call["sid"] and b_leg["direction"] == "outbound-dial"
    assert b_leg["status"] == "completed"
    assert trace(call, "digits-sent", "b1")[0]["digits"] == "wwww101"
    assert [d["result"] for d in trace(call, "ivr", "b1")] == ["connected"]
    assert trace(call, "dial-result")[0]["DialCallStatus"] == "completed"
    # b-leg callbacks carry ParentCallSid, to the call's statusCallback
    b_events = [r.params for r in rec.delivered() if r.params["CallSid"] == b_leg["sid"]]
    assert [p["StatusCallbackEvent"] for p in b_events] == ALL.split()
    assert all(p["ParentCallSid"] == call["sid"] for p in b_events)
    assert all(p["Direction"] == "outbound-dial" for p in b_events)


def test_bridge_to_ivr_without_waits_is_not_connected(running: tuple[Server, HttpReceiver]) -> None:
    server, rec = running
    call = bridge(server, rec, "101")  # arrives during the greeting: ignored
    results = [d["result"] for d in trace(call, "ivr", "b1")]
    assert "connected" not in results
    assert results[-1] == "timeout"
    assert call["legs"][1]["status"] == "completed"  # the IVR answered, then hung up


def test_senddigits_on_the_a_leg(running: tuple[Server, HttpReceiver]) -> None:
    """No url, no app: the IVR is called, hears senddigits, and is bridged to ``from``."""
    server, _ = running
    response = server.post_call(**{"from": FROM, "to": IVR, "senddigits": "wwww101"})
    call = finished(server, response.json()["sid"])
    assert [d["result"] for d in trace(call, "ivr", "a")] == ["connected"]
    assert [leg["to"] for leg in call["legs"]] == [IVR, FROM]  # bridged to from (seed rule)


def outcome(
    server: Server, rec: HttpReceiver, to: str
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    response = server.post_call(
        **{
            "from": FROM,
            "to": to,
            "url": server.base + "/never",
            "statusCallback": rec.url,
            "statusCallbackEvent": ALL,
            "statusCallbackMethod": "GET",
        }
    )
    assert response.status_code == 201, response.text
    call = finished(server, response.json()["sid"])
    return call, [r.params for r in rec.delivered() if r.params["CallSid"] == call["sid"]]


def test_busy_no_answer_failed(running: tuple[Server, HttpReceiver]) -> None:
    server, rec = running
    expected = {
        BUSY: ("busy", ["initiated", "ringing", "completed"]),
        NO_ANSWER: ("no-answer", ["initiated", "ringing", "completed"]),
        FAILING: ("failed", ["initiated", "completed"]),
    }
    for to, (status, events) in expected.items():
        call, params = outcome(server, rec, to)
        assert call["status"] == status
        assert statuses(call)[-1] == status and "in-progress" not in statuses(call)
        assert [p["StatusCallbackEvent"] for p in params] == events
        assert params[-1]["CallStatus"] == status and params[-1]["CallDuration"] == "0"
        assert not trace(call, "fetch")  # nothing is fetched for an unanswered call
    assert all(r.method == "GET" for r in rec.received)


def test_receiver_fails_twice_then_recovers(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    receiver: Callable[..., HttpReceiver],
) -> None:
    rec = receiver(fail_first=2)
    server = serve(allow=(rec.port,))
    dialer(server, policy=RetryPolicy(attempts=5, first_delay=1.0))
    response = server.post_call(
        **{
            "from": FROM,
            "to": PIN_CALLEE,
            "app": "pin",
            "variables": {"pin": "8970"},
            "statusCallback": rec.url,
        }
    )
    call = finished(server, response.json()["sid"])
    (event,) = call["events"]
    assert event["event"] == "completed" and event["state"] == "delivered"
    assert [(a["ok"], a["status"]) for a in event["attempts"]] == [
        (False, 503),
        (False, 503),
        (True, 204),
    ]
    assert [r.status for r in rec.received] == [503, 503, 204]
    assert len({r.headers["X-Voiceapp-Event-Id"] for r in rec.received}) == 1
    assert len(rec.delivered()) == 1
    assert statuses(call).count("completed") == 1  # no duplicate state change


def test_409_while_queued_and_cancel_while_ringing(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    receiver: Callable[..., HttpReceiver],
) -> None:
    rec = receiver()
    server = serve(allow=(rec.port,))
    first = server.post_call(**{"from": FROM, "to": SLOW, "statusCallback": rec.url})
    assert first.status_code == 201
    second = server.post_call(**{"from": FROM, "to": SLOW})
    assert (second.status_code, problem(second)["code"]) == (409, "call-to-busy")
    sid = first.json()["sid"]
    assert server.call(sid)["status"] == "queued"
    dialer(server, real=True)  # SLOW rings for a minute of real time
    wait_for(lambda: server.call(sid)["status"] == "ringing")
    assert server.post_call(**{"from": FROM, "to": SLOW}).status_code == 409  # still active
    canceled = requests.post(f"{server.base}/v1/calls/{sid}/cancel", headers=AUTH, timeout=10)
    assert canceled.status_code == 200
    call = finished(server, sid)
    assert call["status"] == "canceled"
    assert rec.delivered()[-1].params["CallStatus"] == "canceled"


def test_pin_call_on_redis(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    receiver: Callable[..., HttpReceiver],
    redis_server: str,
) -> None:
    """The same flow with STORE_URL on a real redis-server (sessions and calls)."""
    rec = receiver()
    prefix = f"e2e{uuid.uuid4().hex[:8]}:"
    server = serve(allow=(rec.port,), STORE_URL=f"{redis_server}?prefix={prefix}")
    dialer(server)
    response = server.post_call(
        **{
            "from": FROM,
            "to": PIN_CALLEE,
            "app": "pin",
            "variables": {"pin": "8970"},
            "statusCallback": rec.url,
            "statusCallbackEvent": ALL,
        }
    )
    assert response.status_code == 201, response.text
    sid = response.json()["sid"]
    call = finished(server, sid)
    assert call["status"] == "completed"
    assert "Your pin is ***." in [d["text"] for d in trace(call, "say")]
    assert [event for call_sid, event in rec.events() if call_sid == sid] == ALL.split()
