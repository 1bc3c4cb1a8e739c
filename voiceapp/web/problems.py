"""Errors as ``application/problem+json`` (RFC 9457), from one handler.

Every :class:`~voiceapp.errors.VoiceappError` becomes::

    {"type": "urn:voiceapp:problem:token-used",   # stable: PROBLEM_TYPE_PREFIX + code
     "title": "Token already used",               # the same for every error of its class
     "status": 410,
     "detail": "the token has already been used", # this occurrence
     "code": "token-used",                        # the stable code again, for switch statements
     "field": "To"}                               # where, when known (or index, path, line...)

HTTP errors raised by Flask itself (404, 405...) use ``"type": "about:blank"`` and the
HTTP reason as ``title``, with a ``code`` and (when known) a ``field`` from
:data:`HTTP_CODES`; a too-long body (413) is :class:`BodyTooLarge`, and an unexpected
exception (500) says nothing of itself.  A problem body never contains a voice document.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, current_app
from werkzeug.exceptions import HTTPException

from voiceapp.errors import (
    BadRequestBody,
    BodyTooLarge,
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
    Unauthorized,
    ValidationError,
    VoiceappError,
)
from voiceapp.redact import redact_text

PROBLEM_MIMETYPE = "application/problem+json"
#: ``type`` of a voiceapp problem is this prefix followed by the error's stable code.
PROBLEM_TYPE_PREFIX = "urn:voiceapp:problem:"

log = logging.getLogger("voiceapp.web")


# Most specific class first.
_TITLES: tuple[tuple[type[VoiceappError], str], ...] = (
    (Unauthorized, "Missing or invalid API key"),
    (BodyTooLarge, "Request body too large"),
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


#: Flask's and Werkzeug's own HTTP errors: a stable code and, when it is known, the part
#: of the request at fault.  Any other status gets ``http-<status>``.
HTTP_CODES: dict[int, tuple[str, str | None]] = {
    400: ("bad-request", "body"),
    404: ("not-found", "path"),
    405: ("method-not-allowed", "method"),
    415: ("unsupported-media-type", "Content-Type"),
    500: ("internal-error", None),
}


def http_error_response(error: HTTPException) -> Response:
    """A problem for an HTTP error: a too-long body is ``body-too-large``; an unexpected
    exception (Flask's 500) says nothing of its internals (Flask logs it)."""
    status = error.code or 500
    if status == 413:  # MAX_CONTENT_LENGTH, or Werkzeug's form limits
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        bound = f" (at most {limit} bytes)" if limit else ""
        return error_response(BodyTooLarge(f"the request body is too large{bound}", field="body"))
    code, field = HTTP_CODES.get(status, (f"http-{status}", None))
    allow = error.get_headers()
    headers = [(k, v) for k, v in allow if k.lower() == "allow"]
    extra: dict[str, Any] = {"code": code}
    if field is not None:
        extra["field"] = field
    detail = error.description or error.name
    if status >= 500:
        detail = "the server could not answer this request"
    return problem(
        status, type="about:blank", title=error.name, detail=detail, headers=headers, **extra
    )


def init_app(app: Flask) -> None:
    """Register the error handlers on ``app``."""
    app.register_error_handler(VoiceappError, error_response)
    app.register_error_handler(HTTPException, http_error_response)
