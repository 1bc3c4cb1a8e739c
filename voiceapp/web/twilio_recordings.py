"""The Twilio API's Recordings resources (docs/twilio-api.md, docs/recordings.md):

=====================================================================  =====================
``GET    /2010-04-01/Accounts/<AccountSid>/Recordings/<Sid>.json``     fetch (Twilio's JSON)
``DELETE /2010-04-01/Accounts/<AccountSid>/Recordings/<Sid>.json``     delete (204)
``GET    /2010-04-01/Accounts/<AccountSid>/Recordings/<Sid>.wav``      the audio (WAV)
``GET    /2010-04-01/Accounts/<AccountSid>/Calls/<CallSid>/Recordings.json``  a call's, one page
=====================================================================  =====================

The routes are on the Twilio API's blueprint (:data:`voiceapp.web.twilio_api.bp`): its
Basic authentication and its error bodies; a recording of another account's call is
``20404`` as an unknown one is.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from voiceapp.calls.records import RecordingRecord
from voiceapp.web.calls import call_service
from voiceapp.web.recordings import media_store
from voiceapp.web.twilio_api import API_VERSION, _own_call, bp, refusal, rfc2822


def recording_uri(account: str, sid: str) -> str:
    """A recording's address under the account (``.json``: its JSON, ``.wav``: its audio)."""
    return f"/{API_VERSION}/Accounts/{account}/Recordings/{sid}"


def recording_resource(recording: RecordingRecord, account: str) -> dict[str, Any]:
    """Twilio's JSON for a recording."""
    base = recording_uri(account, recording.sid)
    return {
        "account_sid": account,
        "api_version": API_VERSION,
        "call_sid": recording.call_sid,
        "conference_sid": None,
        "date_created": rfc2822(recording.started_at),
        "date_updated": rfc2822(recording.started_at),
        "start_time": rfc2822(recording.started_at),
        "duration": str(recording.duration) if recording.status == "completed" else "-1",
        "sid": recording.sid,
        "price": None,
        "price_unit": "USD",
        "status": recording.status,
        "channels": recording.channels,
        "source": recording.source,
        "error_code": None,
        "track": "both",
        "encryption_details": None,
        "media_url": None if recording.media is None else base,
        "uri": f"{base}.json",
        "subresource_uris": {
            "add_on_results": f"{base}/AddOnResults.json",
            "transcriptions": f"{base}/Transcriptions.json",
        },
    }


def _own_recording(account: str, sid: str) -> RecordingRecord:
    recording = call_service().store.get_recording(sid)
    if recording is None:
        raise refusal(
            20404, f"The requested resource {recording_uri(account, sid)}.json was not found", 404
        )
    _own_call(account, recording.call_sid)  # 20404 for another account's call
    return recording


@bp.get("/Recordings/<sid>.json")
def fetch_recording(account_sid: str, sid: str) -> Response:
    return jsonify(recording_resource(_own_recording(account_sid, sid), account_sid))


@bp.get("/Recordings/<sid>.wav")
def recording_media(account_sid: str, sid: str) -> Response:
    recording = _own_recording(account_sid, sid)
    data = None if recording.media is None else media_store().get(recording.media)
    if data is None:
        raise refusal(
            20404,
            f"The requested resource {recording_uri(account_sid, sid)}.wav was not found",
            404,
        )
    return Response(data, mimetype="audio/wav")


@bp.delete("/Recordings/<sid>.json")
def delete_recording(account_sid: str, sid: str) -> tuple[str, int]:
    _own_recording(account_sid, sid)
    recording = call_service().store.delete_recording(sid)
    if recording.media is not None:
        media_store().delete(recording.media)
    return "", 204


@bp.get("/Calls/<sid>/Recordings.json")
def call_recordings(account_sid: str, sid: str) -> Response:
    _own_call(account_sid, sid)
    found = [recording_resource(r, account_sid) for r in call_service().store.recordings_of(sid)]
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}/Recordings.json"
    return jsonify(
        {
            "recordings": found,
            "end": max(len(found) - 1, 0),
            "first_page_uri": f"{uri}?PageSize=50&Page=0",
            "next_page_uri": None,
            "page": 0,
            "page_size": max(50, len(found)),
            "previous_page_uri": None,
            "start": 0,
            "uri": f"{uri}?PageSize=50&Page=0",
        }
    )
