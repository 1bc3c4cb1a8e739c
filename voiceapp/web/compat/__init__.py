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
of the deployment config, :mod:`.config`), translates the vendor request into the
fields of ``POST /v1/calls`` and hands them to :func:`voiceapp.web.calls.place_call`:
validation, the per-number queue, sessions and dialing are the core's.  Errors come
back in the vendor's documented status and body shape.  ``docs/compat.md`` has the
table of every documented behaviour and what voiceapp does for it.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, jsonify

from voiceapp.config import Settings
from voiceapp.errors import ConfigError, RateLimited, VoiceappError
from voiceapp.settings_tables.compat import CompatConfig
from voiceapp.web.runtime import runtime

__all__ = [
    "compat_config",
    "init_app",
    "key_matches",
    "rename",
    "sid_of_uuid",
    "too_many",
    "uuid_of_sid",
    "vendor_extra",
]

log = logging.getLogger("voiceapp.web.compat")


def compat_config() -> CompatConfig:
    """The deployment's ``[compat]`` table (empty when the config has none)."""
    return runtime().settings.COMPAT or CompatConfig()


def key_matches(candidates: Iterable[str], given: str) -> bool:
    """Whether ``given`` is one of ``candidates``, compared in constant time."""
    good = False
    for candidate in candidates:
        good |= hmac.compare_digest(candidate.encode(), given.encode())
    return good and bool(given)


def rename(error: VoiceappError, names: dict[str, str]) -> tuple[str | None, str]:
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


def too_many(body: dict[str, Any], error: RateLimited) -> tuple[Response, int]:
    """A vendor's error ``body`` as 429 with the core's ``Retry-After`` (every vendor route
    shares the core's rate limits: per key, per destination)."""
    response = jsonify(body)
    response.headers.update(error.headers())
    return response, 429


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
