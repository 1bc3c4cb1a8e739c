"""No secret leaves a call: GET /v1/calls, the trace and the logs show no apikey value, no
session or step token and no PIN; callbacks are signed so that receivers can trust the
event id and refuse replays."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from support.e2e import AUTH, FROM, PIN_CALLEE, HttpReceiver, Server, finished

from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.errors import TokenInvalid
from voiceapp.settings_tables.network import NetworkConfig
from voiceapp.signatures import HEADER, ReplayCache, verify_request
from voiceapp.web import runtime
from voiceapp.web.calls import call_service

TYPIST = "+886912000333"  # enters the PIN when asked for it
SECRET_KEY = "receiver-apikey-S3CRET"
PIN = "8970"
ALL = "initiated ringing answered completed"


def start(serve: Callable[..., Server], rec: HttpReceiver) -> Server:
    server = serve(allow=(rec.port,))
    clock = VirtualClock()
    network = SimulatedNetwork(
        clock,
        NetworkConfig.from_dict(
            {
                "numbers": {
                    PIN_CALLEE: {"rings": 1},
                    TYPIST: {
                        "rings": 1,
                        "press": [{"on_hearing": "enter your", "delay": 0.5, "digits": PIN}],
                    },
                }
            }
        ),
    )
    server.start_dialer(clock, network)
    return server


def place(server: Server, rec: HttpReceiver, to: str, app: str) -> str:
    response = server.post_call(
        **{
            "from": FROM,
            "to": to,
            "app": app,
            "variables": {"pin": PIN},
            "statusCallback": rec.url,
            "statusCallbackEvent": ALL,
            "secretKey": SECRET_KEY,
        }
    )
    assert response.status_code == 201, response.text
    sid: str = response.json()["sid"]
    return sid


def tokens_of(server: Server, sid: str) -> list[str]:
    """The live tokens of a call (its session URL, from the store), for searching."""
    url = call_service(server.app).store.require(sid).spec.url
    assert url is not None and "/voice/" in url
    return [url.rsplit("/", 1)[1]]


def rows(call: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [row["detail"] for row in call.get("trace", ()) if row["kind"] == kind]


@pytest.mark.parametrize("app", ["pin", "pin-verify"])
def test_get_call_the_trace_and_the_logs_hold_no_secret(
    serve: Callable[..., Server],
    receiver: Callable[..., HttpReceiver],
    caplog: pytest.LogCaptureFixture,
    app: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = receiver()
    server = start(serve, rec)
    sid = place(server, rec, PIN_CALLEE if app == "pin" else TYPIST, app)
    call = finished(server, sid)
    assert call["status"] == "completed"
    raw = requests.get(f"{server.base}/v1/calls/{sid}", headers=AUTH, timeout=10).text
    assert json.loads(raw)["trace"]  # the trace is in the body searched below

    secrets = [SECRET_KEY, PIN, " ".join(PIN), *tokens_of(server, sid)]
    step_urls = [d["url"] for d in rows(call, "fetch")[1:]]  # pin-verify's step fetches
    for secret in secrets:
        assert secret not in raw, secret
        assert secret not in caplog.text, secret
    # what is shown instead: the route with a masked token, masked values
    assert call["url"] == server.base + "/voice/***"
    assert call["variables"]["pin"] == "***" and call["secretKey"] == "***"
    assert all(url == server.base + "/voice/step/***" for url in step_urls), step_urls
    for event in call["events"]:
        assert ["apikey", "***"] in event["params"]
    if app == "pin":
        assert [d["text"] for d in rows(call, "say")] == ["Your pin is ***."] * 2  # repeat 2
    else:
        assert [d["digits"] for d in rows(call, "gathered")] == ["***"]
        assert "Thank you. Your code is correct." in [d["text"] for d in rows(call, "say")]
    # the receiver still gets the seed's apikey parameter
    assert {r.params["apikey"] for r in rec.delivered()} == {SECRET_KEY}


def test_receivers_verify_callbacks_with_the_callback_key_only(
    serve: Callable[..., Server], receiver: Callable[..., HttpReceiver]
) -> None:
    rec = receiver()
    server = start(serve, rec)
    sid = place(server, rec, PIN_CALLEE, "pin")
    finished(server, sid)
    with server.app.app_context():
        settings = runtime().settings
    seen = ReplayCache()
    delivered = rec.delivered()
    assert len(delivered) == 4

    def verify(r: Any, *, secrets: Any = None, event_id: str | None = None) -> None:
        verify_request(
            secrets or settings.callback_secrets,
            r.headers[HEADER],
            r.method,
            rec.url,
            r.body,
            now=time.time(),
            event_id=event_id or r.headers["X-Voiceapp-Event-Id"],
            seen=seen,
        )

    for r in delivered:
        assert "v2=" in r.headers[HEADER]
        verify(r)
    first = delivered[0]
    with pytest.raises(TokenInvalid) as info:  # the same request again: a replay
        verify(first)
    assert info.value.code == "signature-replayed"
    with pytest.raises(TokenInvalid) as info:  # replayed under a fresh event id
        verify(first, event_id=f"{sid}:completed-fresh")
    assert info.value.code == "signature-mismatch"
    with pytest.raises(TokenInvalid) as info:  # the token key signs no callback
        verify(delivered[1], secrets=settings.SECRET_KEYS)
    assert info.value.code == "signature-mismatch"
