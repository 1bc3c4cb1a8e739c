"""Recordings made by the dialer: ``<Record>``, ``Record=true`` on the call and
``<Dial record>`` write real WAV files under the instance folder, their records in the
call store, and send ``recordingStatusCallback`` events to a real HTTP receiver."""

from __future__ import annotations

import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.e2e import HttpReceiver
from support.servers import wait_for
from support.sites import Site, serve_site
from support.worker import CALLBACK_SECRETS, CALLER, FETCH_SECRETS, NETWORK, make_settings, spec

from voiceapp.calls.records import CallChange
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.worker import Dialer
from voiceapp.dtmf.audio import decode, read_wav
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore

TALKER = "+886912000001"  # speaks 3 s into a <Record>
QUIET = "+886912000002"  # says nothing
AGENT = "+886912000003"  # the b-leg of a recorded <Dial>; hangs up 4 s after answer
HANGER = "+886912000004"  # hangs up 2 s after answer, in the middle of a <Record>
NUMBERS = {
    **NETWORK["numbers"],
    TALKER: {"rings": 1, "talk_seconds": 3.0},
    QUIET: {"rings": 1, "talk_seconds": 0},
    AGENT: {"rings": 1, "hangup_after": 4},
    HANGER: {"rings": 1, "talk_seconds": 5.0, "hangup_after": 2},
}


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CallStore]:
    """The call store of each kind (Redis: a real server, keys under a unique prefix)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'calls.db'}"
    else:
        url = f"{request.getfixturevalue('redis_server')}?prefix=r{uuid.uuid4().hex[:12]}:"
    calls = open_call_store(url)
    yield calls
    calls.close()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    running = HttpReceiver().start()
    yield running
    running.stop()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site(FETCH_SECRETS[-1], CALLBACK_SECRETS[-1]) as running:
        yield running


def dialer(store: CallStore, site: Site, receiver: HttpReceiver, tmp_path: Path) -> Dialer:
    settings = make_settings(
        site,
        NETWORK={"numbers": NUMBERS},
        INSTANCE=str(tmp_path / "instance"),
        PUBLIC_URL="https://voice.example.com",
        URL_ALLOWLIST=[site.base.removeprefix("http://"), f"127.0.0.1:{receiver.port}"],
    )
    return Dialer(settings, store, clock=VirtualClock(), worker_id="w-rec")


def wav_of(tmp_path: Path, name: str) -> wave.Wave_read:
    return wave.open(str(tmp_path / "instance" / "recordings" / name), "rb")


def events(receiver: HttpReceiver, count: int) -> list[dict[str, str]]:
    wait_for(lambda: len(receiver.delivered()) >= count)
    return [r.params for r in receiver.delivered()]


def test_record_writes_a_wav_stores_it_and_reports_it(
    store: CallStore, site: Site, receiver: HttpReceiver, tmp_path: Path
) -> None:
    site.documents["rec"] = (
        b"<Response><Say>Leave a message</Say>"
        b'<Record action="/doc/after" maxLength="20" timeout="2" '
        b'recordingStatusCallback="' + receiver.url.encode() + b'" '
        b'recordingStatusCallbackEvent="in-progress completed"/></Response>'
    )
    site.documents["after"] = b"<Response><Say>Thanks</Say></Response>"
    store.create(spec("CArec1", TALKER, site, url="/doc/rec"))
    assert dialer(store, site, receiver, tmp_path).run_until_idle() == 1

    (recording,) = store.recordings_of("CArec1")
    assert (recording.status, recording.source, recording.duration) == (
        "completed",
        "RecordVerb",
        3,
    )
    assert recording.media == f"{recording.sid}.wav" and recording.sid.startswith("RE")
    with wav_of(tmp_path, recording.media) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == 3 * 8000  # trim-silence: the 2 s of silence are cut
    samples, _ = read_wav(tmp_path / "instance" / "recordings" / recording.media)
    assert max(abs(s) for s in samples) > 3000  # the far end's voice, not silence
    assert recording.size == (tmp_path / "instance" / "recordings" / recording.media).stat().st_size

    # the action got the recording (the API's address: no token, no key in it)
    action = next(p for p in site.fetch_params if p.get("RecordingSid"))
    url = f"https://voice.example.com/v1/recordings/{recording.sid}"
    assert action["RecordingUrl"] == url and action["RecordingDuration"] == "3"
    # the receiver got in-progress then completed, Twilio's names (+ the seed's RecordingURL)
    got = events(receiver, 2)
    assert [p["RecordingStatus"] for p in got] == ["in-progress", "completed"]
    done = got[1]
    assert done["RecordingSid"] == recording.sid and done["CallSid"] == "CArec1"
    assert done["RecordingUrl"] == done["RecordingURL"] == url
    assert (done["RecordingDuration"], done["RecordingChannels"]) == ("3", "1")
    assert done["RecordingSource"] == "RecordVerb" and got[0].get("RecordingUrl", "") == ""
    # the call's completed callback names the recording too (the seed's RecordingURL)
    wait_for(lambda: site.accepted.get("CArec1:completed"))
    assert site.accepted["CArec1:completed"][0]["RecordingURL"] == url


def test_a_record_that_hears_nothing_is_absent_and_skips_its_action(
    store: CallStore, site: Site, receiver: HttpReceiver, tmp_path: Path
) -> None:
    site.documents["rec"] = (
        b'<Response><Record action="/doc/after" timeout="1" transcribe="true" '
        b'recordingStatusCallback="' + receiver.url.encode() + b'" '
        b'recordingStatusCallbackEvent="completed absent"/><Say>Bye</Say></Response>'
    )
    site.documents["after"] = b"<Response/>"
    store.create(spec("CArec2", QUIET, site, url="/doc/rec"))
    worker = dialer(store, site, receiver, tmp_path)
    assert worker.run_until_idle() == 1
    (recording,) = store.recordings_of("CArec2")
    assert (recording.status, recording.media, recording.duration) == ("absent", None, 0)
    assert not any(p.get("RecordingSid") for p in site.fetch_params)  # no action request
    (absent,) = events(receiver, 1)
    assert absent["RecordingStatus"] == "absent" and absent.get("RecordingUrl", "") == ""
    assert absent["ErrorCode"] == "16102"  # Twilio's code for a silent recording
    trace = worker.trace("CArec2")
    assert trace is not None
    notes = [e.detail for e in trace.of("unsupported")]
    assert [n.get("attribute") for n in notes] == ["transcribe"]
    assert "transcription is not available" in notes[0]["reason"]
    assert [e.detail["text"] for e in trace.of("say")] == ["Bye"]  # the document went on


def test_a_recorded_call_has_its_digits_as_tones(
    store: CallStore, site: Site, receiver: HttpReceiver, tmp_path: Path
) -> None:
    site.documents["hold"] = b'<Response><Pause length="3"/></Response>'
    fields: dict[str, Any] = {
        "record": True,
        "send_digits": "w19#",
        "recording_callback": receiver.url,
        "recording_callback_events": ("completed",),
    }
    store.create(spec("CArec3", QUIET, site, url="/doc/hold", **fields))
    assert dialer(store, site, receiver, tmp_path).run_until_idle() == 1
    call = store.require("CArec3")
    (recording,) = store.recordings_of("CArec3")
    assert (recording.status, recording.source) == ("completed", "OutboundAPI")
    assert call.duration is not None and abs(recording.duration - call.duration) <= 1
    samples, rate = read_wav(tmp_path / "instance" / "recordings" / f"{recording.sid}.wav")
    assert rate == 8000 and len(samples) >= 3 * 8000
    assert "".join(t.digit for t in decode(samples)) == "19#"
    (done,) = events(receiver, 1)
    assert done["RecordingSource"] == "OutboundAPI" and done["RecordingStatus"] == "completed"


def test_dial_record_from_answer_dual_is_a_two_channel_file(
    store: CallStore, site: Site, receiver: HttpReceiver, tmp_path: Path
) -> None:
    site.documents["dial"] = (
        b'<Response><Dial record="record-from-answer-dual" recordingStatusCallback="'
        + receiver.url.encode()
        + b'"><Number sendDigits="42">'
        + AGENT.encode()
        + b"</Number></Dial></Response>"
    )
    store.create(spec("CArec4", QUIET, site, url="/doc/dial"))
    assert dialer(store, site, receiver, tmp_path).run_until_idle() == 1
    (recording,) = store.recordings_of("CArec4")
    assert (recording.status, recording.source, recording.channels) == ("completed", "DialVerb", 2)
    assert 4 <= recording.duration <= 5
    with wav_of(tmp_path, f"{recording.sid}.wav") as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == 8000
    (done,) = events(receiver, 1)
    assert done["RecordingChannels"] == "2" and done["RecordingSource"] == "DialVerb"
    assert CALLER  # the a-leg is the caller of the deployment's numbers


def test_without_a_callback_nothing_is_sent_but_the_recording_is_kept(
    store: CallStore, site: Site, receiver: HttpReceiver, tmp_path: Path
) -> None:
    site.documents["rec"] = b'<Response><Record maxLength="2" playBeep="false"/></Response>'
    store.create(spec("CArec5", TALKER, site, url="/doc/rec"))
    assert dialer(store, site, receiver, tmp_path).run_until_idle() == 1
    (recording,) = store.recordings_of("CArec5")
    assert (recording.status, recording.duration) == ("completed", 2)  # cut at maxLength
    assert receiver.delivered() == []


def test_a_hang_up_during_record_keeps_what_was_said(
    store: CallStore, site: Site, receiver: HttpReceiver, tmp_path: Path
) -> None:
    site.documents["rec"] = (
        b'<Response><Record playBeep="false" recordingStatusCallback="'
        + receiver.url.encode()
        + b'"/></Response>'
    )
    store.create(spec("CArec6", HANGER, site, url="/doc/rec"))
    assert dialer(store, site, receiver, tmp_path).run_until_idle() == 1
    (recording,) = store.recordings_of("CArec6")
    assert (recording.status, recording.duration) == ("completed", 2)
    with wav_of(tmp_path, f"{recording.sid}.wav") as wav:
        assert wav.getnframes() == 2 * 8000
    (done,) = events(receiver, 1)
    assert done["RecordingStatus"] == "completed" and done["RecordingDuration"] == "2"


def test_a_live_change_during_record_keeps_what_was_said(
    store: CallStore, site: Site, receiver: HttpReceiver, tmp_path: Path
) -> None:
    """A live change (POST /v1/calls/<sid> with a new url) cuts a <Record> short: the
    recording is finished with what was said until then (not left in-progress), its
    callback is sent, its action is not requested, and the new document runs."""
    site.documents["rec"] = (
        b'<Response><Record playBeep="false" action="/doc/action" recordingStatusCallback="'
        + receiver.url.encode()
        + b'"/></Response>'
    )
    site.documents["moved"] = b"<Response><Say>Moved</Say></Response>"
    site.documents["action"] = b"<Response><Say>Action</Say></Response>"
    store.create(spec("CArec7", TALKER, site, url="/doc/rec"))
    worker = dialer(store, site, receiver, tmp_path)

    def listener(sid: str, entry: Any) -> None:
        if entry.kind == "record-start":  # the API's change comes 2 s into the recording
            change = CallChange(url=site.url("/doc/moved"))
            worker.clock.call_later(2.0, lambda: store.request_change(sid, change))

    worker.subscribe(listener)
    assert worker.run_until_idle() == 1
    (recording,) = store.recordings_of("CArec7")
    assert (recording.status, recording.duration) == ("completed", 2)
    with wav_of(tmp_path, recording.media) as wav:
        assert 2 * 8000 <= wav.getnframes() <= 3 * 8000  # the talk until the change
    (done,) = events(receiver, 1)
    assert done["RecordingStatus"] == "completed" and done["RecordingSid"] == recording.sid
    trace = worker.trace("CArec7")
    assert trace is not None
    assert [e.detail["text"] for e in trace.of("say")] == ["Moved"]
    assert not any(p.get("RecordingSid") for p in site.fetch_params)  # no action request
    assert store.require("CArec7").status == "completed"


def test_dial_recording_track_is_one_side_on_one_channel(
    store: CallStore, site: Site, receiver: HttpReceiver, tmp_path: Path
) -> None:
    site.documents["dial"] = (
        b'<Response><Dial record="record-from-answer-dual" recordingTrack="inbound"'
        b' recordingStatusCallback="'
        + receiver.url.encode()
        + b'"><Number>'
        + AGENT.encode()
        + b"</Number></Dial></Response>"
    )
    store.create(spec("CArec7", QUIET, site, url="/doc/dial"))
    assert dialer(store, site, receiver, tmp_path).run_until_idle() == 1
    (recording,) = store.recordings_of("CArec7")
    assert (recording.source, recording.channels) == ("DialVerb", 1)  # one track: mono
    (done,) = events(receiver, 1)
    assert (done["RecordingTrack"], done["RecordingChannels"]) == ("inbound", "1")


@pytest.mark.parametrize(
    ("fields", "channels", "track"),
    [
        ({}, 1, "both"),  # Twilio's defaults: mono, both tracks
        ({"recording_channels": "dual"}, 2, "both"),
        ({"recording_channels": "dual", "recording_track": "outbound"}, 1, "outbound"),
    ],
)
def test_a_recorded_calls_channels_and_track(
    store: CallStore,
    site: Site,
    receiver: HttpReceiver,
    tmp_path: Path,
    fields: dict[str, str],
    channels: int,
    track: str,
) -> None:
    site.documents["talk"] = b"<Response><Play digits='12'/><Pause length='2'/></Response>"
    store.create(
        spec(
            "CArec8",
            TALKER,
            site,
            url="/doc/talk",
            record=True,
            recording_callback=receiver.url,
            **fields,
        )
    )
    assert dialer(store, site, receiver, tmp_path).run_until_idle() == 1
    (recording,) = store.recordings_of("CArec8")
    assert (recording.source, recording.channels) == ("OutboundAPI", channels)
    with wav_of(tmp_path, f"{recording.sid}.wav") as wav:
        assert wav.getnchannels() == channels
    (done,) = events(receiver, 1)
    assert (done["RecordingTrack"], done["RecordingChannels"]) == (track, str(channels))
