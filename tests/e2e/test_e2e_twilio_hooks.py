"""The bundled dialer speaking Twilio's webhook conventions end to end: a server with
REQUIRE_SIGNATURE=twilio accepts its fetches (X-Twilio-Signature), receivers validate its
callbacks with twilio-python, and a running call is changed through POST /v1/calls/<sid>
(real clock: the change must find the call mid-verb)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support.e2e import AUTH, FROM, PIN_CALLEE, HttpReceiver, Server, finished
from support.servers import wait_for
from twilio.request_validator import RequestValidator

from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.dialer.worker import Dialer
from voiceapp.settings_tables.network import NetworkConfig

TOKEN = "e2e-twilio-auth-token"
ALL = "initiated ringing answered completed"
TYPIST = "+886912000333"  # enters the PIN when asked for it
HOLD = "<Response><Say loop='0'>Please hold the line while we connect you</Say></Response>"


def rows(call: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [row["detail"] for row in call.get("trace", ()) if row["kind"] == kind]


def test_pin_call_with_require_signature_twilio(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    receiver: Callable[..., HttpReceiver],
) -> None:
    rec = receiver()
    server = serve(allow=(rec.port,), REQUIRE_SIGNATURE="twilio", TWILIO_AUTH_TOKEN=TOKEN)
    dialer(server)
    response = server.post_call(
        **{
            "from": FROM,
            "to": PIN_CALLEE,
            "app": "pin",
            "variables": {"pin": "8970", "repeat": 1},
            "statusCallback": rec.url,
            "statusCallbackEvent": ALL,
        }
    )
    assert response.status_code == 201, response.text
    call = finished(server, response.json()["sid"])
    # the document was accepted (no 403, no application error): the callee heard the PIN
    assert call["status"] == "completed" and call["error"] is None
    assert [d["text"] for d in rows(call, "say")] == ["Your pin is ***."]
    assert rows(call, "fetch-error") == []
    # every callback carries an X-Twilio-Signature twilio-python accepts
    delivered = rec.delivered()
    assert [r.params["StatusCallbackEvent"] for r in delivered] == ALL.split()
    validator = RequestValidator(TOKEN)
    for request in delivered:
        form = dict(request.params)
        assert validator.validate(rec.url, form, request.headers["X-Twilio-Signature"])


def test_pin_verify_steps_with_require_signature_twilio(serve: Callable[..., Server]) -> None:
    """The Gather action (a step URL, POST with Digits) is signed as Twilio signs it too."""
    server = serve(REQUIRE_SIGNATURE="twilio", TWILIO_AUTH_TOKEN=TOKEN)
    clock = VirtualClock()
    press = [{"on_hearing": "enter your", "delay": 0.5, "digits": "8970"}]
    config = {"numbers": {TYPIST: {"rings": 1, "press": press}}}
    server.start_dialer(clock, SimulatedNetwork(clock, NetworkConfig.from_dict(config)))
    response = server.post_call(
        **{"from": FROM, "to": TYPIST, "app": "pin-verify", "variables": {"pin": "8970"}}
    )
    assert response.status_code == 201, response.text
    call = finished(server, response.json()["sid"])
    assert call["error"] is None and rows(call, "fetch-error") == []
    assert len(rows(call, "fetch")) >= 2  # the session URL, then its step
    assert "Thank you. Your code is correct." in [d["text"] for d in rows(call, "say")]


def test_without_the_token_the_fetch_is_refused_as_before(
    serve: Callable[..., Server], dialer: Callable[..., Dialer]
) -> None:
    """The server checks TWILIO_AUTH_TOKEN; a dialer signing with another token is refused."""
    server = serve(REQUIRE_SIGNATURE="twilio", TWILIO_AUTH_TOKEN=TOKEN)
    running = dialer(server)
    # a dialer signing with a token the server does not know
    running.http.twilio_token = lambda account_sid: "some-other-token"
    response = server.post_call(
        **{"from": FROM, "to": PIN_CALLEE, "app": "pin", "variables": {"pin": "1234"}}
    )
    call = finished(server, response.json()["sid"])
    assert call["error"]["code"] == "fetch-status" and call["error"]["status"] == 403


def test_live_change_through_the_api_interrupts_the_current_verb(
    serve: Callable[..., Server], dialer: Callable[..., Dialer]
) -> None:
    server = serve()
    dialer(server, real=True)
    response = server.post_call(**{"from": FROM, "to": PIN_CALLEE, "twiml": HOLD})
    assert response.status_code == 201, response.text
    sid = response.json()["sid"]
    wait_for(lambda: any(r["kind"] == "say" for r in server.call(sid).get("trace", ())))
    changed = server.post(
        f"/v1/calls/{sid}", {"twiml": "<Response><Say>You are connected</Say></Response>"}, AUTH
    )
    assert changed.status_code == 200, changed.text
    call = finished(server, sid)
    said = [d["text"] for d in rows(call, "say")]
    assert said[0].startswith("Please hold") and said[-1] == "You are connected"
    assert call["status"] == "completed"
    assert rows(call, "change")[0]["when"] == "now"


def test_hang_up_through_the_api_and_the_time_limit(
    serve: Callable[..., Server], dialer: Callable[..., Dialer]
) -> None:
    server = serve()
    dialer(server, real=True)
    held = server.post_call(**{"from": FROM, "to": PIN_CALLEE, "twiml": HOLD}).json()["sid"]
    wait_for(lambda: server.call(held)["status"] == "in-progress")
    hung_up = server.post(f"/v1/calls/{held}", {"status": "completed"}, AUTH)
    assert hung_up.status_code == 200, hung_up.text
    first = finished(server, held)
    assert first["status"] == "completed"
    assert rows(first, "hangup")[0]["reason"] == "hung up through the API"
    # one call to a number at a time: the next one once the first has ended
    limited = server.post_call(**{"from": FROM, "to": PIN_CALLEE, "twiml": HOLD, "timeLimit": 2})
    assert limited.status_code == 201, limited.text
    second = finished(server, limited.json()["sid"])
    assert second["status"] == "completed" and second["duration"] == 2
    assert rows(second, "time-limit")[0]["seconds"] == 2
