"""Speech gathers on the virtual clock: callees that say phrases (``say``), speechTimeout
(seconds and ``auto``), hints, partial results to ``partialResultCallback`` and the
action's SpeechResult / Confidence."""

from __future__ import annotations

from typing import Any

import pytest
from support.dialer import APP, CALLEE, Lab

from voiceapp.dialer import speech
from voiceapp.errors import ConfigError
from voiceapp.settings_tables.network import NetworkConfig, Speak

ACCOUNT = "AC" + "2" * 32
PROMPT = "Say billing or support"


def gather(attrs: str = "") -> str:
    return (
        f"<Response><Gather input='speech' action='/heard' {attrs}>"
        f"<Say>{PROMPT}</Say></Gather><Say>Nothing heard</Say></Response>"
    )


def setup(lab: Lab, doc: str, **callee: Any) -> str:
    lab.network_config["numbers"][CALLEE] = callee
    lab.site.add("/heard", "<Response><Say>Thanks</Say></Response>")
    return lab.site.add("/start", doc)


def action(lab: Lab) -> dict[str, str]:
    (params,) = [p for _, url, p in lab.site.requests if url == APP + "/heard"]
    return params


def ms(call: Any, kind: str) -> float:
    return float(call.trace.of(kind, "a")[0].ms) / 1000


def test_a_callee_says_its_phrase_to_the_prompt(lab: Lab) -> None:
    url = setup(lab, gather("speechTimeout='auto'"), say="billing")
    call = lab.call(url, account_sid=ACCOUNT)
    params = action(lab)
    assert (params["SpeechResult"], params["Confidence"]) == ("billing", "1.0")
    assert "Digits" not in params
    heard = ms(call, "speech-heard")
    # one word (0.4 s), then auto's silence, then the action
    assert ms(call, "gathered") - heard == pytest.approx(0.4 + speech.AUTO_SILENCE)
    assert call.a.leg.said() == [PROMPT, "Thanks"]


@pytest.mark.parametrize(("attr", "silence"), [("speechTimeout='3'", 3.0), ("timeout='2'", 2.0)])
def test_speech_timeout_seconds_and_its_default(lab: Lab, attr: str, silence: float) -> None:
    url = setup(lab, gather(attr), say="technical support please")
    call = lab.call(url)
    assert action(lab)["SpeechResult"] == "technical support please"
    ends = ms(call, "gathered") - ms(call, "speech-heard")
    assert ends == pytest.approx(3 * speech.SECONDS_PER_WORD + silence)


def test_a_timed_phrase_and_hints(lab: Lab) -> None:
    doc = gather("hints='billing, support' timeout='10'")
    url = setup(lab, doc, say=[{"text": "support", "at": 1.0}])
    call = lab.call(url)
    row = call.trace.of("speech")[0].detail
    assert row["hints"] == ["billing", "support"] and row["text"] == "support"
    assert ms(call, "speech-heard") - float(call.a.answered_at or 0) >= 0  # said
    assert action(lab)["SpeechResult"] == "support"
    assert not [e for e in call.trace.of("unsupported") if e.detail.get("attribute") == "hints"]


def test_a_phrase_without_a_speech_gather_is_not_heard(lab: Lab) -> None:
    doc = "<Response><Say>Hello</Say><Gather timeout='1'><Say>Press one</Say></Gather></Response>"
    url = setup(lab, doc, say="billing")
    call = lab.call(url)
    assert not call.trace.of("speech-heard") and lab.site.requests[1:] == []


def test_partial_results_go_to_the_partial_result_callback(lab: Lab) -> None:
    doc = gather("partialResultCallback='/partial' speechTimeout='auto'")
    url = setup(lab, doc, say={"text": "I need billing", "on_hearing": "billing", "delay": 0.2})
    call = lab.call(url, account_sid=ACCOUNT)
    partial = [dict(r.params) for r in lab.receiver.requests if r.url == APP + "/partial"]
    assert [(p["SequenceNumber"], p["UnstableSpeechResult"], p["StableSpeechResult"])
            for p in partial] == [
        ("0", "I", ""),
        ("1", "I need", "I"),
        ("2", "I need billing", "I need"),
    ]  # fmt: skip
    assert all(p["CallSid"] == call.sid and p["AccountSid"] == ACCOUNT for p in partial)
    assert partial[0]["LanguageCode"] == "en-US"
    assert action(lab)["SpeechResult"] == "I need billing"


def test_dtmf_speech_takes_digits_too(lab: Lab) -> None:
    doc = gather("input='dtmf speech' numDigits='1'").replace("input='speech' ", "")
    url = setup(lab, doc, press=[{"on_hearing": "billing", "digits": "2"}])
    lab.call(url)
    assert action(lab)["Digits"] == "2"


def test_the_say_key_is_checked() -> None:
    callee = NetworkConfig.from_dict({"default": {"say": ["billing", {"text": "yes", "at": 2}]}})
    assert callee.default.say == (Speak("billing"), Speak("yes", at=2.0))
    for bad, where in [
        ({"say": [{"text": ""}]}, "text"),
        ({"say": [{"text": "x", "at": 1, "on_hearing": "y"}]}, "say"),
        ({"say": [{"text": "x", "at": 1, "delay": 1}]}, "delay"),
        ({"outcome": "busy", "say": "billing"}, "outcome"),
    ]:
        with pytest.raises(ConfigError, match=where):
            NetworkConfig.from_dict({"default": bad})
