"""An inbound leg on the simulated network: answered at once, the caller's script plays."""

from __future__ import annotations

from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.network import Leg, SimulatedNetwork

CALLER = "+14155552671"
OURS = "+14155550100"
SCRIPT = {
    "rings": 4,  # for calls made to the caller: not this one
    "outcome": "answer",
    "hangup_after": 9.0,
    "press": [{"on_hearing": "press 3", "delay": 0.5, "digits": "3"}],
}


def inbound_leg(net: SimulatedNetwork) -> tuple[Leg, list[tuple[float, str]], list[str]]:
    events: list[tuple[float, str]] = []
    pressed: list[str] = []
    leg = Leg(sid="CAin", from_=CALLER, to=OURS, inbound=True)
    leg.on_event = lambda ev: events.append((net.clock.now(), ev.value))
    leg.on_digit = pressed.append
    net.place(leg)
    return leg, events, pressed


def test_an_inbound_leg_rings_and_is_answered_at_once() -> None:
    clock = VirtualClock()
    net = SimulatedNetwork(clock, {"ring_seconds": 2.0, "numbers": {CALLER: SCRIPT}})
    leg, events, pressed = inbound_leg(net)
    clock.run_until(clock.timeout(0.1))
    assert events == [(0.0, "ring"), (0.0, "answer")]
    assert leg.answered_at == 0.0
    # the far end is the caller: its script, not our number's
    clock.call_later(1.0, lambda: net.say(leg, "For more options press 3.", 2.0))
    clock.run_until_idle()
    assert pressed == ["3"]
    assert events[-1] == (9.0, "hang-up")  # its hangup_after


def test_an_unlisted_caller_stays_on_the_line() -> None:
    clock = VirtualClock()
    net = SimulatedNetwork(clock, {"default": {"rings": 3}})
    leg, events, _ = inbound_leg(net)
    clock.run_until_idle()
    assert events == [(0.0, "ring"), (0.0, "answer")]
    net.hang_up(leg)
    assert leg.ended


def test_an_outbound_leg_to_the_same_number_still_rings() -> None:
    clock = VirtualClock()
    net = SimulatedNetwork(clock, {"ring_seconds": 2.0, "numbers": {CALLER: SCRIPT}})
    events: list[tuple[float, str]] = []
    leg = Leg(sid="CAout", from_=OURS, to=CALLER)
    leg.on_event = lambda ev: events.append((clock.now(), ev.value))
    net.place(leg)
    clock.run_until(clock.timeout(10.0))
    assert events[:2] == [(0.0, "ring"), (8.0, "answer")]
