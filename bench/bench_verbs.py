"""Benchmark: the simulated dialer with conferences and queues, on virtual time.

Two parts (``--part``, default both), each against a peer in the same run, the same
number of plain PIN calls ("Your pin is 8 9 7 0", Pause, "Goodbye") on the same
interpreter, network and clock:

* **conference** — ``--participants`` calls (default 50) dial one
  ``<Dial><Conference>``: the first 49 join with ``startConferenceOnEnter="false"``
  and hear the wait document (a Say and a Pause, fetched again each round) until the
  moderator, who answers last, starts the conference; each participant presses a digit
  that the other 49 hear; the moderator leaves after 60 s with
  ``endConferenceOnExit`` and every participant goes on to a closing Say.
  Conference status callbacks (join, leave, start, end) are delivered to an
  in-process receiver.
* **queue** — ``--callers`` calls (default 500) ``<Enqueue>`` into one queue with a
  ``waitUrl`` (QueuePosition said, a 10 s Pause, fetched again each round) and an
  ``action``; as many agent calls answer over 50 virtual seconds and each
  ``<Dial><Queue url>`` takes the oldest caller (a whisper on the caller's side),
  talks 5 s and hangs up; every caller's action gets ``QueueResult=bridged``.

Printed per part: wall seconds, virtual seconds, events (trace rows of every call),
events per wall second, calls per wall second, and the same for the peer.  The
documents come from an in-process site (no HTTP): this measures the dialer.

    .venv/bin/python bench/bench_verbs.py [--part conference|queue|all]
        [--participants N] [--callers N] [--rounds R] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer.callbacks import CallbackRequest, Deliverer
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.interpreter import CallHandle, Environment, OutboundCall, place_call
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.settings_tables.retry import RetryPolicy

APP = "http://app.bench"
CALLER = "+19499300360"
PIN = b"<Response><Say>Your pin is 8 9 7 0</Say><Pause/><Say>Goodbye</Say></Response>"
MAX_STEPS = 50_000_000


def number(index: int) -> str:
    return f"+1415{index:07d}"


class Site:
    """URL -> document, for the injected ``fetch``; counts requests."""

    def __init__(self, pages: Mapping[str, bytes | Callable[[dict[str, str]], bytes]]) -> None:
        self.pages = dict(pages)
        self.requests = 0

    def __call__(self, method: str, url: str, params: Sequence[tuple[str, str]]) -> bytes:
        self.requests += 1
        page = self.pages[url.removeprefix(APP)]
        return page(dict(params)) if callable(page) else page


def receiver(request: CallbackRequest) -> int:
    return 200


def run(
    pages: Mapping[str, Any], numbers: dict[str, Any], calls: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """Place ``calls`` (to, path) on one environment and run the clock until idle."""
    clock = VirtualClock()
    site = Site(pages)
    env = Environment(
        clock,
        SimulatedNetwork(clock, {"ring_seconds": 2.0, "numbers": numbers}),
        site,
        deliverer=Deliverer(clock, receiver, RetryPolicy()),
    )
    sub = Subscription.from_fields(status_callback="http://hooks.bench/status")
    started = time.perf_counter()
    handles: list[CallHandle] = [
        place_call(env, OutboundCall(from_=CALLER, to=to, url=APP + path, subscription=sub))
        for to, path in calls
    ]
    clock.run_until_idle(max_steps=MAX_STEPS)
    wall = time.perf_counter() - started
    assert all(h.task.done() and h.task.exception() is None for h in handles)
    events = sum(len(h.trace.to_list()) for h in handles)
    return {
        "wall_s": wall,
        "virtual_s": clock.now(),
        "calls": len(handles),
        "events": events,
        "events_per_s": events / wall,
        "calls_per_s": len(handles) / wall,
        "fetches": site.requests,
        "handles": handles,
    }


def pin_calls(count: int) -> dict[str, Any]:
    numbers = {number(i): {"rings": 1} for i in range(count)}
    return run({"/pin": PIN}, numbers, [(number(i), "/pin") for i in range(count)])


def conference(participants: int) -> dict[str, Any]:
    guest = (
        b"<Response><Dial><Conference startConferenceOnEnter='false' waitUrl='/wait' "
        b"statusCallback='/events' statusCallbackEvent='start end join leave'>bench"
        b"</Conference></Dial><Say>The conference is over</Say></Response>"
    )
    host = (
        b"<Response><Dial><Conference endConferenceOnExit='true'>bench</Conference></Dial>"
        b"</Response>"
    )
    wait = b"<Response><Say>Please wait for the host</Say><Pause length='5'/></Response>"
    numbers: dict[str, Any] = {}
    calls = []
    for i in range(participants - 1):
        numbers[number(i)] = {"rings": 0, "press": [{"at": 40.0 + i * 0.5, "digits": "5"}]}
        calls.append((number(i), "/guest"))
    moderator = number(participants - 1)
    numbers[moderator] = {"rings": 10, "hangup_after": 60}
    calls.append((moderator, "/host"))
    result = run({"/guest": guest, "/host": host, "/wait": wait, "/events": b""}, numbers, calls)
    handles: list[CallHandle] = result.pop("handles")
    heard = [len(h.a.leg.digits_heard()) for h in handles]
    assert min(heard) >= participants - 2, heard  # everyone heard the others' digits
    assert all(h.a.leg.said()[-1] == "The conference is over" for h in handles[:-1])
    result["digits_heard"] = sum(heard)
    return result


def queue(callers: int) -> dict[str, Any]:
    enqueue = (
        b"<Response><Enqueue waitUrl='/wait' action='/after'>bench</Enqueue>"
        b"<Say>not reached</Say></Response>"
    )

    def wait(params: dict[str, str]) -> bytes:
        position = params["QueuePosition"]
        return (
            f"<Response><Say>You are number {position} in the queue</Say>"
            "<Pause length='10'/></Response>"
        ).encode()

    agent = b"<Response><Dial><Queue url='/whisper'>bench</Queue></Dial></Response>"
    pages = {
        "/enqueue": enqueue,
        "/wait": wait,
        "/after": b"<Response><Say>Thank you</Say></Response>",
        "/whisper": b"<Response><Say>Connecting you now</Say></Response>",
        "/agent": agent,
    }
    numbers: dict[str, Any] = {}
    calls = []
    for i in range(callers):
        numbers[number(i)] = {"rings": 0}
        calls.append((number(i), "/enqueue"))
    for i in range(callers):  # agents answer over 50 virtual seconds, talk 5 s each
        agent_number = number(callers + i)
        numbers[agent_number] = {"rings": 1 + i * 24 // callers, "hangup_after": 5}
        calls.append((agent_number, "/agent"))
    result = run(pages, numbers, calls)
    handles: list[CallHandle] = result.pop("handles")
    bridged = sum(1 for h in handles[:callers] if h.a.leg.said()[-1] == "Thank you")
    assert bridged == callers, bridged
    result["bridged"] = bridged
    return result


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    best = sorted(rounds, key=lambda r: r["wall_s"])[len(rounds) // 2]
    return best | {"wall_s_all": [round(r["wall_s"], 3) for r in rounds]}


def show(name: str, ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    ratio = ours["events_per_s"] / peer["events_per_s"]
    print(
        f"{name}: {ours['calls']} calls, {ours['virtual_s']:.0f} virtual s in "
        f"{ours['wall_s']:.3f} s wall ({ours['wall_s_all']}); {ours['events']} events, "
        f"{ours['events_per_s']:,.0f} events/s, {ours['calls_per_s']:,.0f} calls/s, "
        f"{ours['fetches']} fetches"
    )
    print(
        f"  peer, {peer['calls']} PIN calls: {peer['wall_s']:.3f} s wall; {peer['events']} "
        f"events, {peer['events_per_s']:,.0f} events/s, {peer['calls_per_s']:,.0f} calls/s"
        f"  -> events/s ratio {ratio:.2f}x"
    )
    return {"ours": ours, "peer": peer, "events_per_s_ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["conference", "queue", "all"], default="all")
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--callers", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    if args.part in ("conference", "all"):
        ours = median_of([conference(args.participants) for _ in range(args.rounds)])
        peer = median_of([_plain(pin_calls(args.participants)) for _ in range(args.rounds)])
        out["conference"] = show(f"conference of {args.participants}", ours, peer)
    if args.part in ("queue", "all"):
        ours = median_of([queue(args.callers) for _ in range(args.rounds)])
        peer = median_of([_plain(pin_calls(args.callers * 2)) for _ in range(args.rounds)])
        out["queue"] = show(f"queue of {args.callers} callers (+ as many agents)", ours, peer)
    if args.json:
        print(json.dumps(out, indent=2, default=str))


def _plain(result: dict[str, Any]) -> dict[str, Any]:
    result.pop("handles")
    return result


if __name__ == "__main__":
    main()
