"""The kit on users' own Flask apps: one written with voiceapp's builder (and
voiceapp.flask), one written for Twilio with twilio-python's VoiceResponse, unchanged."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse as TwilioResponse
from werkzeug.serving import make_server

from voiceapp.flask import VoiceApp, VoiceResponse, mount, voice_session
from voiceapp.stores.base import Session
from voiceapp.testing import APP_NUMBER, PHONE_NUMBER, CallAssertion, VoiceCall, new_session

API_KEY = "kit-test-api-key"
ACCOUNT = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "kit-twilio-auth-token"
VoiceCallFactory = Callable[..., VoiceCall]


# -- an app written with voiceapp's builder -----------------------------------------------


def builder_app() -> Flask:
    """A PIN check and a small IVR tree; views return voiceapp documents."""
    app = Flask("builder_shop")
    VoiceApp(app)

    @app.post("/voice")
    def voice() -> VoiceResponse:
        r = VoiceResponse()
        with r.gather(num_digits=1, action="/menu", timeout=5) as g:
            g.say("Welcome to the shop.").break_(time="500ms")
            g.say("For your order code press 1. For a person press 2.")
        r.say("Goodbye.")
        return r

    @app.post("/menu")
    def menu() -> VoiceResponse:
        r = VoiceResponse()
        choice = request.form.get("Digits")
        if choice == "1":
            say = r.say("Your order code is ")
            say.say_as("4711", interpret_as="digits")
            r.hangup()
        elif choice == "2":
            r.say("Connecting you.")
            r.dial("+14155550100", action="/after")
        else:
            r.say("That is not a choice.")
            r.redirect("/voice")
        return r

    @app.post("/after")
    def after() -> VoiceResponse:
        r = VoiceResponse()
        if request.form["DialCallStatus"] != "completed":
            r.say("Nobody is free. Goodbye.")
        r.hangup()
        return r

    @app.post("/loop")
    def loop() -> VoiceResponse:
        r = VoiceResponse()
        with r.gather(num_digits=1, action="/menu", timeout=3) as g:
            g.say("Press any key.")
        r.redirect("/loop")
        return r

    return app


def test_builder_app_order_code_digit_by_digit(voice_call: VoiceCallFactory) -> None:
    call = voice_call(builder_app(), "/voice")
    call.hears("Welcome to the shop").hears("For your order code press 1").press("1")
    call.hears("Your order code is 4 7 1 1").ended_with("completed")
    assert call.heard[-1] == "Your order code is 4 7 1 1"
    assert [r.path for r in call.requests] == ["/voice", "/menu"]
    assert call.requests[1].params["Digits"] == "1"


def test_builder_app_breaks_are_heard_as_pauses(voice_call: VoiceCallFactory) -> None:
    call = voice_call(builder_app(), "/voice")
    call.hears("Welcome to the shop. [pause 0.5s]")
    assert "[pause 0.5s]" in call.transcript()


def test_builder_app_dials_a_busy_person(voice_call: VoiceCallFactory) -> None:
    call = voice_call(builder_app(), "/voice", callees={"+14155550100": {"outcome": "busy"}})
    call.hears("For a person press 2").press("2")
    call.hears("Connecting you").hears("Nobody is free").ended_with("completed")
    assert [(d.to, d.status) for d in call.dialed] == [("+14155550100", "busy")]
    assert call.requests[-1].params["DialCallStatus"] == "busy"


def test_builder_app_wrong_key_goes_round_again(voice_call: VoiceCallFactory) -> None:
    call = voice_call(builder_app(), "/voice")
    call.hears("press 2").press("7").hears("That is not a choice").hears("Welcome to the shop")


def test_builder_app_silence_says_goodbye(voice_call: VoiceCallFactory) -> None:
    call = voice_call(builder_app(), "/voice")
    call.hears("press 2").wait(6).hears("Goodbye").ended_with("completed")
    assert len(call.requests) == 1  # no choice: the action is not requested


def test_a_caller_who_hangs_up(voice_call: VoiceCallFactory) -> None:
    call = voice_call(builder_app(), "/voice")
    call.hears("Welcome").hang_up().ended_with("completed")
    with pytest.raises(CallAssertion, match="cannot press '1': the call has ended"):
        call.press("1")


def test_a_failing_expectation_names_what_was_heard_instead(
    voice_call: VoiceCallFactory,
) -> None:
    call = voice_call(builder_app(), "/voice")
    with pytest.raises(CallAssertion) as failed:
        call.hears("Welcome to the bakery")
    message = str(failed.value)
    assert message.startswith("expected to hear 'Welcome to the bakery', but the call ended")
    assert "heard instead: 'Welcome to the shop.', 'For your order code press 1." in message
    assert "transcript so far:" in message
    assert re.search(r"\d+\.\d{3}s  a   hears 'Goodbye.'", message)
    assert re.search(r"app <- POST http://app.test/voice", message)


def test_a_gather_loop_ends_the_test_with_a_clear_error(voice_call: VoiceCallFactory) -> None:
    call = voice_call(builder_app(), "/loop", max_wait=30)
    started = time.monotonic()
    with pytest.raises(CallAssertion) as failed:
        call.hears("Thank you")
    assert "but 30 s passed; heard instead: 'Press any key.'" in str(failed.value)
    assert "some again and again" in str(failed.value)
    with pytest.raises(CallAssertion, match="expected the call to end 'completed', but it still"):
        call.ended_with("completed", within=20)
    assert time.monotonic() - started < 10  # virtual time: no real waiting


def test_ended_with_names_the_status_it_got(voice_call: VoiceCallFactory) -> None:
    call = voice_call(builder_app(), "/voice").answer_as("busy")
    with pytest.raises(CallAssertion, match="expected the call to end 'completed', but it ended"):
        call.ended_with("completed")
    assert call.status == "busy" and call.requests == []


def test_status_callbacks_reach_the_app(voice_call: VoiceCallFactory) -> None:
    app = builder_app()
    seen: list[dict[str, str]] = []

    @app.post("/status")
    def status() -> tuple[str, int]:
        seen.append(dict(request.form))
        return "", 204

    call = voice_call(app, "/voice", status_callback="/status")
    call.hears("press 2").press("1").ended_with("completed")
    events = [c.event for c in call.callbacks]
    assert events == ["initiated", "ringing", "answered", "completed"]
    assert [c.status for c in call.callbacks] == [204] * 4
    assert [s["CallStatus"] for s in seen] == ["initiated", "ringing", "in-progress", "completed"]


def test_inbound_call_to_a_number_bound_to_the_app(voice_call: VoiceCallFactory) -> None:
    call = voice_call(builder_app(), "/voice", direction="inbound")
    call.hears("Welcome to the shop").press("1").hears("order code").ended_with("completed")
    first = call.requests[0].params
    assert first["Direction"] == "inbound"
    assert (first["From"], first["To"]) == (PHONE_NUMBER, APP_NUMBER)


def test_a_real_server_by_url(voice_call: VoiceCallFactory) -> None:
    httpd = make_server("127.0.0.1", 0, builder_app(), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        call = voice_call(f"http://127.0.0.1:{httpd.server_port}", "/voice")
        call.hears("Welcome to the shop").press("1").hears("4 7 1 1").ended_with("completed")
        assert call.requests[1].url == f"http://127.0.0.1:{httpd.server_port}/menu"
    finally:
        httpd.shutdown()
        thread.join(10)
        httpd.server_close()


# -- a session-guarded view in the user's app, beside voiceapp's server --------------------


def test_a_guarded_view_gets_the_session_once(
    make_server: Callable[..., Flask], voice_call: VoiceCallFactory
) -> None:
    server = make_server()
    app = Flask("pins")
    VoiceApp(app, server=server)

    @app.route("/pin/<token>", methods=["GET", "POST"])
    @voice_session
    def pin(session: Session) -> VoiceResponse:
        r = VoiceResponse()
        r.say("Your pin is ").say_as(session.variables["pin"], interpret_as="digits")
        r.hangup()
        return r

    url = new_session(server, "pin", {"pin": "2468"}, to=PHONE_NUMBER, api_key=API_KEY)
    token = url.rsplit("/", 1)[1]
    both = mount(server, app)
    voice_call(both, f"/pin/{token}").hears("Your pin is 2 4 6 8").ended_with("completed")
    again = voice_call(both, f"/pin/{token}")
    again.hears("an application error has occurred")
    assert again.requests[0].status == 410
    elsewhere = voice_call(both, f"/pin/{token}", to="+14155550999")
    elsewhere.hears("an application error has occurred")
    assert elsewhere.requests[0].status == 403  # token-wrong-destination


# -- an app written for Twilio, with twilio-python, unchanged -------------------------------


def twilio_app(auth_token: str = AUTH_TOKEN) -> tuple[Flask, list[dict[str, str]]]:
    """A Twilio voice app as its docs write it: twilio-python's VoiceResponse, ``str(resp)``,
    and twilio-python's RequestValidator on every request."""
    app = Flask("twilio_shop")
    validator = RequestValidator(auth_token)
    seen: list[dict[str, str]] = []

    @app.before_request
    def check_signature() -> Any:
        seen.append(dict(request.values))
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(request.url, request.form, signature):
            return "bad signature", 403
        return None

    @app.route("/voice", methods=["POST"])
    def voice() -> str:
        resp = TwilioResponse()
        if request.values.get("AnsweredBy", "human").startswith("machine"):
            resp.say("Sorry we missed you. Call us back at 555 0100.")
            resp.hangup()
            return str(resp)
        gather = resp.gather(input="speech dtmf", action="/department", timeout=5, num_digits=1)
        gather.say("Say sales or support, or press 1 for sales.")
        resp.say("We did not hear you.")
        resp.redirect("/voice")
        return str(resp)

    @app.route("/department", methods=["POST"])
    def department() -> str:
        resp = TwilioResponse()
        said = request.values.get("SpeechResult", "").lower()
        if "support" in said:
            resp.say("Connecting you to support.")
            resp.dial("+14155550111", action="/dialed")
        elif "sales" in said or request.values.get("Digits") == "1":
            resp.say("Connecting you to sales.")
            resp.dial().number("+14155550122", send_digits="ww22")
        else:
            resp.say("Sorry, I did not get that.")
            resp.redirect("/voice")
        return str(resp)

    @app.route("/dialed", methods=["POST"])
    def dialed() -> str:
        resp = TwilioResponse()
        resp.say(f"The call ended {request.values['DialCallStatus']}.")
        return str(resp)

    return app, seen


@pytest.fixture
def twilio_call(voice_call: VoiceCallFactory) -> Iterator[Callable[..., VoiceCall]]:
    def make(app: Flask, **options: Any) -> VoiceCall:
        return voice_call(app, "/voice", account_sid=ACCOUNT, auth_token=AUTH_TOKEN, **options)

    yield make


def test_twilio_app_gets_twilio_parameters(twilio_call: Callable[..., VoiceCall]) -> None:
    app, seen = twilio_app()
    call = twilio_call(app, callees={"+14155550122": {"hangup_after": 10}})
    call.hears("press 1 for sales").press("1").hears("Connecting you to sales")
    call.ended_with("completed")
    first = seen[0]
    assert first["AccountSid"] == ACCOUNT and first["ApiVersion"] == "2010-04-01"
    assert first["CallSid"].startswith("CA") and len(first["CallSid"]) == 34
    assert (first["From"], first["To"]) == (APP_NUMBER, PHONE_NUMBER)
    assert (first["Caller"], first["Called"]) == (APP_NUMBER, PHONE_NUMBER)
    assert first["Direction"] == "outbound-api" and first["CallStatus"] == "in-progress"
    assert all(r.status == 200 for r in call.requests)  # every signature was valid
    assert call.dialed[0].digits == "22"


def test_twilio_app_with_speech(twilio_call: Callable[..., VoiceCall]) -> None:
    app, seen = twilio_app()
    call = twilio_call(app, callees={"+14155550111": {"outcome": "no-answer"}})
    call.hears("Say sales or support").say_speech("Support please")
    call.hears("Connecting you to support").hears("The call ended no-answer")
    call.ended_with("completed")
    assert seen[1]["SpeechResult"] == "Support please" and seen[1]["Confidence"] == "1.0"
    assert "says 'Support please'" in call.transcript()


def test_twilio_app_answered_by_a_machine(twilio_call: Callable[..., VoiceCall]) -> None:
    app, seen = twilio_app()
    call = twilio_call(app, machine_detection="Enable").answer_as("machine")
    call.hears("Sorry we missed you").ended_with("completed")
    assert seen[0]["AnsweredBy"] == "machine_start"
    human = twilio_call(twilio_app()[0], machine_detection="Enable")
    human.hears("Say sales or support")
    assert human.requests[0].params["AnsweredBy"] == "human"


def test_twilio_app_refuses_a_call_signed_with_another_token(
    voice_call: VoiceCallFactory,
) -> None:
    app, _ = twilio_app()
    call = voice_call(app, "/voice", account_sid=ACCOUNT, auth_token="not-the-token")
    call.hears("an application error has occurred").ended_with("completed")
    assert call.requests[0].status == 403


def test_numbers_as_words(voice_call: VoiceCallFactory) -> None:
    app = Flask("balance")
    VoiceApp(app)

    @app.post("/voice")
    def voice() -> VoiceResponse:
        r = VoiceResponse()
        r.say("Your balance is 1905 dollars and 42 cents.")
        say = r.say("Your pin is ")
        say.say_as("8970", interpret_as="digits")
        return r

    call = voice_call(app, "/voice")
    call.hears("one thousand nine hundred five dollars and forty-two cents", numbers_as_words=True)
    call.hears("Your pin is eight nine seven zero", numbers_as_words=True)
    again = voice_call(app, "/voice")
    with pytest.raises(CallAssertion, match="heard instead: 'Your balance is 1905 dollars"):
        again.hears("forty-two cents")


def test_pressing_before_the_answer_waits_for_it(voice_call: VoiceCallFactory) -> None:
    call = voice_call(builder_app(), "/voice", ring_seconds=4)
    call.press("1")  # the phone rings 4 s first; the key is pressed once it is answered
    call.hears("Your order code is 4 7 1 1").ended_with("completed")
    unanswered = voice_call(builder_app(), "/voice").answer_as("no-answer")
    with pytest.raises(CallAssertion, match="cannot press '1': the call has ended"):
        unanswered.press("1")


def test_a_call_without_the_fixture() -> None:
    with VoiceCall(builder_app(), "/voice") as call:
        assert call.transcript() == "(the call has not started)" and call.status == "queued"
        call.hears("Welcome to the shop").press("1").ended_with("completed")
        assert call.sid.startswith("CA") and call.status == "completed"
        kinds = [entry.kind for entry in call.trace]
        assert kinds[0] == "status" and "gathered" in kinds
    with pytest.raises(RuntimeError, match="must come before"):
        call.answer_as("machine")
    with pytest.raises(ValueError, match="answer_as takes one of"):
        VoiceCall(builder_app()).answer_as("robot")  # type: ignore[arg-type]
