"""ThunderPhone: ``POST /v1/call`` and ``GET /v1/calls/<int:call_id>``.

``Authorization: Bearer sk_...`` (``compat.thunderphone.api_keys``); JSON
``{"from_number", "to_number", "agent_id" | "config", "max_hold_seconds"}``.  Exactly
one of ``agent_id`` (an agent of ``compat.thunderphone.agents``) and ``config`` (an
inline ``{"app", "variables"}``); neither → the number's ``outbound_agent``.
``max_hold_seconds`` sets the agent's ``hold_variable`` when it names one.

``201 {"call_id": <int>, "status": "initiated"}``; ``GET /v1/calls/<call_id>`` →
``{"call_id", "status": "in_progress" | "completed" | "failed", ...}``.  Errors
``{"detail": "...", "code": "..."}``: 400 (missing fields, both agent_id and config,
no outbound agent, a field the core refuses), 402 (``balance`` at or below 0), 403
(an inbound-only or unverified number, an inactive outbound number, or a to_number
the destination policy refuses), 404 (number
not registered, agent not found, unknown call), 502 (the call or session store is
unavailable: nothing was queued, safe to retry).

The ``int`` converter makes ``/v1/calls/123`` this route and ``/v1/calls/CA...`` the
core's; a call id is a 16-digit random integer (below 2**53, safe in JavaScript),
and the CallSid is ``CA`` followed by it as 32 hex digits.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, jsonify

from voiceapp import checks
from voiceapp.calls.records import CallRecord
from voiceapp.checks import located
from voiceapp.errors import VendorError, VoiceappError
from voiceapp.phone import normalize
from voiceapp.settings_tables.compat import Agent, ThunderPhoneConfig
from voiceapp.web.api import bearer
from voiceapp.web.bodies import json_body
from voiceapp.web.calls import call_service, place_call
from voiceapp.web.compat import Profile, compat_config, vendor_extra
from voiceapp.web.fields import OBJECT, STRING, Field, required, table
from voiceapp.web.runtime import iso_time

bp = Blueprint("compat_thunderphone", __name__, url_prefix="/v1")

UPSTREAM = "Upstream SIP / LiveKit failure; safe to retry"
_FAILED = frozenset({"busy", "no-answer", "failed", "canceled"})
MAX_HOLD = 86400
#: The body of ``POST /v1/call`` (the OpenAPI document is made from it).
FIELDS = table(
    Field("from_number", STRING, "A number of compat.thunderphone.numbers.", required=True),
    Field("to_number", STRING, "The number to call.", required=True),
    Field("agent_id", {"type": "integer"}, "An agent of the organization (or config)."),
    Field(
        "config",
        {
            "type": "object",
            "properties": {"app": STRING, "variables": OBJECT, "language": STRING},
            "additionalProperties": False,
        },
        "An inline agent: app, variables, language (instead of agent_id).",
    ),
    Field(
        "max_hold_seconds",
        {"type": "integer", "minimum": 1, "maximum": MAX_HOLD},
        "Overrides the hold timeout.",
    ),
)
PROFILE = Profile(
    vendor="thunderphone",
    credential=bearer,
    unauthorized="Invalid or missing API key",
    names={"from": "from_number", "to": "to_number", "variables": "config.variables"},
    body=lambda status, message, code, field: {"detail": message, "code": code},
    statuses={"inactive": 403, "unavailable": 502},  # an inactive number is blocked
    messages={
        "unavailable": UPSTREAM,
        "blocked": "Outbound blocked: {message}",
        "inactive": "Outbound blocked: {message}",
    },
    codes={"unavailable": "upstream-failure"},
    crash=(502, UPSTREAM, "upstream-failure"),
)
PROFILE.install(bp)


def sid_of_call_id(call_id: int) -> str:
    return f"CA{call_id:032x}"


def live_status(status: str) -> str:
    """The core's call status as ThunderPhone's live status."""
    if status == "completed":
        return "completed"
    if status in _FAILED:
        return "failed"
    return "in_progress"  # queued, initiated, ringing, in-progress


def _config() -> tuple[ThunderPhoneConfig, str]:
    """The organization's configuration and the request's key (else 401)."""
    config = compat_config().thunderphone or ThunderPhoneConfig()
    return config, PROFILE.key(config.api_keys)


@bp.post("/call")
def place() -> tuple[Response, int]:
    config, key = _config()
    body = json_body()
    from_number, to_number = body.get("from_number"), body.get("to_number")
    if any(not body.get(name) for name in required(FIELDS)):
        raise VendorError(400, "from_number and to_number are required", "missing")
    if body.get("agent_id") is not None and body.get("config") is not None:
        raise VendorError(400, "Provide either agent_id or config, not both", "agent-and-config")
    if config.balance is not None and config.balance <= 0:
        raise VendorError(402, "Insufficient balance", "insufficient-balance")
    if not isinstance(from_number, str):
        raise VendorError(400, "from_number must be an E.164 string", "invalid-type")
    number = config.numbers.get(from_number.strip())
    if number is None:
        try:
            number = config.numbers.get(normalize(from_number, field="from_number"))
        except VoiceappError:
            number = None
    if number is None:
        raise VendorError(
            404, "from_number is not registered to this organization", "number-not-registered"
        )
    if not number.voip:
        raise VendorError(
            403, "Outbound blocked: demo numbers are inbound-only", "outbound-blocked"
        )
    if not number.verified:
        raise VendorError(403, "Outbound blocked: unverified VoIP number", "outbound-blocked")

    agent: Agent | None = None
    if body.get("config") is not None:
        inline = body["config"]
        if not isinstance(inline, dict):
            raise VendorError(400, "config must be an object", "invalid-type")
        unknown = sorted(set(inline) - {"app", "variables", "language"})
        if unknown:
            raise VendorError(
                400, f"config has unknown keys: {', '.join(unknown)}", "unknown-field"
            )
        app = inline.get("app", config.config_app)
        variables = inline.get("variables")
        if variables is None:
            variables = {}
        if not isinstance(variables, dict):
            raise VendorError(400, "config.variables must be an object", "invalid-type")
        language = inline.get("language")
    else:
        agent_id = body.get("agent_id")
        if agent_id is None:
            agent_id = number.outbound_agent
            if agent_id is None:
                raise VendorError(
                    400,
                    "Provide agent_id or config: from_number has no outbound_agent set",
                    "no-outbound-agent",
                )
        if isinstance(agent_id, bool) or not isinstance(agent_id, int):
            raise VendorError(400, "agent_id must be an integer", "invalid-type")
        agent = config.agents.get(agent_id)
        if agent is None:
            raise VendorError(404, "Agent not found", "agent-not-found")
        app, variables = agent.app, dict(agent.variables)
        language = agent.language

    hold = body.get("max_hold_seconds")
    if hold is not None:
        located(checks.integer(1, MAX_HOLD), hold, field="max_hold_seconds")  # else 400
        if agent is not None and agent.hold_variable is not None:
            variables[agent.hold_variable] = hold

    call_id = 10**15 + secrets.randbelow(8 * 10**15)
    extra = vendor_extra(
        "thunderphone",
        call_id=call_id,
        agent_id=None if agent is None else int(agent.id),
        max_hold_seconds=hold,
    )
    place_call(
        {"from": number.number, "to": to_number, "app": app, "variables": variables},
        sid=sid_of_call_id(call_id),
        language=language if isinstance(language, str) else None,
        extra=extra,
        api_key=key,
    )
    return jsonify({"call_id": call_id, "status": "initiated"}), 201


def _describe(call_id: int, record: CallRecord) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "status": live_status(record.status),
        "from_number": record.spec.from_,
        "to_number": record.spec.to,
        "created_at": iso_time(record.created_at),
        "ended_at": None if record.ended_at is None else iso_time(record.ended_at),
        "duration_seconds": record.duration,
        "detail": record.status,  # the core's status (busy, no-answer, ...)
    }


@bp.get("/calls/<int:call_id>")
def get_call(call_id: int) -> Response:
    _config()
    record = call_service().store.get(sid_of_call_id(call_id))
    compat = {} if record is None else record.spec.extra.get("compat", {})
    if record is None or compat.get("vendor") != "thunderphone":
        raise VendorError(404, f"Call {call_id} not found", "call-not-found")
    return jsonify(_describe(call_id, record))
