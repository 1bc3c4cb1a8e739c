"""The ``inbound`` blueprint: a caller dials one of the deployment's numbers.

``POST /v1/calls/inbound`` (API key) ``{"from": caller, "to": our number}`` →
``201 {"sid", "status": "queued"}``: what the simulated network does when someone
calls a number of ``[inbound]`` (:mod:`voiceapp.settings_tables.inbound`).  The call is
stored with ``direction="inbound"``; the dialer answers it at once and runs the bound
document (the ``url``, or the ``app``'s session URL) with ``Direction=inbound`` in
its parameters.  The far end is the caller: the simulated network plays the
``[network.numbers]`` script of the ``from`` number (what it presses on hearing what).

A number with no binding is refused, 404 ``inbound-not-bound`` (field ``to``).  The
bound URLs pass the same network policy as every call's (``url-not-public`` ...).
See ``docs/calls-api.md``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify

from voiceapp.calls.records import CallRecord, CallSpec
from voiceapp.calls.subscriptions import Subscription
from voiceapp.config import Settings
from voiceapp.errors import NotFoundError
from voiceapp.phone import normalize
from voiceapp.web.api import require_api_key
from voiceapp.web.bodies import json_body
from voiceapp.web.calls import check_url, enqueue
from voiceapp.web.fields import STRING, Field, read, refuse_unknown, table
from voiceapp.web.limits import idempotent, limit_api_key
from voiceapp.web.runtime import runtime

bp = Blueprint("inbound", __name__, url_prefix="/v1")

#: The fields of ``POST /v1/calls/inbound``.
INBOUND_FIELDS = table(
    Field("from", STRING, "The caller's number (E.164, or national).", required=True),
    Field("to", STRING, "The number called: one of [inbound] (E.164, or national).", required=True),
    Field("country_code", STRING, "ISO 3166-1 alpha-2 region for national numbers."),
)


def parse_inbound(settings: Settings, data: Mapping[str, Any]) -> tuple[CallSpec, dict[str, Any]]:
    """Validate an inbound call: its spec (without a ``url`` for an app binding) and the
    session request of an app binding (empty otherwise)."""
    refuse_unknown(INBOUND_FIELDS, data)
    values = read(INBOUND_FIELDS, data)
    country = values.get("country_code")
    region = settings.DEFAULT_REGION or None
    to = normalize(
        values["to"],
        field="to",
        country_code=country,
        default_region=region,
        known=settings.own_numbers,
    )
    binding = settings.inbound_binding(to)
    if binding is None:
        raise NotFoundError(
            f"to {to} is not bound to a url or an app in [inbound]: nothing answers it",
            code="inbound-not-bound",
            field="to",
        )
    caller = normalize(
        values["from"],
        field="from",
        country_code=country,
        default_region=region,
        known=settings.NETWORK.numbers,
    )
    where = f'inbound."{to}"'
    allow = settings.outbound_allowlist
    if binding.url is not None:
        check_url(binding.url, field=f"{where}.url", allowlist=allow)
    if binding.status_callback is not None:
        check_url(binding.status_callback, field=f"{where}.status_callback", allowlist=allow)
    subscription = Subscription.from_fields(
        status_callback=binding.status_callback,
        status_callback_event=binding.status_callback_event,
        status_callback_method=binding.status_callback_method,
    )
    session: dict[str, Any] = {}
    if binding.app is not None:
        session = {"app": binding.app, "to": to, "variables": dict(binding.variables)}
    spec = CallSpec(
        sid="CA" + uuid.uuid4().hex,
        from_=caller,
        to=to,
        url=binding.url,
        method=binding.method,
        app=binding.app,
        variables=dict(binding.variables),
        status_callback=subscription.url,
        status_callback_events=tuple(sorted(e.value for e in subscription.events)),
        status_callback_method=subscription.method,
        direction="inbound",
    )
    return spec, session


def place_inbound(data: Mapping[str, Any], *, api_key: str | None = None) -> CallRecord:
    """The core of ``POST /v1/calls/inbound``: validate, create the app session, store
    and enqueue the inbound call, wake the dialer; the stored record."""
    rt = runtime()
    if api_key is not None:
        limit_api_key(rt, api_key)
    spec, session = parse_inbound(rt.settings, data)
    return enqueue(spec, session)


@bp.post("/calls/inbound")
def create_inbound_call() -> Response:
    rt = runtime()
    key = require_api_key(rt)

    def work() -> tuple[Response, int]:
        record = place_inbound(json_body(), api_key=key)
        return jsonify({"sid": record.sid, "status": record.status}), 201

    return idempotent(rt, key, work)
