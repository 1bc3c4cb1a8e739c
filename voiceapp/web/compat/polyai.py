"""PolyAI: ``POST /v1/outbound-calling`` and ``GET /v1/outbound-calling/<call_sid>``.

``X-PolyAi-Auth-Token`` names a connector (``compat.polyai.connectors.<name>.token``):
its ``from_number``, its ``app`` and whether it may call out.  JSON ``{"to_number"
(E.164, or national with "country_code"), "country_code", "metadata" (string values
only; base64 of its JSON under 26 KB), "encryption" (TLS/SRTP (default), TLS/RTP,
UDP/SRTP, UDP/RTP)}``.  The metadata become the variables of the connector's app.

``200 {"call_sid": "OUT-<uuid>"}`` (the voiceapp CallSid is ``CA`` + the same uuid).
The status route returns ``{"call_sid", "status", ...}`` until ``status_retention``
seconds (7200 by default, PolyAI's "about 2 hours") after the call ended, then 404.
Errors ``{"message": "...", "code": "..."}``: 400 (invalid parameters), 401 (a bad
token, or a connector not configured for outbound calling), 403 (a to_number the
destination policy refuses: voiceapp's addition), 409 (the number already
has a call queued or under way), 500 (the call could not be placed; retry with backoff).
PolyAI's own status route is not in its seed page: this shape is voiceapp's choice.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify

from voiceapp.calls.states import TERMINAL
from voiceapp.errors import VendorError
from voiceapp.settings_tables.compat import PolyaiConfig, PolyaiConnector
from voiceapp.web.bodies import json_body
from voiceapp.web.calls import call_service, place_call
from voiceapp.web.compat import (
    Profile,
    compat_config,
    header,
    key_matches,
    sid_of_uuid,
    uuid_of_sid,
    vendor_extra,
)
from voiceapp.web.fields import STRING, Field, table
from voiceapp.web.runtime import iso_time, runtime

bp = Blueprint("compat_polyai", __name__, url_prefix="/v1")

ENCRYPTIONS = ("TLS/SRTP", "TLS/RTP", "UDP/SRTP", "UDP/RTP")
#: The base64 form of the metadata must be less than 26 KB.
MAX_METADATA_BASE64 = 26 * 1024
#: The body of ``POST /v1/outbound-calling``; any other name is refused.
FIELDS = table(
    Field("to_number", STRING, "E.164, or national with country_code.", required=True),
    Field("country_code", STRING, "ISO 3166-1 alpha-2 region of a national to_number."),
    Field(
        "metadata",
        {"type": "object", "additionalProperties": {"type": "string"}},
        "String values: the connector app's variables (base64 of the JSON < 26 KB).",
    ),
    Field("encryption", {"type": "string", "enum": list(ENCRYPTIONS)}, "Default TLS/SRTP."),
)
RETRY = "Failed to place the outbound call; retry with backoff"
PROFILE = Profile(
    vendor="polyai",
    credential=header("X-PolyAi-Auth-Token"),
    unauthorized="Invalid or missing authentication token",
    names={"from": "from_number", "to": "to_number", "variables": "metadata"},
    body=lambda status, message, code, field: {"message": message, "code": code},
    # a number the core does not find is the connector's: 401 (not configured for
    # outbound); a core 401 is one of PolyAI's 400s (invalid parameters)
    statuses={"inactive": 401, "not-found": 401, "unauthorized": 400},
    messages={
        "unavailable": RETRY,
        "inactive": "Connector not configured for outbound calling: {message}",
        "not-found": "Connector not configured for outbound calling: {message}",
    },
    crash=(500, RETRY, "internal"),
)
PROFILE.install(bp)


def metadata_size(metadata: dict[str, str]) -> int:
    """Bytes of the base64 form of the metadata's compact JSON."""
    text = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
    return len(base64.b64encode(text.encode("utf-8")))


def _connector() -> tuple[PolyaiConfig, PolyaiConnector]:
    config = compat_config().polyai or PolyaiConfig()
    token = PROFILE.credential()
    connector = None
    for candidate in config.connectors.values():
        if key_matches((candidate.token,), token):
            connector = candidate
    if connector is None:
        raise VendorError(401, PROFILE.unauthorized, "unauthorized")
    if not connector.outbound:
        raise VendorError(
            401,
            "The connector behind this token is not configured for outbound calling",
            "outbound-not-configured",
        )
    return config, connector


@bp.post("/outbound-calling")
def trigger() -> tuple[Response, int]:
    _config, connector = _connector()
    body = json_body()
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise VendorError(400, f"Unknown parameters: {', '.join(unknown)}", "unknown-field")
    to_number = body.get("to_number")
    if not isinstance(to_number, str) or not to_number.strip():
        raise VendorError(400, "to_number is required (a string)", "missing")
    country = body.get("country_code")
    if country is not None and not isinstance(country, str):
        raise VendorError(400, "country_code must be an ISO 3166-1 alpha-2 string", "invalid-type")
    if not to_number.strip().startswith("+") and not country:
        raise VendorError(
            400, "to_number must be in E.164 format unless country_code is given", "phone-no-region"
        )
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise VendorError(400, "metadata must be an object of string values", "invalid-type")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise VendorError(
                400, f"metadata value of {key!r} must be a string", "metadata-not-string"
            )
    size = metadata_size(metadata)
    if size >= MAX_METADATA_BASE64:
        raise VendorError(
            400,
            f"metadata is {size} bytes in base64; it must be less than 26 KB "
            f"({MAX_METADATA_BASE64} bytes)",
            "metadata-too-large",
        )
    encryption = body.get("encryption", "TLS/SRTP")
    if encryption not in ENCRYPTIONS:
        raise VendorError(
            400, f"encryption must be one of {', '.join(ENCRYPTIONS)}", "invalid-encryption"
        )

    call_uuid = uuid.uuid4()
    data: dict[str, Any] = {
        "from": connector.from_number,
        "to": to_number,
        "app": connector.app,
        "variables": metadata,
    }
    if country:
        data["country_code"] = country
    extra = vendor_extra("polyai", connector=connector.name, encryption=encryption)
    place_call(
        data,
        sid=sid_of_uuid(call_uuid),
        language=connector.language,
        extra=extra,
        api_key=connector.token,
    )
    return jsonify({"call_sid": f"OUT-{call_uuid}"}), 200


@bp.get("/outbound-calling/<call_sid>")
def status(call_sid: str) -> Response:
    config, connector = _connector()
    record = None
    if call_sid.startswith("OUT-"):
        try:
            sid = sid_of_uuid(uuid.UUID(call_sid[4:]))
        except ValueError:
            sid = None
        if sid is not None:
            record = call_service().store.get(sid)
    compat = {} if record is None else record.spec.extra.get("compat", {})
    if (
        record is None
        or compat.get("vendor") != "polyai"
        or compat.get("connector") != connector.name
    ):
        raise VendorError(404, f"No call {call_sid}", "call-not-found")
    ended = record.ended_at if record.status in TERMINAL else None
    if ended is not None and runtime().clock() - ended > config.status_retention:
        raise VendorError(404, f"No call {call_sid} (its status is no longer kept)", "expired")
    return jsonify(
        {
            "call_sid": f"OUT-{uuid_of_sid(record.sid)}",
            "status": record.status,
            "from_number": record.spec.from_,
            "to_number": record.spec.to,
            "encryption": compat.get("encryption"),
            "created_at": iso_time(record.created_at),
            "ended_at": None if record.ended_at is None else iso_time(record.ended_at),
            "duration": record.duration,
        }
    )
