"""<Dial><Conference> on the simulated network and the virtual clock."""

from __future__ import annotations

from typing import Any

from support.dialer import APP, CALLER, Lab

from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer.interpreter import (
    HOLD_MUSIC,
    CallHandle,
    Environment,
    OutboundCall,
    place_call,
)
from voiceapp.dialer.network import SimulatedNetwork

HOST = "+15550100001"
GUEST = "+15550100002"
THIRD = "+15550100003"


def conference(name: str = "standup", **attrs: str) -> str:
    text = " ".join(f'{key}="{value}"' for key, value in attrs.items())
    return (
        f"<Response><Dial><Conference {text}>{name}</Conference></Dial><Say>after</Say></Response>"
    )


def place(lab: Lab, env: Environment, to: str, url: str, **spec: Any) -> CallHandle:
    sub = Subscription.from_fields(status_callback="http://hooks.test/status")
    return place_call(env, OutboundCall(from_=CALLER, to=to, url=url, subscription=sub, **spec))


def run(lab: Lab, *handles: CallHandle) -> None:
    lab.clock.run_until_idle(max_steps=500_000)
    for handle in handles:
        assert handle.task.done()
        if handle.task.exception() is not None:
            raise handle.task.exception()  # type: ignore[misc]


def conference_events(lab: Lab) -> list[tuple[str, str | None]]:
    return [
        (p["StatusCallbackEvent"], p.get("CallSid"))
        for p in lab.receiver.accepted
        if "ConferenceSid" in p
    ]


def test_participants_wait_for_the_moderator_and_hear_each_other(lab: Lab) -> None:
    numbers = lab.network_config["numbers"]
    numbers[GUEST] = {"rings": 0, "press": [{"at": 30.0, "digits": "42"}], "hangup_after": 90}
    numbers[THIRD] = {"rings": 0, "hangup_after": 90}
    numbers[HOST] = {"rings": 5, "hangup_after": 60}  # answers at 10 s, leaves at 70 s
    lab.site.add(
        "/wait", "<Response><Say>Please wait for the host</Say><Pause length='3'/></Response>"
    )
    callback = "http://hooks.test/conference"
    guest_doc = lab.site.add(
        "/guest",
        conference(
            startConferenceOnEnter="false",
            waitUrl="/wait",
            statusCallback=callback,
            statusCallbackEvent="start end join leave",
        ),
    )
    host_doc = lab.site.add("/host", conference(endConferenceOnExit="true"))
    env = lab.env()
    guest = place(lab, env, GUEST, guest_doc)
    third = place(lab, env, THIRD, guest_doc)
    host = place(lab, env, HOST, host_doc)
    run(lab, guest, third, host)

    # before the host came, the guests heard the wait document, fetched again and again
    waits = [r for r in lab.site.requests if r[1] == APP + "/wait"]
    assert len(waits) >= 4
    assert guest.a.leg.said()[:2] == ["Please wait for the host", "Please wait for the host"]
    # the guest's digits (at 30 s, in the running conference) reached the others only
    assert host.a.leg.digits_heard() == "42"
    assert third.a.leg.digits_heard() == "42"
    assert guest.a.leg.digits_heard() == ""
    # the host left at 70 s with endConferenceOnExit: the others went on to the next verb
    assert guest.a.leg.said()[-1] == "after" and third.a.leg.said()[-1] == "after"
    assert "after" not in host.a.leg.said()
    leave = guest.trace.of("conference-leave")[0]
    assert leave.detail["reason"] == "participant-with-end-conference-on-exit-left"
    assert leave.ms == 70_000
    events = conference_events(lab)
    assert events == [
        ("participant-join", guest.sid),
        ("participant-join", third.sid),
        ("participant-join", host.sid),
        ("conference-start", None),
        ("participant-leave", host.sid),
        ("participant-leave", guest.sid),
        ("participant-leave", third.sid),
        ("conference-end", None),
    ]
    end = next(p for p in lab.receiver.accepted if p.get("StatusCallbackEvent") == "conference-end")
    assert end["ReasonConferenceEnded"] == "participant-with-end-conference-on-exit-left"
    assert end["CallSidEndingConference"] == host.sid
    assert end["FriendlyName"] == "standup" and end["ConferenceSid"].startswith("CF")
    join = next(
        p for p in lab.receiver.accepted if p.get("StatusCallbackEvent") == "participant-join"
    )
    assert join["StartConferenceOnEnter"] == "false" and join["EndConferenceOnExit"] == "false"
    assert join["Muted"] == "false" and join["Hold"] == "false"
    assert [p["SequenceNumber"] for p in lab.receiver.accepted if "ConferenceSid" in p] == [
        str(n) for n in range(8)
    ]


def test_a_muted_participant_is_not_heard_and_beeps_are(lab: Lab) -> None:
    numbers = lab.network_config["numbers"]
    numbers[GUEST] = {"rings": 0, "press": [{"at": 5.0, "digits": "1"}], "hangup_after": 20}
    numbers[HOST] = {"rings": 0, "press": [{"at": 6.0, "digits": "2"}], "hangup_after": 20}
    muted = lab.site.add("/muted", conference(muted="true", beep="false"))
    plain = lab.site.add("/plain", conference())
    env = lab.env()
    listener = place(lab, env, GUEST, muted)
    speaker = place(lab, env, HOST, plain)
    run(lab, listener, speaker)
    assert speaker.a.leg.digits_heard() == ""  # the muted one pressed 1: nobody heard it
    assert listener.a.leg.digits_heard() == "2"
    # the muted participant joined first and had beep=false: the second one's entry beeped
    assert [h.value for h in listener.a.leg.heard if h.kind == "play"] == ["beep"]
    assert [h.value for h in speaker.a.leg.heard if h.kind == "play"] == []


def test_default_wait_music_and_the_last_participant_ends_it(lab: Lab) -> None:
    lab.network_config["numbers"][GUEST] = {"rings": 0, "hangup_after": 12}
    url = lab.site.add(
        "/alone",
        conference(
            startConferenceOnEnter="false", statusCallback="/cb", statusCallbackEvent="join leave"
        ),
    )
    lab.site.add("/cb", "<Response/>")
    call = lab.call(url, to=GUEST)
    plays = [h.value for h in call.a.leg.heard if h.kind == "play"]
    assert plays and set(plays) == {HOLD_MUSIC}
    assert call.trace.of("conference-leave")[0].detail["reason"] == "left"
    urls = {r.url for r in lab.receiver.requests if "ConferenceSid" in dict(r.params)}
    assert urls == {APP + "/cb"}  # a relative statusCallback resolves against the document
    assert [e for e, _ in conference_events(lab)] == ["participant-join", "participant-leave"]


def test_max_participants_and_action(lab: Lab) -> None:
    numbers = lab.network_config["numbers"]
    for n in (HOST, GUEST, THIRD):
        numbers[n] = {"rings": 0, "hangup_after": 30}
    numbers[THIRD]["rings"] = 1
    doc = (
        "<Response><Dial action='/done' timeLimit='20'>"
        "<Conference maxParticipants='2'>small</Conference>"
        "</Dial></Response>"
    )
    url = lab.site.add("/small", doc)
    lab.site.add("/done", "<Response><Say>bye</Say></Response>")
    env = lab.env()
    calls = [place(lab, env, n, url) for n in (HOST, GUEST, THIRD)]
    run(lab, *calls)
    third = calls[2]
    assert third.trace.of("conference-full")
    actions = [r[2] for r in lab.site.requests if r[1] == APP + "/done"]
    statuses = sorted(a["DialCallStatus"] for a in actions)
    assert statuses == ["completed", "completed", "failed"]


def test_a_new_conference_of_the_same_name_after_the_end(lab: Lab) -> None:
    lab.network_config["numbers"][GUEST] = {"rings": 0, "hangup_after": 5}
    lab.network_config["numbers"][HOST] = {"rings": 10, "hangup_after": 5}  # after GUEST left
    url = lab.site.add("/r", conference())
    env = lab.env()
    first_call, second_call = place(lab, env, GUEST, url), place(lab, env, HOST, url)
    run(lab, first_call, second_call)
    sids = [c.trace.of("conference-join")[0].detail["sid"] for c in (first_call, second_call)]
    assert sids[0] != sids[1]


def test_what_a_participant_says_is_heard_by_the_others(lab: Lab) -> None:
    numbers = lab.network_config["numbers"]
    for n in (HOST, GUEST, THIRD):
        numbers[n] = {"rings": 0, "hangup_after": 30}
    url = lab.site.add("/talk", conference(statusCallback="/cb", statusCallbackEvent="speaker"))
    lab.site.add("/cb", "<Response/>")
    env = lab.env()
    calls = [place(lab, env, n, url) for n in (HOST, GUEST, THIRD)]
    lab.clock.run_until(lab.clock.timeout(10.0))
    assert isinstance(env.network, SimulatedNetwork)
    env.network.speak(calls[1].a.leg, "I have an update")
    run(lab, *calls)
    assert "I have an update" in calls[0].a.leg.said()
    assert "I have an update" in calls[2].a.leg.said()
    assert "I have an update" not in calls[1].a.leg.said()
    assert conference_events(lab) == [
        ("participant-speech-start", calls[1].sid),
        ("participant-speech-stop", calls[1].sid),
    ]
