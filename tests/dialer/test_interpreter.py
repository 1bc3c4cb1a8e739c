"""Calls end to end on the simulated network and the virtual clock."""

from __future__ import annotations

import time
from typing import Any

import pytest
from support.dialer import APP, CALLEE, CALLER, IVR, Lab, Site, kinds

from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer.clock import RealClock
from voiceapp.dialer.interpreter import (
    APP_ERROR_TEXT,
    Environment,
    OutboundCall,
    place_call,
    speech_seconds,
    spoken_text,
)
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.document import parse
from voiceapp.dtmf import parse_digits
from voiceapp.schema import ELEMENTS

PIN = """<Response><Say>Your pin is 8 9 7 0</Say><Pause/><Say>Goodbye</Say></Response>"""


def test_pin_call(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 2}
    url = lab.site.add("/voice/pin", PIN)
    call = lab.call(url)
    assert call.status == "completed"
    assert call.a.leg.said() == ["Your pin is 8 9 7 0", "Goodbye"]
    # the document was fetched once, on answer, with the call's parameters
    assert lab.site.requests == [
        (
            "POST",
            url,
            {
                "CallSid": call.sid,
                "From": CALLER,
                "To": CALLEE,
                "Direction": "outbound-api",
                "CallStatus": "in-progress",
            },
        )
    ]
    say = call.trace.of("say")[0]
    assert say.ms == 4000 and say.detail["seconds"] == 2.8  # answered after two 2 s rings
    pause = call.trace.of("pause")[0]
    assert pause.detail == {"seconds": 1} and pause.ms == 6800
    assert lab.receiver.events() == [
        ("initiated", "initiated"),
        ("ringing", "ringing"),
        ("answered", "in-progress"),
        ("completed", "completed"),
    ]
    completed = lab.receiver.accepted[-1]
    assert completed["CallDuration"] == str(round((8300 - 4000) / 1000))
    assert [p["SequenceNumber"] for p in lab.receiver.accepted] == ["0", "1", "2", "3"]
    assert {p["CallbackSource"] for p in lab.receiver.accepted} == {"call-progress-event"}


def test_pause_length_default_comes_from_the_schema(lab: Lab) -> None:
    default = next(a for a in ELEMENTS["Pause"].attrs if a.name == "length").default_value
    url = lab.site.add("/p", "<Response><Pause/><Pause length='3'/></Response>")
    call = lab.call(url)
    assert [e.detail["seconds"] for e in call.trace.of("pause")] == [default, 3]


def test_a_second_call_shows_the_clock_is_virtual(lab: Lab) -> None:
    url = lab.site.add("/long", "<Response><Pause length='600'/></Response>")
    started = time.perf_counter()
    call = lab.call(url)
    assert call.a.duration == 600
    assert time.perf_counter() - started < 5  # ten minutes of call, no real waiting


@pytest.mark.parametrize(
    ("digits", "result", "heard", "b_seconds"),
    [
        ("wwww101", "connected", "101", 60),  # 101 starts 2.0 s after answer
        ("WW101", "connected", "101", 60),
        ("101", "timeout", "101", 10),  # all three during the greeting: ignored
        ("wwww102", "wrong", "102", None),  # hangs up on the wrong last digit
    ],
)
def test_bridge_to_ivr_with_number_send_digits(
    lab: Lab, digits: str, result: str, heard: str, b_seconds: int | None
) -> None:
    if b_seconds is None:  # when the last tone starts
        b_seconds = round(parse_digits(digits).tones[-1].start_ms / 1000)
    lab.network_config["numbers"][IVR] = {
        "rings": 1,
        "hangup_after": 60,
        "ivr": {"expect": "101", "after": 2.0, "within": 10},
    }
    url = lab.site.add(
        "/bridge",
        f"""<Response><Say>Connecting you to our call center</Say>
        <Dial callerId="{CALLER}" action="/after-dial">
          <Number sendDigits="{digits}">{IVR}</Number>
        </Dial></Response>""",
    )
    lab.site.add("/after-dial", "<Response><Say>Thank you</Say></Response>")
    call = lab.call(url)
    b = call.legs[1]
    assert b.leg.parent_sid == call.sid and b.direction == "outbound-dial"
    assert b.leg.from_ == CALLER
    assert b.leg.digits_heard() == heard
    assert call.trace.of("ivr", "b1")[-1].detail["result"] == result
    assert b.duration == b_seconds
    # the bridge is made once the digits are sent, unless the IVR hung up on them
    assert bool(call.trace.of("bridge")) is (result != "wrong")
    dial_request = lab.site.requests[-1]
    assert dial_request[1] == APP + "/after-dial"
    assert dial_request[2]["DialCallStatus"] == "completed"
    assert dial_request[2]["DialCallSid"] == b.sid
    assert call.a.leg.said() == ["Connecting you to our call center", "Thank you"]


@pytest.mark.parametrize(("digits", "connected"), [("wwww101", True), ("101", False)])
def test_call_api_senddigits_to_an_ivr(lab: Lab, digits: str, connected: bool) -> None:
    lab.network_config["numbers"][IVR] = {"rings": 1, "ivr": {"expect": "101", "after": 2.0}}
    url = lab.site.add("/hold", "<Response><Pause length='20'/></Response>")
    call = lab.call(url, to=IVR, send_digits=digits)
    sent = call.trace.of("digits-sent", "a")[0]
    assert sent.ms == 2000 and sent.detail["digits"] == digits
    results = [e.detail["result"] for e in call.trace.of("ivr", "a")]
    assert ("connected" in results) is connected
    # the document is fetched after the digits have been sent
    fetch = call.trace.of("fetch")[0]
    assert fetch.ms == 2000 + sent.detail["ms"]
    if not connected:
        assert call.trace.of("callee-hangup")[0].ms == 12000  # IVR gave up 10 s after answer


@pytest.mark.parametrize(
    ("callee", "status", "events", "ended_ms"),
    [
        (
            {"outcome": "busy", "rings": 1},
            "busy",
            [("initiated", "initiated"), ("ringing", "ringing"), ("completed", "busy")],
            2000,
        ),
        (
            {"outcome": "busy", "rings": 0},
            "busy",
            [("initiated", "initiated"), ("completed", "busy")],
            0,
        ),
        (
            {"outcome": "no-answer"},
            "no-answer",
            [("initiated", "initiated"), ("ringing", "ringing"), ("completed", "no-answer")],
            25000,
        ),
        (
            {"rings": 20},
            "no-answer",
            [("initiated", "initiated"), ("ringing", "ringing"), ("completed", "no-answer")],
            25000,
        ),
        ({"outcome": "fail"}, "failed", [("initiated", "initiated"), ("completed", "failed")], 0),
    ],
)
def test_outcomes_without_answer(
    lab: Lab, callee: dict[str, Any], status: str, events: list[tuple[str, str]], ended_ms: int
) -> None:
    lab.network_config["numbers"][CALLEE] = callee
    url = lab.site.add("/never", PIN)
    call = lab.call(url, timeout=25.0)
    assert call.status == status
    assert lab.receiver.events() == events
    assert lab.receiver.accepted[-1]["CallDuration"] == "0"
    assert lab.site.requests == []  # nothing is fetched for a call nobody answered
    assert call.trace.of("status")[-1].ms == ended_ms


def test_only_subscribed_events_are_sent(lab: Lab) -> None:
    url = lab.site.add("/pin", PIN)
    call = lab.call(url, events="answered")
    assert lab.receiver.events() == [("answered", "in-progress")]
    assert [e.detail["callback"] for e in call.trace.of("status")] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]


def test_callback_receiver_fails_twice_then_recovers(lab: Lab) -> None:
    lab.receiver.script = [500, ConnectionResetError("reset")]
    url = lab.site.add("/pin", PIN)
    call = lab.call(url, events="completed")
    assert lab.receiver.events() == [("completed", "completed")]  # delivered exactly once
    assert len(lab.receiver.requests) == 3
    assert {r.event_id for r in lab.receiver.requests} == {f"{call.sid}:completed"}
    assert call.status == "completed"


GATHER = """<Response>
  <Gather numDigits="4" action="/check" timeout="5"><Say>Please enter your pin</Say></Gather>
  <Say>We did not get your pin</Say>
</Response>"""


@pytest.mark.parametrize(
    ("press", "gathered", "reason", "said_last"),
    [
        ({"at": 3.0, "digits": "8970"}, "8970", "numDigits", "Correct"),
        ({"at": 0.5, "digits": "8970"}, "8970", "numDigits", "Correct"),  # barge-in
        ({"at": 3.0, "digits": "89#"}, "89", "finishOnKey", "Correct"),
        ({"at": 3.0, "digits": "89"}, "89", "timeout", "Correct"),
        ({"at": 30.0, "digits": "8970"}, "", "timeout", "We did not get your pin"),
    ],
)
def test_gather_with_digits_from_the_callee_script(
    lab: Lab, press: dict[str, Any], gathered: str, reason: str, said_last: str
) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 0, "press": [press]}
    url = lab.site.add("/gather", GATHER)
    lab.site.add("/check", lambda params: b"<Response><Say>Correct</Say></Response>")
    call = lab.call(url)
    result = call.trace.of("gathered")[0].detail
    assert (result["digits"], result["reason"]) == (gathered, reason)
    assert call.a.leg.said()[-1] == said_last
    if gathered:
        assert lab.site.requests[-1][1] == APP + "/check"
        assert lab.site.requests[-1][2]["Digits"] == gathered


def test_gather_barge_in_cuts_the_prompt(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 0, "press": [{"at": 0.5, "digits": "1"}]}
    url = lab.site.add(
        "/menu",
        "<Response><Gather numDigits='1' action='/picked'><Say>Press 1 for sales</Say>"
        "<Say>Press 2 for support</Say></Gather></Response>",
    )
    lab.site.add("/picked", "<Response/>")
    call = lab.call(url)
    assert call.a.leg.said() == ["Press 1 for sales"]  # the second prompt never played
    assert call.trace.of("gathered")[0].ms == 500


def test_ivr_walk_on_hearing(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {
        "rings": 0,
        "press": [
            {"on_hearing": "for sales", "delay": 1.0, "digits": "1"},
            {"on_hearing": "extension", "delay": 0.5, "digits": "1234#"},
        ],
    }
    menu = lab.site.add(
        "/menu",
        "<Response><Gather numDigits='1' action='/menu/choice'>"
        "<Say>Press 1 for sales</Say></Gather></Response>",
    )
    lab.site.add(
        "/menu/choice",
        lambda p: (
            b"<Response><Gather action='/menu/ext'><Say>Enter the extension</Say></Gather>"
            b"</Response>"
            if p["Digits"] == "1"
            else b"<Response><Hangup/></Response>"
        ),
    )
    lab.site.add(
        "/menu/ext", lambda p: f"<Response><Say>Calling {p['Digits']}</Say></Response>".encode()
    )
    call = lab.call(menu)
    assert call.a.leg.said() == ["Press 1 for sales", "Enter the extension", "Calling 1234"]


@pytest.mark.parametrize(
    ("callee", "dial_status", "b_events"),
    [
        (
            {"rings": 1, "hangup_after": 5},
            "completed",
            ["initiated", "ringing", "answered", "completed"],
        ),
        ({"outcome": "busy"}, "busy", ["initiated", "ringing", "completed"]),
        ({"outcome": "no-answer"}, "no-answer", ["initiated", "ringing", "completed"]),
        ({"outcome": "fail"}, "failed", ["initiated", "completed"]),
    ],
)
def test_dial_action_with_dial_call_status(
    lab: Lab, callee: dict[str, Any], dial_status: str, b_events: list[str]
) -> None:
    lab.network_config["numbers"][IVR] = callee
    url = lab.site.add(
        "/dial",
        f"<Response><Dial timeout='10' action='/dialed'><Number statusCallback='http://hooks.test/b'"
        f" statusCallbackEvent='initiated ringing answered completed'>{IVR}</Number></Dial>"
        "<Say>not reached</Say></Response>",
    )
    lab.site.add(
        "/dialed", lambda p: f"<Response><Say>{p['DialCallStatus']}</Say></Response>".encode()
    )
    call = lab.call(url)
    assert call.a.leg.said() == [dial_status]
    b = call.legs[1]
    assert [e for e, _ in lab.receiver.events(b.sid)] == b_events
    b_callbacks = [r for r in lab.receiver.requests if r.params[0][1] == b.sid]
    assert {r.url for r in b_callbacks} == {"http://hooks.test/b"}
    assert all(dict(r.params)["ParentCallSid"] == call.sid for r in b_callbacks)
    assert all(dict(r.params)["Direction"] == "outbound-dial" for r in b_callbacks)
    if dial_status == "no-answer":
        assert call.trace.of("dial-result")[0].ms - call.trace.of("dial")[0].ms == 10000


def test_dial_without_action_continues_and_b_leg_uses_the_calls_callback(lab: Lab) -> None:
    lab.network_config["numbers"][IVR] = {"rings": 0, "hangup_after": 3}
    url = lab.site.add("/d", f"<Response><Dial>{IVR}</Dial><Say>After</Say></Response>")
    call = lab.call(url)
    assert call.a.leg.said() == ["After"]
    b = call.legs[1]
    assert b.leg.from_ == CALLER  # callerId defaults to the a-leg's caller ID
    assert lab.receiver.events(b.sid)[-1] == ("completed", "completed")


def test_parallel_numbers_first_answer_wins(lab: Lab) -> None:
    first, second = "+14155552671", "+14155552672"
    lab.network_config["numbers"][first] = {"rings": 3}
    lab.network_config["numbers"][second] = {"rings": 1, "hangup_after": 2}
    url = lab.site.add(
        "/p", f"<Response><Dial><Number>{first}</Number><Number>{second}</Number></Dial></Response>"
    )
    call = lab.call(url)
    b1, b2 = call.legs[1:]
    assert (b1.status, b2.status) == ("canceled", "completed")
    assert call.trace.of("dial-result")[0].detail["DialCallSid"] == b2.sid


def test_national_number_in_dial_uses_default_region(lab: Lab) -> None:
    url = lab.site.add("/tw", "<Response><Dial>0912345678</Dial></Response>")
    call = lab.call(url, env=lab.env(default_region="TW"))
    assert call.legs[1].leg.to == "+886912345678"
    bad = lab.site.add("/bad", "<Response><Dial action='/r'>0912345678</Dial></Response>")
    lab.site.add("/r", lambda p: f"<Response><Say>{p['DialCallStatus']}</Say></Response>".encode())
    call = lab.call(bad)  # no region configured: read as a US number, which it is not
    assert call.trace.of("dial-error")[0].detail["code"] == "phone-invalid"
    assert call.a.leg.said() == ["failed"]


def test_unformatted_us_number_is_normalised_to_e164(lab: Lab) -> None:
    """Twilio's <Number> docs accept unformatted US numbers; so do the linter and the
    dialer (US unless another default region is configured)."""
    url = lab.site.add(
        "/us",
        "<Response><Dial>(415) 555-2671</Dial>"
        "<Dial><Number>(415) 555-2672</Number></Dial></Response>",
    )
    # each bridge lasts its <Dial timeLimit> (4 h): the call's own limit must be longer
    call = lab.call(url, time_limit=9 * 3600)
    assert [leg.leg.to for leg in call.legs[1:]] == ["+14155552671", "+14155552672"]


def test_whisper_then_bridge(lab: Lab) -> None:
    lab.network_config["numbers"][IVR] = {"rings": 0, "hangup_after": 10}
    url = lab.site.add(
        "/w", f"<Response><Dial><Number url='/whisper'>{IVR}</Number></Dial></Response>"
    )
    lab.site.add("/whisper", "<Response><Say>Call from the website</Say></Response>")
    call = lab.call(url)
    b = call.legs[1]
    assert b.leg.said() == ["Call from the website"]
    assert call.a.leg.said() == []
    whisper_fetch = lab.site.requests[-1][2]
    assert whisper_fetch["ParentCallSid"] == call.sid and whisper_fetch["CallSid"] == b.sid
    assert call.trace.of("bridge")[0].ms > call.trace.of("say", "b1")[0].ms


def test_no_url_bridges_to_the_from_number(lab: Lab) -> None:
    lab.network_config["numbers"][CALLER] = {"rings": 1, "hangup_after": 4}
    call = lab.call(None)
    b = call.legs[1]
    assert (b.leg.to, b.leg.from_) == (CALLER, CALLEE)
    assert b.status == "completed" and call.status == "completed"
    assert lab.site.requests == []


def test_hangup_on_star(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 0, "press": [{"at": 3, "digits": "*"}]}
    lab.network_config["numbers"][IVR] = {"rings": 0}
    url = lab.site.add(
        "/s", f"<Response><Dial hangupOnStar='true'>{IVR}</Dial><Say>Back</Say></Response>"
    )
    call = lab.call(url)
    assert call.legs[1].duration == 3
    assert call.a.leg.said() == ["Back"]


def test_record_sets_recording_urls(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 0, "talk_seconds": 4}
    url = lab.site.add(
        "/r", "<Response><Record maxLength='30' timeout='2' action='/saved'/></Response>"
    )
    lab.site.add(
        "/saved", lambda p: f"<Response><Say>{p['RecordingDuration']}</Say></Response>".encode()
    )
    call = lab.call(url, env=lab.env(recording_base_url="http://rec.test/r"))
    rec = call.trace.of("record")[0]
    assert rec.detail["seconds"] == 4 and rec.ms == 500 + 6000  # beep, 4 s talk, 2 s silence
    assert rec.detail["url"] == f"http://rec.test/r/{call.sid}/{rec.detail['sid']}.wav"
    assert lab.site.requests[-1][2]["RecordingUrl"] == rec.detail["url"]
    assert call.a.leg.said() == ["4"]
    assert lab.receiver.accepted[-1]["RecordingURL"] == rec.detail["url"]


@pytest.mark.parametrize(
    ("finish", "trim", "seconds", "digits"),
    [
        ("#", "trim-silence", 2, "#"),  # the key ends it: the 2 s said so far
        ("#", "do-not-trim", 3, "#"),  # ... with the silence until the key kept
        ("*", "trim-silence", 2, None),  # not a finishOnKey key: ends 4 s after the talk
    ],
)
def test_record_finish_on_key_ends_it_and_sends_digits(
    lab: Lab, finish: str, trim: str, seconds: int, digits: str | None
) -> None:
    lab.network_config["numbers"][CALLEE] = {
        "rings": 0,
        "talk_seconds": 2,
        "press": [{"digits": "#", "at": 3.0}],
    }
    url = lab.site.add(
        "/r",
        f"<Response><Record playBeep='false' timeout='4' finishOnKey='{finish}' trim='{trim}'"
        " action='/saved'/></Response>",
    )
    lab.site.add("/saved", "<Response/>")
    call = lab.call(url, env=lab.env(recording_base_url="http://rec.test/r"))
    rec = call.trace.of("record")[0]
    assert rec.detail["seconds"] == seconds
    assert rec.ms == (3000 if digits else 6000)
    action = lab.site.requests[-1][2]
    assert action["RecordingDuration"] == str(seconds)
    assert action.get("Digits") == digits


def test_record_default_finish_on_key_is_every_key(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {
        "rings": 0,
        "talk_seconds": 5,
        "press": [{"digits": "7", "at": 1.0}],
    }
    url = lab.site.add("/r", "<Response><Record playBeep='false' action='/saved'/></Response>")
    lab.site.add("/saved", "<Response/>")
    lab.call(url, env=lab.env(recording_base_url="http://rec.test/r"))
    assert lab.site.requests[-1][2]["Digits"] == "7"


def test_a_hang_up_during_record_still_requests_its_action(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 0, "talk_seconds": 5, "hangup_after": 2}
    url = lab.site.add(
        "/r", "<Response><Record playBeep='false' action='/saved'/><Say>never</Say></Response>"
    )
    lab.site.add("/saved", "<Response><Say>not run</Say></Response>")
    call = lab.call(url, env=lab.env(recording_base_url="http://rec.test/r"))
    method, action_url, action = lab.site.requests[-1]
    assert (method, action_url) == ("POST", APP + "/saved")
    assert (action["Digits"], action["RecordingDuration"]) == ("hangup", "2")
    assert action["RecordingUrl"] == call.trace.of("recording-start")[0].detail["sid"].join(
        (f"http://rec.test/r/{call.sid}/", ".wav")
    )
    assert call.a.leg.said() == []
    assert call.trace.of("document-not-run")[0].detail["reason"] == "hangup"
    assert call.status == "completed"


@pytest.mark.parametrize(("play_beep", "beeps"), [("true", ["beep"]), ("false", [])])
def test_record_beeps_before_it_records_unless_told_not_to(
    lab: Lab, play_beep: str, beeps: list[str]
) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 0, "talk_seconds": 2}
    url = lab.site.add("/r", f"<Response><Record timeout='1' playBeep='{play_beep}'/></Response>")
    call = lab.call(url)
    assert [h.value for h in call.a.leg.heard if h.kind == "play"] == beeps
    assert [e.detail for e in call.trace.of("beep")] == [{"seconds": 0.5}] * len(beeps)
    (start,) = call.trace.of("record-start")
    assert start.ms == 500 * len(beeps)  # the recording starts once the beep has been sent
    assert call.trace.of("record")[0].ms == start.ms + 2000 + 1000  # talk, then silence


def test_redirect_and_relative_urls(lab: Lab) -> None:
    url = lab.site.add("/a/start", "<Response><Redirect method='GET'>next</Redirect></Response>")
    lab.site.add("/a/next", "<Response><Say>Redirected</Say></Response>")
    call = lab.call(url)
    assert call.a.leg.said() == ["Redirected"]
    assert lab.site.requests[-1][:2] == ("GET", APP + "/a/next")


@pytest.mark.parametrize(
    ("xml", "kind"), [("<Hangup/>", "hangup"), ("<Reject reason='busy'/>", "reject")]
)
def test_hangup_and_reject_end_the_call(lab: Lab, xml: str, kind: str) -> None:
    url = lab.site.add("/h", f"<Response>{xml}<Say>never</Say></Response>")
    call = lab.call(url)
    assert call.a.leg.said() == []
    assert kinds(call, "a")[-3:] == [kind, "status", "callback"]
    assert call.status == "completed"


def test_play_and_play_digits(lab: Lab) -> None:
    url = lab.site.add(
        "/play",
        "<Response><Play loop='2'>http://media.test/a.mp3</Play><Play digits='ww12'/></Response>",
    )
    call = lab.call(url, env=lab.env(play_seconds=3.0))
    assert [h.value for h in call.a.leg.heard] == [
        "http://media.test/a.mp3",
        "http://media.test/a.mp3",
        "1",
        "2",
    ]
    assert call.trace.of("play-digits")[0].detail["ms"] == parse_digits("ww12").duration_ms
    assert call.a.duration == round(6 + parse_digits("ww12").duration_ms / 1000)


def test_unsupported_verbs_and_attributes_are_traced(lab: Lab) -> None:
    url = lab.site.add(
        "/u",
        "<Response><Sms>hi</Sms><Echo/>"
        "<Gather input='speech dtmf' hints='yes' timeout='1'><Say>Say something</Say></Gather>"
        "<Dial answerOnBridge='true'><Sip>sip:alice@example.com</Sip></Dial>"
        "<Say>done</Say></Response>",
    )
    call = lab.call(url)
    unsupported = [
        (e.detail["verb"], e.detail.get("attribute")) for e in call.trace.of("unsupported")
    ]
    assert unsupported == [
        ("Sms", None),
        ("Echo", None),  # <Enqueue> is simulated now (tests/dialer/test_queues.py)
        ("Dial", "answerOnBridge"),  # record is simulated (docs/recordings.md)
        ("Sip", None),
    ]
    assert call.a.leg.said() == ["Say something", "done"]


@pytest.mark.parametrize(
    ("page", "kind", "code"),
    [
        (None, "fetch-error", "fetch-status"),
        ("<Response><Say>unclosed</Response>", "document-error", None),
        ("<Response><Pause length='zero'/></Response>", "document-error", None),
        ("<Speak>hello</Speak>", "document-error", None),
    ],
)
def test_errors_are_traced_announced_and_hung_up(
    lab: Lab, page: str | None, kind: str, code: str | None
) -> None:
    url = APP + "/broken"
    if page is not None:
        lab.site.add("/broken", page)
    call = lab.call(url)
    error = call.trace.of(kind)[0]
    if code is not None:
        assert error.detail["code"] == code
    else:
        assert error.detail["line"] == 1 and error.detail["code"]
    assert call.a.leg.said() == [APP_ERROR_TEXT]
    assert call.status == "completed"


def test_redirect_loops_are_cut(lab: Lab) -> None:
    url = lab.site.add("/loop", "<Response><Redirect>/loop</Redirect></Response>")
    call = lab.call(url, env=lab.env(max_documents=5))
    assert len(lab.site.requests) == 5
    (guard,) = call.trace.of("fetch-error")
    assert guard.detail["code"] == "loop-guard"  # a stable code, never None
    assert "more than 5 documents" in guard.detail["error"]
    assert call.a.leg.said() == [APP_ERROR_TEXT]


def test_empty_redirect_refetches_the_current_document_and_loops_are_cut(lab: Lab) -> None:
    url = lab.site.add("/again", "<Response><Say>Still here</Say><Redirect/></Response>")
    call = lab.call(url, env=lab.env(max_documents=3))
    assert len(lab.site.requests) == 3
    assert call.trace.of("redirect")[0].detail["url"] == url
    assert call.a.leg.said() == ["Still here"] * 3 + [APP_ERROR_TEXT]


def test_callee_hangs_up_mid_document(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 0, "hangup_after": 5}
    url = lab.site.add(
        "/long", "<Response><Say>One</Say><Pause length='60'/><Say>Two</Say></Response>"
    )
    call = lab.call(url)
    assert call.a.leg.said() == ["One"]
    assert call.a.duration == 5
    assert lab.receiver.accepted[-1]["CallDuration"] == "5"


def test_callee_hangs_up_during_a_bridge(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 0, "hangup_after": 8}
    lab.network_config["numbers"][IVR] = {"rings": 1}
    url = lab.site.add("/b", f"<Response><Dial>{IVR}</Dial><Say>unreached</Say></Response>")
    call = lab.call(url)
    a, b = call.legs
    assert (a.status, b.status) == ("completed", "completed")
    assert (a.duration, b.duration) == (8, 6)
    assert call.a.leg.said() == []


def test_cancel_while_ringing(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 10}
    url = lab.site.add("/pin", PIN)
    env = lab.env()
    handle = place_call(env, OutboundCall(from_=CALLER, to=CALLEE, url=url))
    lab.clock.call_later(3.0, lambda: handle.cancel())
    lab.clock.run_until_idle()
    assert handle.status == "canceled"
    assert handle.task.result() == "canceled"
    assert not handle.cancel()  # too late now


def test_cancel_while_queued(lab: Lab) -> None:
    handle = place_call(lab.env(), OutboundCall(from_=CALLER, to=CALLEE, url=APP + "/x"))
    assert handle.cancel()
    lab.clock.run_until_idle()
    assert handle.status == "canceled" and kinds(handle) == ["cancel", "status"]


def test_speech_estimate_counts_words_and_breaks() -> None:
    doc = parse(
        b"<Response><Say>Your pin is <say-as interpret-as='digits'>8970</say-as>"
        b"<break time='700ms'/></Say></Response>"
    )
    # the digits are heard one by one: "Your pin is 8 9 7 0" is seven words
    assert spoken_text(doc.elements[0]) == "Your pin is 8 9 7 0"
    assert speech_seconds(doc.elements[0]) == round(7 * 0.4 + 0.7, 3)


def test_trace_is_structured_and_printable(lab: Lab) -> None:
    url = lab.site.add("/pin", PIN)
    call = lab.call(url)
    rows = call.trace.to_list()
    assert rows[0] == {
        "ms": 0,
        "leg": "a",
        "kind": "status",
        "detail": {"sid": call.sid, "status": "initiated", "callback": "initiated"},
    }
    text = call.trace.format()
    assert '"text": "Your pin is 8 9 7 0"' in text
    assert text.splitlines()[0].startswith("   0.000s  a        status")


def test_runs_on_the_real_clock() -> None:
    clock = RealClock()
    site = Site()
    url = site.add("/hi", "<Response><Say>Hi</Say></Response>")
    network = SimulatedNetwork(clock, {"ring_seconds": 0.05})
    env = Environment(clock, network, site, fetch_in_thread=True)
    sub = Subscription()
    started = time.perf_counter()
    handle = place_call(env, OutboundCall(from_=CALLER, to=CALLEE, url=url, subscription=sub))
    assert clock.run_until(handle.task) == "completed"
    elapsed = time.perf_counter() - started
    assert elapsed >= 0.55  # one 50 ms ring plus a 0.5 s Say, really waited
    assert handle.a.leg.said() == ["Hi"]


class BrokenNetwork(SimulatedNetwork):
    """A backend with a bug: saying anything blows up."""

    def say(self, leg: Any, text: str, seconds: float, **voice: Any) -> Any:
        raise RuntimeError("speech engine crashed")


def test_an_internal_error_is_traced_hung_up_and_raised(lab: Lab) -> None:
    url = lab.site.add("/pin", PIN)
    env = lab.env()
    env.network = BrokenNetwork(lab.clock, {"default": {"rings": 0}})
    handle = place_call(env, OutboundCall(from_=CALLER, to=CALLEE, url=url))
    lab.clock.run_until_idle()
    assert isinstance(handle.task.exception(), RuntimeError)
    assert handle.trace.of("internal-error")[0].detail == {
        "error": "RuntimeError: speech engine crashed"
    }
    assert handle.status == "completed"  # the line is not left open


def test_callee_hangs_up_while_the_b_leg_rings(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 0, "hangup_after": 3}
    lab.network_config["numbers"][IVR] = {"rings": 10}
    url = lab.site.add("/b", f"<Response><Dial action='/never'>{IVR}</Dial></Response>")
    call = lab.call(url)
    a, b = call.legs
    assert (a.status, b.status) == ("completed", "canceled")
    assert lab.receiver.events(b.sid)[-1] == ("completed", "canceled")
    assert [r[1] for r in lab.site.requests] == [url]  # no Dial action for a gone caller


def test_dial_time_limit(lab: Lab) -> None:
    lab.network_config["numbers"][IVR] = {"rings": 1}
    url = lab.site.add(
        "/t", f"<Response><Dial timeLimit='30' action='/done'>{IVR}</Dial></Response>"
    )
    lab.site.add(
        "/done", lambda p: f"<Response><Say>{p['DialCallDuration']}</Say></Response>".encode()
    )
    call = lab.call(url)
    assert call.trace.of("time-limit")[0].detail == {"seconds": 30}
    assert call.a.leg.said() == ["30"]
    assert call.legs[1].status == "completed"
