"""The OpenAPI 3.1 document of every route, served at ``GET /openapi.json``.

Request bodies and query parameters are made from the field tables the routes
validate with (:mod:`voiceapp.web.fields`: ``CALL_FIELDS``, ``SESSION_FIELDS``,
``LIST_FIELDS``, each vendor route's ``FIELDS``), so a field added to a route appears
here.  :data:`OPERATIONS` names every (rule, method) of the app with its responses;
``tests/web/test_openapi.py`` fails when a rule of ``app.url_map`` has no operation.
Errors are documented in each route's own shape: ``application/problem+json`` for
the core, the vendor's body for the vendor routes.

``/v1/calls/<sid>`` (voiceapp) and ``/v1/calls/<int:call_id>`` (ThunderPhone) are one
OpenAPI path (OpenAPI forbids two templates of the same shape): its GET answers either
shape, by whether the id is all digits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from flask import Blueprint, Response

from voiceapp.calls.states import DELIVERY_STATES, STATUSES
from voiceapp.web import api, calls, inbound, twilio_api
from voiceapp.web.compat import feather, pathors, polyai, thunderphone
from voiceapp.web.fields import FieldTable
from voiceapp.web.problems import PROBLEM_MIMETYPE

bp = Blueprint("openapi", __name__)

JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"
XML: Final = "text/xml"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"oneOf": [dict(schema), {"type": "null"}]}


_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_NUM = {"type": "number"}
_NNUM = {"type": ["number", "null"]}
_NINT = {"type": ["integer", "null"]}


def _object(props: Mapping[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": dict(props)}
    if required:
        out["required"] = list(required)
    return out


#: The response shapes (JSON Schema 2020-12), by name.
SCHEMAS: Final[dict[str, Any]] = {
    "Problem": _object(
        {
            "type": _STR,
            "title": _STR,
            "status": {"type": "integer"},
            "detail": _STR,
            "code": _STR,
            "field": _STR,
            "index": {"type": "integer"},
            "line": _NINT,
            "column": _NINT,
            "path": _STR,
        },
        ["type", "title", "status", "detail"],
    ),
    "Health": _object({"status": _STR}, ["status"]),
    "Ready": _object(
        {"status": _STR, "dialers": {"type": "integer"}, "heartbeat_age": _NUM}, ["status"]
    ),
    "Session": _object({"token": _STR, "url": _STR, "expires_at": _STR}, ["token", "url"]),
    "Queue": _object(
        {
            "name": _STR,
            "sid": _STR,
            "current_size": {"type": "integer"},
            "max_size": {"type": "integer"},
            "average_wait_time": {"type": "integer"},
            "dequeued": {"type": "integer"},
            "members": {
                "type": "array",
                "items": _object(
                    {
                        "call_sid": _STR,
                        "position": {"type": "integer"},
                        "wait_time": {"type": "integer"},
                    },
                    ["call_sid", "position", "wait_time"],
                ),
            },
        },
        ["name", "sid", "current_size", "max_size", "average_wait_time", "members"],
    ),
    "QueueList": _object(
        {
            "queues": {"type": "array", "items": _ref("Queue")},
            "dialer": {"type": "string", "enum": ["embedded", "none"]},
        },
        ["queues", "dialer"],
    ),
    "CallQueued": _object(
        {"sid": _STR, "status": {"type": "string", "enum": sorted(STATUSES)}}, ["sid", "status"]
    ),
    "StatusChange": _object({"status": _STR, "at": _NUM}, ["status", "at"]),
    "Leg": _object(
        {
            "sid": _STR,
            "parentCallSid": _NSTR,
            "from": _STR,
            "to": _STR,
            "direction": _STR,
            "status": {"type": "string", "enum": sorted(STATUSES)},
            "createdAt": _NUM,
            "endedAt": _NNUM,
            "duration": _NINT,
            "history": {"type": "array", "items": _ref("StatusChange")},
        },
        ["sid", "status", "history"],
    ),
    "Attempt": _object(
        {
            "number": {"type": "integer"},
            "at": _NUM,
            "ok": {"type": "boolean"},
            "status": _NINT,
            "error": _NSTR,
        },
        ["number", "ok"],
    ),
    "Event": _object(
        {
            "id": _STR,
            "callSid": _STR,
            "event": _STR,
            "sequenceNumber": {"type": "integer"},
            "url": _STR,
            "method": _STR,
            "params": {"type": "array", "items": {"type": "array", "items": _STR}},
            "createdAt": _NUM,
            "state": {"type": "string", "enum": sorted(DELIVERY_STATES)},
            "delivered": {"type": "boolean"},
            "attempts": {"type": "array", "items": _ref("Attempt")},
        },
        ["id", "event", "state", "attempts"],
    ),
    "CallError": {
        **_object(
            {
                "code": _STR,
                "message": _NSTR,
                "leg": _STR,
                "status": {"type": "integer"},
                "url": _STR,
                "line": _NINT,
                "column": _NINT,
                "path": _STR,
            },
            ["code"],
        ),
        "description": "Why the call's document failed: fetch-status (with the HTTP status), "
        "another fetch-* code, a document (lint) code, loop-guard or internal-error.",
    },
    "TraceRow": _object(
        {"ms": {"type": "integer"}, "leg": _STR, "kind": _STR, "detail": {"type": "object"}},
        ["ms", "leg", "kind", "detail"],
    ),
    "TwilioRecording": _object(
        {
            "sid": _STR,
            "account_sid": _STR,
            "call_sid": _STR,
            "status": _STR,
            "duration": _STR,
            "channels": {"type": "integer"},
            "source": _STR,
            "media_url": _NSTR,
            "uri": _STR,
        },
        ["sid", "account_sid", "call_sid", "status", "duration", "uri"],
    ),
    "TwilioRecordingPage": _object(
        {"recordings": {"type": "array", "items": _ref("TwilioRecording")}, "uri": _STR},
        ["recordings"],
    ),
    "Recording": _object(
        {
            "sid": _STR,
            "callSid": _STR,
            "status": {"type": "string", "enum": ["in-progress", "completed", "absent"]},
            "source": {"type": "string", "enum": ["RecordVerb", "OutboundAPI", "DialVerb"]},
            "channels": {"type": "integer", "enum": [1, 2]},
            "duration": {"type": "integer"},
            "startedAt": _NUM,
            "sampleRate": {"type": "integer"},
            "size": {"type": "integer"},
            "uri": _STR,
            "mediaUri": _NSTR,
        },
        ["sid", "callSid", "status", "source", "duration", "uri", "mediaUri"],
    ),
    "RecordingList": _object(
        {"recordings": {"type": "array", "items": _ref("Recording")}},
        ["recordings"],
    ),
    "Call": _object(
        {
            "sid": _STR,
            "from": _STR,
            "to": _STR,
            "url": _NSTR,
            "method": _STR,
            "app": _NSTR,
            "session_id": _NSTR,
            "variables": {"type": "object"},
            "senddigits": _NSTR,
            "statusCallback": _NSTR,
            "statusCallbackEvent": {"type": "array", "items": _STR},
            "statusCallbackMethod": _STR,
            "secretKey": {"type": ["string", "null"], "enum": ["***", None]},
            "optional": _NSTR,
            "extra": {"type": "object"},
            "accountSid": _NSTR,
            "twiml": _NSTR,
            "fallbackUrl": _NSTR,
            "fallbackMethod": _STR,
            "timeout": {"type": "integer"},
            "timeLimit": {"type": "integer"},
            "direction": {"type": "string", "enum": ["outbound-api", "inbound"]},
            "record": {"type": "boolean"},
            "machineDetection": _NSTR,
            "recordingStatusCallback": _NSTR,
            "recordingStatusCallbackMethod": _STR,
            "recordingStatusCallbackEvent": {"type": "array", "items": _STR},
            "status": {"type": "string", "enum": sorted(STATUSES)},
            "createdAt": _NUM,
            "updatedAt": _NUM,
            "endedAt": _NNUM,
            "duration": _NINT,
            "timestamps": {"type": "object", "additionalProperties": _NUM},
            "cancelRequested": {"type": "boolean"},
            "legs": {"type": "array", "items": _ref("Leg")},
            "events": {"type": "array", "items": _ref("Event")},
            "error": _nullable(_ref("CallError")),
            "trace": {"type": "array", "items": _ref("TraceRow")},
        },
        ["sid", "from", "to", "status", "createdAt", "legs", "events", "error"],
    ),
    "CallPage": _object(
        {"calls": {"type": "array", "items": _ref("Call")}, "next_cursor": _NSTR},
        ["calls", "next_cursor"],
    ),
    "OpenAPI": _object({"openapi": _STR, "paths": {"type": "object"}}, ["openapi", "paths"]),
    # the Twilio-compatible API (voiceapp.web.twilio_api)
    "TwilioCall": _object(
        {
            "sid": _STR,
            "account_sid": _STR,
            "parent_call_sid": _NSTR,
            "to": _STR,
            "to_formatted": _STR,
            "from": _STR,
            "from_formatted": _STR,
            "status": {"type": "string", "enum": list(twilio_api.TWILIO_STATUSES)},
            "date_created": _NSTR,
            "date_updated": _NSTR,
            "start_time": _NSTR,
            "end_time": _NSTR,
            "duration": _NSTR,
            "price": _NSTR,
            "price_unit": _STR,
            "direction": _STR,
            "answered_by": _NSTR,
            "api_version": {"const": twilio_api.API_VERSION},
            "forwarded_from": _NSTR,
            "caller_name": _NSTR,
            "uri": _STR,
            "subresource_uris": {"type": "object"},
        },
        ["sid", "account_sid", "to", "from", "status", "api_version", "uri"],
    ),
    "TwilioCallPage": _object(
        {
            "calls": {"type": "array", "items": _ref("TwilioCall")},
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "start": {"type": "integer"},
            "end": {"type": "integer"},
            "uri": _STR,
            "first_page_uri": _STR,
            "next_page_uri": _NSTR,
            "previous_page_uri": _NSTR,
        },
        ["calls", "page", "page_size", "uri", "next_page_uri"],
    ),
    "TwilioError": _object(
        {
            "code": {"type": "integer"},
            "message": _STR,
            "more_info": _STR,
            "status": {"type": "integer"},
        },
        ["code", "message", "more_info", "status"],
    ),
    # vendors
    "PathorsOk": _object({"success": {"const": True}, "callSid": _STR}, ["success"]),
    "PathorsError": _object({"error": _STR}, ["error"]),
    "FeatherOk": _object(
        {"room_name": _STR, "dispatch_id": _STR, "agent_name": _STR, "session_id": _STR},
        ["room_name", "dispatch_id", "agent_name", "session_id"],
    ),
    "FeatherError": _object(
        {
            "detail": {
                "oneOf": [
                    _STR,
                    {
                        "type": "array",
                        "items": _object(
                            {"loc": {"type": "array"}, "msg": _STR, "type": _STR},
                            ["loc", "msg", "type"],
                        ),
                    },
                ]
            }
        },
        ["detail"],
    ),
    "ThunderCall": _object({"call_id": {"type": "integer"}, "status": _STR}, ["call_id"]),
    "ThunderStatus": _object(
        {
            "call_id": {"type": "integer"},
            "status": {"type": "string", "enum": ["in_progress", "completed", "failed"]},
            "from_number": _STR,
            "to_number": _STR,
            "created_at": _STR,
            "ended_at": _NSTR,
            "duration_seconds": _NINT,
            "detail": _STR,
        },
        ["call_id", "status"],
    ),
    "ThunderError": _object({"detail": _STR, "code": _STR}, ["detail", "code"]),
    "PolyaiOk": _object({"call_sid": _STR}, ["call_sid"]),
    "PolyaiStatus": _object(
        {
            "call_sid": _STR,
            "status": _STR,
            "from_number": _STR,
            "to_number": _STR,
            "encryption": _NSTR,
            "created_at": _STR,
            "ended_at": _NSTR,
            "duration": _NINT,
        },
        ["call_sid", "status"],
    ),
    "PolyaiError": _object({"message": _STR, "code": _STR}, ["message", "code"]),
}

SECURITY_SCHEMES: Final[dict[str, Any]] = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "bearer": {"type": "http", "scheme": "bearer", "description": "One of API_KEYS."},
    "pathors": {"type": "http", "scheme": "bearer", "description": "compat.pathors.api_keys"},
    "feather": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    "thunderphone": {
        "type": "http",
        "scheme": "bearer",
        "description": "compat.thunderphone.api_keys",
    },
    "polyai": {"type": "apiKey", "in": "header", "name": "X-PolyAi-Auth-Token"},
    "twilio": {
        "type": "http",
        "scheme": "basic",
        "description": "AccountSid:AuthToken of TWILIO_ACCOUNTS",
    },
    "console": {
        "type": "apiKey",
        "in": "cookie",
        "name": "voiceapp_console",
        "description": "The console's session cookie, set by POST /console/login.",
    },
}
_CORE_AUTH: Final[tuple[dict[str, list[str]], ...]] = ({"apiKey": []}, {"bearer": []})
Responses = dict[str, tuple[str, str | None]]


@dataclass(frozen=True)
class Operation:
    """One (Flask rule, method) and what it answers.

    ``responses``: status (or ``default``) -> (media type, schema name or None for
    text); ``body`` / ``query``: the field table the route validates with.
    """

    rule: str
    method: str
    summary: str
    tag: str
    responses: Mapping[str, tuple[str, str | None]]
    body: FieldTable | None = None
    form: bool = False  # the body may also be a form (application/x-www-form-urlencoded)
    form_only: bool = False  # the body is a form only (the Twilio API)
    query: FieldTable | None = None
    security: Sequence[Mapping[str, list[str]]] = ()
    path_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    merge: str | None = None  # another Operation with the same OpenAPI path and method
    description: str = ""


def _problems(*statuses: int) -> Responses:
    out: Responses = {str(s): (PROBLEM_MIMETYPE, "Problem") for s in statuses}
    out["default"] = (PROBLEM_MIMETYPE, "Problem")
    return out


def _vendor(schema: str, *statuses: int) -> Responses:
    out: Responses = {str(s): (JSON, schema) for s in statuses}
    out["default"] = (JSON, schema)
    return out


_SID = {"type": "string"}
_TWILIO_CALLS = f"/{twilio_api.API_VERSION}/Accounts/<account_sid>/Calls.json"
_TWILIO_CALL = f"/{twilio_api.API_VERSION}/Accounts/<account_sid>/Calls/<sid>.json"
_TWILIO_RECORDING = f"/{twilio_api.API_VERSION}/Accounts/<account_sid>/Recordings/<sid>"
_ACCOUNT = {"account_sid": {"type": "string"}}
_TWILIO_AUTH: Final[tuple[dict[str, list[str]], ...]] = ({"twilio": []},)
HTML: Final = "text/html"
_CONSOLE_OPEN: Final = frozenset(
    {"/console/login", "/console/static/console.css", "/console/static/console.js"}
)
_CONSOLE_NOTE: Final = (
    "The web console (docs/console.md): HTML pages, served only when CONSOLE allows "
    "(else 404 problem+json). Without a console session a page redirects (302) to "
    "/console/login; a form without its CSRF token is 403."
)


def _console(media: str) -> Responses:
    return {
        "200": (media, None),
        "302": (HTML, None),
        "401": (HTML, None),
        "403": (HTML, None),
        "404": (PROBLEM_MIMETYPE, "Problem"),
        "422": (HTML, None),
        "default": (HTML, None),
    }


OPERATIONS: Final[tuple[Operation, ...]] = (
    Operation("/openapi.json", "GET", "This document", "meta", {"200": (JSON, "OpenAPI")}),
    Operation("/v1/health", "GET", "Liveness", "meta", {"200": (JSON, "Health"), **_problems()}),
    Operation(
        "/v1/ready",
        "GET",
        "Readiness: the store answers and a dialer's heartbeat is recent",
        "meta",
        {"200": (JSON, "Ready"), **_problems(503)},
    ),
    Operation(
        "/metrics",
        "GET",
        "Prometheus metrics (text exposition format)",
        "meta",
        {"200": ("text/plain", None), **_problems(404)},
    ),
    Operation(
        "/v1/sessions",
        "POST",
        "Create a session (a single-use document URL)",
        "sessions",
        {"201": (JSON, "Session"), **_problems(400, 401, 422, 503)},
        body=api.SESSION_FIELDS,
        security=_CORE_AUTH,
    ),
    Operation(
        "/v1/calls",
        "POST",
        "Place an outbound call",
        "calls",
        {"201": (JSON, "CallQueued"), **_problems(400, 401, 404, 409, 422, 503)},
        body=calls.CALL_FIELDS,
        form=True,
        security=_CORE_AUTH,
    ),
    Operation(
        "/v1/calls",
        "GET",
        "List calls, newest first",
        "calls",
        {"200": (JSON, "CallPage"), **_problems(400, 401, 422, 503)},
        query=calls.LIST_FIELDS,
        security=_CORE_AUTH,
        description="Cursor pagination: pass next_cursor as cursor; 400 invalid-cursor "
        "for a cursor this API did not give.  Items have no trace (GET /v1/calls/{sid} has).",
    ),
    Operation(
        "/v1/calls/<sid>",
        "GET",
        "A call: statuses, legs, events and attempts, its trace and its error",
        "calls",
        {"200": (JSON, "Call"), **_problems(401, 404, 503)},
        security=_CORE_AUTH,
        path_params={"sid": _SID},
        description="A call whose document failed (a fetch error such as fetch-status for "
        "a 404, an invalid document, the loop guard) keeps its status (completed, as Twilio) "
        "and has an error member {code, message, ...}.  An id of digits only is "
        "ThunderPhone's GET /v1/calls/{call_id} (its key and shape).",
    ),
    Operation(
        "/v1/calls/<sid>/recordings",
        "GET",
        "The recordings of a call, oldest first",
        "recordings",
        {"200": (JSON, "RecordingList"), **_problems(400, 401, 404, 503)},
        security=_CORE_AUTH,
        path_params={"sid": _SID},
    ),
    Operation(
        "/v1/recordings/<sid>",
        "GET",
        "A recording: status, source, duration, its audio's URI",
        "recordings",
        {"200": (JSON, "Recording"), **_problems(400, 401, 404, 503)},
        security=_CORE_AUTH,
        path_params={"sid": _SID},
        description="status in-progress while it is made, completed (mediaUri is its WAV "
        "file), or absent (nothing was heard: no file).",
    ),
    Operation(
        "/v1/recordings/<sid>.wav",
        "GET",
        "A recording's audio: WAV, 8 kHz 16-bit PCM (mono, or two channels for dual)",
        "recordings",
        {"200": ("audio/wav", None), **_problems(400, 401, 404, 503)},
        security=_CORE_AUTH,
        path_params={"sid": _SID},
    ),
    Operation(
        "/v1/recordings/<sid>",
        "DELETE",
        "Delete a recording and its audio",
        "recordings",
        {"204": ("", None), **_problems(400, 401, 404, 503)},
        security=_CORE_AUTH,
        path_params={"sid": _SID},
    ),
    Operation(
        "/v1/calls/<sid>",
        "POST",
        "Change a live call: run a new document at once, or end it",
        "calls",
        {"200": (JSON, "Call"), **_problems(400, 401, 404, 409, 422, 503)},
        body=calls.CHANGE_FIELDS,
        form=True,
        security=_CORE_AUTH,
        path_params={"sid": _SID},
        description="One of url (with method), twiml or status.  A call still waiting in "
        "the queue gets the new document as its own; a taken or dialing one has the change "
        "kept for its dialer, which runs it at once (on answer when not answered yet).  "
        "status completed hangs up any unfinished call; canceled ends only calls not yet "
        "answered (an answered one is left alone, as Twilio does).  409 "
        "call-not-changeable for a finished call.",
    ),
    Operation(
        "/v1/queues",
        "GET",
        "The call queues of this server's dialer: size, average wait, members",
        "queues",
        {"200": (JSON, "QueueList"), **_problems(401, 503)},
        security=_CORE_AUTH,
        description="Queues are made by <Enqueue> and live in the memory of the dialer that "
        "runs their calls: this server shows its embedded dialer's (dialer embedded), or none "
        "(dialer none) when its calls are dialed by another process.",
    ),
    Operation(
        "/v1/queues/<name>",
        "GET",
        "One call queue of this server's dialer",
        "queues",
        {"200": (JSON, "Queue"), **_problems(401, 404, 503)},
        security=_CORE_AUTH,
        path_params={"name": _SID},
        description="404 queue-not-found for a name no <Enqueue> of this dialer used.",
    ),
    Operation(
        "/v1/calls/inbound",
        "POST",
        "Place an inbound call: a caller dials a number of [inbound]",
        "calls",
        {"201": (JSON, "CallQueued"), **_problems(400, 401, 404, 409, 422, 503)},
        body=inbound.INBOUND_FIELDS,
        security=_CORE_AUTH,
        description="The call (direction inbound) is answered at once and runs the number's "
        "bound url or app; 404 inbound-not-bound for a number with no binding.",
    ),
    Operation(
        "/v1/calls/<sid>/cancel",
        "POST",
        "Cancel a queued or dialing call",
        "calls",
        {"200": (JSON, "Call"), **_problems(401, 404, 409, 503)},
        security=_CORE_AUTH,
        path_params={"sid": _SID},
    ),
    Operation(
        "/carrier/status/<sid>",
        "POST",
        "A status callback of the carrier ([network] backend = carrier) for call sid",
        "carrier",
        {"204": ("", None), **_problems(403, 404)},
        path_params={"sid": _SID},
        description="Signed with X-Twilio-Signature by the [carrier] auth token (403 "
        "signature-missing / signature-mismatch).  The form is the carrier's (CallStatus, "
        "SipResponseCode, CallDuration ...); 404 carrier-off without a carrier backend here, "
        "carrier-unknown-call for a call no dialer of this server carries.  docs/carrier.md.",
    ),
    Operation(
        "/voice/<token>",
        "GET",
        "The first document of a session (single use)",
        "voice",
        {"200": (XML, None), **_problems(403, 404, 410)},
        path_params={"token": _STR},
    ),
    Operation(
        "/voice/<token>",
        "POST",
        "The first document of a session (single use)",
        "voice",
        {"200": (XML, None), **_problems(403, 404, 410)},
        path_params={"token": _STR},
    ),
    Operation(
        "/voice/step/<token>",
        "GET",
        "A continuation step of a session (single use)",
        "voice",
        {"200": (XML, None), **_problems(403, 404, 410)},
        path_params={"token": _STR},
    ),
    Operation(
        "/voice/step/<token>",
        "POST",
        "A continuation step of a session (single use)",
        "voice",
        {"200": (XML, None), **_problems(403, 404, 410)},
        path_params={"token": _STR},
    ),
    Operation(
        "/project/<project_id>/integration/phone/call/outbound",
        "POST",
        "Pathors: place an outbound call",
        "pathors",
        {"200": (JSON, "PathorsOk"), **_vendor("PathorsError", 400, 401, 404, 409, 500)},
        body=pathors.FIELDS,
        security=({"pathors": []},),
        path_params={"project_id": _STR},
    ),
    Operation(
        "/v1/voice/outbound",
        "POST",
        "Feather: place an outbound call",
        "feather",
        {"200": (JSON, "FeatherOk"), **_vendor("FeatherError", 400, 401, 404, 409, 422, 503)},
        body=feather.FIELDS,
        security=({"feather": []},),
    ),
    Operation(
        "/v1/call",
        "POST",
        "ThunderPhone: place an outbound call",
        "thunderphone",
        {
            "201": (JSON, "ThunderCall"),
            **_vendor("ThunderError", 400, 401, 402, 403, 404, 409, 502),
        },
        body=thunderphone.FIELDS,
        security=({"thunderphone": []},),
    ),
    Operation(
        "/v1/calls/<int:call_id>",
        "GET",
        "ThunderPhone: a call's live status",
        "thunderphone",
        {"200": (JSON, "ThunderStatus"), **_vendor("ThunderError", 401, 404)},
        security=({"thunderphone": []},),
        merge="/v1/calls/<sid>",
    ),
    Operation(
        "/v1/outbound-calling",
        "POST",
        "PolyAI: place an outbound call",
        "polyai",
        {"200": (JSON, "PolyaiOk"), **_vendor("PolyaiError", 400, 401, 409, 500)},
        body=polyai.FIELDS,
        security=({"polyai": []},),
    ),
    Operation(
        "/v1/outbound-calling/<call_sid>",
        "GET",
        "PolyAI: a call's status",
        "polyai",
        {"200": (JSON, "PolyaiStatus"), **_vendor("PolyaiError", 401, 404)},
        security=({"polyai": []},),
        path_params={"call_sid": _STR},
    ),
    Operation(
        _TWILIO_CALLS,
        "POST",
        "Twilio API: create a call",
        "twilio",
        {"201": (JSON, "TwilioCall"), **_vendor("TwilioError", 400, 401, 409, 429, 503)},
        body=twilio_api.CREATE_FIELDS,
        form_only=True,
        security=_TWILIO_AUTH,
        path_params=_ACCOUNT,
        description="Twilio's Calls resource (docs/twilio-api.md); errors are Twilio's "
        "{code, message, more_info, status} with its numeric codes.",
    ),
    Operation(
        _TWILIO_CALLS,
        "GET",
        "Twilio API: list calls, newest first",
        "twilio",
        {"200": (JSON, "TwilioCallPage"), **_vendor("TwilioError", 400, 401, 503)},
        query=twilio_api.LIST_FIELDS,
        security=_TWILIO_AUTH,
        path_params=_ACCOUNT,
    ),
    Operation(
        _TWILIO_CALL,
        "GET",
        "Twilio API: fetch a call",
        "twilio",
        {"200": (JSON, "TwilioCall"), **_vendor("TwilioError", 401, 404, 503)},
        security=_TWILIO_AUTH,
        path_params={**_ACCOUNT, "sid": _SID},
    ),
    Operation(
        _TWILIO_CALL,
        "POST",
        "Twilio API: update a call (Url/Method, Twiml, Status)",
        "twilio",
        {"200": (JSON, "TwilioCall"), **_vendor("TwilioError", 400, 401, 404, 503)},
        body=twilio_api.UPDATE_FIELDS,
        form_only=True,
        security=_TWILIO_AUTH,
        path_params={**_ACCOUNT, "sid": _SID},
    ),
    Operation(
        _TWILIO_RECORDING + ".json",
        "GET",
        "Twilio API: fetch a recording",
        "twilio",
        {"200": (JSON, "TwilioRecording"), **_vendor("TwilioError", 401, 404, 503)},
        security=_TWILIO_AUTH,
        path_params={**_ACCOUNT, "sid": _SID},
    ),
    Operation(
        _TWILIO_RECORDING + ".json",
        "DELETE",
        "Twilio API: delete a recording and its audio",
        "twilio",
        {"204": ("", None), **_vendor("TwilioError", 401, 404, 503)},
        security=_TWILIO_AUTH,
        path_params={**_ACCOUNT, "sid": _SID},
    ),
    Operation(
        _TWILIO_RECORDING + ".wav",
        "GET",
        "Twilio API: a recording's audio (WAV, 8 kHz 16-bit)",
        "twilio",
        {"200": ("audio/wav", None), **_vendor("TwilioError", 401, 404, 503)},
        security=_TWILIO_AUTH,
        path_params={**_ACCOUNT, "sid": _SID},
    ),
    Operation(
        _TWILIO_CALL.removesuffix(".json") + "/Recordings.json",
        "GET",
        "Twilio API: a call's recordings (one page)",
        "twilio",
        {"200": (JSON, "TwilioRecordingPage"), **_vendor("TwilioError", 401, 404, 503)},
        security=_TWILIO_AUTH,
        path_params={**_ACCOUNT, "sid": _SID},
    ),
    Operation(
        _TWILIO_CALL,
        "DELETE",
        "Twilio API: delete a finished call",
        "twilio",
        {"204": ("", None), **_vendor("TwilioError", 400, 401, 404, 503)},
        security=_TWILIO_AUTH,
        path_params={**_ACCOUNT, "sid": _SID},
    ),
    *(
        Operation(
            rule,
            method,
            summary,
            "console",
            _console(media),
            security=() if rule in _CONSOLE_OPEN else ({"console": []},),
            path_params={"sid": _SID} if "<sid>" in rule else {},
            description=_CONSOLE_NOTE,
        )
        for rule, method, summary, media in (
            ("/console/", "GET", "Console: to the calls list", HTML),
            ("/console/login", "GET", "Console: the login form", HTML),
            ("/console/login", "POST", "Console: log in with an API key (form, CSRF)", HTML),
            ("/console/logout", "POST", "Console: log out (form, CSRF)", HTML),
            ("/console/static/console.css", "GET", "Console: its style sheet", "text/css"),
            ("/console/static/console.js", "GET", "Console: its script", "text/javascript"),
            ("/console/calls", "GET", "Console: the calls list", HTML),
            ("/console/calls/<sid>", "GET", "Console: one call (timeline, documents)", HTML),
            ("/console/sessions", "GET", "Console: the sessions of app calls", HTML),
            ("/console/lint", "GET", "Console: the lint form", HTML),
            ("/console/lint", "POST", "Console: lint a document (form, CSRF)", HTML),
            ("/console/digits", "GET", "Console: a digit string's timeline", HTML),
            ("/console/digits.wav", "GET", "Console: a digit string as sound", "audio/wav"),
        )
    ),
)

_PARAM = re.compile(r"<(?:[a-z_]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: ``/v1/calls/<int:call_id>`` -> ``/v1/calls/{call_id}``."""
    return _PARAM.sub(r"{\1}", rule)


def _body(fields: FieldTable, form: bool, form_only: bool = False) -> dict[str, Any]:
    names = [name for name, f in fields.items() if f.required]

    def schema(for_form: bool) -> dict[str, Any]:
        props = {}
        for name, f in fields.items():
            chosen = f.form_schema if for_form and f.form_schema is not None else f.schema
            props[name] = {**chosen, "description": f.doc}
        out: dict[str, Any] = {"type": "object", "properties": props}
        out["additionalProperties"] = False
        if names:
            out["required"] = names
        return out

    content = {} if form_only else {JSON: {"schema": schema(False)}}
    if form or form_only:
        content[FORM] = {"schema": schema(True)}
    return {"required": not form_only, "content": content}


def _responses(responses: Mapping[str, tuple[str, str | None]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, (media, name) in responses.items():
        schema = _STR if name is None else _ref(name)
        out[status] = {"description": _REASONS.get(status, "error")}
        if media:  # "" : no body (204)
            out[status]["content"] = {media: {"schema": schema}}
    return out


_REASONS: Final = {
    "200": "OK",
    "201": "Created",
    "204": "No content",
    "302": "Found (a redirect)",
    "400": "Bad request",
    "401": "Unauthorized",
    "402": "Payment required",
    "403": "Forbidden",
    "404": "Not found",
    "409": "Conflict",
    "410": "Gone",
    "422": "Unprocessable",
    "500": "Server error (vendor shape)",
    "502": "Upstream failure (vendor shape)",
    "503": "Store unavailable",
    "default": "Any other error, in this route's error shape",
}


def _merge_responses(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """Responses of two operations sharing one OpenAPI path: either shape per status."""
    out = dict(first)
    for status, response in second.items():
        if status not in out:
            out[status] = response
            continue
        mine = dict(out[status]["content"])
        for media, item in response["content"].items():
            if media in mine and mine[media]["schema"] != item["schema"]:
                mine[media] = {"schema": {"oneOf": [mine[media]["schema"], item["schema"]]}}
            else:
                mine.setdefault(media, item)
        out[status] = {"description": out[status]["description"], "content": mine}
    return out


def _operation(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{op.tag}-{op.method.lower()}-{openapi_path(op.rule)}",
        "tags": [op.tag],
        "responses": _responses(op.responses),
    }
    if op.description:
        out["description"] = op.description
    params = [
        {"name": name, "in": "path", "required": True, "schema": dict(schema)}
        for name, schema in op.path_params.items()
    ]
    for name, f in (op.query or {}).items():
        params.append({"name": name, "in": "query", "required": f.required,
                       "schema": dict(f.schema), "description": f.doc})  # fmt: skip
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = _body(op.body, op.form, op.form_only)
    out["security"] = [dict(s) for s in op.security] if op.security else []
    return out


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (plain data)."""
    paths: dict[str, dict[str, Any]] = {}
    by_rule = {(op.rule, op.method): op for op in OPERATIONS}
    for op in OPERATIONS:
        if op.merge is not None:
            continue
        item = paths.setdefault(openapi_path(op.rule), {})
        item[op.method.lower()] = _operation(op)
    for op in OPERATIONS:
        if op.merge is None:
            continue
        target = by_rule[(op.merge, op.method)]
        item = paths[openapi_path(target.rule)][op.method.lower()]
        item["responses"] = _merge_responses(item["responses"], _responses(op.responses))
        item["security"] = [*item["security"], *(dict(s) for s in op.security)]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "voiceapp",
            "version": _version(),
            "description": "TwiML-style voice applications: sessions, outbound calls, "
            "vendor-compatible outbound-call routes and Twilio's Calls resource.  Errors of "
            "the core routes are application/problem+json (RFC 9457).",
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("voiceapp")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "0"


_CACHE: dict[str, str] = {}


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The document, in table order (not sorted: fields read as the tables list them)."""
    if "doc" not in _CACHE:
        _CACHE["doc"] = json.dumps(document(), ensure_ascii=False)
    return Response(_CACHE["doc"], mimetype=JSON)
