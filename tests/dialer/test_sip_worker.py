"""The dialer worker on the SIP backend: a queued call, settings with [network] backend
= "sip", sipp as the callee, a real HTTP site for the document and the callbacks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.sipp import free_udp_port, start_sipp
from support.sites import PIN_XML, serve_site
from support.worker import (
    ALL_EVENTS,
    CALLBACK_SECRETS,
    FETCH_SECRETS,
    PIN_CALLEE,
    make_settings,
    spec,
)

from voiceapp.dialer.clock import RealClock
from voiceapp.dialer.sip_backend import SipNetwork
from voiceapp.dialer.worker import Dialer
from voiceapp.stores.calls import open_call_store

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")


def test_a_queued_call_runs_over_sip(tmp_path: Path) -> None:
    callee = start_sipp("answer", tmp_path)
    store = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}")
    try:
        with serve_site(
            FETCH_SECRETS[-1], CALLBACK_SECRETS[-1], documents={"pin": PIN_XML}
        ) as site:
            store.create(spec("CAsip", PIN_CALLEE, site, url="/doc/pin"))
            sip = free_udp_port()
            rtp = free_udp_port(count=4)
            settings = make_settings(
                site,
                DIALER_POLL=0.05,
                NETWORK={"backend": "sip"},
                SIP={
                    "trunk": callee.uri,
                    "sip_ports": [sip, sip],
                    "rtp_ports": [rtp, rtp + 3],
                },
                INSTANCE=str(tmp_path),
            )
            dialer = Dialer(settings, store, clock=RealClock(), worker_id="w-sip")
            assert isinstance(dialer.network, SipNetwork)
            dialer.start()
            try:
                assert site.wait(lambda: len(site.accepted) == 4, timeout=30)
            finally:
                dialer.stop(timeout=5)
            assert site.accepted_events("CAsip") == sorted(ALL_EVENTS)
            assert site.fetches == {"CAsip": 1} and site.bad_signatures == []
        record = store.require("CAsip")
        assert record.status == "completed"
        assert callee.wait() == 0, callee.errors()  # sipp got our BYE and answered it
    finally:
        store.close()
        callee.stop()
