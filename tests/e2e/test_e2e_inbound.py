"""Inbound calls end to end: the server on a real HTTP port, its dialer on the simulated
network, a caller dialing a number of ``[inbound]`` (``POST /v1/calls/inbound`` and
``voiceapp call --inbound``).  The dialer answers at once and runs the bound document
with ``Direction=inbound``; the far end is the caller, who acts on its own script."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from support.e2e import API_KEY, AUTH, NETWORK, Server, finished, problem, statuses
from support.sites import Site, serve_site

from voiceapp.cli import main
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.settings_tables.network import NetworkConfig

LINE = "+14155550100"  # ours: a url
IVR_LINE = "+14155550101"  # ours: the IVR app
CALLER = "+14155552671"
FETCH_SECRET = "e2e-fetch-signing-secret-0123456789"
CALLBACK_SECRET = "e2e-callback-signing-secret-012345"
HELLO = b'<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello caller</Say></Response>'
MENU = {
    "prompt": "Thanks for calling. For our address press 2.",
    "options": {"2": {"say": "We are at 1 Main Street. Goodbye.", "then": "hangup"}},
}
#: the caller's script: it listens, then presses 2
CALLERS: dict[str, Any] = {
    **NETWORK,
    "numbers": {
        **NETWORK["numbers"],
        CALLER: {"rings": 3, "press": [{"on_hearing": "press 2", "delay": 0.5, "digits": "2"}]},
    },
}


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site(FETCH_SECRET, CALLBACK_SECRET, documents={"hello": HELLO}) as s:
        yield s


@pytest.fixture
def server(serve: Callable[..., Server], site: Site) -> Server:
    port = int(site.base.rsplit(":", 1)[1])
    started = serve(
        allow=(port,),
        SIGNATURE_SECRETS=[FETCH_SECRET],
        CALLBACK_SECRETS=[CALLBACK_SECRET],
        INBOUND={
            LINE: {
                "url": site.url("/doc/hello"),
                "status_callback": site.url("/cb"),
                "status_callback_event": "ringing answered completed",
            },
            IVR_LINE: {"app": "ivr", "variables": MENU},
        },
    )
    clock = VirtualClock()
    started.start_dialer(clock, SimulatedNetwork(clock, NetworkConfig.from_dict(CALLERS)))
    return started


def dial_in(server: Server, to: str, caller: str = CALLER) -> dict[str, Any]:
    response = server.post("/v1/calls/inbound", {"from": caller, "to": to}, AUTH)
    assert response.status_code == 201, response.text
    return finished(server, response.json()["sid"])


def rows(call: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [row for row in call["trace"] if row["kind"] == kind]


def test_an_inbound_call_to_a_url_runs_its_document(server: Server, site: Site) -> None:
    call = dial_in(server, LINE)
    assert call["status"] == "completed" and call["direction"] == "inbound"
    assert (call["from"], call["to"]) == (CALLER, LINE)
    assert call["legs"][0]["direction"] == "inbound"
    assert statuses(call) == ["queued", "initiated", "ringing", "in-progress", "completed"]
    # answered at once: the caller's three rings (an outbound call's) do not apply
    (fetch,) = rows(call, "fetch")
    assert fetch["ms"] < 100
    assert [r["detail"]["text"] for r in rows(call, "say")] == ["Hello caller"]
    (params,) = site.fetch_params
    assert params["Direction"] == "inbound"
    assert (params["From"], params["To"], params["CallSid"]) == (CALLER, LINE, call["sid"])
    # the binding's status callbacks, with the inbound direction
    delivered = [p for d in site.accepted.values() for p in d if p["CallSid"] == call["sid"]]
    assert sorted(p["CallStatus"] for p in delivered) == ["completed", "in-progress", "ringing"]
    assert {p["Direction"] for p in delivered} == {"inbound"}
    assert site.bad_signatures == []  # signed as every fetch and callback


def test_an_inbound_call_to_an_app_and_the_caller_presses(server: Server) -> None:
    call = dial_in(server, IVR_LINE)
    assert call["status"] == "completed" and call["direction"] == "inbound"
    assert [r["detail"]["digits"] for r in rows(call, "gathered")] == ["2"]
    said = [r["detail"]["text"] for r in rows(call, "say")]
    assert said[-1] == "We are at 1 Main Street. Goodbye."
    assert any(r["detail"].get("digit") == "2" for r in rows(call, "callee-pressed"))
    fetches = rows(call, "fetch")
    assert fetches[0]["detail"]["params"]["Direction"] == "inbound"
    assert len(fetches) == 2  # the session document, then the menu's step


def test_an_unbound_number_is_refused(server: Server) -> None:
    response = server.post("/v1/calls/inbound", {"from": CALLER, "to": "+14155550199"}, AUTH)
    assert response.status_code == 404
    body = problem(response)
    assert (body["code"], body["field"]) == ("inbound-not-bound", "to")
    listed = server.get("/v1/calls", AUTH).json()
    assert listed["calls"] == []


def test_voiceapp_call_inbound(server: Server) -> None:
    base = ["call", "--inbound", "--server", server.base, "--api-key", API_KEY]
    result = CliRunner().invoke(
        main, [*base, "--from", CALLER, "--to", LINE, "--expect", "completed"]
    )
    assert result.exit_code == 0, result.output
    for expected in (f"queued: {CALLER} -> {LINE}", "status         ringing", '"Hello caller"'):
        assert expected in result.output, result.output
    assert "ended: completed" in result.output

    record = CliRunner().invoke(main, [*base, "--json", "--from", CALLER, "--to", LINE])
    assert record.exit_code == 0, record.output
    assert json.loads(record.stdout)["direction"] == "inbound"

    refused = CliRunner().invoke(main, [*base, "--json", "--from", CALLER, "--to", "+14155550199"])
    assert refused.exit_code == 1
    error = json.loads(refused.stdout)["error"]
    assert (error["code"], error["field"], error["status"]) == ("inbound-not-bound", "to", 404)

    outbound_only = CliRunner().invoke(
        main, [*base, "--json", "--from", CALLER, "--to", LINE, "--url", "http://x"]
    )
    assert outbound_only.exit_code == 1
    error = json.loads(outbound_only.stdout)["error"]
    assert (error["code"], error["field"]) == ("unknown-field", "url")
