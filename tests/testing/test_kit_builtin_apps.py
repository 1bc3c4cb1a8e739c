"""The kit drives voiceapp's own apps: pin, pin-verify, bridge and IVR, end to end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from voiceapp.testing import PHONE_NUMBER, VoiceCall, new_session

API_KEY = "kit-test-api-key"
AGENT = "+14155550100"

VoiceCallFactory = Callable[..., VoiceCall]


def session(server: Flask, app: str, variables: dict[str, Any]) -> str:
    return new_session(server, app, variables, to=PHONE_NUMBER, api_key=API_KEY)


def test_pin_is_heard_digit_by_digit_twice(server: Flask, voice_call: VoiceCallFactory) -> None:
    call = voice_call(server, session(server, "pin", {"pin": "8970"}))
    call.hears("Your pin is 8 9 7 0").hears("Your pin is 8 9 7 0").ended_with("completed")
    assert call.heard == ["Your pin is 8 9 7 0.", "Your pin is 8 9 7 0."]
    first = call.requests[0]
    assert first.status == 200
    assert first.params["To"] == PHONE_NUMBER and first.params["Direction"] == "outbound-api"


def test_the_session_url_is_single_use(server: Flask, voice_call: VoiceCallFactory) -> None:
    url = session(server, "pin", {"pin": "1234"})
    voice_call(server, url).hears("Your pin is 1 2 3 4").ended_with("completed")
    again = voice_call(server, url)
    again.hears("an application error has occurred").ended_with("completed")
    assert again.requests[0].status == 410


def test_pin_verify_right_code(server: Flask, voice_call: VoiceCallFactory) -> None:
    call = voice_call(server, session(server, "pin-verify", {"pin": "8970"}))
    call.hears("Please enter your 4-digit code").press("8970")
    call.hears("Your code is correct").ended_with("completed")
    assert [r.params.get("Digits") for r in call.requests] == [None, "8970"]


def test_pin_verify_wrong_then_silent_then_right(
    server: Flask, voice_call: VoiceCallFactory
) -> None:
    call = voice_call(server, session(server, "pin-verify", {"pin": "8970"}))
    call.hears("enter your 4-digit code").press("1111")
    call.hears("That code is not correct. You have 4 attempts left")
    call.wait(12)  # silence: the Gather times out
    call.hears("We did not receive your code. You have 3 attempts left")
    call.press("8970").hears("Your code is correct").ended_with("completed")


def test_pin_verify_locks_out_after_five_wrong_entries(
    server: Flask, voice_call: VoiceCallFactory
) -> None:
    call = voice_call(server, session(server, "pin-verify", {"pin": "8970"}))
    for _ in range(5):
        call.hears("enter your 4-digit code").press("0000")
    call.hears("This code is now locked").ended_with("completed")


def test_bridge_connects_to_the_agent(server: Flask, voice_call: VoiceCallFactory) -> None:
    url = session(server, "bridge", {"number": AGENT, "whisper": "Web lead, connecting"})
    call = voice_call(server, url, callees={AGENT: {"rings": 2, "hangup_after": 30}})
    call.hears("Please hold while we connect your call").ended_with("completed")
    [agent] = call.dialed
    assert agent.to == AGENT and agent.status == "completed" and agent.duration == 30
    assert agent.heard == ("Web lead, connecting",)
    assert call.requests[-1].params["DialCallStatus"] == "completed"


def test_bridge_to_a_busy_line(server: Flask, voice_call: VoiceCallFactory) -> None:
    url = session(server, "bridge", {"number": AGENT})
    call = voice_call(server, url, callees={AGENT: {"outcome": "busy"}})
    call.hears("Please hold").hears("The line is busy").ended_with("completed")
    assert call.dialed[0].status == "busy"


def test_bridge_nobody_answers(server: Flask, voice_call: VoiceCallFactory) -> None:
    url = session(server, "bridge", {"number": AGENT, "timeout": 10})
    call = voice_call(server, url, callees={AGENT: {"outcome": "no-answer"}})
    call.hears("Nobody is available to take your call").ended_with("completed")
    assert call.dialed[0].status == "no-answer"


def test_bridge_through_an_ivr_that_expects_an_extension(
    server: Flask, voice_call: VoiceCallFactory
) -> None:
    url = session(server, "bridge", {"number": AGENT, "send_digits": "wwww101"})
    ivr = {"ivr": {"expect": "101", "after": 2.0, "within": 10}, "hangup_after": 20}
    call = voice_call(server, url, callees={AGENT: ivr})
    call.ended_with("completed")
    [agent] = call.dialed
    assert agent.digits == "101" and agent.connected


IVR_MENU = {
    "prompt": "For opening hours press 1. For sales press 2. For more press 3.",
    "options": {
        "1": {"say": "We are open 9 to 5.", "then": "hangup"},
        "2": {"bridge": {"number": AGENT}},
        "3": {
            "menu": {
                "prompt": "For billing press 1.",
                "options": {"1": {"say": "Billing is closed today.", "then": "hangup"}},
            }
        },
    },
    "retries": 1,
}


def test_ivr_walk_to_a_submenu(server: Flask, voice_call: VoiceCallFactory) -> None:
    call = voice_call(server, session(server, "ivr", IVR_MENU))
    call.hears("For opening hours press 1").press("3")
    call.hears("For billing press 1").press("1")
    call.hears("Billing is closed today").ended_with("completed")


def test_ivr_wrong_choice_then_the_agent(server: Flask, voice_call: VoiceCallFactory) -> None:
    call = voice_call(
        server, session(server, "ivr", IVR_MENU), callees={AGENT: {"hangup_after": 5}}
    )
    call.hears("For opening hours press 1").press("9")
    call.hears("You pressed 9. That is not a valid choice")
    call.hears("For opening hours press 1").press("2")
    call.ended_with("completed")
    assert [leg.to for leg in call.dialed] == [AGENT]


def test_ivr_silence_ends_after_the_retries(server: Flask, voice_call: VoiceCallFactory) -> None:
    call = voice_call(server, session(server, "ivr", IVR_MENU))
    call.hears("For opening hours").hears("We did not receive a choice")
    call.hears("For opening hours").hears("Goodbye").ended_with("completed")


def test_signed_calls_under_require_signature(
    make_server: Callable[..., Flask], voice_call: VoiceCallFactory
) -> None:
    secret = "kit-signature-secret-" + "k" * 24
    server = make_server(REQUIRE_SIGNATURE="voiceapp", SIGNATURE_SECRETS=[secret])
    url = session(server, "pin-verify", {"pin": "8970"})
    call = voice_call(server, url, secret=secret)
    call.hears("enter your 4-digit code").press("8970").hears("Your code is correct")
    assert [r.status for r in call.requests] == [200, 200]  # the step is signed too
    unsigned = voice_call(server, session(server, "pin-verify", {"pin": "8970"}))
    unsigned.hears("an application error has occurred").ended_with("completed")
    assert unsigned.requests[0].status == 403
