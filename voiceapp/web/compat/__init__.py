"""Vendor-compatible routes: one thin blueprint per seed vendor's outbound-call API.

============  =====================================================  ==========================
vendor        routes                                                 module
============  =====================================================  ==========================
Pathors       ``POST /project/<projectId>/integration/phone/call/``  :mod:`.pathors`
              ``outbound``
Feather       ``POST /v1/voice/outbound``                            :mod:`.feather`
ThunderPhone  ``POST /v1/call``, ``GET /v1/calls/<int:call_id>``     :mod:`.thunderphone`
PolyAI        ``POST /v1/outbound-calling``,                         :mod:`.polyai`
              ``GET /v1/outbound-calling/<call_sid>``
============  =====================================================  ==========================

Each adapter authenticates with the vendor's own header and keys (``[compat.<vendor>]``
of the deployment config, :mod:`voiceapp.settings_tables.compat`), translates the vendor
request into the fields of ``POST /v1/calls`` and hands them to
:func:`voiceapp.web.calls.place_call`: validation, the per-number queue, sessions and
dialing are the core's.  Errors come back in the vendor's documented status and body
shape.

The mechanism is this module's, once; a vendor is a :class:`Profile`: where its
credential is (:func:`bearer`, :func:`header`), what each kind of core error
(:func:`kind_of`) answers (status, message) and the body its errors have.  A vendor's
own refusals are :class:`VendorError` (status, message, code, or a whole body).
``docs/compat.md`` has the table of every documented behaviour and what voiceapp does
for it.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from voiceapp.config import Settings
from voiceapp.errors import (
    ConfigError,
    ConflictError,
    DestinationError,
    NotFoundError,
    RateLimited,
    StoreError,
    VendorError,
    VoiceappError,
)
from voiceapp.settings_tables.compat import CompatConfig
from voiceapp.web.runtime import runtime

log = logging.getLogger("voiceapp.web.compat")

#: What a core error is, as the vendors' documented statuses tell them apart.
Kind = Literal[
    "unauthorized",  # a bad key (401)
    "blocked",  # the destination policy refuses the number (toll fraud)
    "inactive",  # the caller ID is an outbound number, but inactive
    "not-found",  # an unknown number, call, ...
    "conflict",  # the number already has a call queued
    "unavailable",  # the store is down, or any other server-side failure
    "too-large",  # a body over MAX_CONTENT_LENGTH
    "invalid",  # every other refusal of the request (422 in the core)
]


#: The status of each kind unless a vendor documents another (:attr:`Profile.statuses`).
STATUSES: Mapping[Kind, int] = {
    "unauthorized": 401,
    "blocked": 403,
    "inactive": 404,
    "not-found": 404,
    "conflict": 409,
    "unavailable": 500,
    "too-large": 413,
    "invalid": 400,
}


def kind_of(error: VoiceappError) -> Kind:
    """The :data:`Kind` of a core error."""
    if isinstance(error, StoreError) or error.status >= 500:
        return "unavailable"
    if error.status == 401:
        return "unauthorized"
    if isinstance(error, DestinationError):
        return "blocked"
    if isinstance(error, NotFoundError):
        return "inactive" if error.code == "from-inactive" else "not-found"
    if isinstance(error, ConflictError):
        return "conflict"
    if error.status == 413:
        return "too-large"
    return "invalid"


#: A vendor's error body: ``(status, message, code, field in the vendor's names)``.
Body = Callable[[int, str, str, str | None], Any]


def header(name: str) -> Callable[[], str]:
    """The credential in the request header ``name``."""
    return lambda: request.headers.get(name, "").strip()


@dataclass(frozen=True)
class Profile:
    """A vendor route: its credential, its error statuses and messages, its error body.

    ``statuses`` maps a :data:`Kind` to the vendor's status where it is not the one of
    :data:`STATUSES`;
    ``messages`` a kind to the text answered, ``{message}`` standing for the core's
    message in the vendor's field names (the core's message when not listed);
    ``codes`` a kind to the code answered instead of the core's.  ``crash`` is the
    status, message and code of an unexpected exception.
    """

    vendor: str
    credential: Callable[[], str]  # voiceapp.web.api.bearer, or header(name)
    unauthorized: str
    names: Mapping[str, str]
    body: Body
    crash: tuple[int, str, str]
    statuses: Mapping[Kind, int] = field(default_factory=dict)
    messages: Mapping[Kind, str] = field(default_factory=dict)
    codes: Mapping[Kind, str] = field(default_factory=dict)

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"voiceapp.web.compat.{self.vendor}")

    def key(self, keys: Iterable[str]) -> str:
        """The request's credential if it is one of ``keys``; else a 401 in the vendor's
        shape."""
        given = self.credential()
        if not key_matches(keys, given):
            raise VendorError(401, self.unauthorized, "unauthorized")
        return given

    def reply(self, status: int, message: str, code: str, field: str | None = None) -> Response:
        response = jsonify(self.body(status, message, code, field))
        response.status_code = status
        return response

    def answer(self, error: VoiceappError) -> Response:
        """The vendor's answer to ``error``."""
        if isinstance(error, VendorError):
            if error.body is not None:
                response = jsonify(error.body)
                response.status_code = error.http_status
                return response
            return self.reply(error.http_status, error.message, error.code)
        if isinstance(error, RateLimited):  # the core's limits, with its Retry-After
            response = self.reply(429, error.message, error.code)
            response.headers.update(error.headers())
            return response
        kind = kind_of(error)
        if kind == "unavailable":
            self.log.error("%s: %s: %s", self.vendor, error.code, error.message)
        field, message = rename(error, self.names)
        message = self.messages.get(kind, "{message}").format(message=message)
        code = self.codes.get(kind, error.code)
        status = self.statuses.get(kind, STATUSES[kind])
        return self.reply(status, message, code, field)

    def unexpected(self, error: Exception) -> Response:
        """The vendor's answer to an exception that is no ``VoiceappError``."""
        if isinstance(error, HTTPException):  # e.g. 413 from MAX_CONTENT_LENGTH: its status
            return self.reply(error.code or 500, error.description or error.name, "http")
        self.log.exception("%s: unexpected error", self.vendor)
        return self.reply(*self.crash)

    def install(self, bp: Blueprint) -> None:
        """Answer every error of ``bp``'s routes in this vendor's shape."""
        bp.register_error_handler(VoiceappError, self.answer)
        bp.register_error_handler(Exception, self.unexpected)


def compat_config() -> CompatConfig:
    """The deployment's ``[compat]`` table (empty when the config has none)."""
    return runtime().settings.COMPAT or CompatConfig()


def key_matches(candidates: Iterable[str], given: str) -> bool:
    """Whether ``given`` is one of ``candidates``, compared in constant time."""
    good = False
    for candidate in candidates:
        good |= hmac.compare_digest(candidate.encode(), given.encode())
    return good and bool(given)


def rename(error: VoiceappError, names: Mapping[str, str]) -> tuple[str | None, str]:
    """The vendor's name of the error's field and the message spoken in that name.

    ``names`` maps core field names (``to``, ``from``, ``variables``) to the vendor's
    (``toNumber``, ...); ``variables.customerName`` becomes ``dynamicVariables.customerName``.
    """
    field = error.field
    message = error.message
    if field is None:
        return None, message
    head, dot, rest = field.partition(".")
    if head not in names:
        return field, message
    vendor_field = names[head] + dot + rest
    if message.startswith(field):
        message = vendor_field + message[len(field) :]
    elif message.startswith(head + " "):
        message = names[head] + message[len(head) :]
    return vendor_field, message


def sid_of_uuid(value: uuid.UUID) -> str:
    """The voiceapp CallSid of a vendor's call uuid (``CA`` + 32 hex digits)."""
    return "CA" + value.hex


def uuid_of_sid(sid: str) -> uuid.UUID:
    return uuid.UUID(hex=sid[2:])


def vendor_extra(vendor: str, **detail: Any) -> dict[str, Any]:
    """What a vendor route keeps on the call record (``extra.compat``)."""
    return {"compat": {"vendor": vendor, **detail}}


def init_app(app: Flask, settings: Settings) -> None:
    """Register the four vendor blueprints; refuse a vendor number not in OUTBOUND_NUMBERS."""
    from voiceapp.web.compat.feather import bp as feather_bp
    from voiceapp.web.compat.pathors import bp as pathors_bp
    from voiceapp.web.compat.polyai import bp as polyai_bp
    from voiceapp.web.compat.thunderphone import bp as thunderphone_bp

    compat = settings.COMPAT
    if compat is not None:
        configured = dict(settings.OUTBOUND_NUMBERS)
        for key, number in compat.numbers():
            if number not in configured:
                raise ConfigError(
                    f"{key}: {number} is not in OUTBOUND_NUMBERS (vendor numbers call through "
                    "the core, which only places calls from its outbound numbers)",
                    code="config-value",
                    field=key,
                )
    for bp in (pathors_bp, feather_bp, thunderphone_bp, polyai_bp):
        app.register_blueprint(bp)
