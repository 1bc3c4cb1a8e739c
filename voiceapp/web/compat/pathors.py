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

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from voiceapp.errors import (
    ConflictError,
    DestinationError,
    NotFoundError,
    RateLimited,
    StoreError,
    ValidationError,
    VoiceappError,
)
from voiceapp.web.bodies import json_body
from voiceapp.web.calls import place_call
from voiceapp.web.compat import compat_config, key_matches, rename, too_many, vendor_extra
from voiceapp.web.fields import OBJECT, STRING, Field, required, table

__all__ = ["bp"]

log = logging.getLogger("voiceapp.web.compat.pathors")

bp = Blueprint("compat_pathors", __name__)

NAMES = {"from": "fromNumber", "to": "toNumber", "variables": "dynamicVariables"}
NOT_CONFIGURED = "The given phone number is not configured for outbound"
#: The body of the outbound route (the OpenAPI document is made from it).
FIELDS = table(
    Field("fromNumber", STRING, "One of the project's numbers.", required=True),
    Field("toNumber", STRING, "E.164, or a Taiwan local number (0912345678).", required=True),
    Field("dynamicVariables", OBJECT, "The variables of the project's app."),
)


class PathorsError(VoiceappError):
    """An error with Pathors' status, answered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, code=f"pathors-{status}")
        self.http_status = status


def _status(error: VoiceappError) -> int:
    if isinstance(error, PathorsError):
        return error.http_status
    if error.status == 401:
        return 401
    if isinstance(error, DestinationError):
        return 403  # the destination policy (toll fraud): not a malformed request
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, StoreError) or error.status >= 500:
        return 500
    return 400  # every other refusal of the request (422 in the core)


@bp.errorhandler(VoiceappError)
def _error(error: VoiceappError) -> tuple[Response, int]:
    if isinstance(error, RateLimited):
        return too_many({"error": error.message}, error)
    status = _status(error)
    if isinstance(error, PathorsError):
        message = error.message
    elif status == 409:
        message = "The target phone number (toNumber) is already in the call queue"
    elif status == 500:
        log.error("pathors: %s: %s", error.code, error.message)
        message = "Internal server error"
    else:
        message = rename(error, NAMES)[1]
    return jsonify({"error": message}), status


@bp.errorhandler(Exception)
def _crash(error: Exception) -> tuple[Response, int]:
    if isinstance(error, HTTPException):  # e.g. 413 from MAX_CONTENT_LENGTH: keep its status
        return jsonify({"error": error.description or error.name}), error.code or 500
    log.exception("pathors: unexpected error")
    return jsonify({"error": "Internal server error"}), 500


def _bearer() -> str:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


@bp.post("/project/<project_id>/integration/phone/call/outbound")
def outbound(project_id: str) -> tuple[Response, int]:
    config = compat_config().pathors
    if config is None or not key_matches(config.api_keys, _bearer()):
        raise PathorsError(401, "Invalid authentication: the API key is invalid or missing")
    project = config.projects.get(project_id)
    if project is None:
        raise PathorsError(404, f"Project {project_id} not found")
    try:
        body = json_body()
    except ValidationError as exc:  # 413 for a body over MAX_CONTENT_LENGTH, else 400
        status = 413 if exc.status == 413 else 400
        raise PathorsError(status, f"Invalid request body: {exc.message}") from None
    missing = [name for name in required(FIELDS) if not body.get(name)]
    if missing:
        raise PathorsError(400, f"Missing required fields: {', '.join(missing)}")
    from_number, to_number = body["fromNumber"], body["toNumber"]
    if not isinstance(from_number, str) or not isinstance(to_number, str):
        raise PathorsError(400, "fromNumber and toNumber must be strings")
    variables = body.get("dynamicVariables")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise PathorsError(400, "dynamicVariables must be an object")
    if from_number.strip() not in project.numbers:
        raise PathorsError(404, NOT_CONFIGURED)

    data: dict[str, Any] = {
        "from": from_number,
        "to": to_number,
        "app": project.app,
        "variables": variables,
    }
    if not to_number.strip().startswith("+"):
        data["country_code"] = "TW"  # Pathors' one documented local format: 0912345678
    extra = vendor_extra("pathors", project=project.id)
    record = place_call(data, language=project.language, extra=extra, api_key=_bearer())
    return jsonify({"success": True, "callSid": record.sid}), 200
