"""The Recordings resource of the core API: a recording's JSON, its audio, its delete,
and the recordings of a call (docs/recordings.md).

The records are the call store's (:meth:`CallStore.get_recording
<voiceapp.stores.calls.CallStore.get_recording>`), the audio the media store's
(:class:`~voiceapp.stores.media.FolderMedia`, ``recordings/`` of the instance folder,
where the dialer writes it).  Every route takes the API key, as ``/v1/calls`` does.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify

from voiceapp.calls.api_json import recording_json
from voiceapp.calls.records import check_sid
from voiceapp.calls.refusals import recording_not_found
from voiceapp.config import Settings
from voiceapp.stores.media import FolderMedia, MediaStore
from voiceapp.web.api import require_api_key
from voiceapp.web.calls import call_service
from voiceapp.web.runtime import runtime

bp = Blueprint("recordings", __name__, url_prefix="/v1")
EXTENSION = "voiceapp.recordings"


def init_app(app: Flask, settings: Settings) -> MediaStore:
    """Open the media store (the instance folder's ``recordings/``) and add the routes."""
    media = FolderMedia.under(settings.INSTANCE)
    app.extensions[EXTENSION] = media
    app.register_blueprint(bp)
    return media


def media_store(app: Flask | None = None) -> MediaStore:
    media = (app or current_app).extensions[EXTENSION]
    assert isinstance(media, MediaStore)
    return media


def _sid(sid: str) -> str:
    check_sid(sid, "sid")
    return sid


@bp.get("/recordings/<sid>")
def get_recording(sid: str) -> Response:
    require_api_key(runtime())
    return jsonify(recording_json(call_service().store.require_recording(_sid(sid))))


@bp.get("/recordings/<sid>.wav")
def get_media(sid: str) -> Response:
    require_api_key(runtime())
    recording = call_service().store.require_recording(_sid(sid))
    data = None if recording.media is None else media_store().get(recording.media)
    if data is None:  # absent, in progress, or its file is gone
        raise recording_not_found(f"{sid}.wav")
    response = Response(data, mimetype="audio/wav")
    response.headers["Content-Disposition"] = f'inline; filename="{sid}.wav"'
    return response


@bp.delete("/recordings/<sid>")
def delete_recording(sid: str) -> tuple[str, int]:
    require_api_key(runtime())
    recording = call_service().store.delete_recording(_sid(sid))
    if recording.media is not None:
        media_store().delete(recording.media)
    return "", 204


@bp.get("/calls/<sid>/recordings")
def call_recordings(sid: str) -> Response:
    require_api_key(runtime())
    store = call_service().store
    store.require(sid)
    return jsonify({"recordings": [recording_json(r) for r in store.recordings_of(sid)]})
