"""The carrier backend end to end: server A places its calls through server B's
Twilio-compatible API (``[network] backend = "carrier"``), B runs them on its own
simulated network, fetching A's session documents, and reports back to A's
``/carrier/status/<sid>`` route; A's call record and A's own status callbacks follow.

Both servers are real werkzeug servers on 127.0.0.1 with their own stores; A's dialer is
on the real clock (its events come from B), B's on a virtual one unless a test needs
real time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support.e2e import (
    AUTH,
    BUSY,
    FROM,
    NETWORK,
    PIN_CALLEE,
    HttpReceiver,
    Server,
    base_config,
    finished,
    statuses,
)
from support.servers import wait_for

from voiceapp.dialer.clock import Clock, RealClock, VirtualClock
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.settings_tables.network import NetworkConfig
from voiceapp.signatures import twilio_signature
from voiceapp.web import create_app
from voiceapp.web.calls import call_service

ACCOUNT = "AC" + "c" * 32
TOKEN = "carrier-auth-token-0123456789"
ALL = "initiated ringing answered completed"
TYPIST = "+886912000333"  # on B's network: enters the PIN when asked for it
B_NETWORK: dict[str, Any] = {
    **NETWORK,
    "numbers": {
        **NETWORK["numbers"],
        TYPIST: {
            "rings": 1,
            "press": [{"on_hearing": "enter your", "delay": 0.5, "digits": "8970"}],
        },
    },
}
HOLD = "<Response><Say loop='0'>Please hold the line while we connect you</Say></Response>"


class Pair:
    """Server A (backend carrier) and server B (the carrier: its Twilio API)."""

    def __init__(self, tmp_path: Path, receiver: HttpReceiver) -> None:
        self.tmp_path = tmp_path
        self.receiver = receiver
        self.a = Server()
        self.b = Server()

    def start(self, *, token: str = TOKEN, real_b: bool = False, **a_settings: Any) -> None:
        allow = [f"127.0.0.1:{p}" for p in (self.a.port, self.b.port, self.receiver.port)]
        (self.tmp_path / "a").mkdir()
        (self.tmp_path / "b").mkdir()
        b_config = base_config(self.tmp_path / "b", allow)
        b_config["TWILIO_ACCOUNTS"] = {ACCOUNT: TOKEN}
        self.b.start(create_app(b_config))
        clock: Clock = RealClock() if real_b else VirtualClock()
        self.b.start_dialer(clock, SimulatedNetwork(clock, NetworkConfig.from_dict(B_NETWORK)))
        a_config = base_config(self.tmp_path / "a", allow)
        a_config["PUBLIC_URL"] = self.a.base
        a_config["NETWORK"] = {**NETWORK, "backend": "carrier"}
        a_config["CARRIER"] = {
            "base_url": self.b.base,
            "account_sid": ACCOUNT,
            "auth_token": token,
        }
        a_config.update(a_settings)
        self.a.start(create_app(a_config))
        self.a.start_dialer(RealClock())  # its network: the settings' carrier backend

    def stop(self) -> None:
        self.a.stop()
        self.b.stop()

    def b_call(self, to: str) -> dict[str, Any]:
        """B's one call to ``to`` (voiceapp's view, with its trace), once it ended."""
        page = self.b.get(f"/v1/calls?to={requests.utils.quote(to)}", AUTH).json()
        (item,) = page["calls"]
        return finished(self.b, item["sid"])


@pytest.fixture
def pair(tmp_path: Path, receiver: Callable[..., HttpReceiver]) -> Iterator[Pair]:
    made = Pair(tmp_path, receiver())
    yield made
    made.stop()


def rows(call: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [row["detail"] for row in call.get("trace", ()) if row["kind"] == kind]


def test_a_pin_call_runs_on_the_carriers_network(pair: Pair) -> None:
    pair.start()
    rec = pair.receiver
    response = pair.a.post_call(
        **{
            "from": FROM,
            "to": PIN_CALLEE,
            "app": "pin",
            "variables": {"pin": "8970", "repeat": 1},
            "statusCallback": rec.url + "?tag=pin",
            "statusCallbackEvent": ALL,
        }
    )
    assert response.status_code == 201, response.text
    sid = response.json()["sid"]
    call = finished(pair.a, sid)
    assert call["status"] == "completed" and call["error"] is None, call
    assert statuses(call) == ["queued", "initiated", "ringing", "in-progress", "completed"]
    # B fetched A's session URL and the callee on B's network heard the PIN
    b_call = pair.b_call(PIN_CALLEE)
    assert b_call["status"] == "completed" and b_call["error"] is None
    fetched = rows(b_call, "fetch")
    assert fetched and fetched[0]["url"].startswith(pair.a.base + "/voice/")
    said = [d["text"] for d in rows(b_call, "say")]
    assert len(said) == 1 and said[0].startswith("Your pin is")
    # A's dialer followed B's callbacks: the carrier's sid, every status, its duration
    carrier_rows = rows(call, "carrier-status")
    seen = [r["status"] for r in carrier_rows]
    assert seen == ["initiated", "ringing", "in-progress", "completed"]
    assert rows(call, "carrier-call")[0]["carrier_sid"] == b_call["sid"]
    assert call["duration"] == int(carrier_rows[-1]["duration"]) == b_call["duration"]
    # A's own receiver got the seed's parameters, A's sid, in order
    delivered = wait_for(lambda: rec.delivered() if len(rec.delivered()) == 4 else None)
    assert [r.params["StatusCallbackEvent"] for r in delivered] == ALL.split()
    assert {r.params["CallSid"] for r in delivered} == {sid}
    last = delivered[-1].params
    assert last["callSid"] == sid and last["CallStatus"] == "completed"
    assert last["CallDurartion"] == last["CallDuration"] == str(call["duration"])
    assert all(r.params["tag"] == "pin" for r in delivered)
    # the carrier's auth token is nowhere in what A shows of the call
    assert TOKEN not in json.dumps(call)


def test_a_server_requiring_twilio_signatures_takes_the_carriers_fetches(pair: Pair) -> None:
    """REQUIRE_SIGNATURE = twilio on A: B signs its fetch of A's session URL with the
    account's token, which A knows as its [carrier] auth token (no TWILIO_AUTH_TOKEN)."""
    pair.start(REQUIRE_SIGNATURE="twilio")
    response = pair.a.post_call(
        **{"from": FROM, "to": PIN_CALLEE, "app": "pin", "variables": {"pin": "2468"}}
    )
    assert response.status_code == 201, response.text
    call = finished(pair.a, response.json()["sid"])
    assert call["status"] == "completed"
    b_call = pair.b_call(PIN_CALLEE)
    assert b_call["error"] is None and rows(b_call, "fetch-error") == []
    said = [d["text"] for d in rows(b_call, "say")]
    assert said and said[0].startswith("Your pin is")


def test_an_ivr_walk_posts_the_callees_digits_to_as_step_urls(pair: Pair) -> None:
    """pin-verify: B runs A's <Gather>, its callee presses 8970, B posts the digits to A's
    step URL and runs the answer."""
    pair.start()
    response = pair.a.post_call(
        **{"from": FROM, "to": TYPIST, "app": "pin-verify", "variables": {"pin": "8970"}}
    )
    assert response.status_code == 201, response.text
    call = finished(pair.a, response.json()["sid"])
    assert call["status"] == "completed" and call["error"] is None
    b_call = pair.b_call(TYPIST)
    fetched = [d["url"] for d in rows(b_call, "fetch")]
    assert len(fetched) >= 2 and fetched[1].startswith(pair.a.base + "/voice/step/")
    assert "Thank you. Your code is correct." in [d["text"] for d in rows(b_call, "say")]


def test_a_call_without_url_bridges_to_from_on_the_carrier(pair: Pair) -> None:
    """The seed's rule (no url: connect the callee to `from`) goes to the carrier as Twiml."""
    pair.start()
    response = pair.a.post_call(**{"from": FROM, "to": PIN_CALLEE})
    assert response.status_code == 201, response.text
    call = finished(pair.a, response.json()["sid"])
    assert call["status"] == "completed"
    b_call = pair.b_call(PIN_CALLEE)
    assert [leg["to"] for leg in b_call["legs"]] == [PIN_CALLEE, FROM]
    assert statuses(b_call, 1)[-1] == "completed"


def test_a_busy_callee(pair: Pair) -> None:
    pair.start()
    rec = pair.receiver
    response = pair.a.post_call(
        **{"from": FROM, "to": BUSY, "statusCallback": rec.url, "statusCallbackEvent": ALL}
    )
    assert response.status_code == 201, response.text
    sid = response.json()["sid"]
    call = finished(pair.a, sid)
    assert call["status"] == "busy" and call["duration"] == 0
    assert statuses(call) == ["queued", "initiated", "ringing", "busy"]
    assert pair.b_call(BUSY)["status"] == "busy"
    delivered = wait_for(lambda: rec.delivered() if len(rec.delivered()) == 3 else None)
    assert [r.params["StatusCallbackEvent"] for r in delivered] == [
        "initiated",
        "ringing",
        "completed",
    ]
    assert delivered[-1].params["CallStatus"] == "busy"
    assert rows(call, "carrier-status")[-1]["sip"] == "486"


def test_a_hang_up_through_as_api_reaches_the_carrier(pair: Pair) -> None:
    pair.start(real_b=True)
    response = pair.a.post_call(**{"from": FROM, "to": PIN_CALLEE, "twiml": HOLD})
    assert response.status_code == 201, response.text
    sid = response.json()["sid"]
    wait_for(lambda: pair.a.call(sid)["status"] == "in-progress")
    hung_up = pair.a.post(f"/v1/calls/{sid}", {"status": "completed"}, AUTH)
    assert hung_up.status_code == 200, hung_up.text
    call = finished(pair.a, sid)
    assert call["status"] == "completed"
    assert rows(call, "hangup")[0]["reason"] == "hung up through the API"
    wait_for(lambda: rows(pair.a.call(sid), "carrier-update"))
    assert rows(pair.a.call(sid), "carrier-update")[0]["status"] == "completed"
    # B ended its call because A asked it to (Twilio's update, Status=completed)
    b_call = pair.b_call(PIN_CALLEE)
    assert b_call["status"] == "completed"
    assert rows(b_call, "hangup")[0]["reason"] == "hung up through the API"


def test_stopping_as_dialer_hangs_its_calls_up_at_the_carrier(pair: Pair) -> None:
    pair.start(real_b=True)
    sid = pair.a.post_call(**{"from": FROM, "to": PIN_CALLEE, "twiml": HOLD}).json()["sid"]
    wait_for(lambda: pair.a.call(sid)["status"] == "in-progress")
    dialer = call_service(pair.a.app).dialer
    assert dialer is not None
    dialer.stop()  # waits for the carrier's hang-up request, not only for the call's end
    assert rows(pair.a.call(sid), "carrier-update")[0]["status"] == "completed"
    assert pair.b_call(PIN_CALLEE)["status"] == "completed"


def test_bad_carrier_credentials_fail_the_call_clearly(pair: Pair) -> None:
    wrong = "not-the-carrier-token-987654"
    pair.start(token=wrong)
    response = pair.a.post_call(**{"from": FROM, "to": PIN_CALLEE, "twiml": HOLD})
    assert response.status_code == 201, response.text
    call = finished(pair.a, response.json()["sid"])
    assert call["status"] == "failed"
    error = call["error"]
    assert error["code"] == "carrier-auth" and error["status"] == 401
    assert "account_sid/auth_token" in error["message"]
    assert wrong not in json.dumps(call) and TOKEN not in json.dumps(call)
    # B placed nothing
    assert pair.b.get("/v1/calls", AUTH).json()["calls"] == []


def test_the_status_route_checks_the_carriers_signature(pair: Pair) -> None:
    pair.start()
    url = pair.a.base + "/carrier/status/CA" + "0" * 32
    form = {"CallSid": "CA1", "CallStatus": "ringing"}
    missing = requests.post(url, data=form, timeout=10)
    assert missing.status_code == 403 and missing.json()["code"] == "signature-missing"
    forged = twilio_signature("some-other-token", url, form)
    bad = requests.post(url, data=form, headers={"X-Twilio-Signature": forged}, timeout=10)
    assert bad.status_code == 403 and bad.json()["code"] == "signature-mismatch"
    good = twilio_signature(TOKEN, url, form)
    unknown = requests.post(url, data=form, headers={"X-Twilio-Signature": good}, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["code"] == "carrier-unknown-call"
    # B has no carrier backend: its route is off
    b_url = pair.b.base + "/carrier/status/CA1"
    off = requests.post(b_url, data=form, timeout=10)
    assert off.status_code == 404 and off.json()["code"] == "carrier-off"
