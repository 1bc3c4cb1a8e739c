"""Feather: ``POST /v1/voice/outbound``.

``x-api-key`` (``compat.feather.api_keys``); JSON ``{"from_phone_number_id" (uuid of a
configured number), "to_phone_number" (``^\\+[1-9]\\d{6,14}$``), "agent_id" | "team_id"
(uuids bound to the number; both → 422; neither → a bound agent or team picked at
random), "context_variables"}``.  Context variables are checked against the agent's
declared variables (``context_variables`` of ``compat.feather.agents.<uuid>``) and
coerced to their type or enum: an unknown key or an uncoercible value → 422.  A team
dials as its default member (its first); context variables are ignored for teams,
as Feather documents.

``200 {"room_name", "dispatch_id", "agent_name", "session_id"}``: ``dispatch_id`` is
the voiceapp CallSid, ``session_id`` the same uuid.  Errors are FastAPI-shaped:
``{"detail": [{"loc", "msg", "type"}]}`` for 422, ``{"detail": "..."}`` otherwise
(401, 403 a to_phone_number the destination policy refuses, 404 unknown number, 400
agent or team not bound, 409 number busy, 503).
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify

from voiceapp.errors import VendorError, VoiceappError
from voiceapp.phone import E164_PATTERN, check_e164
from voiceapp.settings_tables.compat import Agent, FeatherConfig
from voiceapp.web.bodies import json_body
from voiceapp.web.calls import place_call
from voiceapp.web.compat import Profile, compat_config, header, sid_of_uuid, vendor_extra
from voiceapp.web.fields import OBJECT, Field, required, table

bp = Blueprint("compat_feather", __name__, url_prefix="/v1/voice")

_INT = re.compile(r"[+-]?\d{1,18}")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_UUID = {"type": "string", "format": "uuid"}
#: The body of ``POST /v1/voice/outbound`` (the OpenAPI document is made from it).
FIELDS = table(
    Field("from_phone_number_id", _UUID, "A number of compat.feather.numbers.", required=True),
    Field(
        "to_phone_number",
        {"type": "string", "pattern": f"^{E164_PATTERN.pattern}$"},
        "E.164.",
        required=True,
    ),
    Field("agent_id", _UUID, "An agent bound to the number (XOR team_id)."),
    Field("team_id", _UUID, "A team bound to the number (XOR agent_id)."),
    Field("context_variables", OBJECT, "Checked against the agent's declared variables."),
)


def problem(loc: list[str], msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One problem of FastAPI's 422 list."""
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


def unprocessable(problems: list[dict[str, Any]]) -> VendorError:
    """422 with FastAPI's list of problems."""
    message = "; ".join(p["msg"] for p in problems)
    return VendorError(422, message, "feather-validation", body={"detail": problems})


def _body(status: int, message: str, code: str, field: str | None) -> dict[str, Any]:
    """FastAPI's shapes: a 422 lists its problem (located in the vendor's field names)."""
    if status == 422:
        return {"detail": [problem(field.split(".") if field else [], message, code)]}
    return {"detail": message}


PROFILE = Profile(
    vendor="feather",
    credential=header("x-api-key"),
    unauthorized="Invalid or missing API key",
    names={
        "from": "from_phone_number_id",
        "to": "to_phone_number",
        "variables": "context_variables",
    },
    body=_body,
    statuses={"unavailable": 503, "too-large": 422, "invalid": 422},  # FastAPI's 422
    messages={"unavailable": "Service unavailable, retry later"},
    crash=(500, "Internal Server Error", "internal"),
)
PROFILE.install(bp)


def coerce(kind: str | tuple[str, ...], value: Any) -> Any:
    """``value`` as the declared ``kind`` (a type name or an enum's values); ValueError if not."""
    if isinstance(kind, tuple):
        if isinstance(value, str):
            for choice in kind:
                if value == choice or value.strip().lower() == choice.lower():
                    return choice
        raise ValueError(f"must be one of {', '.join(kind)}")
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ValueError("must be a string")
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError("must be an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return int(value.strip())
        raise ValueError("must be an integer")
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer of hundreds of digits
                raise ValueError("must be a finite number") from None
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise ValueError("must be a number") from None
        else:
            raise ValueError("must be a number")
        if not math.isfinite(number):
            raise ValueError("must be a finite number")
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("must be a boolean")
    raise ValueError(f"has an unknown declared type {kind!r}")  # pragma: no cover - config


def _context(agent: Agent, values: Mapping[str, Any]) -> dict[str, Any]:
    problems = []
    out: dict[str, Any] = {}
    for key, value in values.items():
        kind = agent.declared.get(key)
        if kind is None:
            declared = ", ".join(sorted(agent.declared)) or "none"
            problems.append(
                problem(
                    ["context_variables", key],
                    f"{key!r} is not a context variable of agent {agent.name} (declared: "
                    f"{declared})",
                    "extra_forbidden",
                )
            )
            continue
        try:
            out[key] = coerce(kind, value)
        except ValueError as exc:
            problems.append(problem(["context_variables", key], f"{key} {exc}", "type_error"))
    if problems:
        raise unprocessable(problems)
    return out


def _uuid(body: Mapping[str, Any], name: str, problems: list[dict[str, Any]]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return str(uuid.UUID(value))
    except ValueError:
        pass
    problems.append(problem([name], f"{name} must be a UUID", "uuid_parsing"))
    return None


@bp.post("/outbound")
def outbound() -> tuple[Response, int]:
    config = compat_config().feather or FeatherConfig()
    key = PROFILE.key(config.api_keys)
    try:
        body = json_body()
    except VoiceappError as exc:
        if exc.status == 413:  # over MAX_CONTENT_LENGTH
            raise VendorError(413, exc.message) from None
        raise unprocessable([problem([], exc.message, "json_invalid")]) from None

    problems: list[dict[str, Any]] = [
        problem([name], "Field required", "missing")
        for name in required(FIELDS)
        if body.get(name) is None
    ]
    number_id = _uuid(body, "from_phone_number_id", problems)
    to = body.get("to_phone_number")
    if to is not None:
        try:
            check_e164(to, field="to_phone_number")
        except VoiceappError as exc:
            problems.append(problem(["to_phone_number"], exc.message, "string_pattern_mismatch"))
    agent_id = _uuid(body, "agent_id", problems)
    team_id = _uuid(body, "team_id", problems)
    if body.get("agent_id") is not None and body.get("team_id") is not None:
        problems.append(problem([], "Provide agent_id XOR team_id, not both"))
    context = body.get("context_variables")
    if context is not None and not isinstance(context, dict):
        problems.append(problem(["context_variables"], "context_variables must be an object"))
    if problems:
        raise unprocessable(problems)

    assert number_id is not None
    number = config.numbers.get(number_id)
    if number is None:
        raise VendorError(404, f"Phone number {number_id} not found")
    if agent_id is not None and agent_id not in number.agents:
        raise VendorError(
            400, f"Agent {agent_id} is not attached to this number as an outbound_call binding"
        )
    if team_id is not None and team_id not in number.teams:
        raise VendorError(
            400, f"Team {team_id} is not attached to this number as an outbound_call binding"
        )
    if agent_id is None and team_id is None:
        bindings = [("agent", a) for a in number.agents] + [("team", t) for t in number.teams]
        if not bindings:
            raise VendorError(400, "This number has no outbound_call agent or team attached")
        kind, picked = random.choice(bindings)  # load spreading, not security
        agent_id, team_id = (picked, None) if kind == "agent" else (None, picked)

    if team_id is not None:
        team = config.teams[team_id]
        agent = config.agents[team.members[0]]
        variables: dict[str, Any] = {}  # Feather: only honoured for single-agent bindings
    else:
        assert agent_id is not None
        agent = config.agents[agent_id]
        variables = _context(agent, context or {})

    session = uuid.uuid4()
    extra = vendor_extra(
        "feather", number_id=number.id, agent_id=agent.id, team_id=team_id, agent=agent.name
    )
    record = place_call(
        {"from": number.number, "to": to, "app": agent.app, "variables": variables},
        sid=sid_of_uuid(session),
        language=agent.language,
        extra=extra,
        api_key=key,
    )
    return jsonify(
        {
            "room_name": f"outbound-{session}",
            "dispatch_id": record.sid,
            "agent_name": agent.name,
            "session_id": str(session),
        }
    ), 200
