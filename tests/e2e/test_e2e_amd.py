"""Answering-machine detection end to end: a call created through ``POST /v1/calls`` or
the Twilio API, carried out by the bundled dialer over the simulated network (virtual
clock), its AnsweredBy on the API JSON and the AsyncAmd callback at an HTTP receiver."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.e2e import FROM, HttpReceiver, Server, finished
from support.servers import wait_for
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.settings_tables.network import NetworkConfig

ACCOUNT = "AC" + "5d" * 16
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
MACHINE = "+886912000441"
FAX = "+886912000442"
LEAVE = "<Response><Say>Please call us back</Say></Response>"


def start(server: Server) -> None:
    clock = VirtualClock()
    numbers = {
        MACHINE: {"answered_by": "machine", "greeting_seconds": 9, "beep": True},
        FAX: {"answered_by": "fax"},
    }
    config = NetworkConfig.from_dict({"numbers": numbers})
    server.start_dialer(clock, SimulatedNetwork(clock, config))


def test_core_api_async_amd_posts_the_result(
    serve: Callable[..., Server], receiver: Callable[..., HttpReceiver]
) -> None:
    rec = receiver()
    server = serve(allow=(rec.port,))
    start(server)
    response = server.post_call(
        **{
            "from": FROM,
            "to": MACHINE,
            "twiml": "<Response><Pause length='15'/></Response>",
            "machineDetection": "DetectMessageEnd",
            "asyncAmd": True,
            "asyncAmdStatusCallback": rec.url,
        }
    )
    assert response.status_code == 201, response.text
    call = finished(server, response.json()["sid"])
    assert call["status"] == "completed" and call["answeredBy"] == "machine_end_beep"
    assert (call["machineDetection"], call["asyncAmd"]) == ("DetectMessageEnd", True)
    sent = wait_for(lambda: rec.delivered() or None)
    assert sent[0].params == {
        "CallSid": call["sid"],
        "AnsweredBy": "machine_end_beep",
        "MachineDetectionDuration": "9000",
    }
    assert "amd" in [event["event"] for event in call["events"]]


def test_core_api_refuses_async_amd_without_machine_detection(
    serve: Callable[..., Server],
) -> None:
    server = serve()
    bad = server.post_call(**{"from": FROM, "to": MACHINE, "twiml": LEAVE, "asyncAmd": True})
    assert bad.status_code == 422 and bad.json()["field"] == "asyncAmd"
    bad = server.post_call(
        **{"from": FROM, "to": MACHINE, "twiml": LEAVE, "machineDetection": "Maybe"}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "machineDetection"


def test_twilio_api_sync_detection_shows_answered_by(serve: Callable[..., Server]) -> None:
    server = serve(TWILIO_ACCOUNTS={ACCOUNT: TOKEN})
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = server.base
    created = client.calls.create(to=FAX, from_=FROM, twiml=LEAVE, machine_detection="Enable")
    start(server)
    done = wait_for(
        lambda: c if (c := client.calls(created.sid).fetch()).status == "completed" else None
    )
    assert done.answered_by == "fax"
    fetch = [r for r in server.call(created.sid)["trace"] if r["kind"] == "amd"]
    assert fetch[0]["detail"] == {"answered_by": "fax", "duration_ms": 1000}


def test_core_api_takes_the_detection_tuning(serve: Callable[..., Server]) -> None:
    server = serve()
    start(server)
    response = server.post_call(
        **{
            "from": FROM,
            "to": MACHINE,
            "twiml": LEAVE,
            "machineDetection": "DetectMessageEnd",
            "machineDetectionTimeout": 5,  # the 9 s greeting outlasts it
            "machineDetectionSpeechThreshold": 1500,
            "machineDetectionSpeechEndThreshold": 800,
            "machineDetectionSilenceTimeout": 3000,
        }
    )
    assert response.status_code == 201, response.text
    call = finished(server, response.json()["sid"])
    assert call["answeredBy"] == "machine_end_other"
    assert (call["machineDetectionTimeout"], call["machineDetectionSpeechThreshold"]) == (5, 1500)
    shown = (call["machineDetectionSpeechEndThreshold"], call["machineDetectionSilenceTimeout"])
    assert shown == (800, 3000)
    amd = [r for r in call["trace"] if r["kind"] == "amd"]
    assert amd[0]["detail"] == {"answered_by": "machine_end_other", "duration_ms": 5000}


def test_core_api_checks_the_tuning_ranges(serve: Callable[..., Server]) -> None:
    server = serve()
    base = {"from": FROM, "to": MACHINE, "twiml": LEAVE, "machineDetection": "Enable"}
    for name, bad in (
        ("machineDetectionTimeout", 2),
        ("machineDetectionTimeout", 61),
        ("machineDetectionSpeechThreshold", 999),
        ("machineDetectionSpeechThreshold", 6001),
        ("machineDetectionSpeechEndThreshold", 499),
        ("machineDetectionSpeechEndThreshold", 5001),
        ("machineDetectionSilenceTimeout", 1999),
        ("machineDetectionSilenceTimeout", 10001),
    ):
        refused = server.post_call(**base, **{name: bad})
        assert refused.status_code == 422, (name, bad)
        assert refused.json()["field"] == name
    alone = server.post_call(
        **{"from": FROM, "to": MACHINE, "twiml": LEAVE, "machineDetectionTimeout": 10}
    )
    assert alone.status_code == 422 and alone.json()["field"] == "machineDetectionTimeout"


def test_twilio_api_takes_the_detection_tuning(serve: Callable[..., Server]) -> None:
    server = serve(TWILIO_ACCOUNTS={ACCOUNT: TOKEN})
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = server.base
    created = client.calls.create(
        to=MACHINE,
        from_=FROM,
        twiml=LEAVE,
        machine_detection="Enable",
        machine_detection_timeout=3,
        machine_detection_speech_threshold=1000,
        machine_detection_speech_end_threshold=500,
        machine_detection_silence_timeout=2000,
    )
    stored = server.call(created.sid)
    assert (stored["machineDetectionTimeout"], stored["machineDetectionSpeechThreshold"]) == (
        3,
        1000,
    )
    start(server)
    done = wait_for(
        lambda: c if (c := client.calls(created.sid).fetch()).status == "completed" else None
    )
    assert done.answered_by == "machine_start"
    amd = [r for r in server.call(created.sid)["trace"] if r["kind"] == "amd"]
    assert amd[0]["detail"] == {"answered_by": "machine_start", "duration_ms": 1000}


def test_twilio_api_refuses_a_tuning_out_of_range(serve: Callable[..., Server]) -> None:
    server = serve(TWILIO_ACCOUNTS={ACCOUNT: TOKEN})
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = server.base
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(
            to=MACHINE,
            from_=FROM,
            twiml=LEAVE,
            machine_detection="Enable",
            machine_detection_speech_threshold=7000,
        )
    assert refused.value.code == 20422
    assert "MachineDetectionSpeechThreshold" in refused.value.msg
