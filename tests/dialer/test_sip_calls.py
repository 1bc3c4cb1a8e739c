"""Calls over the SIP backend, with sipp as the callee (real sockets on 127.0.0.1).

Each test starts its sipp callees on free ports with a scenario of
tests/sip/scenarios, runs one call on a RealClock through SipNetwork, and checks
the statuses, every callback (with SipResponseCode) and what sipp saw.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.dialer import CALLER, CALLEE, IVR, Receiver, Site
from support.sipp import Sipp, dtmf_pcap, free_udp_port, start_sipp

from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer.callbacks import Deliverer
from voiceapp.dialer.clock import RealClock
from voiceapp.dialer.interpreter import CallHandle, Environment, OutboundCall, place_call
from voiceapp.dialer.sip_backend import SipNetwork
from voiceapp.settings_tables.retry import RetryPolicy
from voiceapp.settings_tables.sip import SipConfig

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")

ACCOUNT = "AC" + "0" * 32
EVERY = "initiated ringing answered completed"


@pytest.fixture
def clock() -> Iterator[RealClock]:
    c = RealClock()
    yield c
    c.close()


class Lab:
    def __init__(self, clock: RealClock, folder: Path) -> None:
        self.clock = clock
        self.folder = folder
        self.site = Site()
        self.receiver = Receiver()
        self.sipps: list[Sipp] = []
        self.network: SipNetwork | None = None

    def sipp(self, scenario: str, **options: Any) -> Sipp:
        sipp = start_sipp(scenario, self.folder, **options)
        self.sipps.append(sipp)
        return sipp

    def call(
        self,
        trunk: Sipp,
        url: str | None,
        *,
        to: str = CALLEE,
        routes: dict[str, Sipp] | None = None,
        credentials: tuple[str, str] = ("", ""),
        **spec: Any,
    ) -> CallHandle:
        sip_port = free_udp_port()
        rtp = free_udp_port(count=8, step=1)
        config = SipConfig(
            trunk=trunk.uri,
            username=credentials[0],
            password=credentials[1],
            from_domain="voiceapp.test",
            local_host="127.0.0.1",
            sip_ports=(sip_port, sip_port),
            rtp_ports=(rtp, rtp + 7),
            routes=tuple((number, s.uri) for number, s in (routes or {}).items()),
        )
        self.network = SipNetwork(self.clock, config, media_folder=self.folder / "media")
        env = Environment(
            self.clock,
            self.network,
            self.site,
            deliverer=Deliverer(self.clock, self.receiver, RetryPolicy(first_delay=1)),
        )
        sub = Subscription.from_fields(
            status_callback="http://hooks.test/status", status_callback_event=EVERY
        )
        spec.setdefault("account_sid", ACCOUNT)
        handle = place_call(
            env, OutboundCall(from_=CALLER, to=to, url=url, subscription=sub, **spec)
        )
        self.clock.run_until(handle.task)
        self.clock.sleep(0.3)  # the last BYE/ACK leaves, the deliverer settles
        return handle

    def close(self) -> None:
        if self.network is not None:
            self.network.close()
            self.clock.sleep(0.05)  # the sockets close on the loop
        for sipp in self.sipps:
            sipp.stop()


@pytest.fixture
def lab(clock: RealClock, tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(clock, tmp_path)
    yield lab
    lab.close()


def callbacks(lab: Lab, sid: str) -> list[dict[str, str]]:
    return [p for p in lab.receiver.accepted if p["CallSid"] == sid]


HANGUP = "<Response><Say>Goodbye</Say><Hangup/></Response>"


@pytest.mark.parametrize(
    ("scenario", "code", "statuses"),
    [
        ("busy", "486", ["initiated", "ringing", "busy"]),
        ("decline", "603", ["initiated", "ringing", "failed"]),
        ("fail", "503", ["initiated", "failed"]),
    ],
)
def test_unanswered_outcomes(lab: Lab, scenario: str, code: str, statuses: list[str]) -> None:
    callee = lab.sipp(scenario)
    handle = lab.call(callee, lab.site.add("/hangup", HANGUP))
    assert handle.status.value == statuses[-1]
    sent = callbacks(lab, handle.sid)
    assert [p["CallStatus"] for p in sent] == statuses
    assert sent[-1]["SipResponseCode"] == code
    assert callee.wait() == 0, callee.errors()
    assert lab.site.requests == []  # never answered: no document


def test_no_answer_cancels_and_gets_487(lab: Lab) -> None:
    callee = lab.sipp("noanswer")
    handle = lab.call(callee, lab.site.add("/hangup", HANGUP), timeout=1.0)
    assert handle.status.value == "no-answer"
    last = callbacks(lab, handle.sid)[-1]
    assert (last["CallStatus"], last["SipResponseCode"]) == ("no-answer", "487")
    assert callee.wait() == 0, callee.errors()  # sipp saw CANCEL, sent 487, got its ACK


def test_callee_hangs_up_after_n_ms(lab: Lab) -> None:
    callee = lab.sipp("hangup", duration_ms=600)
    page = "<Response><Pause length='10'/><Say>never heard</Say></Response>"
    handle = lab.call(callee, lab.site.add("/long", page))
    assert handle.status.value == "completed"
    sent = callbacks(lab, handle.sid)
    assert [p["CallStatus"] for p in sent] == ["initiated", "ringing", "in-progress", "completed"]
    assert sent[-1]["SipResponseCode"] == "200"
    assert "callee-hangup" in [e.kind for e in handle.trace]
    assert callee.wait() == 0, callee.errors()


def test_digest_auth(lab: Lab) -> None:
    callee = lab.sipp("auth")
    handle = lab.call(callee, lab.site.add("/hangup", HANGUP), credentials=("alice", "wonderland"))
    assert handle.status.value == "completed"
    assert callee.wait() == 0, callee.errors()
    assert "wonderland" not in repr(lab.network.config if lab.network else "")
    assert all("wonderland" not in str(e) for e in handle.trace)


def test_wrong_password_fails_with_403(lab: Lab) -> None:
    callee = lab.sipp("auth")
    handle = lab.call(callee, lab.site.add("/hangup", HANGUP), credentials=("alice", "nope"))
    assert handle.status.value == "failed"
    assert callbacks(lab, handle.sid)[-1]["SipResponseCode"] == "403"
