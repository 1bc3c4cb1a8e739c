"""The ``calls`` blueprint: place outbound calls through the REST API.

``POST /v1/calls`` (API key) with the seed's fields, JSON or form-encoded →
``201 {"sid", "status": "queued"}`` (rate-limited per API key and per destination,
idempotent with an ``Idempotency-Key``: :mod:`voiceapp.web.limits`);
``GET /v1/calls/<sid>`` → the stored call (status, timestamps, duration, legs, events
with their delivery attempts, the dialer's trace and the call's ``error``, whatever
process dialed; redacted);
``GET /v1/calls`` → ``{"calls", "next_cursor"}``, newest first, filtered (``status``,
``to``, ``from``, ``created_after``, ``created_before``; ``limit``, ``cursor``);
``POST /v1/calls/<sid>`` (``url`` + ``method``, ``twiml`` or ``status``: completed |
canceled) → the call after the change (:func:`change_call`);
``POST /v1/calls/<sid>/cancel`` → the call after the cancel (queued calls end at
once, dialing ones are ended by their dialer).

Every field is validated here, at the edge, and becomes a typed
:class:`~voiceapp.stores.calls.CallSpec`; the call is written to the call store
(created and enqueued in one step) before the caller is answered.  See
``docs/calls-api.md``.

:func:`init_app` opens the call store on ``STORE_URL``.  The embedded dialer, when
``DIALER`` asks for one, is started by the CLI layer (:mod:`voiceapp.cli.wsgi`) and
set on the :class:`CallService`: this module only wakes and stops it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from voiceapp import checks
from voiceapp.apps import get_app
from voiceapp.calls.api_json import call_json
from voiceapp.calls.records import (
    CHANGE_STATUSES,
    DEFAULT_RING_TIMEOUT,
    DEFAULT_TIME_LIMIT,
    MACHINE_DETECTION_MODES,
    MACHINE_DETECTION_TUNING,
    RECORDING_CHANNELS,
    RECORDING_TRACKS,
    RECORDING_TRIMS,
    CallChange,
    CallRecord,
    CallSpec,
    MachineDetectionTuning,
    check_sid,
    tuning_range,
)
from voiceapp.calls.states import STATUSES
from voiceapp.calls.subscriptions import Subscription, parse_recording_events
from voiceapp.config import Settings
from voiceapp.destinations import DestinationPolicy
from voiceapp.document import parse as parse_document
from voiceapp.dtmf import parse_digits
from voiceapp.errors import (
    BadRequestBody,
    DigitsError,
    DocumentError,
    InvalidValue,
    JsonTooDeep,
    MissingField,
    NotFoundError,
    ValidationError,
    VoiceappError,
)
from voiceapp.netguard import Allowlist, Resolver, refusal, system_resolve
from voiceapp.phone import normalize
from voiceapp.redact import (
    EXTRA_KEY,
    Redactor,
    hide_secret_variables,
    mask_variables,
    redact_url,
)
from voiceapp.schema import HTTP_METHODS
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore
from voiceapp.web.api import create_session, destination, number_of, require_api_key
from voiceapp.web.bodies import form_body, json_body, loads
from voiceapp.web.fields import OBJECT, STRING, URL, Field, read, refuse_unknown, table
from voiceapp.web.limits import idempotent, limit_api_key, limit_destination
from voiceapp.web.runtime import Runtime, runtime

log = logging.getLogger("voiceapp.web.calls")

bp = Blueprint("calls", __name__, url_prefix="/v1")

EXTENSION = "voiceapp.calls"

MAX_URL_LENGTH = 2048
#: The most seconds a call may ring (``timeout``; Twilio's ``Timeout`` has the same bound).
MAX_RING_TIMEOUT = 600
#: The most seconds a call may last (``timeLimit``: 24 h).
MAX_TIME_LIMIT = 86400
_METHOD = {"type": "string", "enum": [*HTTP_METHODS, *(m.lower() for m in HTTP_METHODS)]}
_EVENTS = ("initiated", "ringing", "answered", "completed")
MAX_TEXT_LENGTH = 512

# The checks of the call fields (the URLs' length is check_url's).
_TEXT = checks.string(MAX_TEXT_LENGTH)
_URL_TEXT = checks.string()


def _object(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidValue(f"must be an object, not {_json_type(value)}", "invalid-type")
    return value


def _change_status(value: Any) -> str:
    word = _TEXT(value).strip()
    if word not in CHANGE_STATUSES:
        raise InvalidValue(f"must be {' or '.join(CHANGE_STATUSES)}", "invalid-choice")
    return word


#: What each tuning field of machine detection sets (Twilio's meaning).
_TUNING_DOCS: Final[Mapping[str, str]] = {
    "machineDetectionTimeout": "seconds to try before AnsweredBy is unknown",
    "machineDetectionSpeechThreshold": "milliseconds of speech that make a machine",
    "machineDetectionSpeechEndThreshold": "milliseconds of silence that end the speech",
    "machineDetectionSilenceTimeout": "milliseconds of first silence before unknown",
}


def _flag(value: Any) -> bool:
    """true or false: a JSON boolean, or the words in a form body (any case)."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return checks.boolean(value)


def _recording_events(value: Any) -> tuple[str, ...]:
    try:
        return tuple(sorted(parse_recording_events(_TEXT(value))))
    except ValueError as exc:
        raise InvalidValue(str(exc), "invalid-choice") from None


def _event_names(value: Any) -> str | list[str]:
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise InvalidValue("must be a space-separated string or a list", "invalid-type")
    if not all(isinstance(item, str) for item in value):
        raise InvalidValue("must list event names", "invalid-type")
    return value


#: The fields of ``POST /v1/calls``: the seed's names, plus ``country_code`` (for
#: national numbers), ``method`` (of the document fetch) and ``app``/``variables``.
#: :func:`parse_call` refuses any other name; the OpenAPI document is made from it.
CALL_FIELDS = table(
    Field(
        "from",
        STRING,
        "Caller ID: an active number of OUTBOUND_NUMBERS.",
        required=True,
        check=_TEXT,
    ),
    Field("to", STRING, "The number to dial (E.164, or national).", required=True, check=_TEXT),
    Field(
        "url",
        URL,
        "The document fetched on answer (http/https, public or allow-listed).",
        check=_URL_TEXT,
    ),
    Field(
        "method",
        _METHOD,
        "Method of the document fetch (default POST).",
        check=checks.choice(_TEXT, HTTP_METHODS),
    ),
    Field(
        "senddigits",
        STRING,
        "DTMF sent on answer: 0-9 * # A-D, w (0.5 s), W (1 s).",
        check=_TEXT,
    ),
    Field("statusCallback", URL, "URL receiving status callbacks.", check=_URL_TEXT),
    Field(
        "statusCallbackEvent",
        {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string", "enum": list(_EVENTS)}},
            ]
        },
        "Events to report: a space-separated subset of initiated ringing answered completed.",
        form_schema=STRING,
        check=_event_names,
    ),
    Field(
        "statusCallbackMethod",
        STRING,
        "GET or POST (any case) for the callbacks.",
        check=_TEXT,
    ),
    Field("secretKey", STRING, "Sent back as apikey=<secretKey> in every callback.", check=_TEXT),
    Field("optional", STRING, "name=value&... pairs appended to every callback.", check=_TEXT),
    Field(
        "country_code",
        STRING,
        "ISO 3166-1 alpha-2 region for national numbers.",
        check=_TEXT,
    ),
    Field("app", STRING, "Instead of url: an app (pin, pin-verify, bridge, ivr).", check=_TEXT),
    Field(
        "twiml",
        STRING,
        "Instead of url or app: the document itself, run on answer (checked by the schema).",
        check=_URL_TEXT,
    ),
    Field(
        "timeout",
        {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_RING_TIMEOUT,
            "default": DEFAULT_RING_TIMEOUT,
        },
        f"Seconds to ring before no-answer, 1-{MAX_RING_TIMEOUT} (default {DEFAULT_RING_TIMEOUT}).",
        form_schema=STRING,
        check=checks.integer(1, MAX_RING_TIMEOUT, text=True),
    ),
    Field(
        "timeLimit",
        {"type": "integer", "minimum": 1, "maximum": MAX_TIME_LIMIT, "default": DEFAULT_TIME_LIMIT},
        f"Seconds the whole call may last, 1-{MAX_TIME_LIMIT} (default {DEFAULT_TIME_LIMIT}: 4 h).",
        form_schema=STRING,
        check=checks.integer(1, MAX_TIME_LIMIT, text=True),
    ),
    Field(
        "fallbackUrl",
        URL,
        "Fetched once (with ErrorCode, ErrorUrl) when the document fetch fails.",
        check=_URL_TEXT,
    ),
    Field(
        "fallbackMethod",
        _METHOD,
        "Method of the fallback fetch (default POST).",
        check=checks.choice(_TEXT, HTTP_METHODS),
    ),
    Field(
        "record",
        {"type": "boolean"},
        "Record the whole call from the answer (a WAV file: docs/recordings.md).",
        form_schema=STRING,
        check=_flag,
    ),
    *(
        Field(
            name,
            {"type": "string", "enum": list(values), "default": values[0]},
            f"With record: {text}, {' or '.join(values)} (default {values[0]}).",
            check=checks.choice(_TEXT, values, exact=True),
        )
        for name, values, text in (
            ("recordingChannels", RECORDING_CHANNELS, "one channel, or each side on its own"),
            ("recordingTrack", RECORDING_TRACKS, "what is recorded: both ways or one side"),
            ("trim", RECORDING_TRIMS, "the silence at the recording's start and end"),
        )
    ),
    Field(
        "machineDetection",
        {"type": "string", "enum": list(MACHINE_DETECTION_MODES)},
        "Answering-machine detection: Enable (human or machine_start as soon as known) or "
        "DetectMessageEnd (a machine's greeting end, its beep); AnsweredBy on the document.",
        check=checks.choice(_TEXT, MACHINE_DETECTION_MODES, exact=True),
    ),
    *(
        Field(
            name,
            {"type": "integer", "minimum": low, "maximum": high, "default": default},
            f"With machineDetection: {_TUNING_DOCS[name]}, {low}-{high} (default {default}).",
            form_schema=STRING,
            check=checks.integer(low, high, text=True),
        )
        for name in MACHINE_DETECTION_TUNING
        for low, high, default in [tuning_range(name)]
    ),
    Field(
        "asyncAmd",
        {"type": "boolean"},
        "true: run the document at once and post the detection to asyncAmdStatusCallback.",
        form_schema=STRING,
        check=_flag,
    ),
    Field(
        "recordingStatusCallback",
        URL,
        "URL receiving the recording's events (in-progress, completed, absent).",
        check=_URL_TEXT,
    ),
    Field(
        "recordingStatusCallbackMethod",
        _METHOD,
        "Method of the recording's events (default POST).",
        check=checks.choice(_TEXT, HTTP_METHODS),
    ),
    Field(
        "recordingStatusCallbackEvent",
        STRING,
        "Recording events to report: a space-separated subset of in-progress completed absent "
        "(default completed).",
        check=_recording_events,
    ),
    Field(
        "asyncAmdStatusCallback",
        URL,
        "URL receiving CallSid, AnsweredBy, MachineDetectionDuration (with asyncAmd).",
        check=_URL_TEXT,
    ),
    Field(
        "asyncAmdStatusCallbackMethod",
        _METHOD,
        "Method of that callback (default POST).",
        check=checks.choice(_TEXT, HTTP_METHODS),
    ),
    Field(
        "variables",
        OBJECT,
        "The app's variables (with app only).",
        form_schema={"type": "string", "description": "JSON text of an object"},
        check=_object,
    ),
)
#: The fields of ``POST /v1/calls/<sid>`` (:func:`parse_change`): one of url (with method),
#: twiml or status.
CHANGE_FIELDS = table(
    Field(
        "url",
        URL,
        "A new document, fetched and run at once (interrupting the current verb).",
        check=_URL_TEXT,
    ),
    Field(
        "method",
        _METHOD,
        "Method of that fetch (default POST).",
        check=checks.choice(_TEXT, HTTP_METHODS),
    ),
    Field("twiml", STRING, "A new document itself, run at once.", check=_URL_TEXT),
    Field(
        "status",
        {"type": "string", "enum": list(CHANGE_STATUSES)},
        "completed: hang up (any unfinished call); canceled: end it if not yet answered.",
        check=_change_status,
    ),
)
#: The query parameters of ``GET /v1/calls`` (:func:`parse_list_query`).
LIST_DEFAULT = 20
LIST_MAX = 100
LIST_FIELDS = table(
    Field("status", {"type": "string", "enum": sorted(STATUSES)}, "Only calls in this status."),
    Field("to", STRING, "Only calls to this number."),
    Field("from", STRING, "Only calls from this number."),
    Field(
        "created_after",
        STRING,
        "Only calls created at or after this time (seconds since the epoch, or ISO 8601).",
    ),
    Field("created_before", STRING, "Only calls created before this time (as created_after)."),
    Field(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": LIST_MAX, "default": LIST_DEFAULT},
        f"Calls per page, 1-{LIST_MAX} (default {LIST_DEFAULT}).",
    ),
    Field("cursor", STRING, "next_cursor of the previous page."),
)


class Dialer(Protocol):
    """What the call service needs of the embedded dialer (``voiceapp.dialer.worker``)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wake(self) -> None: ...

    def queues(self) -> list[dict[str, Any]]:
        """The call queues of the dialer's ``<Enqueue>``s (``GET /v1/queues``)."""
        ...


@dataclass
class CallService:
    """The app's call store and (when embedded) its dialer."""

    store: CallStore
    dialer: Dialer | None = None

    def close(self) -> None:
        if self.dialer is not None:
            self.dialer.stop()
            self.dialer = None
        self.store.close()


def call_service(app: Flask | None = None) -> CallService:
    service = (app or current_app).extensions[EXTENSION]
    assert isinstance(service, CallService)
    return service


def init_app(
    app: Flask, settings: Settings, store_url: str, clock: Callable[[], float]
) -> CallService:
    """Open the call store and add the routes (the CLI's ``voiceapp.cli.wsgi`` starts an
    embedded dialer and sets it on the service)."""
    store = open_call_store(store_url, clock=clock, sqlite_synchronous=settings.CALL_SYNCHRONOUS)
    service = CallService(store)
    app.extensions[EXTENSION] = service
    app.register_blueprint(bp)
    return service


def shutdown(app: Flask) -> None:
    """Stop the embedded dialer and close the call store (tests, the demo)."""
    service = app.extensions.get(EXTENSION)
    if isinstance(service, CallService):
        service.close()


# -- validation at the edge --------------------------------------------------------------------


def _body() -> dict[str, Any]:
    """The request's fields: a JSON object, or a form (``variables`` then is JSON text)."""
    if request.is_json:
        return json_body()
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields = form_body()
        form: dict[str, Any] = {}
        for key in fields:
            values = fields.getlist(key)
            if key == "statusCallbackEvent":  # may be repeated, one event per value
                values = [" ".join(values)]
            if len(values) > 1:
                raise ValidationError(
                    f"{key} is given {len(values)} times", code="duplicate-field", field=key
                )
            form[key] = values[0]
        if "variables" in form:
            try:
                form["variables"] = loads(form["variables"], field="variables")
            except JsonTooDeep:
                raise
            except BadRequestBody:
                raise ValidationError(
                    "variables must be a JSON object (in a form field, as JSON text)",
                    code="invalid-type",
                    field="variables",
                ) from None
        return form
    raise BadRequestBody(
        "the body must be JSON (application/json) or a form (application/x-www-form-urlencoded)",
        code="invalid-content-type",
        field="Content-Type",
    )


def check_url(
    value: str,
    *,
    field: str,
    allowlist: tuple[str, ...] = (),
    resolve: Resolver | None = None,
) -> str:
    """``value`` if it is an absolute http(s) URL whose host resolves to public addresses
    only (:func:`voiceapp.netguard.refusal`), or whose ``host:port`` is in ``allowlist``;
    else ``ValidationError`` (422).

    Codes: ``url-invalid``, ``url-scheme``, ``url-unresolvable``, ``url-not-public``.
    The dialer checks again, at connect time, with the same policy.
    """
    if len(value) > MAX_URL_LENGTH:
        raise ValidationError(
            f"{field} is longer than {MAX_URL_LENGTH} characters", code="url-invalid", field=field
        )
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise ValidationError(
            f"{field} {redact_url(value)!r} is not a URL: {exc}", code="url-invalid", field=field
        ) from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError(
            f"{field} must be an http or https URL, got {redact_url(value)!r}",
            code="url-scheme",
            field=field,
        )
    if not host:
        raise ValidationError(
            f"{field} {redact_url(value)!r} has no host", code="url-invalid", field=field
        )
    if any(c.isspace() for c in value):
        raise ValidationError(
            f"{field} {redact_url(value)!r} contains white space", code="url-invalid", field=field
        )
    port = port or (443 if parts.scheme == "https" else 80)
    host = host.lower()
    if Allowlist.parse(allowlist).allows(host, port):
        return value
    addresses = (resolve or system_resolve)(host, port)
    if not addresses:
        raise ValidationError(
            f"{field}: the host {host!r} does not resolve", code="url-unresolvable", field=field
        )
    for address in addresses:
        why = refusal(address)
        if why is not None:
            raise ValidationError(
                f"{field}: {host}:{port} resolves to {address}, which is not a public address"
                f" ({why}; a deployment may allow it in URL_ALLOWLIST)",
                code="url-not-public",
                field=field,
            )
    return value


def check_twiml(value: str, *, field: str = "twiml", max_length: int | None = None) -> str:
    """``value`` if it is a valid document (the schema's rules, :func:`voiceapp.document.parse`)
    of at most ``max_length`` characters; else 422 (``DocumentError`` located by line and
    column, with ``field``; ``twiml-too-long``)."""
    if max_length is not None and len(value) > max_length:
        raise ValidationError(
            f"{field} is {len(value)} characters long; at most {max_length} are allowed",
            code="twiml-too-long",
            field=field,
        )
    try:
        parse_document(value)
    except DocumentError as exc:
        exc.field = field
        raise
    return value


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "null" if value is None else type(value).__name__


def _digits(value: str) -> str:
    try:
        parse_digits(value)
    except DigitsError as exc:
        raise DigitsError(exc.message, code=exc.code, index=exc.index, field="senddigits") from None
    return value


def parse_call(
    settings: Settings, data: Mapping[str, Any], *, destinations: DestinationPolicy | None = None
) -> tuple[CallSpec, dict[str, Any]]:
    """Validate a call request: the spec (without a ``url`` for app calls) and the session
    request for an ``app`` call (empty otherwise).  Raises a 4xx ``VoiceappError``; a
    ``to`` the destination policy refuses (``destinations``, default the settings') is 403."""
    refuse_unknown(CALL_FIELDS, data)
    values = read(CALL_FIELDS, data)
    country = values.get("country_code")
    region = settings.DEFAULT_REGION or None
    numbers = dict(settings.OUTBOUND_NUMBERS)
    # A caller ID written in OUTBOUND_NUMBERS is taken as written: the deployment vouches
    # for its own numbers (phonenumbers' metadata may not know a new or test range).
    from_ = normalize(
        values["from"], field="from", country_code=country, default_region=region, known=numbers
    )
    to = destination(settings, values["to"], field="to", country_code=country, policy=destinations)

    url = values.get("url")
    app = values.get("app")
    twiml = values.get("twiml")
    variables = values.get("variables")
    if url is not None and app is not None:
        raise ValidationError("give url or app, not both", code="invalid-combination", field="app")
    if twiml is not None and (url is not None or app is not None):
        raise ValidationError(
            "give twiml, url or app, only one", code="invalid-combination", field="twiml"
        )
    if variables is not None and app is None:
        raise ValidationError(
            "variables go with app", code="invalid-combination", field="variables"
        )
    method = values.get("method", "POST")
    send_digits = values.get("senddigits")
    if send_digits is not None:
        _digits(send_digits)
    allow = settings.outbound_allowlist
    if url is not None:
        check_url(url, field="url", allowlist=allow)
    if twiml is not None:
        check_twiml(twiml)
    fallback_url = values.get("fallbackUrl")
    if fallback_url is not None:
        check_url(fallback_url, field="fallbackUrl", allowlist=allow)
    status_callback = values.get("statusCallback")
    if status_callback is not None:
        check_url(status_callback, field="statusCallback", allowlist=allow)
    events = values.get("statusCallbackEvent")
    subscription = Subscription.from_fields(
        status_callback=status_callback,
        status_callback_event=events,
        status_callback_method=values.get("statusCallbackMethod"),
        secret_key=values.get("secretKey"),
        optional=values.get("optional"),
    )
    if subscription.url is None and events is not None:
        raise ValidationError(
            "statusCallbackEvent needs statusCallback",
            code="invalid-combination",
            field="statusCallbackEvent",
        )

    for name in ("recordingChannels", "recordingTrack", "trim"):
        if name in values and not values.get("record", False):
            raise ValidationError(
                f"{name} goes with record=true", code="invalid-combination", field=name
            )
    recording_callback = values.get("recordingStatusCallback")
    if recording_callback is not None:
        check_url(recording_callback, field="recordingStatusCallback", allowlist=allow)

    status = numbers.get(from_)
    if status is None:
        raise NotFoundError(
            f"from {from_} is not one of this deployment's outbound numbers",
            code="from-not-configured",
            field="from",
        )
    if status != "active":
        raise NotFoundError(
            f"from {from_} is an outbound number, but it is {status}",
            code="from-inactive",
            field="from",
        )

    machine = values.get("machineDetection")
    async_amd = values.get("asyncAmd", False)
    amd_callback = values.get("asyncAmdStatusCallback")
    tuning_names = tuple(MACHINE_DETECTION_TUNING)
    amd_names = ("asyncAmd", "asyncAmdStatusCallback", "asyncAmdStatusCallbackMethod")
    for name in (*amd_names, *tuning_names):
        if name in values and machine is None:
            raise ValidationError(
                f"{name} goes with machineDetection", code="invalid-combination", field=name
            )
    if amd_callback is not None:
        if not async_amd:
            raise ValidationError(
                "asyncAmdStatusCallback goes with asyncAmd=true",
                code="invalid-combination",
                field="asyncAmdStatusCallback",
            )
        check_url(amd_callback, field="asyncAmdStatusCallback", allowlist=allow)

    session: dict[str, Any] = {}
    if app is not None:
        session = {"app": app, "to": to, "variables": variables or {}}
    spec = CallSpec(
        sid="CA" + uuid.uuid4().hex,
        from_=from_,
        to=to,
        url=url,
        method=method,
        app=app,
        variables=dict(variables or {}),
        send_digits=send_digits,
        status_callback=subscription.url,
        status_callback_events=tuple(sorted(e.value for e in subscription.events)),
        status_callback_method=subscription.method,
        secret_key=subscription.secret_key,
        optional=values.get("optional"),
        twiml=twiml,
        fallback_url=fallback_url,
        fallback_method=values.get("fallbackMethod", "POST"),
        timeout=values.get("timeout", DEFAULT_RING_TIMEOUT),
        time_limit=values.get("timeLimit", DEFAULT_TIME_LIMIT),
        record=values.get("record", False),
        recording_channels=values.get("recordingChannels", RECORDING_CHANNELS[0]),
        recording_track=values.get("recordingTrack", RECORDING_TRACKS[0]),
        recording_trim=values.get("trim", RECORDING_TRIMS[0]),
        recording_callback=recording_callback,
        recording_callback_method=values.get("recordingStatusCallbackMethod", "POST"),
        recording_callback_events=values.get("recordingStatusCallbackEvent", ("completed",)),
        machine_detection=machine,
        async_amd=async_amd,
        async_amd_status_callback=amd_callback,
        async_amd_status_callback_method=values.get("asyncAmdStatusCallbackMethod", "POST"),
        amd_tuning=MachineDetectionTuning(
            **{
                key: values[name]
                for name, key in MACHINE_DETECTION_TUNING.items()
                if name in values
            }
        ),
    )
    return spec, session


def parse_change(data: Mapping[str, Any]) -> CallChange:
    """A ``POST /v1/calls/<sid>`` body (:data:`CHANGE_FIELDS`) as a :class:`CallChange`:
    exactly one of ``url`` (with ``method``), ``twiml`` or ``status`` (422
    ``invalid-combination``; none given: 400 ``missing``)."""
    refuse_unknown(CHANGE_FIELDS, data)
    values = read(CHANGE_FIELDS, data)
    given = [name for name in ("url", "twiml", "status") if name in values]
    if not given:
        raise MissingField("give url, twiml or status", field="url")
    if len(given) > 1:
        raise ValidationError(
            f"give one of url, twiml or status, not {' and '.join(given)}",
            code="invalid-combination",
            field=given[-1],
        )
    if "method" in values and "url" not in values:
        raise ValidationError("method goes with url", code="invalid-combination", field="method")
    return CallChange(
        url=values.get("url"),
        method=values.get("method", "POST"),
        twiml=values.get("twiml"),
        status=values.get("status"),
    )


# -- listing -----------------------------------------------------------------------------------


def encode_cursor(key: tuple[float, str]) -> str:
    """The opaque ``next_cursor`` of ``GET /v1/calls``: base64url of ``[created, sid]``."""
    text = json.dumps([key[0], key[1]], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The ``(created, sid)`` of a cursor :func:`encode_cursor` made; 400 ``invalid-cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, sid = json.loads(raw)
        if isinstance(created, bool) or not isinstance(created, int | float):
            raise ValueError
        if not math.isfinite(created):
            raise ValueError
        check_sid(sid)
    except (ValueError, TypeError, VoiceappError):
        raise BadRequestBody(
            "cursor is not a next_cursor this API gave", code="invalid-cursor", field="cursor"
        ) from None
    return float(created), sid


def _time(value: str, name: str) -> float:
    """A created_after/created_before value: seconds since the epoch, or ISO 8601."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"{name} must be seconds since the epoch or an ISO 8601 time",
                code="invalid-time",
                field=name,
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if not math.isfinite(number):
        raise ValidationError(f"{name} must be a finite number", code="invalid-time", field=name)
    return number


def parse_list_query(args: Mapping[str, str]) -> dict[str, Any]:
    """``GET /v1/calls``' query (:data:`LIST_FIELDS`) as ``CallStore.list_calls`` arguments."""
    refuse_unknown(LIST_FIELDS, args, what=("query parameter", "parameters"))
    out: dict[str, Any] = {}
    status = args.get("status")
    if status is not None:
        if status not in STATUSES:
            raise ValidationError(
                f"status must be one of {', '.join(sorted(STATUSES))}",
                code="invalid-choice",
                field="status",
            )
        out["status"] = status
    settings = runtime().settings
    for name, key in (("to", "to"), ("from", "from_")):
        value = args.get(name)
        if value is not None:
            if name == "from":  # a caller ID, or a simulated callee (a b-leg's caller ID)
                out[key] = normalize(
                    value,
                    field=name,
                    default_region=settings.DEFAULT_REGION or None,
                    known=settings.own_numbers,
                )
            else:
                out[key] = number_of(settings, value, field=name)  # a look-up: no policy
    for name in ("created_after", "created_before"):
        value = args.get(name)
        if value is not None:
            out[name] = _time(value, name)
    limit = args.get("limit", str(LIST_DEFAULT)).strip()
    if not re.fullmatch(r"[0-9]{1,4}", limit) or not 1 <= int(limit) <= LIST_MAX:
        raise ValidationError(
            f"limit must be an integer from 1 to {LIST_MAX}", code="invalid-range", field="limit"
        )
    out["limit"] = int(limit)
    cursor = args.get("cursor")
    if cursor is not None:
        out["after"] = decode_cursor(cursor)
    return out


# -- routes ------------------------------------------------------------------------------------


def place_call(
    data: Mapping[str, Any],
    *,
    sid: str | None = None,
    language: str | None = None,
    extra: Mapping[str, Any] | None = None,
    api_key: str | None = None,
    spec_fields: Mapping[str, Any] | None = None,
) -> CallRecord:
    """The core of ``POST /v1/calls``: validate ``data`` (the route's fields), create the
    app session, store and enqueue the call, wake the dialer; the stored record.

    ``sid``, ``language`` (of an app call's session) and ``extra`` (kept on the call) are
    for the vendor-compatible routes, which translate their requests into ``data``;
    ``spec_fields`` (``account_sid``, ``record``, ``machine_detection``: :class:`CallSpec`
    fields no ``/v1`` field sets) for the Twilio-compatible API.
    Rate limits: the request counts against ``api_key``'s (when given) and the call
    against its destination's (every route), 429 ``rate-limited`` beyond them.
    Raises a :class:`~voiceapp.errors.VoiceappError`; nothing is queued unless all is valid.
    """
    rt = runtime()
    if api_key is not None:
        limit_api_key(rt, api_key)
    spec, session = parse_call(rt.settings, data, destinations=rt.destinations)
    limit_destination(rt, spec.to)
    if sid is not None or extra:
        spec = dataclasses.replace(spec, sid=sid or spec.sid, extra={**spec.extra, **(extra or {})})
    if spec_fields:
        spec = dataclasses.replace(spec, **spec_fields)
    return enqueue(spec, session, language=language)


def enqueue(spec: CallSpec, session: dict[str, Any], *, language: str | None = None) -> CallRecord:
    """Create an app call's session (``session``, empty for a url call), then store and
    enqueue the call and wake the dialer; the stored record (outbound and inbound calls)."""
    rt = runtime()
    if session:
        if language is not None:
            session["language"] = language
        created = create_session(rt, session, checked_to=spec.to)
        variables, prints = hide_secret_variables(
            spec.variables, get_app(spec.app).secret_variables, rt.settings.SECRET_KEYS[-1]
        )
        if prints is not None:  # the session holds the values; the call never does
            spec = dataclasses.replace(
                spec,
                url=created["url"],
                method="POST",
                variables=variables,
                extra={**spec.extra, EXTRA_KEY: prints},
            )
        else:
            spec = dataclasses.replace(spec, url=created["url"], method="POST")
    elif spec.url is not None and EXTRA_KEY not in spec.extra:
        prints = _session_prints(rt, spec.url)
        if prints is not None:  # a url call to one of our session URLs: its secrets too
            spec = dataclasses.replace(spec, extra={**spec.extra, EXTRA_KEY: prints})
    service = call_service()
    record = service.store.create(spec)
    if service.dialer is not None:
        service.dialer.wake()
    log.info(
        "call %s queued: %s -> %s", record.sid, spec.from_, spec.to, extra={"call_sid": record.sid}
    )
    return record


_VOICE_TOKEN = re.compile(r"/voice/([A-Za-z0-9_.\-]+)/?$")


def _session_prints(rt: Runtime, url: str) -> dict[str, Any] | None:
    """The fingerprints of the secret variables of the session behind ``url``, when it
    is one of this server's session URLs (``/voice/<token>``), so that the call's
    trace keeps them out as an app call's does; None otherwise."""
    match = _VOICE_TOKEN.search(urlsplit(url).path)
    session = rt.sessions.peek(match.group(1)) if match else None
    if session is None:
        return None
    with contextlib.suppress(ValidationError):  # an app no longer registered
        secret = get_app(session.app).secret_variables
        return hide_secret_variables(session.variables, secret, rt.settings.SECRET_KEYS[-1])[1]
    return None


def change_call(sid: str, change: CallChange) -> CallRecord:
    """The core of a live change (``POST /v1/calls/<sid>``, the Twilio API's call update):
    ``change``'s url passes netguard's creation-time check and its twiml the schema, then
    the store takes it (:meth:`CallStore.request_change`: what it does depends on where
    the call is) and the embedded dialer is woken; the call after the change.

    Raises a :class:`~voiceapp.errors.VoiceappError` (404 ``call-not-found``, 409
    ``call-not-changeable`` for a finished call, 422 for a bad url or document)."""
    rt = runtime()
    change.check()
    if change.url is not None:
        check_url(change.url, field="url", allowlist=rt.settings.outbound_allowlist)
    if change.twiml is not None:
        check_twiml(change.twiml)
    service = call_service()
    record = service.store.request_change(sid, change)
    if service.dialer is not None:
        service.dialer.wake()
    what = f"status {change.status}" if change.status else "a new document"
    log.info("call %s: %s asked (%s)", sid, what, record.status, extra={"call_sid": sid})
    return record


@bp.post("/calls")
def create_call() -> Response:
    rt = runtime()
    key = require_api_key(rt)

    def work() -> tuple[Response, int]:
        record = place_call(_body(), api_key=key)
        return jsonify({"sid": record.sid, "status": record.status}), 201

    return idempotent(rt, key, work)


@bp.get("/calls/<sid>")
def get_call(sid: str) -> Response:
    rt = runtime()
    require_api_key(rt)
    return jsonify(_shown(rt.settings, call_service().store.require(sid)))


def _shown(settings: Settings, record: CallRecord) -> dict[str, Any]:
    """What the API shows of a call: one redactor for the whole answer (tokens, apikey,
    userinfo, secret variables), and the app's secret variables masked even in a
    record stored before they were kept out of it."""
    body = call_json(record)
    if record.spec.app is not None:
        with contextlib.suppress(ValidationError):  # an app no longer registered
            secret = get_app(record.spec.app).secret_variables
            body["variables"] = mask_variables(body["variables"], secret)
    redactor = Redactor.for_call(record.spec.extra, settings.SECRET_KEYS)
    shown: dict[str, Any] = redactor.value(body)
    if shown.get("trace"):
        shown["trace"] = redactor.heard_digits(shown["trace"])
    return shown


@bp.get("/calls")
def list_calls() -> Response:
    rt = runtime()
    require_api_key(rt)
    query = parse_list_query(request.args)
    page = call_service().store.list_calls(**query)
    calls = []
    for record in page.calls:
        item = _shown(rt.settings, record)
        item.pop("trace", None)  # GET /v1/calls/<sid> has it
        calls.append(item)
    cursor = None if page.next is None else encode_cursor(page.next)
    return jsonify({"calls": calls, "next_cursor": cursor})


@bp.post("/calls/<sid>")
def update_call(sid: str) -> Response:
    """Change a live call: a new document (url / twiml) or its end (status)."""
    rt = runtime()
    require_api_key(rt)
    record = change_call(sid, parse_change(_body()))
    return jsonify(_shown(rt.settings, record))


def _queues() -> list[dict[str, Any]]:
    """The embedded dialer's queues; none when this server has no dialer in it (queues
    live in the memory of the dialer process that runs their calls: docs/conferences.md)."""
    dialer = call_service().dialer
    return [] if dialer is None else dialer.queues()


@bp.get("/queues")
def list_queues() -> Response:
    """The call queues (``<Enqueue>``) of this server's dialer: size and average wait."""
    rt = runtime()
    require_api_key(rt)
    dialer = "embedded" if call_service().dialer is not None else "none"
    return jsonify({"queues": _queues(), "dialer": dialer})


@bp.get("/queues/<name>")
def get_queue(name: str) -> Response:
    rt = runtime()
    require_api_key(rt)
    for queue in _queues():
        if queue["name"] == name:
            return jsonify(queue)
    raise NotFoundError(
        f"no queue {name!r} in this server's dialer", code="queue-not-found", field="name"
    )


@bp.post("/calls/<sid>/cancel")
def cancel_call(sid: str) -> Response:
    rt = runtime()
    require_api_key(rt)
    return jsonify(_shown(rt.settings, call_service().store.cancel(sid)))
