"""The simulated network on the virtual clock: outcomes, callee scripts, IVR callees."""

from __future__ import annotations

from typing import Any

import pytest

from voiceapp.calls.states import Event
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.network import Leg, SimulatedNetwork
from voiceapp.dialer.trace import Trace
from voiceapp.dtmf import parse_digits
from voiceapp.errors import ConfigError
from voiceapp.settings_tables.network import NetworkConfig

IVR = "+18005797676"
PERSON = "+886912345678"


def make(config: dict[str, Any]) -> tuple[VirtualClock, SimulatedNetwork]:
    clock = VirtualClock()
    return clock, SimulatedNetwork(clock, config)


def place(net: SimulatedNetwork, to: str, label: str = "a") -> tuple[Leg, list[tuple[float, str]]]:
    events: list[tuple[float, str]] = []
    trace = Trace(net.clock.now)
    leg = Leg(sid=f"CA{label}", from_="+19499300360", to=to, label=label, trace=trace)
    leg.on_event = lambda ev: events.append((net.clock.now(), ev.value))
    net.place(leg)
    return leg, events


@pytest.mark.parametrize(
    ("callee", "expected"),
    [
        ({}, [(0.0, "ring"), (2.0, "answer")]),
        ({"rings": 3}, [(0.0, "ring"), (6.0, "answer")]),
        ({"rings": 0}, [(0.0, "answer")]),
        ({"outcome": "busy"}, [(0.0, "ring"), (2.0, "busy")]),
        ({"outcome": "busy", "rings": 0}, [(0.0, "busy")]),
        ({"outcome": "fail"}, [(0.0, "fail")]),
        ({"outcome": "no-answer"}, [(0.0, "ring")]),
    ],
)
def test_outcomes(callee: dict[str, Any], expected: list[tuple[float, str]]) -> None:
    clock, net = make({"numbers": {PERSON: callee}})
    _, events = place(net, PERSON)
    clock.run_until_idle()
    assert events == expected


def test_unlisted_numbers_use_the_default_and_ring_seconds() -> None:
    clock, net = make({"ring_seconds": 0.5, "default": {"rings": 4}})
    _, events = place(net, "+14155552671")
    clock.run_until_idle()
    assert events == [(0.0, "ring"), (2.0, "answer")]


def test_hang_up_while_ringing_stops_the_callee() -> None:
    clock, net = make({"numbers": {PERSON: {"rings": 5}}})
    leg, events = place(net, PERSON)
    clock.call_later(3.0, lambda: net.hang_up(leg))
    clock.run_until_idle()
    assert events == [(0.0, "ring")]
    assert leg.ended and leg.answered_at is None


def test_callee_presses_digits_at_given_times() -> None:
    clock, net = make({"numbers": {PERSON: {"rings": 1, "press": [{"at": 1.0, "digits": "12w#"}]}}})
    leg, _ = place(net, PERSON)
    pressed: list[tuple[float, str]] = []
    leg.on_digit = lambda d: pressed.append((clock.now(), d))
    clock.run_until_idle()
    # answered at 2.0; presses start 1.0 later, laid out by the DTMF timeline
    tones = parse_digits("12w#").tones
    assert [d for _, d in pressed] == ["1", "2", "#"]
    assert [t for t, _ in pressed] == pytest.approx([3.0 + t.start_ms / 1000 for t in tones])
    assert [e.detail["digit"] for e in leg.trace.of("callee-pressed")] == ["1", "2", "#"]  # type: ignore[union-attr]


def test_callee_presses_on_hearing_a_phrase_once() -> None:
    config = {
        "numbers": {
            PERSON: {"rings": 0, "press": [{"on_hearing": "press 1", "delay": 0.5, "digits": "1"}]}
        }
    }
    clock, net = make(config)
    leg, _ = place(net, PERSON)
    pressed: list[tuple[float, str]] = []
    leg.on_digit = lambda d: pressed.append((clock.now(), d))
    clock.run_until_idle()
    clock.call_later(1.0, lambda: net.say(leg, "Welcome. Press 1 for sales.", 2.0))
    clock.call_later(5.0, lambda: net.say(leg, "Press 1 for sales.", 2.0))
    clock.run_until_idle()
    assert pressed == [(1.5, "1")]
    assert leg.said() == ["Welcome. Press 1 for sales.", "Press 1 for sales."]


def test_hangup_after_reports_a_remote_hang_up() -> None:
    clock, net = make({"numbers": {PERSON: {"rings": 1, "hangup_after": 10}}})
    leg, events = place(net, PERSON)
    clock.run_until_idle()
    assert events == [(0.0, "ring"), (2.0, "answer"), (12.0, "hang-up")]
    assert leg.ended


def send_after_answer(net: SimulatedNetwork, leg: Leg, digits: str) -> list[float]:
    """Send ``digits`` as soon as ``leg`` answers; return the list of remote hang-up times."""
    hangups: list[float] = []

    def on_event(ev: Event) -> None:
        if ev is Event.ANSWER:
            net.send_digits(leg, parse_digits(digits))
        elif ev is Event.HANG_UP:
            hangups.append(net.clock.now())

    leg.on_event = on_event
    return hangups


IVR_CONFIG = {"numbers": {IVR: {"rings": 1, "ivr": {"expect": "101", "after": 2.0, "within": 10}}}}


@pytest.mark.parametrize(
    ("digits", "connected", "result"),
    [
        ("wwww101", True, "connected"),  # 101 starts 2.0 s after answer
        ("WW101", True, "connected"),
        ("101", False, "timeout"),  # arrives during the greeting: ignored, then gives up
        ("w1", False, "timeout"),  # too early, and too short anyway
        ("wwww102", False, "wrong"),
        ("wwww1", False, "timeout"),
    ],
)
def test_ivr_callee_connects_only_on_late_enough_right_digits(
    digits: str, connected: bool, result: str
) -> None:
    clock, net = make(IVR_CONFIG)
    leg, _ = place(net, IVR)
    ended = send_after_answer(net, leg, digits)
    clock.run_until_idle()
    assert net.connected(leg) is connected
    assert leg.trace is not None
    results = [e.detail["result"] for e in leg.trace.of("ivr")]
    assert results[-1] == result
    assert leg.digits_heard() == parse_digits(digits).pressed
    if connected:
        assert not leg.ended and ended == []
    elif result == "timeout":
        assert ended == [12.0]  # answered at 2.0, gave up 10 s later


def test_ivr_ignored_digits_are_traced_with_their_time() -> None:
    clock, net = make(IVR_CONFIG)
    leg, _ = place(net, IVR)
    send_after_answer(net, leg, "101")
    clock.run_until_idle()
    assert leg.trace is not None
    ignored = [e.detail for e in leg.trace.of("ivr") if e.detail["result"] == "ignored"]
    assert ignored == [
        {"result": "ignored", "digit": t.digit, "after_s": round(t.start_ms / 1000, 3)}
        for t in parse_digits("101").tones
    ]
    assert len(ignored) == 3


def test_send_digits_finishes_with_its_timeline() -> None:
    clock, net = make({"numbers": {PERSON: {"rings": 0}}})
    leg, _ = place(net, PERSON)
    clock.run_until_idle()
    timeline = parse_digits("WWWW101")
    done = net.send_digits(leg, timeline)
    clock.run_until(done)
    assert clock.now() == pytest.approx(timeline.duration_ms / 1000)
    assert [h.at for h in leg.heard] == pytest.approx([t.start_ms / 1000 for t in timeline.tones])
    assert leg.heard[0].at == 4.0  # the four W waits come first


def test_bridged_legs_hear_each_others_digits() -> None:
    clock, net = make(
        {"numbers": {PERSON: {"rings": 0, "press": [{"at": 1, "digits": "5"}]}, IVR: {"rings": 0}}}
    )
    a, _ = place(net, PERSON, "a")
    b, _ = place(net, IVR, "b1")
    net.bridge(a, b)
    clock.run_until_idle()
    assert b.digits_heard() == "5"
    net.hang_up(a)
    assert a.bridged_to is None and b.bridged_to is None


@pytest.mark.parametrize(
    ("talk", "max_length", "timeout", "recorded", "elapsed"),
    [(3.0, 60.0, 5.0, 3.0, 8.0), (30.0, 10.0, 5.0, 10.0, 10.0), (0.0, 60.0, 5.0, 0.0, 5.0)],
)
def test_record(
    talk: float, max_length: float, timeout: float, recorded: float, elapsed: float
) -> None:
    clock, net = make({"numbers": {PERSON: {"rings": 0, "talk_seconds": talk}}})
    leg, _ = place(net, PERSON)
    clock.run_until_idle()
    start = clock.now()
    fut = net.record(leg, max_length=max_length, timeout=timeout)
    assert clock.run_until(fut) == recorded
    assert clock.now() - start == elapsed


def test_placing_a_leg_twice_is_refused() -> None:
    _, net = make({})
    leg, _ = place(net, PERSON)
    with pytest.raises(ValueError, match="already placed"):
        net.place(leg)


BAD_CONFIGS = [
    ({"ring_second": 2}, "network.ring_second"),
    ({"ring_seconds": 0}, "network.ring_seconds"),
    ({"ring_seconds": "2"}, "network.ring_seconds"),
    ({"numbers": []}, "network.numbers"),
    ({"numbers": {"0912345678": {}}}, 'network.numbers."0912345678"'),
    ({"numbers": {PERSON: {"outcome": "maybe"}}}, f'network.numbers."{PERSON}".outcome'),
    ({"numbers": {PERSON: {"rings": -1}}}, f'network.numbers."{PERSON}".rings'),
    ({"numbers": {PERSON: {"rings": True}}}, f'network.numbers."{PERSON}".rings'),
    ({"numbers": {PERSON: {"ring": 1}}}, f'network.numbers."{PERSON}".ring'),
    ({"numbers": {PERSON: {"hangup_after": 0}}}, f'network.numbers."{PERSON}".hangup_after'),
    ({"numbers": {PERSON: {"press": {"at": 1}}}}, f'network.numbers."{PERSON}".press'),
    ({"numbers": {PERSON: {"press": [{"at": 1}]}}}, f'network.numbers."{PERSON}".press[0].digits'),
    (
        {"numbers": {PERSON: {"press": [{"at": 1, "digits": "12x"}]}}},
        f'network.numbers."{PERSON}".press[0].digits',
    ),
    ({"numbers": {PERSON: {"press": [{"digits": "1"}]}}}, f'network.numbers."{PERSON}".press[0]'),
    (
        {"numbers": {PERSON: {"press": [{"digits": "1", "at": 1, "on_hearing": "x"}]}}},
        f'network.numbers."{PERSON}".press[0]',
    ),
    (
        {"numbers": {PERSON: {"press": [{"digits": "1", "at": 1, "delay": 1}]}}},
        f'network.numbers."{PERSON}".press[0].delay',
    ),
    (
        {"numbers": {PERSON: {"press": [{"digits": "1", "at": -1}]}}},
        f'network.numbers."{PERSON}".press[0].at',
    ),
    ({"numbers": {PERSON: {"ivr": {"after": 2}}}}, f'network.numbers."{PERSON}".ivr.expect'),
    ({"numbers": {PERSON: {"ivr": {"expect": "w1"}}}}, f'network.numbers."{PERSON}".ivr.expect'),
    (
        {"numbers": {PERSON: {"ivr": {"expect": "1", "after": 5, "within": 5}}}},
        f'network.numbers."{PERSON}".ivr.within',
    ),
    (
        {"numbers": {PERSON: {"outcome": "busy", "press": [{"at": 1, "digits": "1"}]}}},
        f'network.numbers."{PERSON}".outcome',
    ),
    ({"default": {"name": 3}}, "network.default.name"),
    ({"default": {"talk_seconds": float("nan")}}, "network.default.talk_seconds"),
]


@pytest.mark.parametrize(("config", "field"), BAD_CONFIGS)
def test_bad_config_names_the_key(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        NetworkConfig.from_dict(config)
    assert info.value.field == field
    assert info.value.code == "config-network"
    assert str(info.value).startswith(field)


def test_config_path_prefix_is_the_callers() -> None:
    with pytest.raises(ConfigError) as info:
        NetworkConfig.from_dict({"numbers": {PERSON: {"rings": "two"}}}, key="simulator")
    assert info.value.field == f'simulator.numbers."{PERSON}".rings'


def test_good_config_round_trip() -> None:
    config = NetworkConfig.from_dict(
        {
            "ring_seconds": 1,
            "default": {"rings": 2},
            "numbers": {
                PERSON: {"press": [{"at": 1, "digits": "1234#"}], "name": "Alice"},
                IVR: {"ivr": {"expect": "101", "after": 2}},
            },
        }
    )
    assert config.ring_seconds == 1.0
    assert config.callee("+14155552671").rings == 2
    assert config.callee(PERSON).press[0].digits.pressed == "1234#"
    assert config.callee(IVR).ivr is not None and config.callee(IVR).ivr.within == 10.0  # type: ignore[union-attr]
