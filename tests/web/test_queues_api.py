"""GET /v1/queues and /v1/queues/<name>: the embedded dialer's <Enqueue> queues, end to
end through the API (calls placed with POST /v1/calls, the dialer on virtual time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from support.web import AUTH

from voiceapp.cli.wsgi import attach_dialer
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.dialer.trace import TraceEntry
from voiceapp.dialer.worker import Dialer
from voiceapp.web import runtime
from voiceapp.web.calls import call_service, shutdown

FROM = "+19499300360"
CALLERS = [f"+1415555010{n}" for n in range(1, 4)]
ENQUEUE = "<Response><Enqueue>support</Enqueue></Response>"


def test_queue_size_and_average_wait_are_visible_while_callers_wait(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(OUTBOUND_NUMBERS={FROM: "active"}, DIALER="external")
    client = app.test_client()
    # without a dialer in this server there are no queues to show
    empty = client.get("/v1/queues", headers=AUTH)
    assert empty.status_code == 200 and empty.get_json() == {"queues": [], "dialer": "none"}
    assert client.get("/v1/queues").status_code == 401
    with app.app_context():
        settings = runtime().settings
    clock = VirtualClock()
    numbers = {n: {"rings": 0, "hangup_after": 30 + 10 * i} for i, n in enumerate(CALLERS)}
    network = SimulatedNetwork(clock, {"numbers": numbers})
    dialer = Dialer(settings, call_service(app).store, clock=clock, network=network)
    attach_dialer(app, dialer)
    seen: list[dict[str, Any]] = []

    def look(sid: str, entry: TraceEntry) -> None:
        if entry.kind == "enqueue" and entry.detail["position"] == 3 and not seen:
            clock.call_later(12.0, lambda: seen.append(client.get("/v1/queues", headers=AUTH).json))

    dialer.subscribe(look)
    try:
        sids = []
        for to in CALLERS:
            made = client.post(
                "/v1/calls", json={"from": FROM, "to": to, "twiml": ENQUEUE}, headers=AUTH
            )
            assert made.status_code == 201, made.get_json()
            sids.append(made.get_json()["sid"])
        assert dialer.run_until_idle() == 3
        [listing] = seen
        assert listing["dialer"] == "embedded"
        [queue] = listing["queues"]
        assert queue["name"] == "support" and queue["sid"].startswith("QU")
        assert queue["current_size"] == 3 and queue["max_size"] == 1000
        assert [m["call_sid"] for m in queue["members"]] == sids  # oldest first
        assert [m["position"] for m in queue["members"]] == [1, 2, 3]
        waits = [m["wait_time"] for m in queue["members"]]
        assert waits[0] >= waits[-1] >= 12
        assert queue["average_wait_time"] == round(sum(waits) / 3)
        # every caller hung up in the end: the queue is empty, and still known
        after = client.get("/v1/queues/support", headers=AUTH)
        assert after.status_code == 200
        assert after.get_json()["current_size"] == 0 and after.get_json()["members"] == []
        missing = client.get("/v1/queues/nobody", headers=AUTH)
        assert missing.status_code == 404 and missing.get_json()["code"] == "queue-not-found"
        for sid in sids:
            record = call_service(app).store.require(sid)
            assert record.status == "completed"
    finally:
        shutdown(app)
