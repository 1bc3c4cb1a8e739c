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


def test_recordings_of_a_queued_sip_call_are_stored_as_the_simulated_ones(
    tmp_path: Path,
) -> None:
    """record=true and <Record> on a SIP call: the worker's recorder stores the RTP audio
    in the instance's recordings folder, the records in the call store (what the
    Recordings resource serves)."""
    from support.sipp import audio_pcap

    from voiceapp.dtmf import parse_digits
    from voiceapp.dtmf.audio import decode, read_wav, synthesize
    from voiceapp.media.audio import pcm_of
    from voiceapp.stores.media import FolderMedia

    tones = pcm_of(synthesize(parse_digits("28", tone_ms=120, gap_ms=120)))
    audio_pcap(tmp_path / "talk.pcap", tones)
    callee = start_sipp("talk", tmp_path)  # plays the tones 1.5 s after the answer
    store = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}")
    record_xml = b"<Response><Record maxLength='6' timeout='2' playBeep='false'/></Response>"
    try:
        with serve_site(
            FETCH_SECRETS[-1], CALLBACK_SECRETS[-1], documents={"rec": record_xml}
        ) as site:
            store.create(
                spec(
                    "CAsiprec",
                    PIN_CALLEE,
                    site,
                    url="/doc/rec",
                    record=True,
                    recording_trim="do-not-trim",
                )
            )
            sip = free_udp_port()
            rtp = free_udp_port(count=4)
            settings = make_settings(
                site,
                DIALER_POLL=0.05,
                NETWORK={"backend": "sip"},
                SIP={"trunk": callee.uri, "sip_ports": [sip, sip], "rtp_ports": [rtp, rtp + 3]},
                INSTANCE=str(tmp_path),
            )
            dialer = Dialer(settings, store, clock=RealClock(), worker_id="w-sip")
            dialer.start()
            try:
                assert site.wait(lambda: len(site.accepted) == 4, timeout=30)
            finally:
                dialer.stop(timeout=5)
        recordings = {r.source: r for r in store.recordings_of("CAsiprec")}
        assert sorted(recordings) == ["OutboundAPI", "RecordVerb"]
        media = FolderMedia.under(str(tmp_path))
        for recording in recordings.values():
            assert recording.status == "completed" and recording.media is not None
            data = media.get(recording.media)
            assert data is not None and len(data) == recording.size
            samples, rate = read_wav(media.folder / recording.media)
            assert rate == 8000
            assert "".join(t.digit for t in decode(samples)) == "28"  # the callee's tones
        assert recordings["RecordVerb"].duration == 1  # trimmed: 0.36 s of tones
        assert recordings["OutboundAPI"].duration >= 3  # the call from the answer
    finally:
        callee.stop()
        store.close()
