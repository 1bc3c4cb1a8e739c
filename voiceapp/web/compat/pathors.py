"""Pathors: ``POST /project/<projectId>/integration/phone/call/outbound``.

``Authorization: Bearer <key>`` (``compat.pathors.api_keys``); JSON ``{"fromNumber",
"toNumber", "dynamicVariables"}``.  ``fromNumber`` must be one of the project's
numbers (its outbound status is the core's ``OUTBOUND_NUMBERS``); ``toNumber`` is
E.164 or a Taiwan local number (``0912345678``, read with country code TW);
``dynamicVariables`` become the variables of the project's app.

``200 {"success": true, "callSid": "CA..."}``; errors ``{"error": "..."}`` with 400
(missing or invalid fields), 401, 404 (fromNumber not configured or not active, or
an unknown project), 403 (a toNumber the destination policy refuses: premium rate,
satellite, a country not permitted...), 409 (toNumber already queued) and 500.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from voiceapp.errors import ValidationError, VendorError
from voiceapp.settings_tables.compat import PathorsConfig
from voiceapp.web.api import bearer
from voiceapp.web.bodies import json_body
from voiceapp.web.calls import place_call
from voiceapp.web.compat import Profile, compat_config, vendor_extra
from voiceapp.web.fields import OBJECT, STRING, Field, required, table

bp = Blueprint("compat_pathors", __name__)

NOT_CONFIGURED = "The given phone number is not configured for outbound"
#: The body of the outbound route (the OpenAPI document is made from it).
FIELDS = table(
    Field("fromNumber", STRING, "One of the project's numbers.", required=True),
    Field("toNumber", STRING, "E.164, or a Taiwan local number (0912345678).", required=True),
    Field("dynamicVariables", OBJECT, "The variables of the project's app."),
)
PROFILE = Profile(
    vendor="pathors",
    credential=bearer,
    unauthorized="Invalid authentication: the API key is invalid or missing",
    names={"from": "fromNumber", "to": "toNumber", "variables": "dynamicVariables"},
    body=lambda status, message, code, field: {"error": message},
    statuses={"too-large": 400},  # every refusal of the request but 401, 403, 404, 409
    messages={
        "conflict": "The target phone number (toNumber) is already in the call queue",
        "unavailable": "Internal server error",
    },
    crash=(500, "Internal server error", "internal"),
)
PROFILE.install(bp)


@bp.post("/project/<project_id>/integration/phone/call/outbound")
def outbound(project_id: str) -> tuple[Response, int]:
    config = compat_config().pathors or PathorsConfig()
    key = PROFILE.key(config.api_keys)
    project = config.projects.get(project_id)
    if project is None:
        raise VendorError(404, f"Project {project_id} not found")
    try:
        body = json_body()
    except ValidationError as exc:  # 413 for a body over MAX_CONTENT_LENGTH, else 400
        status = 413 if exc.status == 413 else 400
        raise VendorError(status, f"Invalid request body: {exc.message}") from None
    missing = [name for name in required(FIELDS) if not body.get(name)]
    if missing:
        raise VendorError(400, f"Missing required fields: {', '.join(missing)}")
    from_number, to_number = body["fromNumber"], body["toNumber"]
    if not isinstance(from_number, str) or not isinstance(to_number, str):
        raise VendorError(400, "fromNumber and toNumber must be strings")
    variables = body.get("dynamicVariables")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise VendorError(400, "dynamicVariables must be an object")
    if from_number.strip() not in project.numbers:
        raise VendorError(404, NOT_CONFIGURED)

    data: dict[str, Any] = {
        "from": from_number,
        "to": to_number,
        "app": project.app,
        "variables": variables,
    }
    if not to_number.strip().startswith("+"):
        data["country_code"] = "TW"  # Pathors' one documented local format: 0912345678
    extra = vendor_extra("pathors", project=project.id)
    record = place_call(data, language=project.language, extra=extra, api_key=key)
    return jsonify({"success": True, "callSid": record.sid}), 200
