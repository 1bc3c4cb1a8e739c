"""The destination policy in the dialer: a document's ``<Dial><Number>`` to a blocked or
not-permitted number is never placed on the network; its b-leg ends ``failed`` and the
trace names the code (virtual clock, simulated network; the worker on a SQLite store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.dialer import CALLEE, CALLER, IVR, Lab

from voiceapp.calls.records import CallSpec
from voiceapp.config import load_settings
from voiceapp.destinations import DestinationPolicy
from voiceapp.dialer.callbacks import Deliverer
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.interpreter import CallHandle, Environment
from voiceapp.dialer.network import Leg, SimulatedNetwork
from voiceapp.dialer.worker import Dialer
from voiceapp.settings_tables.retry import RetryPolicy
from voiceapp.stores.calls import open_call_store

PREMIUM = "+19005550100"


class WatchedNetwork(SimulatedNetwork):
    """The simulated network, noting every number it was asked to ring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.placed: list[str] = []

    def place(self, leg: Leg) -> None:
        self.placed.append(leg.to)
        super().place(leg)


def run(lab: Lab, document: str, policy: DestinationPolicy) -> tuple[CallHandle, WatchedNetwork]:
    network = WatchedNetwork(lab.clock, lab.network_config)
    env = Environment(
        lab.clock,
        network,
        lab.site,
        deliverer=Deliverer(lab.clock, lab.receiver, RetryPolicy(first_delay=1, factor=2)),
        new_sid=lambda prefix: f"{prefix}{next(lab.sids):04d}",
        destinations=policy,
    )
    url = lab.site.add("/dial", document)
    lab.site.add(
        "/dialed", lambda p: f"<Response><Say>{p['DialCallStatus']}</Say></Response>".encode()
    )
    return lab.call(url, env=env), network


def test_a_premium_number_in_a_document_is_not_dialed(lab: Lab) -> None:
    call, network = run(
        lab,
        f"<Response><Dial action='/dialed'><Number>{PREMIUM}</Number></Dial></Response>",
        DestinationPolicy(),
    )
    assert network.placed == [CALLEE]  # the a-leg only
    assert call.status == "completed"
    b = call.legs[1]
    assert (b.leg.to, b.status) == (PREMIUM, "failed")
    assert [t.target.value for t in b.state.history] == ["failed"]
    error = call.trace.of("dial-error")[0]
    assert error.leg == "b1" and error.detail["code"] == "destination-blocked"
    assert error.detail["field"] == "Number" and "premium-rate" in error.detail["message"]
    result = call.trace.of("dial-result")[0].detail
    assert result["DialCallStatus"] == "failed" and result["DialCallSid"] is None
    assert call.a.leg.said() == ["failed"]  # the action heard DialCallStatus=failed
    # the b-leg reports its end like any failed leg, and never rang
    assert lab.receiver.events(b.sid) == [("completed", "failed")]


def test_other_numbers_of_the_same_dial_still_ring(lab: Lab) -> None:
    lab.network_config["numbers"][IVR] = {"rings": 1, "hangup_after": 3}
    call, network = run(
        lab,
        f"<Response><Dial><Number>+881612345678</Number><Number>{IVR}</Number></Dial></Response>",
        DestinationPolicy.build(default_region="US"),
    )
    assert network.placed == [CALLEE, IVR]
    blocked, answered = call.legs[1:]
    assert (blocked.status, answered.status) == ("failed", "completed")
    assert call.trace.of("dial-error")[0].detail["code"] == "destination-blocked"
    assert call.trace.of("dial-result")[0].detail["DialCallStatus"] == "completed"


def test_geo_permissions_apply_to_documents(lab: Lab) -> None:
    call, network = run(
        lab,
        "<Response><Dial action='/dialed'>+442079460018</Dial></Response>",
        DestinationPolicy.build(default_region="US"),
    )
    assert network.placed == [CALLEE]
    assert call.trace.of("dial-error")[0].detail["code"] == "destination-not-permitted"
    assert call.a.leg.said() == ["failed"]


def test_the_worker_guards_dial_and_queued_calls(tmp_path: Path) -> None:
    """The worker builds the policy from its settings: a document's premium <Number> ends
    failed in the store, and a call queued before the policy is failed, never dialed.
    The callees of the simulated network it runs on are its own numbers (+886 here,
    though DEFAULT_REGION is US)."""
    settings, _ = load_settings(environ={}, overrides={"TESTING": True, "DEFAULT_REGION": "US"})
    document = f"<Response><Dial><Number>{PREMIUM}</Number></Dial></Response>".encode()
    store = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}")
    try:
        store.create(CallSpec(sid="CAdoc", from_=CALLER, to=CALLEE, url="http://app.test/d"))
        store.create(CallSpec(sid="CAold", from_=CALLER, to=PREMIUM, url="http://app.test/d"))
        network = WatchedNetwork(VirtualClock(), {"numbers": {CALLEE: {"rings": 1}}})
        dialer = Dialer(
            settings,
            store,
            clock=network.clock,
            network=network,
            worker_id="w-dest",
            fetch=lambda method, url, params: document,
        )
        dialer.run_until_idle()
        assert network.placed == [CALLEE]
        record = store.require("CAdoc")
        assert record.status == "completed"
        b_leg = record.legs[1]
        assert (b_leg.to, b_leg.status) == (PREMIUM, "failed")
        assert [c.status for c in b_leg.history] == ["queued", "failed"]
        trace = dialer.trace("CAdoc")
        assert trace is not None
        assert trace.of("dial-error")[0].detail["code"] == "destination-blocked"
        old = store.require("CAold")
        assert old.status == "failed" and [c.status for c in old.legs[0].history] == [
            "queued",
            "failed",
        ]
    finally:
        store.close()
