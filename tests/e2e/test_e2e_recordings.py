"""Recordings over HTTP: a call placed on a real server records (``record`` and a
``<Record>``), its recordings are read as JSON and as WAV with the API key, deleted,
and their events reach a real receiver."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from pathlib import Path

import requests
from support.e2e import AUTH, FROM, PIN_CALLEE, HttpReceiver, Server, finished, problem
from support.servers import wait_for

from voiceapp.dialer.worker import Dialer


def test_recordings_over_http(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    receiver: Callable[..., HttpReceiver],
    tmp_path: Path,
) -> None:
    rec = receiver()
    instance = tmp_path / "instance"
    server = serve(allow=(rec.port,), INSTANCE=str(instance), PUBLIC_URL="https://v.example.com")
    dialer(server)
    twiml = (
        "<Response><Say>After the beep</Say>"
        f'<Record maxLength="30" recordingStatusCallback="{rec.url}"/></Response>'
    )
    response = server.post_call(
        **{
            "from": FROM,
            "to": PIN_CALLEE,
            "twiml": twiml,
            "record": True,
            "recordingStatusCallback": rec.url,
            "recordingStatusCallbackEvent": "in-progress completed",
        }
    )
    assert response.status_code == 201, response.text
    sid = response.json()["sid"]
    call = finished(server, sid)
    assert call["record"] is True and call["recordingStatusCallback"] == rec.url

    listed = server.get(f"/v1/calls/{sid}/recordings", AUTH)
    assert listed.status_code == 200
    recordings = listed.json()["recordings"]
    assert sorted(r["source"] for r in recordings) == ["OutboundAPI", "RecordVerb"]
    assert all(r["status"] == "completed" and r["callSid"] == sid for r in recordings)
    verb = next(r for r in recordings if r["source"] == "RecordVerb")
    assert verb["duration"] == 3  # the callee's talk_seconds

    one = server.get(f"/v1/recordings/{verb['sid']}", AUTH)
    assert one.status_code == 200 and one.json() == verb
    audio = server.get(verb["mediaUri"], AUTH)
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnframes()) == (8000, 2, 24000)
    assert (instance / "recordings" / f"{verb['sid']}.wav").read_bytes() == audio.content

    # the key protects the resource and its audio; the URL carries no secret
    for path in (f"/v1/recordings/{verb['sid']}", verb["mediaUri"], f"/v1/calls/{sid}/recordings"):
        refused = requests.get(server.base + path, timeout=10)
        assert refused.status_code == 401 and problem(refused)["code"] == "api-key-missing"

    # the events: the call's recording (in-progress, completed), the verb's (completed)
    wait_for(lambda: len(rec.delivered()) >= 3)
    got = [(r.params["RecordingSource"], r.params["RecordingStatus"]) for r in rec.delivered()]
    assert sorted(got) == [
        ("OutboundAPI", "completed"),
        ("OutboundAPI", "in-progress"),
        ("RecordVerb", "completed"),
    ]
    url = next(
        r.params["RecordingUrl"] for r in rec.delivered() if r.params["RecordingSid"] == verb["sid"]
    )
    assert url == f"https://v.example.com/v1/recordings/{verb['sid']}"
    assert "key" not in url.lower() and "token" not in url.lower()

    gone = requests.delete(server.base + verb["uri"], headers=AUTH, timeout=10)
    assert gone.status_code == 204
    assert not (instance / "recordings" / f"{verb['sid']}.wav").exists()
    for path in (verb["uri"], verb["mediaUri"]):
        missing = server.get(path, AUTH)
        assert missing.status_code == 404 and problem(missing)["code"] == "recording-not-found"
    again = requests.delete(server.base + verb["uri"], headers=AUTH, timeout=10)
    assert again.status_code == 404
    assert len(server.get(f"/v1/calls/{sid}/recordings", AUTH).json()["recordings"]) == 1
    unknown_call = server.get("/v1/calls/CAnone/recordings", AUTH)
    assert unknown_call.status_code == 404 and problem(unknown_call)["code"] == "call-not-found"


def test_a_bad_recording_field_is_refused_with_its_name(serve: Callable[..., Server]) -> None:
    server = serve()
    for field, value in (
        ("recordingStatusCallbackEvent", "finished"),
        ("record", "maybe"),
        ("recordingStatusCallback", "http://10.0.0.1/private"),
    ):
        response = server.post_call(
            **{"from": FROM, "to": PIN_CALLEE, "twiml": "<Response/>", field: value}
        )
        assert response.status_code in (400, 403, 422), (field, response.text)
        assert problem(response)["field"] == field, response.text


ACCOUNT = "AC" + "7a" * 16
TOKEN = "3c2b1a0f9e8d7c6b5a49382716f5e4d3"


def test_recordings_through_twilio_python(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    receiver: Callable[..., HttpReceiver],
    tmp_path: Path,
) -> None:
    from twilio.rest import Client

    rec = receiver()
    server = serve(
        allow=(rec.port,),
        TWILIO_ACCOUNTS={ACCOUNT: TOKEN},
        INSTANCE=str(tmp_path / "instance"),
        PUBLIC_URL="https://v.example.com",
    )
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = server.base
    call = client.calls.create(
        to=PIN_CALLEE,
        from_=FROM,
        twiml='<Response><Pause length="2"/></Response>',
        record=True,
        recording_status_callback=rec.url,
        recording_status_callback_event=["in-progress", "completed"],
    )
    dialer(server)
    wait_for(lambda: client.calls(call.sid).fetch().status == "completed")
    (recording,) = client.calls(call.sid).recordings.list()
    assert (recording.status, recording.source, recording.channels) == (
        "completed",
        "OutboundAPI",
        1,
    )
    assert recording.call_sid == call.sid and int(recording.duration) >= 2
    assert client.recordings(recording.sid).fetch().sid == recording.sid
    auth = (ACCOUNT, TOKEN)
    audio = requests.get(
        f"{server.base}{recording.uri.removesuffix('.json')}.wav", auth=auth, timeout=10
    )
    assert audio.status_code == 200
    with wave.open(io.BytesIO(audio.content), "rb") as wav:
        assert wav.getframerate() == 8000 and wav.getnframes() >= 2 * 8000

    # Twilio's parameters, and a RecordingUrl in Twilio's form (its auth reads it)
    wait_for(lambda: len(rec.delivered()) >= 2)
    done = next(r.params for r in rec.delivered() if r.params["RecordingStatus"] == "completed")
    assert done["AccountSid"] == ACCOUNT and done["CallSid"] == call.sid
    assert done["RecordingUrl"] == f"https://v.example.com{recording.uri.removesuffix('.json')}"
    assert "RecordingURL" not in done  # the seed's name is the seed's set only

    other = requests.get(
        f"{server.base}/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{recording.sid}.json",
        auth=auth,
        timeout=10,
    )
    assert other.status_code in (401, 403, 404)
    assert client.recordings(recording.sid).delete() is True
    missing = requests.get(f"{server.base}{recording.uri}", auth=auth, timeout=10)
    assert missing.status_code == 404 and missing.json()["code"] == 20404


def test_the_core_api_takes_the_recordings_channels_track_and_trim(
    serve: Callable[..., Server],
) -> None:
    server = serve()
    base = {"from": FROM, "to": PIN_CALLEE, "twiml": "<Response><Hangup/></Response>"}
    made = server.post_call(
        **base, record=True, recordingChannels="dual", recordingTrack="outbound", trim="do-not-trim"
    )
    assert made.status_code == 201, made.text
    shown = server.call(made.json()["sid"])
    assert (shown["recordingChannels"], shown["recordingTrack"], shown["trim"]) == (
        "dual",
        "outbound",
        "do-not-trim",
    )
    alone = server.post_call(**base, recordingChannels="dual")
    assert alone.status_code == 422 and alone.json()["field"] == "recordingChannels"
    for name, bad in (("recordingChannels", "stereo"), ("recordingTrack", "left"), ("trim", 1)):
        refused = server.post_call(**base, record=True, **{name: bad})
        assert refused.status_code == 422 and refused.json()["field"] == name
