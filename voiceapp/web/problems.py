"""Errors as ``application/problem+json`` (RFC 9457), from one handler.

Every :class:`~voiceapp.errors.VoiceappError` becomes::

    {"type": "urn:voiceapp:problem:token-used",   # stable: PROBLEM_TYPE_PREFIX + code
     "title": "Token already used",               # the same for every error of its class
     "status": 410,
     "detail": "the token has already been used", # this occurrence
     "code": "token-used",                        # the stable code again, for switch statements
     "field": "To"}                               # where, when known (or index, path, line...)

HTTP errors raised by Flask itself (404, 405...) use ``"type": "about:blank"`` and the
HTTP reason as ``title``.  A problem body never contains a voice document.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from voiceapp.errors import (
    ConfigError,
    DestinationBlocked,
    DestinationError,
    DestinationNotPermitted,
    DigitsError,
    DocumentError,
    HeaderError,
    PhoneError,
    RateLimited,
    StoreError,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenUsed,
    ValidationError,
    VoiceappError,
)
from voiceapp.redact import redact_text

__all__ = [
    "PROBLEM_MIMETYPE",
    "PROBLEM_TYPE_PREFIX",
    "BadRequestBody",
    "Unauthorized",
    "init_app",
    "problem",
]

PROBLEM_MIMETYPE = "application/problem+json"
#: ``type`` of a voiceapp problem is this prefix followed by the error's stable code.
PROBLEM_TYPE_PREFIX = "urn:voiceapp:problem:"

log = logging.getLogger("voiceapp.web")


class Unauthorized(VoiceappError):
    """The REST API was called without a valid API key."""

    status = 401
    default_code = "unauthorized"


class BadRequestBody(ValidationError):
    """The request body is not the JSON object the route needs."""

    status = 400
    default_code = "invalid-body"


# Most specific class first.
_TITLES: tuple[tuple[type[VoiceappError], str], ...] = (
    (Unauthorized, "Missing or invalid API key"),
    (BadRequestBody, "Malformed request body"),
    (TokenUsed, "Token already used"),
    (TokenExpired, "Token expired"),
    (TokenInvalid, "Token not accepted"),
    (TokenError, "Token not accepted"),
    (PhoneError, "Invalid phone number"),
    (DestinationBlocked, "Destination blocked"),
    (DestinationNotPermitted, "Destination not permitted"),
    (DestinationError, "Destination refused"),
    (DigitsError, "Invalid digit string"),
    (DocumentError, "Invalid voice document"),
    (HeaderError, "Invalid request header"),
    (ValidationError, "Invalid request field"),
    (RateLimited, "Too many requests"),
    (ConfigError, "Server configuration problem"),
    (StoreError, "Store unavailable"),
    (VoiceappError, "Request failed"),
)


def title_for(error: VoiceappError) -> str:
    for cls, title in _TITLES:
        if isinstance(error, cls):
            return title
    return "Request failed"  # pragma: no cover - VoiceappError is last


def problem(
    status: int, *, type: str, title: str, detail: str, headers: Any = None, **extra: Any
) -> Response:
    """A problem+json response."""
    body = {"type": type, "title": title, "status": status, "detail": detail, **extra}
    response = Response(
        json.dumps(body, ensure_ascii=False, sort_keys=False),
        status=status,
        content_type=PROBLEM_MIMETYPE,
        headers=headers,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def error_response(error: VoiceappError) -> Response:
    extra = {"code": error.code, **error.location()}
    detail = redact_text(error.message)  # no URL userinfo or voice token, whoever raised it
    if isinstance(error, ConfigError | StoreError):
        log.error("%s: %s", error.code, detail)
    return problem(
        error.status,
        type=PROBLEM_TYPE_PREFIX + error.code,
        title=title_for(error),
        detail=detail,
        headers=error.headers() or None,
        **extra,
    )


def http_error_response(error: HTTPException) -> Response:
    status = error.code or 500
    allow = error.get_headers()
    headers = [(k, v) for k, v in allow if k.lower() == "allow"]
    return problem(
        status,
        type="about:blank",
        title=error.name,
        detail=error.description or error.name,
        headers=headers,
    )


def init_app(app: Flask) -> None:
    """Register the error handlers on ``app``."""
    app.register_error_handler(VoiceappError, error_response)
    app.register_error_handler(HTTPException, http_error_response)
