"""Answering-machine detection on the virtual clock: AnsweredBy on the document fetch
(sync) or the AsyncAmd callback, machine and fax callees, DetectMessageEnd waiting for
the beep, and a quick hang-up that still reports ``completed``."""

from __future__ import annotations

from typing import Any

import pytest
from support.dialer import CALLEE, Lab

from voiceapp.calls.records import MachineDetectionTuning
from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer import amd
from voiceapp.dialer.network import Leg
from voiceapp.errors import ConfigError
from voiceapp.settings_tables.network import NetworkConfig

ACCOUNT = "AC" + "1" * 32
HELLO = "<Response><Say>Hello</Say></Response>"
AMD_HOOK = "http://hooks.test/amd"


def callee(lab: Lab, **config: Any) -> None:
    lab.network_config["numbers"][CALLEE] = config


def fetch_params(lab: Lab) -> dict[str, str]:
    return lab.site.requests[0][2]


def seconds_of(handle: Any, kind: str) -> float:
    """Clock seconds of the first ``kind`` row of the a-leg's trace."""
    return float(handle.trace.of(kind, "a")[0].ms) / 1000


def fetched_at(lab: Lab, handle: Any) -> float:
    return seconds_of(handle, "fetch")


def answered_at(handle: Any) -> float:
    rows = [e for e in handle.trace.of("status", "a") if e.detail["status"] == "in-progress"]
    return float(rows[0].ms) / 1000


def amd_callbacks(lab: Lab) -> list[dict[str, str]]:
    return [dict(r.params) for r in lab.receiver.requests if r.url == AMD_HOOK]


@pytest.mark.parametrize(
    ("config", "mode", "answered_by", "seconds"),
    [
        ({"answered_by": "human"}, "Enable", "human", amd.HUMAN_SECONDS),
        ({"answered_by": "human"}, "DetectMessageEnd", "human", amd.HUMAN_SECONDS),
        ({"answered_by": "machine"}, "Enable", "machine_start", amd.MACHINE_SPEECH_SECONDS),
        ({"answered_by": "machine", "greeting_seconds": 7}, "DetectMessageEnd",
         "machine_end_beep", 7.0),
        ({"answered_by": "machine", "greeting_seconds": 7, "beep": False}, "DetectMessageEnd",
         "machine_end_silence", 7.0 + amd.END_SILENCE_SECONDS),
        ({"answered_by": "machine", "greeting_seconds": 45}, "DetectMessageEnd",
         "machine_end_other", amd.TIMEOUT_SECONDS),
        ({"answered_by": "fax"}, "Enable", "fax", amd.FAX_SECONDS),
        ({"answered_by": "fax"}, "DetectMessageEnd", "fax", amd.FAX_SECONDS),
        ({}, "Enable", "unknown", 0.0),
    ],
)  # fmt: skip
def test_sync_detection_holds_the_document_until_the_result(
    lab: Lab, config: dict[str, Any], mode: str, answered_by: str, seconds: float
) -> None:
    callee(lab, **config)
    url = lab.site.add("/hello", HELLO)
    call = lab.call(url, account_sid=ACCOUNT, machine_detection=mode)
    assert fetch_params(lab)["AnsweredBy"] == answered_by
    assert fetched_at(lab, call) - answered_at(call) == pytest.approx(seconds)
    row = call.trace.of("amd")[0].detail
    assert row == {"answered_by": answered_by, "duration_ms": round(seconds * 1000)}
    assert call.status == "completed"
    completed = dict(lab.receiver.requests[-1].params)
    assert (completed["CallStatus"], completed["AnsweredBy"]) == ("completed", answered_by)


def test_the_seed_set_carries_answered_by_too(lab: Lab) -> None:
    callee(lab, answered_by="machine")
    call = lab.call(lab.site.add("/hello", HELLO), machine_detection="Enable")
    assert fetch_params(lab)["AnsweredBy"] == "machine_start"
    assert "AccountSid" not in fetch_params(lab)
    answered = [dict(r.params) for r in lab.receiver.requests if ("CallStatus", "in-progress")
                in r.params]  # fmt: skip
    assert "AnsweredBy" not in answered[0]  # sent at the answer, before the result
    assert call.status == "completed"


def test_a_call_without_detection_has_no_answered_by(lab: Lab) -> None:
    callee(lab, answered_by="machine")
    lab.call(lab.site.add("/hello", HELLO))
    assert "AnsweredBy" not in fetch_params(lab)


def test_detect_message_end_runs_the_document_after_the_beep(lab: Lab) -> None:
    callee(lab, answered_by="machine", greeting_seconds=12)
    url = lab.site.add("/msg", "<Response><Say>Please call us back</Say></Response>")
    call = lab.call(url, account_sid=ACCOUNT, machine_detection="DetectMessageEnd")
    leg: Leg = call.a.leg
    said = [h for h in leg.heard if h.kind == "say"]
    assert said[0].at - float(call.a.answered_at) >= 12.0  # the message starts after the beep


def test_async_detection_runs_the_document_at_once_and_posts_the_result(lab: Lab) -> None:
    callee(lab, answered_by="machine", greeting_seconds=8)
    url = lab.site.add("/hold", "<Response><Pause length='20'/></Response>")
    call = lab.call(
        url,
        account_sid=ACCOUNT,
        machine_detection="DetectMessageEnd",
        async_amd=True,
        amd_callback=Subscription(url=AMD_HOOK, method="POST"),
    )
    assert fetched_at(lab, call) == pytest.approx(answered_at(call))
    assert "AnsweredBy" not in fetch_params(lab)
    assert amd_callbacks(lab) == [
        {
            "CallSid": call.sid,
            "AccountSid": ACCOUNT,
            "AnsweredBy": "machine_end_beep",
            "MachineDetectionDuration": "8000",
        }
    ]
    completed = dict(lab.receiver.requests[-1].params)
    assert completed["AnsweredBy"] == "machine_end_beep"
    assert seconds_of(call, "amd") - answered_at(call) == pytest.approx(8.0)


def test_async_seed_callback_has_no_account(lab: Lab) -> None:
    callee(lab, answered_by="human")
    url = lab.site.add("/hold", "<Response><Pause length='5'/></Response>")
    lab.call(
        url,
        machine_detection="Enable",
        async_amd=True,
        amd_callback=Subscription(url=AMD_HOOK, method="GET"),
    )
    (sent,) = [r for r in lab.receiver.requests if r.url.startswith(AMD_HOOK)]
    assert sent.method == "GET"
    assert dict(sent.params) == {
        "CallSid": sent.params[0][1],
        "AnsweredBy": "human",
        "MachineDetectionDuration": str(round(amd.HUMAN_SECONDS * 1000)),
    }


@pytest.mark.parametrize("async_amd", [False, True])
def test_a_quick_hang_up_during_detection_still_sends_completed(lab: Lab, async_amd: bool) -> None:
    callee(lab, answered_by="machine", greeting_seconds=20, hangup_after=1.0)
    url = lab.site.add("/hold", "<Response><Pause length='10'/></Response>")
    call = lab.call(
        url,
        account_sid=ACCOUNT,
        machine_detection="DetectMessageEnd",
        async_amd=async_amd,
        amd_callback=Subscription(url=AMD_HOOK) if async_amd else None,
    )
    assert call.status == "completed"
    statuses = [dict(r.params)["CallStatus"] for r in lab.receiver.requests]
    assert statuses[-1] == "completed" and statuses.count("completed") == 1
    assert dict(lab.receiver.requests[-1].params)["CallDuration"] == "1"
    assert not call.trace.of("amd") and amd_callbacks(lab) == []
    if not async_amd:
        assert lab.site.requests == []  # the document never ran
    else:
        assert call.trace.of("amd-abandoned")


def test_network_config_checks_the_machine_keys() -> None:
    config = NetworkConfig.from_dict(
        {"numbers": {"+15550001": {"answered_by": "machine", "greeting_seconds": 3, "beep": False}}}
    )
    machine = config.callee("+15550001")
    assert (machine.answered_by, machine.greeting_seconds, machine.beep) == ("machine", 3.0, False)
    with pytest.raises(ConfigError, match="answered_by"):
        NetworkConfig.from_dict({"default": {"answered_by": "robot"}})
    with pytest.raises(ConfigError, match="greeting_seconds"):
        NetworkConfig.from_dict({"default": {"answered_by": "human", "greeting_seconds": 3}})
    with pytest.raises(ConfigError, match="beep"):
        NetworkConfig.from_dict({"default": {"answered_by": "machine", "beep": "yes"}})


def test_detect_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="Enable"):
        amd.detect(Leg("CA1", "+1", "+2"), "Sometimes")


@pytest.mark.parametrize(
    ("config", "mode", "tuning", "answered_by", "seconds"),
    [
        # a longer SpeechEndThreshold: a person is known after the hello and 3 s of silence
        ({"answered_by": "human"}, "Enable", {"speech_end_threshold": 3000}, "human", 3.6),
        # a shorter SpeechThreshold calls a machine sooner
        ({"answered_by": "machine"}, "Enable", {"speech_threshold": 1000}, "machine_start", 1.0),
        # the silence that ends a greeting without a beep
        ({"answered_by": "machine", "greeting_seconds": 4, "beep": False}, "DetectMessageEnd",
         {"speech_end_threshold": 500}, "machine_end_silence", 4.5),
        # MachineDetectionTimeout: a greeting longer than it ends as machine_end_other ...
        ({"answered_by": "machine", "greeting_seconds": 12}, "DetectMessageEnd",
         {"timeout": 10}, "machine_end_other", 10.0),
        # ... and Enable gives up as unknown when the result would come after it
        ({"answered_by": "human"}, "Enable", {"timeout": 3, "speech_end_threshold": 5000},
         "unknown", 3.0),
    ],
)  # fmt: skip
def test_the_tuning_decides_the_result_and_its_time(
    lab: Lab,
    config: dict[str, Any],
    mode: str,
    tuning: dict[str, int],
    answered_by: str,
    seconds: float,
) -> None:
    callee(lab, **config)
    url = lab.site.add("/hello", HELLO)
    call = lab.call(
        url,
        account_sid=ACCOUNT,
        machine_detection=mode,
        amd_tuning=MachineDetectionTuning(**tuning),
    )
    assert fetch_params(lab)["AnsweredBy"] == answered_by
    assert fetched_at(lab, call) - answered_at(call) == pytest.approx(seconds)
    assert call.trace.of("amd")[0].detail["duration_ms"] == round(seconds * 1000)


def test_the_tuning_defaults_are_twilios() -> None:
    tuning = MachineDetectionTuning()
    assert (tuning.timeout, tuning.speech_threshold) == (30, 2400)
    assert (tuning.speech_end_threshold, tuning.silence_timeout) == (1200, 5000)
    assert round(amd.HUMAN_SECONDS, 6) == 1.8
