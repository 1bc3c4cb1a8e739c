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

import logging
import secrets
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from voiceapp.errors import (
    ConflictError,
    DestinationError,
    NotFoundError,
    RateLimited,
    StoreError,
    VoiceappError,
)
from voiceapp.phone import normalize
from voiceapp.settings_tables.compat import Agent, ThunderPhoneConfig
from voiceapp.stores.calls import CallRecord
from voiceapp.web.bodies import json_body
from voiceapp.web.calls import call_service, place_call
from voiceapp.web.compat import compat_config, key_matches, rename, too_many, vendor_extra
from voiceapp.web.fields import OBJECT, STRING, Field, required, table
from voiceapp.web.runtime import iso_time

__all__ = ["bp", "live_status", "sid_of_call_id"]

log = logging.getLogger("voiceapp.web.compat.thunderphone")

bp = Blueprint("compat_thunderphone", __name__, url_prefix="/v1")

NAMES = {"from": "from_number", "to": "to_number", "variables": "config.variables"}
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


class ThunderError(VoiceappError):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message, code=code)
        self.http_status = status


def _reply(status: int, detail: str, code: str) -> tuple[Response, int]:
    return jsonify({"detail": detail, "code": code}), status


@bp.errorhandler(VoiceappError)
def _error(error: VoiceappError) -> tuple[Response, int]:
    if isinstance(error, ThunderError):
        return _reply(error.http_status, error.message, error.code)
    if isinstance(error, RateLimited):
        return too_many({"detail": error.message, "code": error.code}, error)
    message = rename(error, NAMES)[1]
    if isinstance(error, StoreError) or error.status >= 500:
        log.error("thunderphone: %s: %s", error.code, error.message)
        return _reply(502, UPSTREAM, "upstream-failure")
    if isinstance(error, DestinationError):  # the destination policy (toll fraud)
        return _reply(403, f"Outbound blocked: {message}", error.code)
    if isinstance(error, NotFoundError) and error.code == "from-inactive":
        return _reply(403, f"Outbound blocked: {message}", error.code)
    if isinstance(error, NotFoundError):
        return _reply(404, message, error.code)
    if isinstance(error, ConflictError):
        return _reply(409, message, error.code)
    if error.status in (401, 413):  # a bad key; a body over MAX_CONTENT_LENGTH
        return _reply(error.status, message, error.code)
    return _reply(400, message, error.code)


@bp.errorhandler(Exception)
def _crash(error: Exception) -> tuple[Response, int]:
    if isinstance(error, HTTPException):  # e.g. 413 from MAX_CONTENT_LENGTH: keep its status
        return jsonify(
            {"detail": error.description or error.name, "code": "http"}
        ), error.code or 500
    log.exception("thunderphone: unexpected error")
    return _reply(502, UPSTREAM, "upstream-failure")


def sid_of_call_id(call_id: int) -> str:
    return f"CA{call_id:032x}"


def live_status(status: str) -> str:
    """The core's call status as ThunderPhone's live status."""
    if status == "completed":
        return "completed"
    if status in _FAILED:
        return "failed"
    return "in_progress"  # queued, initiated, ringing, in-progress


def _key() -> str:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def _config() -> ThunderPhoneConfig:
    config = compat_config().thunderphone
    key = _key()
    if config is None or not key_matches(config.api_keys, key):
        raise ThunderError(401, "Invalid or missing API key", "unauthorized")
    return config


@bp.post("/call")
def place() -> tuple[Response, int]:
    config = _config()
    body = json_body()
    from_number, to_number = body.get("from_number"), body.get("to_number")
    if any(not body.get(name) for name in required(FIELDS)):
        raise ThunderError(400, "from_number and to_number are required", "missing")
    if body.get("agent_id") is not None and body.get("config") is not None:
        raise ThunderError(400, "Provide either agent_id or config, not both", "agent-and-config")
    if config.balance is not None and config.balance <= 0:
        raise ThunderError(402, "Insufficient balance", "insufficient-balance")
    if not isinstance(from_number, str):
        raise ThunderError(400, "from_number must be an E.164 string", "invalid-type")
    number = config.numbers.get(from_number.strip())
    if number is None:
        try:
            number = config.numbers.get(normalize(from_number, field="from_number"))
        except VoiceappError:
            number = None
    if number is None:
        raise ThunderError(
            404, "from_number is not registered to this organization", "number-not-registered"
        )
    if not number.voip:
        raise ThunderError(
            403, "Outbound blocked: demo numbers are inbound-only", "outbound-blocked"
        )
    if not number.verified:
        raise ThunderError(403, "Outbound blocked: unverified VoIP number", "outbound-blocked")

    agent: Agent | None = None
    if body.get("config") is not None:
        inline = body["config"]
        if not isinstance(inline, dict):
            raise ThunderError(400, "config must be an object", "invalid-type")
        unknown = sorted(set(inline) - {"app", "variables", "language"})
        if unknown:
            raise ThunderError(
                400, f"config has unknown keys: {', '.join(unknown)}", "unknown-field"
            )
        app = inline.get("app", config.config_app)
        variables = inline.get("variables")
        if variables is None:
            variables = {}
        if not isinstance(variables, dict):
            raise ThunderError(400, "config.variables must be an object", "invalid-type")
        language = inline.get("language")
    else:
        agent_id = body.get("agent_id")
        if agent_id is None:
            agent_id = number.outbound_agent
            if agent_id is None:
                raise ThunderError(
                    400,
                    "Provide agent_id or config: from_number has no outbound_agent set",
                    "no-outbound-agent",
                )
        if isinstance(agent_id, bool) or not isinstance(agent_id, int):
            raise ThunderError(400, "agent_id must be an integer", "invalid-type")
        agent = config.agents.get(agent_id)
        if agent is None:
            raise ThunderError(404, "Agent not found", "agent-not-found")
        app, variables = agent.app, dict(agent.variables)
        language = agent.language

    hold = body.get("max_hold_seconds")
    if hold is not None:
        if isinstance(hold, bool) or not isinstance(hold, int) or not 1 <= hold <= MAX_HOLD:
            raise ThunderError(
                400, f"max_hold_seconds must be an integer from 1 to {MAX_HOLD}", "invalid-range"
            )
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
        api_key=_key(),
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
        raise ThunderError(404, f"Call {call_id} not found", "call-not-found")
    return jsonify(_describe(call_id, record))
