"""<Enqueue>, <Dial><Queue> and <Leave> on the simulated network and the virtual clock."""

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

AGENT = "+15550200001"
CALLERS = [f"+1555020010{n}" for n in range(1, 6)]

ENQUEUE = (
    "<Response><Enqueue waitUrl='/wait' action='/queued'>support</Enqueue>"
    "<Say>not reached</Say></Response>"
)
WAIT = "<Response><Say>You are in the queue</Say><Pause length='4'/></Response>"
AGENT_DOC = (
    "<Response><Dial action='/agent-done'><Queue url='/whisper'>support</Queue></Dial></Response>"
)


def place(env: Environment, to: str, url: str) -> CallHandle:
    sub = Subscription.from_fields(status_callback="http://hooks.test/status")
    return place_call(env, OutboundCall(from_=CALLER, to=to, url=url, subscription=sub))


def run(lab: Lab, *handles: CallHandle) -> None:
    lab.clock.run_until_idle(max_steps=500_000)
    for handle in handles:
        assert handle.task.done()
        if handle.task.exception() is not None:
            raise handle.task.exception()  # type: ignore[misc]


def requests_to(lab: Lab, path: str) -> list[dict[str, str]]:
    return [params for _, url, params in lab.site.requests if url == APP + path]


def site(lab: Lab, **pages: Any) -> None:
    lab.site.add("/enqueue", ENQUEUE)
    lab.site.add("/wait", WAIT)
    lab.site.add("/queued", "<Response><Say>thanks for waiting</Say></Response>")
    lab.site.add("/whisper", "<Response><Say>connecting you to an agent</Say></Response>")
    lab.site.add("/agent", AGENT_DOC)
    lab.site.add("/agent-done", "<Response><Hangup/></Response>")
    for path, page in pages.items():
        lab.site.add("/" + path, page)


def test_an_agent_takes_the_oldest_caller_with_a_whisper(lab: Lab) -> None:
    numbers = lab.network_config["numbers"]
    numbers[CALLERS[0]] = {"rings": 0}
    numbers[CALLERS[1]] = {"rings": 1}  # enqueued 2 s later
    numbers[AGENT] = {"rings": 10, "press": [{"at": 5.0, "digits": "7"}], "hangup_after": 30}
    site(lab)
    env = lab.env()
    first, second = (
        place(env, CALLERS[0], APP + "/enqueue"),
        place(env, CALLERS[1], APP + "/enqueue"),
    )
    agent = place(env, AGENT, APP + "/agent")
    lab.clock.run_until(lab.clock.timeout(15.0))
    assert env.queues is not None
    queue = env.queues.get("support")
    assert queue is not None and queue.size == 2
    snapshot = queue.to_dict()
    assert [m["call_sid"] for m in snapshot["members"]] == [first.sid, second.sid]
    assert snapshot["current_size"] == 2 and snapshot["average_wait_time"] == 14
    second.hang_up("test over")  # the second caller gives up: out of the queue
    run(lab, first, second, agent)
    assert queue.size == 0
    # the wait document had the queue's parameters; the first fetch saw position 1 of 1
    waits = requests_to(lab, "/wait")
    mine = [w for w in waits if w["CallSid"] == first.sid]
    assert mine[0]["QueuePosition"] == "1" and mine[0]["CurrentQueueSize"] == "1"
    assert mine[0]["QueueSid"].startswith("QU") and mine[0]["MaxQueueSize"] == "1000"
    later = [w for w in waits if w["CallSid"] == first.sid and w["CurrentQueueSize"] == "2"]
    assert later and later[0]["AvgQueueTime"] != ""
    # the agent answered at 20 s: the oldest caller got the whisper, then the bridge
    whisper = requests_to(lab, "/whisper")
    assert len(whisper) == 1
    assert whisper[0]["CallSid"] == first.sid and whisper[0]["DequeingCallSid"] == agent.sid
    assert whisper[0]["QueueTime"] == "20"
    assert "connecting you to an agent" in first.a.leg.said()
    assert first.a.leg.digits_heard() == "7"  # the agent pressed 7 in the bridge
    # the second caller's action heard of its hang-up (QueueResult hangup, its answer not
    # run); the agent hung up at 50 s; the first caller's action then had bridged
    action = [(a["CallSid"], a["QueueResult"], a["QueueTime"]) for a in requests_to(lab, "/queued")]
    assert action == [(second.sid, "hangup", "13"), (first.sid, "bridged", "20")]
    assert second.trace.of("document-not-run")[0].detail["reason"] == "hangup"
    assert "thanks for waiting" not in second.a.leg.said()
    assert first.a.leg.said()[-1] == "thanks for waiting"
    assert "not reached" not in first.a.leg.said()
    agent_done = requests_to(lab, "/agent-done")
    assert agent_done == []  # the agent hung up: its document is over
    assert agent.trace.of("bridge")[0].detail["b"] == first.sid


def test_leave_and_queue_full(lab: Lab) -> None:
    numbers = lab.network_config["numbers"]
    for n in CALLERS[:3]:
        numbers[n] = {"rings": 0, "press": [{"at": 6.0, "digits": "0"}]}
    leaving = (
        "<Response><Gather numDigits='1' action='/leave' timeout='30'>"
        "<Say>press 0 to leave</Say></Gather></Response>"
    )
    small = (
        "<Response><Enqueue waitUrl='/wait' maxQueueSize='2' action='/queued'>small</Enqueue>"
        "</Response>"
    )
    site(lab, small=small, wait=leaving, leave="<Response><Leave/></Response>")
    env = lab.env()
    calls = [place(env, n, APP + "/small") for n in CALLERS[:3]]
    run(lab, *calls)
    results = sorted(a["QueueResult"] for a in requests_to(lab, "/queued"))
    assert results == ["leave", "leave", "queue-full"]
    leave = next(a for a in requests_to(lab, "/queued") if a["QueueResult"] == "leave")
    assert leave["QueueTime"] == "6"
    assert all(c.trace.of("dequeued") or c.trace.of("queue-full") for c in calls)


def test_dial_queue_waits_for_a_caller_or_times_out(lab: Lab) -> None:
    numbers = lab.network_config["numbers"]
    numbers[AGENT] = {"rings": 0}
    numbers[CALLERS[0]] = {"rings": 5, "hangup_after": 10}  # enqueued at 10 s
    site(lab)
    lab.site.add(
        "/agent",
        "<Response><Dial timeout='40' action='/agent-done'><Queue>support</Queue></Dial>"
        "</Response>",
    )
    env = lab.env()
    assert env.queues is not None
    env.queues.open("support")
    agent = place(env, AGENT, APP + "/agent")
    caller = place(env, CALLERS[0], APP + "/enqueue")
    run(lab, agent, caller)
    # the queue was empty when the agent dialed: it waited and took the caller at 10 s
    done = requests_to(lab, "/agent-done")
    assert done[0]["DialCallStatus"] == "completed" and done[0]["DequeuedCallSid"] == caller.sid
    assert caller.trace.of("bridge") == [] and agent.trace.of("bridge")[0].ms == 10_000
    # an agent dialing an empty queue past its timeout: no-answer; an unknown one: failed
    lab.site.requests.clear()
    lab.site.add(
        "/other",
        "<Response><Dial timeout='5' action='/agent-done'><Queue>nobody</Queue></Dial></Response>",
    )
    lone = lab.call(APP + "/agent", to=AGENT, env=env)
    unknown = lab.call(APP + "/other", to=AGENT, env=env)
    assert lone.trace.of("dial-result")[0].detail["DialCallStatus"] == "no-answer"
    assert unknown.trace.of("dial-result")[0].detail["DialCallStatus"] == "failed"


def test_default_hold_music_and_leave_outside_a_queue(lab: Lab) -> None:
    lab.network_config["numbers"][CALLERS[0]] = {"rings": 0, "hangup_after": 12}
    url = lab.site.add("/q", "<Response><Leave/><Enqueue>music</Enqueue></Response>")
    call = lab.call(url, to=CALLERS[0])
    assert {h.value for h in call.a.leg.heard if h.kind == "play"} == {HOLD_MUSIC}
    assert call.trace.of("unsupported")[0].detail["verb"] == "Leave"


def test_wait_fetches_do_not_hit_the_document_limit(lab: Lab) -> None:
    lab.network_config["numbers"][CALLERS[0]] = {"rings": 0, "hangup_after": 600}
    site(lab, wait="<Response/>")  # an empty wait document: fetched once a second
    call = lab.call(APP + "/enqueue", to=CALLERS[0])
    assert len(requests_to(lab, "/wait")) > 100
    assert not [e for e in call.trace.of("fetch-error") if e.detail["code"] == "loop-guard"]


def test_an_agent_hanging_up_while_waiting_takes_nobody(lab: Lab) -> None:
    numbers = lab.network_config["numbers"]
    numbers[AGENT] = {"rings": 0, "hangup_after": 5}  # gives up before any caller comes
    numbers[CALLERS[0]] = {"rings": 5, "hangup_after": 20}
    site(lab)
    env = lab.env()
    assert env.queues is not None
    queue = env.queues.open("support")
    agent = place(env, AGENT, APP + "/agent")
    caller = place(env, CALLERS[0], APP + "/enqueue")
    lab.clock.run_until(lab.clock.timeout(15.0))
    assert queue.size == 1 and not queue.waiting  # the caller waits; no agent holds it
    assert not queue.members[0].dequeued.done()
    run(lab, agent, caller)
    assert caller.status == "completed" and not agent.trace.of("bridge")
    assert queue.size == 0  # the caller hung up: out of the queue
    assert requests_to(lab, "/whisper") == []


def test_a_caller_hanging_up_on_the_bridge_still_requests_the_action(lab: Lab) -> None:
    numbers = lab.network_config["numbers"]
    numbers[CALLERS[0]] = {"rings": 0, "hangup_after": 12}
    numbers[AGENT] = {"rings": 2}
    site(lab, agent="<Response><Dial><Queue>support</Queue></Dial></Response>")
    env = lab.env()
    caller = place(env, CALLERS[0], APP + "/enqueue")
    agent = place(env, AGENT, APP + "/agent")
    run(lab, caller, agent)
    (action,) = requests_to(lab, "/queued")
    assert (action["QueueResult"], action["CallSid"]) == ("bridged", caller.sid)
    assert caller.trace.of("document-not-run")
    assert caller.status == "completed"
