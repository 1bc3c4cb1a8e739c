"""Calls as the API shows them: records ↔ JSON with the API's key names.

The one place the API's names of a call's fields are written (``from``, ``senddigits``,
``statusCallback``, ``parentCallSid``, ``createdAt`` ...).  The web layer answers with
:func:`call_json`; the stores keep a call's spec in the same shape
(:func:`spec_json` / :func:`spec_from_json`), so a stored spec reads as the API wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voiceapp.calls.records import (
    DEFAULT_RING_TIMEOUT,
    DEFAULT_TIME_LIMIT,
    MACHINE_DETECTION_TUNING,
    SECRET_PARAM,
    AttemptRecord,
    CallRecord,
    CallSpec,
    EventRecord,
    LegRecord,
    MachineDetectionTuning,
    RecordingRecord,
    answered_by,
)
from voiceapp.redact import DEFAULT as REDACT
from voiceapp.redact import EXTRA_KEY as REDACT_KEY


def spec_json(spec: CallSpec) -> dict[str, Any]:
    return {
        "sid": spec.sid,
        "from": spec.from_,
        "to": spec.to,
        "url": spec.url,
        "method": spec.method,
        "app": spec.app,
        "session_id": spec.session_id,
        "variables": dict(spec.variables),
        "senddigits": spec.send_digits,
        "statusCallback": spec.status_callback,
        "statusCallbackEvent": list(spec.status_callback_events),
        "statusCallbackMethod": spec.status_callback_method,
        "secretKey": spec.secret_key,
        "optional": spec.optional,
        "extra": dict(spec.extra),
        "accountSid": spec.account_sid,
        "twiml": spec.twiml,
        "fallbackUrl": spec.fallback_url,
        "fallbackMethod": spec.fallback_method,
        "timeout": spec.timeout,
        "timeLimit": spec.time_limit,
        "direction": spec.direction,
        "record": spec.record,
        "recordingChannels": spec.recording_channels,
        "recordingTrack": spec.recording_track,
        "trim": spec.recording_trim,
        "machineDetection": spec.machine_detection,
        "recordingStatusCallback": spec.recording_callback,
        "recordingStatusCallbackMethod": spec.recording_callback_method,
        "recordingStatusCallbackEvent": list(spec.recording_callback_events),
        "asyncAmd": spec.async_amd,
        "asyncAmdStatusCallback": spec.async_amd_status_callback,
        "asyncAmdStatusCallbackMethod": spec.async_amd_status_callback_method,
        **{name: getattr(spec.amd_tuning, key) for name, key in MACHINE_DETECTION_TUNING.items()},
    }


def spec_from_json(data: Mapping[str, Any]) -> CallSpec:
    """The spec :func:`spec_json` wrote; a record stored before a field existed reads
    that field's default (its ring timeout: ``extra["timeout"]``, where it was kept)."""
    extra = data["extra"]
    return CallSpec(
        sid=data["sid"],
        from_=data["from"],
        to=data["to"],
        url=data["url"],
        method=data["method"],
        app=data["app"],
        session_id=data["session_id"],
        variables=data["variables"],
        send_digits=data["senddigits"],
        status_callback=data["statusCallback"],
        status_callback_events=tuple(data["statusCallbackEvent"]),
        status_callback_method=data["statusCallbackMethod"],
        secret_key=data["secretKey"],
        optional=data["optional"],
        extra=extra,
        account_sid=data.get("accountSid"),
        twiml=data.get("twiml"),
        fallback_url=data.get("fallbackUrl"),
        fallback_method=data.get("fallbackMethod") or "POST",
        timeout=int(data.get("timeout", extra.get("timeout", DEFAULT_RING_TIMEOUT))),
        time_limit=int(data.get("timeLimit", DEFAULT_TIME_LIMIT)),
        direction=data.get("direction") or "outbound-api",
        record=bool(data.get("record", False)),
        # a call stored before these existed was recorded mono, both ways, untrimmed
        recording_channels=data.get("recordingChannels") or "mono",
        recording_track=data.get("recordingTrack") or "both",
        recording_trim=data.get("trim") or "do-not-trim",
        machine_detection=data.get("machineDetection"),
        recording_callback=data.get("recordingStatusCallback"),
        recording_callback_method=data.get("recordingStatusCallbackMethod") or "POST",
        recording_callback_events=tuple(data.get("recordingStatusCallbackEvent") or ["completed"]),
        async_amd=bool(data.get("asyncAmd", False)),
        async_amd_status_callback=data.get("asyncAmdStatusCallback"),
        async_amd_status_callback_method=data.get("asyncAmdStatusCallbackMethod") or "POST",
        amd_tuning=MachineDetectionTuning(
            **{
                key: int(data[name])
                for name, key in MACHINE_DETECTION_TUNING.items()
                if name in data
            }
        ),
    )


def leg_json(leg: LegRecord) -> dict[str, Any]:
    return {
        "sid": leg.sid,
        "parentCallSid": leg.parent_sid,
        "from": leg.from_,
        "to": leg.to,
        "direction": leg.direction,
        "status": leg.status,
        "createdAt": leg.created_at,
        "endedAt": leg.ended_at,
        "duration": leg.duration,
        "history": [{"status": c.status, "at": c.at} for c in leg.history],
    }


def attempt_json(attempt: AttemptRecord) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "at": attempt.at,
        "ok": attempt.ok,
        "status": attempt.status,
        "error": attempt.error,
    }


def event_json(event: EventRecord, *, secrets: bool = False) -> dict[str, Any]:
    """The event; its ``apikey`` parameter (the call's ``secretKey``) is ``***``
    unless ``secrets``."""
    params = [
        [name, value if secrets or name != SECRET_PARAM else "***"] for name, value in event.params
    ]
    return {
        "id": event.event_id,
        "callSid": event.leg_sid,
        "event": event.name,
        "sequenceNumber": event.sequence,
        "url": event.url,
        "method": event.method,
        "params": params,
        "createdAt": event.created_at,
        "state": event.state,
        "delivered": event.delivered,
        "attempts": [attempt_json(a) for a in event.attempts],
    }


def call_json(record: CallRecord, *, secrets: bool = False) -> dict[str, Any]:
    """The body of ``GET /v1/calls/<sid>``.

    Without ``secrets`` it goes through :data:`voiceapp.redact.DEFAULT`: ``secretKey``
    and every event's ``apikey`` are ``***``, the token of a voice URL and URL
    userinfo are masked.  The fingerprints of secret variables are never shown.
    """
    spec = spec_json(record.spec)
    spec["extra"].pop(REDACT_KEY, None)
    body = {
        **spec,
        "status": record.status,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "endedAt": record.ended_at,
        "duration": record.duration,
        "answeredBy": answered_by(record),
        "timestamps": record.timestamps,
        "cancelRequested": record.cancel_requested_at is not None,
        "heartbeatAt": record.heartbeat_at,
        "recovered": record.recovered,
        "legs": [leg_json(leg) for leg in record.legs],
        "events": [event_json(event, secrets=secrets) for event in record.events],
        "error": None if record.error is None else dict(record.error),
        "trace": list(record.trace),
    }
    if secrets:
        return body
    redacted: dict[str, Any] = REDACT.value(body)
    return redacted


def recording_json(recording: RecordingRecord) -> dict[str, Any]:
    """The API's JSON for a recording (``GET /v1/recordings/<sid>``); its audio is
    ``mediaUri`` (``<uri>.wav``), read with the same API key."""
    uri = f"/v1/recordings/{recording.sid}"
    return {
        "sid": recording.sid,
        "callSid": recording.call_sid,
        "status": recording.status,
        "source": recording.source,
        "channels": recording.channels,
        "duration": recording.duration,
        "startedAt": recording.started_at,
        "sampleRate": recording.sample_rate,
        "size": recording.size,
        "uri": uri,
        "mediaUri": None if recording.media is None else uri + ".wav",
    }
