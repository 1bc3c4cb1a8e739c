"""The ``api`` blueprint: the REST API under ``/v1``.

``POST /v1/sessions`` (API key) with JSON ``{"app", "to", "variables", "ttl",
"language"}`` → ``201 {"token", "url", "expires_at"}``; rate-limited per API key and
idempotent with an ``Idempotency-Key`` (:mod:`voiceapp.web.limits`).  ``GET /v1/health`` →
``{"status": "ok"}`` (no key; for load balancers and tests).

:func:`require_api_key` and :func:`create_session` are shared with later routes
(``/v1/calls`` creates sessions for ``{"app": ...}`` calls).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request
from phonenumbers import PhoneNumber

from voiceapp.apps import Context, TemplateError, get_app
from voiceapp.apps.base import check_variables
from voiceapp.config import Settings
from voiceapp.destinations import DestinationPolicy
from voiceapp.errors import Unauthorized, ValidationError
from voiceapp.phone import normalize_parsed
from voiceapp.stores.base import Session
from voiceapp.web.bodies import json_body
from voiceapp.web.fields import OBJECT, STRING, Field, refuse_unknown, table
from voiceapp.web.limits import idempotent, limit_api_key
from voiceapp.web.runtime import Runtime, iso_time, runtime

bp = Blueprint("api", __name__, url_prefix="/v1")

#: The fields of ``POST /v1/sessions`` (:func:`create_session` refuses any other name).
SESSION_FIELDS = table(
    Field("app", STRING, "The app (pin, pin-verify, bridge, ivr, ...).", required=True),
    Field("to", STRING, "The number the session is for (E.164, or national).", required=True),
    Field("variables", OBJECT, "The app's variables."),
    Field("ttl", {"type": "integer", "minimum": 1}, "Seconds the session is valid."),
    Field("language", STRING, "Template language (e.g. en, zh-TW)."),
)


def bearer() -> str:
    """The credential of ``Authorization: Bearer <credential>`` (empty when there is none)."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def require_api_key(rt: Runtime) -> str:
    """Accept ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` (the key); else 401."""
    key = bearer() or request.headers.get("X-API-Key", "").strip()
    if not key:
        raise Unauthorized(
            "send an API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
            code="api-key-missing",
            field="Authorization",
        )
    good = False
    for candidate in rt.settings.API_KEYS:
        good |= hmac.compare_digest(candidate.encode(), key.encode())
    if not good:
        raise Unauthorized(
            "the API key is not valid", code="api-key-invalid", field="Authorization"
        )
    return key


def _sample_step_url(step: str, data: Mapping[str, Any], *, ttl: int | None = None) -> str:
    return "https://voiceapp.invalid/voice/step/preview"


def destination(
    settings: Settings,
    number: object,
    *,
    field: str,
    country_code: str | None = None,
    policy: DestinationPolicy | None = None,
) -> str:
    """A callee number in E.164 (``country_code``, else ``DEFAULT_REGION``, reads national
    numbers) that the destination ``policy`` (default: the settings') permits, else a
    403 ``destination-blocked`` / ``destination-not-permitted``.  The settings' policy
    permits the deployment's own numbers (:meth:`~voiceapp.config.Settings.destination_policy`)."""
    e164, parsed = _read_number(settings, number, field=field, country_code=country_code)
    if policy is None:
        policy = settings.destination_policy()
    return policy.check(e164, field=field, parsed=parsed)  # one phonenumbers parse, not two


def number_of(
    settings: Settings, number: object, *, field: str, country_code: str | None = None
) -> str:
    """A number in E.164 as the deployment reads numbers (``country_code``, else
    ``DEFAULT_REGION``), with no destination policy: for looking calls up, not placing
    them.  A number of the simulated network is taken as written once it passes
    :func:`~voiceapp.phone.normalize`'s checks (``known``)."""
    return _read_number(settings, number, field=field, country_code=country_code)[0]


def _read_number(
    settings: Settings, number: object, *, field: str, country_code: str | None
) -> tuple[str, PhoneNumber | None]:
    return normalize_parsed(
        number,
        field=field,
        country_code=country_code,
        default_region=settings.DEFAULT_REGION or None,
        known=settings.NETWORK.numbers,
    )


def create_session(
    rt: Runtime, payload: Mapping[str, Any], *, checked_to: str | None = None
) -> dict[str, Any]:
    """Validate a session request and create the session: ``{"token", "url", "expires_at"}``.

    Every problem is a 4xx :class:`~voiceapp.errors.VoiceappError` naming its field;
    nothing is stored unless everything is valid.  ``checked_to`` is the payload's
    ``to`` as :func:`destination` already returned it under ``rt.destinations`` (a
    call's session: ``place_call`` read it); it is not read and checked again
    (phonenumbers' parse and number type are most of a call's validation).
    """
    refuse_unknown(SESSION_FIELDS, payload)
    app = get_app(payload.get("app"))
    to = checked_to
    if to is None:
        to = destination(rt.settings, payload.get("to"), field="to", policy=rt.destinations)
    variables = app.validate(check_variables(payload.get("variables", {})))
    ttl = payload.get("ttl", rt.settings.SESSION_TTL)
    limit = rt.settings.MAX_SESSION_TTL
    if app.max_ttl is not None:
        limit = min(limit, app.max_ttl)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= limit:
        raise ValidationError(
            f"ttl must be an integer number of seconds from 1 to {limit}"
            + (f" (the {app.name} app's limit)" if limit == app.max_ttl else ""),
            code="invalid-range",
            field="ttl",
        )
    language = payload.get("language", rt.settings.DEFAULT_LANGUAGE)
    if language not in rt.languages:
        raise ValidationError(
            f"language must be one of {', '.join(rt.languages)}",
            code="invalid-language",
            field="language",
        )
    # Render the first document once now: data the templates cannot carry fails
    # here with 422, not when the call is answered.
    now = rt.clock()
    preview = Session("preview", app.name, to, variables, language, now, now + ttl)
    try:
        app.start(Context(preview, rt.templates, _sample_step_url, now))
    except TemplateError as exc:
        raise ValidationError(
            f"the variables do not make a valid document: {exc.cause or exc}",
            code="invalid-document",
            field="variables",
        ) from None
    _session, token, expires_at = rt.sessions.create(
        app.name, to, variables, ttl=ttl, language=language
    )
    return {
        "token": token,
        "url": rt.external_url("voice.document", token=token),
        "expires_at": iso_time(expires_at),
    }


@bp.post("/sessions")
def sessions() -> Response:
    rt = runtime()
    key = require_api_key(rt)

    def work() -> tuple[Response, int]:
        limit_api_key(rt, key)
        return jsonify(create_session(rt, json_body())), 201

    return idempotent(rt, key, work)


@bp.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})
