"""The dialer's parameter sets, fallback, inline documents and live call control, on the
virtual clock (the interpreter and the simulated network; no HTTP)."""

from __future__ import annotations

import email.utils
from typing import Any

import pytest
from support.dialer import APP, CALLEE, CALLER, IVR, Lab

from voiceapp.calls.subscriptions import Subscription, parse_optional
from voiceapp.dialer.interpreter import APP_ERROR_TEXT, CallHandle, OutboundCall, place_call
from voiceapp.errors import FetchError, ValidationError

ACCOUNT = "AC" + "0" * 32
SAY_LONG = "<Response><Say loop='0'>Please hold the line</Say></Response>"


def twilio_call(lab: Lab, url: str | None, **spec: Any) -> CallHandle:
    return lab.call(url, account_sid=ACCOUNT, **spec)


def start(lab: Lab, url: str | None, **spec: Any) -> CallHandle:
    """Place a call without running the clock (to act on it while it runs)."""
    sub = Subscription.from_fields(
        status_callback="http://hooks.test/status",
        status_callback_event="initiated ringing answered completed",
    )
    return place_call(
        lab.env(), OutboundCall(from_=CALLER, to=CALLEE, url=url, subscription=sub, **spec)
    )


def run(lab: Lab, handle: CallHandle) -> None:
    lab.clock.run_until_idle(max_steps=200_000)
    assert handle.task.done() and handle.task.exception() is None


# -- the two parameter sets -----------------------------------------------------------------


def test_twilio_document_parameters(lab: Lab) -> None:
    url = lab.site.add("/hello", "<Response><Say>Hello</Say></Response>")
    call = twilio_call(lab, url)
    method, fetched, params = lab.site.requests[0]
    assert (method, fetched) == ("POST", url)
    assert params == {
        "CallSid": call.sid,
        "AccountSid": ACCOUNT,
        "From": CALLER,
        "To": CALLEE,
        "Called": CALLEE,
        "Caller": CALLER,
        "CallStatus": "in-progress",
        "ApiVersion": "2010-04-01",
        "Direction": "outbound-api",
        "ForwardedFrom": "",
    }


def test_twilio_status_callbacks(lab: Lab) -> None:
    url = lab.site.add("/hello", "<Response><Say>Hello there</Say></Response>")
    call = twilio_call(lab, url)
    sent = [dict(request.params) for request in lab.receiver.requests]
    assert [(p["CallStatus"], p["SequenceNumber"]) for p in sent] == [
        ("initiated", "0"),
        ("ringing", "1"),
        ("in-progress", "2"),
        ("completed", "3"),
    ]
    for params in sent:
        assert params["AccountSid"] == ACCOUNT and params["CallSid"] == call.sid
        assert params["CallbackSource"] == "call-progress-events"
        assert params["ApiVersion"] == "2010-04-01" and params["Direction"] == "outbound-api"
        assert email.utils.parsedate_to_datetime(params["Timestamp"]).tzinfo is not None
        # the seed's own names are not in Twilio's set
        assert not {"callSid", "CallDurartion", "StatusCallbackEvent", "RecordingURL"} & set(params)
    completed = sent[-1]
    assert (completed["CallDuration"], completed["Duration"]) == ("1", "1")
    assert completed["SipResponseCode"] == "200"
    assert "CallDuration" not in sent[2]


@pytest.mark.parametrize(
    ("callee", "status", "sip"),
    [
        ({"outcome": "busy"}, "busy", "486"),
        ({"outcome": "no-answer"}, "no-answer", "487"),
        ({"outcome": "fail"}, "failed", "500"),
    ],
)
def test_twilio_unanswered_completed_callback(
    lab: Lab, callee: dict[str, Any], status: str, sip: str
) -> None:
    lab.network_config["numbers"][CALLEE] = callee
    twilio_call(lab, lab.site.add("/x", "<Response/>"), events="completed")
    (completed,) = [dict(r.params) for r in lab.receiver.requests]
    assert (completed["CallStatus"], completed["SipResponseCode"]) == (status, sip)
    assert (completed["CallDuration"], completed["Duration"]) == ("0", "0")


def test_twilio_gather_and_dial_actions_and_b_legs(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 0, "press": [{"at": 1.0, "digits": "12#"}]}
    lab.network_config["numbers"][IVR] = {"rings": 1, "hangup_after": 5}
    url = lab.site.add(
        "/menu", "<Response><Gather action='/picked'><Say>Hi</Say></Gather></Response>"
    )
    lab.site.add(
        "/picked",
        f"<Response><Dial action='/dialed'><Number statusCallback='http://hooks.test/b'"
        f" statusCallbackEvent='answered completed'>{IVR}</Number></Dial></Response>",
    )
    lab.site.add("/dialed", "<Response/>")
    call = twilio_call(lab, url)
    picked = lab.site.requests[1][2]
    assert (picked["Digits"], picked["FinishedOnKey"]) == ("12", "#")
    assert picked["AccountSid"] == ACCOUNT
    dialed = lab.site.requests[2][2]
    b = call.legs[1]
    assert dialed["DialCallStatus"] == "completed" and dialed["DialCallSid"] == b.sid
    assert dialed["DialCallDuration"] == "5"
    b_events = [dict(r.params) for r in lab.receiver.requests if r.url == "http://hooks.test/b"]
    assert [p["CallStatus"] for p in b_events] == ["in-progress", "completed"]
    for params in b_events:
        assert params["Direction"] == "outbound-dial" and params["ParentCallSid"] == call.sid
        assert params["AccountSid"] == ACCOUNT and params["Called"] == IVR


def test_seed_set_is_the_seeds(lab: Lab) -> None:
    url = lab.site.add("/hello", "<Response><Say>one two three four five</Say></Response>")
    sub = Subscription.from_fields(
        status_callback="http://hooks.test/status?x=1",
        status_callback_event="completed",
        secret_key="k-1",
        optional="token=123456",
    )
    handle = place_call(lab.env(), OutboundCall(from_=CALLER, to=CALLEE, url=url, subscription=sub))
    run(lab, handle)
    # the document fetch: the names voiceapp always sent, nothing of Twilio's
    assert set(lab.site.requests[0][2]) == {"CallSid", "From", "To", "Direction", "CallStatus"}
    (request,) = lab.receiver.requests
    params = dict(request.params)
    assert params["callSid"] == params["CallSid"] == handle.sid
    assert params["CallbackSource"] == "call-progress-event"
    assert params["CallDurartion"] == params["CallDuration"] == "2"  # five words: 2 s
    assert params["apikey"] == "k-1" and params["token"] == "123456"
    assert "AccountSid" not in params and "ApiVersion" not in params
    # optional is appended to the callback URL, for POST too
    assert request.method == "POST"
    assert request.url == "http://hooks.test/status?x=1&token=123456"


def test_seed_get_callback_keeps_optional_once(lab: Lab) -> None:
    url = lab.site.add("/hello", "<Response/>")
    sub = Subscription.from_fields(
        status_callback="http://hooks.test/status",
        status_callback_method="GET",
        optional="token=1",
    )
    handle = place_call(lab.env(), OutboundCall(from_=CALLER, to=CALLEE, url=url, subscription=sub))
    run(lab, handle)
    (request,) = lab.receiver.requests
    assert request.url == "http://hooks.test/status"  # the query gets every parameter
    assert ("token", "1") in request.params


# -- inline documents and the fallback ------------------------------------------------------


def test_inline_twiml_runs_without_a_fetch(lab: Lab) -> None:
    call = lab.call(None, twiml="<Response><Say>Inline hello</Say></Response>")
    assert call.a.leg.said() == ["Inline hello"]
    assert lab.site.requests == []


def test_invalid_inline_twiml_is_an_application_error(lab: Lab) -> None:
    call = lab.call(None, twiml="<Response><Sai>typo</Sai></Response>")
    assert call.trace.of("document-error")
    assert call.a.leg.said() == [APP_ERROR_TEXT]


@pytest.mark.parametrize(
    ("page", "code"),
    [
        (None, "11200"),  # the site answers 404
        (b"<Response><Say>unclosed</Response>", "12100"),  # not XML
        (b"<Response><Bogus/></Response>", "12100"),  # not a valid document
        (FetchError("refused", code="fetch-connect"), "11205"),
        (FetchError("no such host", code="fetch-dns"), "11210"),
    ],
)
def test_a_failed_fetch_goes_to_the_fallback_once(
    lab: Lab, page: bytes | Exception | None, code: str
) -> None:
    url = APP + "/broken"
    if isinstance(page, bytes):
        lab.site.pages[url] = page
    elif isinstance(page, Exception):
        error = page

        def raising(_: Any) -> bytes:
            raise error

        lab.site.pages[url] = raising
    fallback = lab.site.add("/fallback", "<Response><Say>Fallback speaking</Say></Response>")
    call = lab.call(url, fallback_url=fallback)
    assert call.a.leg.said() == ["Fallback speaking"]
    method, fetched, params = lab.site.requests[-1]
    assert (method, fetched) == ("POST", fallback)
    assert (params["ErrorCode"], params["ErrorUrl"]) == (code, url)
    assert params["CallSid"] == call.sid
    assert call.trace.of("fallback")[0].detail["ErrorCode"] == int(code)


def test_fallback_is_used_once_per_call_and_can_fail_too(lab: Lab) -> None:
    fallback = lab.site.add("/fallback", "<Response><Redirect>/missing</Redirect></Response>")
    call = lab.call(APP + "/missing-first", fallback_url=fallback, fallback_method="GET")
    # the fallback ran, its redirect failed, and no second fallback was tried
    assert [(m, u) for m, u, _ in lab.site.requests] == [
        ("POST", APP + "/missing-first"),
        ("GET", fallback),
        ("POST", APP + "/missing"),
    ]
    assert call.a.leg.said() == [APP_ERROR_TEXT]
    assert call.status == "completed"


def test_without_fallback_the_error_is_announced_as_before(lab: Lab) -> None:
    call = lab.call(APP + "/missing")
    assert call.a.leg.said() == [APP_ERROR_TEXT]
    assert call.trace.of("fallback") == []


# -- live call control ----------------------------------------------------------------------


def test_a_change_interrupts_the_current_verb_at_once(lab: Lab) -> None:
    url = lab.site.add("/hold", SAY_LONG)
    new = lab.site.add("/new", "<Response><Say>New document</Say></Response>")
    handle = start(lab, url, account_sid=ACCOUNT)
    lab.clock.loop.call_later(30.0, lambda: handle.change(url=new, method="GET"))
    run(lab, handle)
    method, fetched, params = lab.site.requests[-1]
    assert (method, fetched) == ("GET", new)
    assert params["AccountSid"] == ACCOUNT and params["CallStatus"] == "in-progress"
    assert handle.a.leg.said()[-1] == "New document"
    change = handle.trace.of("change")[0]
    assert change.ms == 30_000 and change.detail["when"] == "now"
    assert handle.trace.of("fetch")[-1].ms == 30_000  # fetched at once
    assert handle.status == "completed"


def test_an_inline_change_during_a_bridge_ends_the_b_leg(lab: Lab) -> None:
    lab.network_config["numbers"][IVR] = {"rings": 1}
    url = lab.site.add("/dial", f"<Response><Dial>{IVR}</Dial></Response>")
    handle = start(lab, url)
    lab.clock.loop.call_later(
        60.0, lambda: handle.change(twiml="<Response><Say>Transferred</Say></Response>")
    )
    run(lab, handle)
    b = handle.legs[1]
    assert b.status == "completed" and b.ended_at == pytest.approx(60.0, abs=0.01)
    assert handle.a.leg.said() == ["Transferred"]
    assert handle.a.leg.bridged_to is None


def test_a_change_before_answer_runs_on_answer(lab: Lab) -> None:
    url = lab.site.add("/first", "<Response><Say>first</Say></Response>")
    new = lab.site.add("/second", "<Response><Say>second</Say></Response>")
    handle = start(lab, url)
    lab.clock.loop.call_later(0.5, lambda: handle.change(url=new))
    run(lab, handle)
    assert [u for _, u, _ in lab.site.requests] == [new]
    assert handle.a.leg.said() == ["second"]
    assert handle.trace.of("change")[0].detail["when"] == "on answer"


def test_hang_up_an_answered_call(lab: Lab) -> None:
    handle = start(lab, lab.site.add("/hold", SAY_LONG))
    lab.clock.loop.call_later(12.0, lambda: handle.hang_up("hung up through the API"))
    run(lab, handle)
    assert handle.status == "completed"
    assert handle.a.duration == 10  # answered at 2 s
    completed = dict(lab.receiver.requests[-1].params)
    assert (completed["CallStatus"], completed["CallDuration"]) == ("completed", "10")
    assert handle.trace.of("hangup")[0].detail["reason"] == "hung up through the API"


def test_cancel_a_ringing_call_and_refuse_an_answered_one(lab: Lab) -> None:
    handle = start(lab, lab.site.add("/hold", SAY_LONG))
    results: list[bool] = []
    lab.clock.loop.call_later(1.0, lambda: results.append(handle.cancel()))
    run(lab, handle)
    assert results == [True] and handle.status == "canceled"
    assert lab.site.requests == []

    other = start(lab, lab.site.add("/short", "<Response><Pause length='20'/></Response>"))
    lab.clock.loop.call_later(5.0, lambda: results.append(other.cancel()))
    run(lab, other)
    assert results == [True, False] and other.status == "completed"


def test_a_change_of_an_ended_call_is_refused(lab: Lab) -> None:
    call = lab.call(lab.site.add("/x", "<Response/>"))
    assert call.change(url=APP + "/x") is False
    assert call.trace.of("change-refused")


def test_time_limit_ends_an_answered_call(lab: Lab) -> None:
    call = lab.call(lab.site.add("/hold", SAY_LONG), time_limit=30)
    assert call.status == "completed" and call.a.duration == 30
    assert call.trace.of("time-limit")[0].detail["seconds"] == 30
    assert dict(lab.receiver.requests[-1].params)["CallDuration"] == "30"


def test_ring_timeout_ends_ringing_as_no_answer(lab: Lab) -> None:
    lab.network_config["numbers"][CALLEE] = {"rings": 100}
    call = lab.call(lab.site.add("/x", "<Response/>"), timeout=7)
    assert call.status == "no-answer"
    assert call.a.ended_at == pytest.approx(7.0)


@pytest.mark.parametrize("name", ["callSid", "CallDurartion", "CallSid", "apikey"])
def test_optional_may_not_reuse_a_seed_parameter(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_optional(f"{name}=x")
    assert info.value.code == "callback-reserved-param"


def test_record_and_machine_detection_are_reported_as_not_available(lab: Lab) -> None:
    url = lab.site.add("/hello", "<Response><Say>Hello</Say></Response>")
    call = twilio_call(lab, url, record=True, machine_detection="Enable")
    features = [row.detail["feature"] for row in call.trace.of("unsupported")]
    assert features == ["machineDetection"]  # Record is made (docs/recordings.md) ...
    assert [row.detail["source"] for row in call.trace.of("recording-start")] == ["OutboundAPI"]
    assert call.trace.of("recording-not-kept")  # ... and kept where a recorder is set
    assert lab.site.requests[0][2]["AnsweredBy"] == "unknown"
    assert dict(lab.receiver.requests[-1].params)["AnsweredBy"] == "unknown"
    ringing = [
        dict(r.params) for r in lab.receiver.requests if ("CallStatus", "ringing") in r.params
    ]
    assert ringing and "AnsweredBy" not in ringing[0]  # only once answered


def test_inbound_calls_say_so(lab: Lab) -> None:
    url = lab.site.add("/in", "<Response><Say>Welcome</Say></Response>")
    twilio_call(lab, url, direction="inbound")
    assert lab.site.requests[0][2]["Direction"] == "inbound"
    assert {dict(r.params)["Direction"] for r in lab.receiver.requests} == {"inbound"}
