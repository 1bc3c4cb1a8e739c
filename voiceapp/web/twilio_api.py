"""The Twilio-compatible REST API: the Calls resource of ``/2010-04-01`` (docs/twilio-api.md).

===========================================================  ================================
``POST   /2010-04-01/Accounts/<AccountSid>/Calls.json``      create (form-encoded, 201)
``GET    /2010-04-01/Accounts/<AccountSid>/Calls.json``      list, Twilio's paging and filters
``GET    /2010-04-01/Accounts/<AccountSid>/Calls/<Sid>.json``  fetch
``POST   /2010-04-01/Accounts/<AccountSid>/Calls/<Sid>.json``  update: Url/Method, Twiml, Status
``DELETE /2010-04-01/Accounts/<AccountSid>/Calls/<Sid>.json``  delete a finished call (204)
===========================================================  ================================

Clients authenticate with HTTP Basic ``AccountSid:AuthToken`` of ``TWILIO_ACCOUNTS``; the
URL's AccountSid must be the one authenticated.  The routes translate Twilio's parameters
into the core's (:func:`voiceapp.web.calls.place_call`, :func:`~voiceapp.web.calls.change_call`,
the call store), after the rules Twilio is stricter about than ``/v1`` (``SendDigits``:
``0-9 A-D * # w W``, at most 32; ``Twiml``: at most 4000 characters).  Answers have
Twilio's JSON shapes; every refusal is Twilio's error body ``{code, message, more_info,
status}`` with Twilio's numeric code (:func:`twilio_code`: the one table from a core error
to Twilio's code).  A call created here carries its ``account_sid``: the dialer's fetches
and callbacks for it carry Twilio's parameter set, and only its account sees it here.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import urlencode

import phonenumbers
from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from voiceapp.calls.records import (
    MACHINE_DETECTION_MODES,
    MACHINE_DETECTION_TUNING,
    RECORDING_CHANNELS,
    RECORDING_TRACKS,
    RECORDING_TRIMS,
    CallChange,
    CallRecord,
    LegRecord,
    answered_by,
    tuning_range,
)
from voiceapp.calls.states import TERMINAL, CallStatus
from voiceapp.document.targets import TWILIO_MAX_DIGITS
from voiceapp.errors import (
    BadRequestBody,
    DestinationBlocked,
    DestinationNotPermitted,
    DigitsError,
    DocumentError,
    MissingField,
    PhoneError,
    RateLimited,
    StoreError,
    Unauthorized,
    ValidationError,
    VendorError,
    VoiceappError,
)
from voiceapp.web.api import number_of
from voiceapp.web.bodies import form_body
from voiceapp.web.calls import (
    MAX_RING_TIMEOUT,
    call_service,
    change_call,
    check_twiml,
    decode_cursor,
    encode_cursor,
    place_call,
)
from voiceapp.web.fields import STRING, Field, table
from voiceapp.web.runtime import runtime

log = logging.getLogger("voiceapp.web.twilio_api")

API_VERSION: Final = "2010-04-01"
bp = Blueprint("twilio_api", __name__, url_prefix=f"/{API_VERSION}/Accounts/<account_sid>")

#: Twilio's bounds: inline TwiML, SendDigits, a listing page.
MAX_TWIML: Final = 4000
MAX_SEND_DIGITS: Final = TWILIO_MAX_DIGITS
PAGE_SIZE_DEFAULT: Final = 50
PAGE_SIZE_MAX: Final = 1000
#: A listing reads at most this many stored calls for one page (then answers the page so
#: far, with a next_page_uri that goes on from there).
SCAN_MAX: Final = 5000
_SEND_DIGITS = re.compile(r"[0-9A-D*#wW]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
REALM: Final = 'Basic realm="Twilio API"'

#: voiceapp's call status → Twilio's (a dialed call not ringing yet is still queued there).
STATUS: Final[Mapping[str, str]] = {
    CallStatus.QUEUED: "queued",
    CallStatus.INITIATED: "queued",
    CallStatus.RINGING: "ringing",
    CallStatus.IN_PROGRESS: "in-progress",
    CallStatus.COMPLETED: "completed",
    CallStatus.BUSY: "busy",
    CallStatus.NO_ANSWER: "no-answer",
    CallStatus.FAILED: "failed",
    CallStatus.CANCELED: "canceled",
}
TWILIO_STATUSES: Final = tuple(dict.fromkeys(STATUS.values()))

#: Twilio's parameters of the create → the ``/v1`` fields :func:`place_call` reads.
CREATE_NAMES: Final[Mapping[str, str]] = {
    "To": "to",
    "From": "from",
    "Url": "url",
    "Method": "method",
    "Twiml": "twiml",
    "SendDigits": "senddigits",
    "StatusCallback": "statusCallback",
    "StatusCallbackMethod": "statusCallbackMethod",
    "Timeout": "timeout",
    "TimeLimit": "timeLimit",
    "FallbackUrl": "fallbackUrl",
    "FallbackMethod": "fallbackMethod",
    "RecordingStatusCallback": "recordingStatusCallback",
    "RecordingStatusCallbackMethod": "recordingStatusCallbackMethod",
    "RecordingStatusCallbackEvent": "recordingStatusCallbackEvent",
}
#: Twilio's parameters of the call's recording (with ``Record=true``; ignored without,
#: as Twilio does) → the :class:`CallSpec` field, and the values each takes.
RECORDING_NAMES: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "RecordingChannels": ("recording_channels", RECORDING_CHANNELS),
    "RecordingTrack": ("recording_track", RECORDING_TRACKS),
    "Trim": ("recording_trim", RECORDING_TRIMS),
}
#: ... and back, to name Twilio's parameter in a refusal of a core field.
TWILIO_NAMES: Final[Mapping[str, str]] = {
    **{core: name for name, core in CREATE_NAMES.items()},
    "machineDetection": "MachineDetection",
    "asyncAmd": "AsyncAmd",
    "asyncAmdStatusCallback": "AsyncAmdStatusCallback",
    "asyncAmdStatusCallbackMethod": "AsyncAmdStatusCallbackMethod",
    "statusCallbackEvent": "StatusCallbackEvent",
    **{core: core[0].upper() + core[1:] for core in MACHINE_DETECTION_TUNING},
}


def _tuning_doc(core: str) -> str:
    low, high, default = tuning_range(core)
    unit = "seconds" if core == "machineDetectionTimeout" else "milliseconds"
    return f"With MachineDetection: {unit}, {low}-{high} (default {default})."


#: The parameters of the create, for docs/twilio-api.md and /openapi.json.
CREATE_FIELDS = table(
    Field("To", STRING, "The number to call (E.164).", required=True),
    Field("From", STRING, "The caller ID: an active number of OUTBOUND_NUMBERS.", required=True),
    Field("Url", STRING, "The TwiML fetched when the call is answered."),
    Field("Method", STRING, "GET or POST for Url (default POST)."),
    Field("Twiml", STRING, f"Instead of Url: the TwiML itself (at most {MAX_TWIML} characters)."),
    Field(
        "SendDigits", STRING, f"Digits sent on answer: 0-9 A-D * # w W, at most {MAX_SEND_DIGITS}."
    ),
    Field("StatusCallback", STRING, "The URL of the status callbacks."),
    Field("StatusCallbackEvent", STRING, "initiated, ringing, answered, completed (repeat)."),
    Field("StatusCallbackMethod", STRING, "GET or POST for StatusCallback (default POST)."),
    Field("Timeout", STRING, f"Seconds to ring, 1-{MAX_RING_TIMEOUT} (default 60)."),
    Field("TimeLimit", STRING, "Seconds the call may last (default 14400)."),
    Field("FallbackUrl", STRING, "Fetched once when the Url fetch fails."),
    Field("FallbackMethod", STRING, "GET or POST for FallbackUrl (default POST)."),
    Field("Record", STRING, "true to record the whole call from the answer (a WAV file)."),
    Field("RecordingChannels", STRING, "With Record: mono or dual (default mono)."),
    Field("RecordingTrack", STRING, "With Record: inbound, outbound or both (default both)."),
    Field("Trim", STRING, "With Record: trim-silence or do-not-trim (default trim-silence)."),
    Field("RecordingStatusCallback", STRING, "The URL of the recording's status events."),
    Field("RecordingStatusCallbackMethod", STRING, "GET or POST for it (default POST)."),
    Field(
        "RecordingStatusCallbackEvent",
        STRING,
        "in-progress, completed, absent (default completed).",
    ),
    Field(
        "MachineDetection",
        STRING,
        "Enable or DetectMessageEnd: answering-machine detection, AnsweredBy on the Url fetch.",
    ),
    *(
        Field(core[0].upper() + core[1:], STRING, _tuning_doc(core))
        for core in MACHINE_DETECTION_TUNING
    ),
    Field("AsyncAmd", STRING, "true: run Url at once, post the detection to the callback."),
    Field(
        "AsyncAmdStatusCallback",
        STRING,
        "Receives CallSid, AccountSid, AnsweredBy, MachineDetectionDuration (with AsyncAmd).",
    ),
    Field("AsyncAmdStatusCallbackMethod", STRING, "GET or POST for it (default POST)."),
)
UPDATE_FIELDS = table(
    Field("Url", STRING, "A new TwiML URL, fetched and run at once."),
    Field("Method", STRING, "GET or POST for Url (default POST)."),
    Field("Twiml", STRING, f"New TwiML itself, run at once (at most {MAX_TWIML} characters)."),
    Field("Status", STRING, "completed (hang up) or canceled (end a call not yet answered)."),
)
LIST_FIELDS = table(
    Field("To", STRING, "Only calls to this number."),
    Field("From", STRING, "Only calls from this number."),
    Field(
        "Status", {"type": "string", "enum": list(TWILIO_STATUSES)}, "Only calls in this status."
    ),
    Field("StartTime", STRING, "Started on this date (YYYY-MM-DD) or at this time (ISO 8601)."),
    Field("StartTime>", STRING, "Started on or after this date or time."),
    Field("StartTime<", STRING, "Started on or before this date or time."),
    Field("EndTime", STRING, "Ended on this date or at this time."),
    Field("EndTime>", STRING, "Ended on or after this date or time."),
    Field("EndTime<", STRING, "Ended on or before this date or time."),
    Field("ParentCallSid", STRING, "The child calls (<Dial> legs) of this call."),
    Field(
        "PageSize",
        {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX},
        f"Calls per page, 1-{PAGE_SIZE_MAX} (default {PAGE_SIZE_DEFAULT}).",
    ),
    Field("Page", {"type": "integer", "minimum": 0}, "The page number (0 is the first)."),
    Field("PageToken", STRING, "Where the page starts (from next_page_uri)."),
)


# -- errors ------------------------------------------------------------------------------------

#: Twilio's code → the text that starts its message (the core's message follows).
TITLES: Final[Mapping[int, str]] = {
    12100: "Document parse failure",
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20409: "Conflict",
    20422: "Invalid parameter",
    20429: "Too Many Requests",
    20503: "Service unavailable",
    21201: "No 'To' number is specified",
    21205: "Url is not a valid URL",
    21206: "SendDigits is not valid",
    21207: "MachineDetection is not valid",
    21208: "Timeout is not valid",
    21209: "Method is not valid",
    21210: "The source phone number provided is not yet verified for your account",
    21211: "Invalid 'To' Phone Number",
    21212: "Invalid 'From' Phone Number",
    21213: "No 'From' number is specified",
    21215: "Geo Permission configuration is not permitting call",
    21216: "Call blocked: this deployment does not call this number",
    21218: "Invalid ApplicationSid",
    21220: "Invalid call state",
}
#: A refused core field → Twilio's code.
_BY_FIELD: Final[Mapping[str, int]] = {
    "to": 21211,
    "from": 21212,
    "url": 21205,
    "statusCallback": 21205,
    "fallbackUrl": 21205,
    "senddigits": 21206,
    "timeout": 21208,
    "method": 21209,
    "statusCallbackMethod": 21209,
    "fallbackMethod": 21209,
}


def refusal(code: int, message: str, status: int = 400) -> VendorError:
    """This route's own refusal: Twilio's ``code`` (a key of :data:`TITLES`)."""
    return VendorError(status, message, code=str(code))


def twilio_code(error: VoiceappError) -> tuple[int, int]:
    """(Twilio's code, HTTP status) of an error: the one table from the core's errors."""
    if isinstance(error, VendorError):
        return int(error.code), error.http_status
    if isinstance(error, Unauthorized):
        return 20003, 401
    if isinstance(error, RateLimited):
        return 20429, 429
    if isinstance(error, StoreError) or error.status >= 500:
        return 20503, 503
    if error.code == "call-not-found":
        return 20404, 404
    if error.code in ("call-not-changeable", "call-not-deletable"):
        return 21220, 400
    if error.code == "call-to-busy":
        return 20409, 409
    if error.code in ("from-not-configured", "from-inactive"):
        return 21210, 400
    if isinstance(error, MissingField) and error.field in ("to", "from"):
        return (21201 if error.field == "to" else 21213), 400
    if isinstance(error, DestinationNotPermitted):
        return 21215, 400
    if isinstance(error, DestinationBlocked):
        return 21216, 400
    if isinstance(error, DocumentError):
        return 12100, 400
    code = _BY_FIELD.get(error.field or "")
    if code is not None and isinstance(error, PhoneError | DigitsError | ValidationError):
        return code, 400
    return 20422, 413 if error.status == 413 else 400


@bp.errorhandler(VoiceappError)
def _error_response(error: VoiceappError) -> Response:
    code, status = twilio_code(error)
    message = error.message
    if isinstance(error, DocumentError):  # where in the TwiML
        where = f" at {error.path}" if error.path else ""
        if error.line is not None:
            where += f", line {error.line}, column {error.column}"
        message += where
    if not isinstance(error, VendorError):  # the core's words, in Twilio's names
        named = TWILIO_NAMES.get(error.field or "")
        where = f" ({named})" if named and named not in message else ""
        message = f"{TITLES[code]}: {message}{where}"
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    response = jsonify(body)
    response.status_code = status
    for name, value in error.headers().items():
        response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = REALM
    return response


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    """Werkzeug's own refusals inside these routes, in Twilio's body too."""
    status = error.code or 400
    code = 20404 if status == 404 else 20422
    message = f"{TITLES[code]}: {error.description or error.name}"
    return _error_response(refusal(code, message, status))


# -- auth --------------------------------------------------------------------------------------


@bp.before_request
def authenticate() -> None:
    """Basic ``AccountSid:AuthToken`` of ``TWILIO_ACCOUNTS``, for the URL's AccountSid."""
    account = (request.view_args or {}).get("account_sid", "")
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username:
        raise refusal(20003, "Authenticate: send AccountSid:AuthToken (HTTP Basic)", 401)
    token = runtime().settings.twilio_token(auth.username)
    given = (auth.password or "").encode()
    good = token is not None and hmac.compare_digest(token.encode(), given)
    if not good:
        raise refusal(20003, "Authenticate: the AccountSid or AuthToken is not valid", 401)
    if auth.username != account:
        raise refusal(20003, "Authenticate: the URL's AccountSid is not the one authenticated", 401)


# -- the call resource -------------------------------------------------------------------------


def rfc2822(at: float | None) -> str | None:
    """A store time as Twilio writes dates (``Thu, 03 Dec 2026 07:00:00 +0000``)."""
    return None if at is None else format_datetime(datetime.fromtimestamp(at, UTC))


def formatted(number: str) -> str:
    """A number as Twilio's ``to_formatted`` shows it (national form), else as stored."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def call_uri(account: str, sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account}/Calls/{sid}.json"


def _started(history: Any) -> float | None:
    """When a leg was dialed (its first status after queued), else None (also for a call
    that ended without leaving the queue: canceled, expired, refused)."""
    for change in history:
        if change.status != CallStatus.QUEUED:
            return None if change.status in TERMINAL else float(change.at)
    return None


def _resource(
    account: str,
    sid: str,
    *,
    parent: str | None,
    to: str,
    from_: str,
    status: str,
    direction: str,
    created: float,
    updated: float,
    started: float | None,
    ended: float | None,
    duration: int | None,
    answered_by: str | None,
    queue_time: float = 0.0,
) -> dict[str, Any]:
    base = call_uri(account, sid).removesuffix(".json")
    subresources = ("events", "notifications", "recordings", "payments", "siprec", "streams",
                    "transcriptions", "user_defined_message_subscriptions",
                    "user_defined_messages")  # fmt: skip
    return {
        "sid": sid,
        "date_created": rfc2822(created),
        "date_updated": rfc2822(updated),
        "parent_call_sid": parent,
        "account_sid": account,
        "to": to,
        "to_formatted": formatted(to),
        "from": from_,
        "from_formatted": formatted(from_),
        "phone_number_sid": None,
        "status": STATUS.get(status, status),
        "start_time": rfc2822(started),
        "end_time": rfc2822(ended),
        "duration": None if ended is None else str(duration or 0),
        "price": None,
        "price_unit": "USD",
        "direction": direction,
        "answered_by": answered_by,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": str(round(queue_time * 1000)),
        "trunk_sid": None,
        "uri": f"{base}.json",
        "subresource_uris": {
            name: f"{base}/{name.title().replace('_', '')}.json" for name in subresources
        },
    }


def call_resource(record: CallRecord, account: str) -> dict[str, Any]:
    """A call as Twilio's Call resource (``GET .../Calls/<Sid>.json``)."""
    spec = record.spec
    a_leg = record.legs[0] if record.legs else None
    started = _started(a_leg.history) if a_leg else None
    # milliseconds the call waited in the queue (paced, docs/dialer.md): to its dial, or
    # to its end when it never left the queue (canceled, expired)
    left_queue = started if started is not None else record.ended_at
    return _resource(
        account,
        record.sid,
        parent=None,
        to=spec.to,
        from_=spec.from_,
        status=record.status,
        direction=spec.direction,
        created=record.created_at,
        updated=record.updated_at,
        started=started,
        ended=record.ended_at,
        duration=record.duration,
        queue_time=0.0 if left_queue is None else max(0.0, left_queue - record.created_at),
        # asked for, machine detection answers "unknown" until it has a result
        answered_by=(answered_by(record) or "unknown") if spec.machine_detection else None,
    )


def leg_resource(record: CallRecord, leg: LegRecord, account: str) -> dict[str, Any]:
    """A ``<Dial>`` leg of a call as Twilio's child Call resource."""
    return _resource(
        account,
        leg.sid,
        parent=leg.parent_sid or record.sid,
        to=leg.to,
        from_=leg.from_,
        status=leg.status,
        direction=leg.direction,
        created=leg.created_at,
        updated=leg.history[-1].at if leg.history else leg.created_at,
        started=_started(leg.history),
        ended=leg.ended_at,
        duration=leg.duration,
        answered_by=None,
    )


def _own_call(account: str, sid: str) -> CallRecord:
    """The call ``sid`` of ``account``; 20404 when there is none (or it is another's)."""
    record = call_service().store.get(sid)
    if record is None or record.spec.account_sid != account:
        raise refusal(20404, f"The requested resource {call_uri(account, sid)} was not found", 404)
    return record


# -- create ------------------------------------------------------------------------------------


def _params() -> MultiDict[str, str]:
    """The form parameters (Twilio's API reads forms only; any other body has none)."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return form_body()
    return MultiDict()


def _twiml(value: str) -> str:
    if len(value) > MAX_TWIML:
        raise refusal(20422, f"Twiml is {len(value)} characters; at most {MAX_TWIML} are allowed")
    return check_twiml(value, field="twiml")


def parse_create(params: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Twilio's create parameters → (the ``/v1`` fields, the spec's own fields); Twilio's
    stricter rules first.  Parameters Twilio has and voiceapp does not use are ignored,
    as Twilio ignores the ones it does not know."""
    data: dict[str, Any] = {}
    for name, core in CREATE_NAMES.items():
        value = params.get(name)
        if value is not None and value.strip():
            data[core] = value
    if params.get("ApplicationSid"):
        raise refusal(21218, "Invalid ApplicationSid: this deployment has no TwiML applications")
    if "url" not in data and "twiml" not in data:
        raise refusal(21205, "Url is not a valid URL: give Url or Twiml")
    if "url" in data and "twiml" in data:
        raise refusal(20422, "Invalid parameter: give Url or Twiml, not both")
    if "twiml" in data:
        _twiml(data["twiml"])
    digits = data.get("senddigits")
    if digits is not None:
        bad = _SEND_DIGITS.fullmatch(digits) is None
        if bad or len(digits) > MAX_SEND_DIGITS:
            raise refusal(
                21206,
                f"SendDigits {digits[:40]!r} is not valid: at most {MAX_SEND_DIGITS} of "
                "0-9 A-D * # w W",
            )
    for name, core in (
        ("StatusCallbackEvent", "statusCallbackEvent"),
        ("RecordingStatusCallbackEvent", "recordingStatusCallbackEvent"),
    ):  # may be repeated, one event (or several) per value
        events = [e for value in params.getlist(name) for e in value.replace(",", " ").split()]
        if events:
            data[core] = " ".join(events)
    spec: dict[str, Any] = {}
    record = params.get("Record", "").strip().lower()
    if record not in ("", "true", "false"):
        raise refusal(20422, "Invalid parameter: Record must be true or false")
    spec["record"] = record == "true"
    for name, (field, values) in RECORDING_NAMES.items():
        value = params.get(name, "").strip()
        if value and value not in values:
            raise refusal(20422, f"Invalid parameter: {name} must be {' or '.join(values)}")
        if value and spec["record"]:
            spec[field] = value
    machine = params.get("MachineDetection", "").strip()
    if machine and machine not in MACHINE_DETECTION_MODES:
        raise refusal(21207, "MachineDetection must be Enable or DetectMessageEnd")
    if machine and digits is None:  # Twilio ignores MachineDetection with SendDigits
        data["machineDetection"] = machine
        for core in MACHINE_DETECTION_TUNING:  # the core checks their ranges (20422)
            value = params.get(core[0].upper() + core[1:], "").strip()
            if value:
                data[core] = value
        async_amd = params.get("AsyncAmd", "").strip().lower()
        if async_amd not in ("", "true", "false"):
            raise refusal(20422, "Invalid parameter: AsyncAmd must be true or false")
        if async_amd == "true":  # Twilio ignores the callback of a sync detection
            data["asyncAmd"] = True
            for name in ("AsyncAmdStatusCallback", "AsyncAmdStatusCallbackMethod"):
                value = params.get(name, "").strip()
                if value:
                    data[name[0].lower() + name[1:]] = value
    return data, spec


@bp.post("/Calls.json")
def create_call(account_sid: str) -> tuple[Response, int]:
    data, spec = parse_create(_params())
    record = place_call(data, api_key=account_sid, spec_fields={"account_sid": account_sid, **spec})
    return jsonify(call_resource(record, account_sid)), 201


# -- fetch, update, delete ---------------------------------------------------------------------


@bp.get("/Calls/<sid>.json")
def fetch_call(account_sid: str, sid: str) -> Response:
    return jsonify(call_resource(_own_call(account_sid, sid), account_sid))


def parse_update(params: MultiDict[str, str]) -> CallChange | None:
    """Twilio's update parameters → the change (None: nothing to change)."""
    url = params.get("Url", "").strip() or None
    twiml = params.get("Twiml", "").strip() or None
    status = params.get("Status", "").strip() or None
    given = [n for n, v in (("Url", url), ("Twiml", twiml), ("Status", status)) if v is not None]
    if len(given) > 1:
        raise refusal(20422, f"Invalid parameter: give one of Url, Twiml or Status, not {given}")
    if status is not None and status not in ("completed", "canceled"):
        raise refusal(20422, "Invalid parameter: Status must be completed or canceled")
    method = params.get("Method", "POST").strip().upper() or "POST"
    if method not in ("GET", "POST"):
        raise refusal(21209, "Method is not valid: GET or POST")
    if twiml is not None:
        _twiml(twiml)
    if not given:
        return None
    return CallChange(url=url, method=method, twiml=twiml, status=status)


@bp.post("/Calls/<sid>.json")
def update_call(account_sid: str, sid: str) -> Response:
    record = _own_call(account_sid, sid)
    change = parse_update(_params())
    if change is not None:
        record = change_call(sid, change)
    return jsonify(call_resource(record, account_sid))


@bp.delete("/Calls/<sid>.json")
def delete_call(account_sid: str, sid: str) -> tuple[str, int]:
    _own_call(account_sid, sid)
    call_service().store.delete(sid)
    return "", 204


# -- list --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A time filter's value as an interval: a date is its whole (UTC) day, a time its
    second."""

    low: float
    high: float  # exclusive


def parse_time(value: str, name: str, *, day: bool = False) -> Span:
    """``YYYY-MM-DD`` or ISO 8601.  A time of exactly 00:00:00 is its date (twilio-python
    sends a ``date`` so), and ``day`` reads any time as its date (``StartTime=``)."""
    text = value.strip()
    try:
        if _DATE.fullmatch(text):
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise refusal(20422, f"Invalid parameter: {name} must be YYYY-MM-DD or ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if day or moment.time() == datetime.min.time():
        start = datetime.combine(moment.date(), datetime.min.time(), UTC)
        return Span(start.timestamp(), (start + timedelta(days=1)).timestamp())
    return Span(moment.timestamp(), moment.timestamp() + 1)


def _int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = args.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise refusal(20422, f"Invalid parameter: {name} must be an integer from {low} to {high}")
    return int(text)


Match = Callable[[float | None, float | None, str], bool]


def _time_filter(args: Mapping[str, str]) -> tuple[Match, float | None]:
    """The start/end time test of a listing and an upper bound of created_at it implies
    (a call is created before it starts, and starts before it ends)."""
    spans: list[tuple[str, str, Span]] = []
    for what in ("StartTime", "EndTime"):
        for op in ("", ">", "<"):
            value = args.get(what + op)
            if value:
                spans.append((what, op, parse_time(value, what + op, day=op == "")))
    bound = min((s.high for _, op, s in spans if op != ">"), default=None)

    def match(started: float | None, ended: float | None, _status: str) -> bool:
        for what, op, span in spans:
            at = started if what == "StartTime" else ended
            if at is None:
                return False
            if op == "" and not span.low <= at < span.high:
                return False
            if op == ">" and at < span.low:
                return False
            if op == "<" and at >= span.high:
                return False
        return True

    return match, bound


def _page_uri(account: str, query: Mapping[str, str], **paging: Any) -> str:
    pairs = {**query, **{k: str(v) for k, v in paging.items() if v is not None}}
    return f"/{API_VERSION}/Accounts/{account}/Calls.json?{urlencode(pairs)}"


@bp.get("/Calls.json")
def list_calls(account_sid: str) -> Response:
    args = request.args
    settings = runtime().settings
    size = _int(args, "PageSize", PAGE_SIZE_DEFAULT, 1, PAGE_SIZE_MAX)
    page = _int(args, "Page", 0, 0, 10**6)
    status = args.get("Status", "").strip() or None
    if status is not None and status not in TWILIO_STATUSES:
        raise refusal(
            20422, f"Invalid parameter: Status must be one of {', '.join(TWILIO_STATUSES)}"
        )
    query: dict[str, Any] = {"account_sid": account_sid}
    for name, key in (("To", "to"), ("From", "from_")):
        value = args.get(name, "").strip()
        if value:
            field = "to" if name == "To" else "from"
            query[key] = number_of(settings, value, field=field)
    match_time, bound = _time_filter(args)
    if bound is not None:
        query["created_before"] = bound

    def match(started: float | None, ended: float | None, leg_status: str) -> bool:
        wanted = status is None or STATUS.get(leg_status, leg_status) == status
        return wanted and match_time(started, ended, leg_status)

    filters = {k: v for k, v in args.items() if k not in ("PageSize", "Page", "PageToken")}
    parent = args.get("ParentCallSid", "").strip()
    token = args.get("PageToken", "").strip()
    if parent:
        calls, after = _children(account_sid, parent, query, match, size, page)
    else:
        start_after = None
        skip = page * size
        if token:
            if not token.startswith("PA"):
                raise refusal(20422, "Invalid parameter: PageToken is not one this API gave")
            try:
                start_after = decode_cursor(token[2:])
            except BadRequestBody:
                raise refusal(
                    20422, "Invalid parameter: PageToken is not one this API gave"
                ) from None
            skip = 0
        elif skip > SCAN_MAX:
            raise refusal(
                20422,
                f"Invalid parameter: Page {page} of PageSize {size} is past the first {SCAN_MAX} "
                "calls; follow next_page_uri (its PageToken) to go further",
            )
        calls, after = _scan(account_sid, query, match, size, skip, start_after)
    this = _page_uri(account_sid, filters, PageSize=size, Page=page, PageToken=token or None)
    next_uri = None
    if after is not None:
        next_uri = _page_uri(account_sid, filters, PageSize=size, Page=page + 1,
                             PageToken="PA" + encode_cursor(after))  # fmt: skip
    start = page * size
    return jsonify(
        {
            "calls": calls,
            "end": start + max(len(calls) - 1, 0),
            "first_page_uri": _page_uri(account_sid, filters, PageSize=size, Page=0),
            "next_page_uri": next_uri,
            "page": page,
            "page_size": size,
            "previous_page_uri": None
            if page == 0 or (page - 1) * size > SCAN_MAX
            else _page_uri(account_sid, filters, PageSize=size, Page=page - 1),
            "start": start,
            "uri": this,
        }
    )


def _scan(
    account: str,
    query: Mapping[str, Any],
    match: Match,
    size: int,
    skip: int,
    after: tuple[float, str] | None,
) -> tuple[list[dict[str, Any]], tuple[float, str] | None]:
    """A page of the account's calls that ``match``, newest first, after ``skip`` matching
    ones: the resources and the cursor the next page starts after (None: no more)."""
    store = call_service().store
    out: list[dict[str, Any]] = []
    scanned = 0
    while True:
        chunk = store.list_calls(**query, limit=min(1000, max(2 * size, 50)), after=after)
        for record in chunk.calls:
            scanned += 1
            a_leg = record.legs[0] if record.legs else None
            started = _started(a_leg.history) if a_leg else None
            if not match(started, record.ended_at, record.status):
                continue
            if skip:
                skip -= 1
                continue
            out.append(call_resource(record, account))
            if len(out) == size:
                return out, (record.created_at, record.sid)
        if chunk.next is None:
            return out, None
        after = chunk.next
        if scanned >= SCAN_MAX and not skip:  # a partial page; the next goes on from here
            return out, after


def _children(
    account: str, parent: str, query: Mapping[str, Any], match: Match, size: int, page: int
) -> tuple[list[dict[str, Any]], tuple[float, str] | None]:
    """The ``<Dial>`` legs of the account's call ``parent`` (Twilio's child calls), paged
    by number (a call has few legs)."""
    record = call_service().store.get(parent)
    if record is None or record.spec.account_sid != account:
        return [], None
    legs = [
        leg
        for leg in record.legs[1:]
        if match(_started(leg.history), leg.ended_at, leg.status)
        and query.get("to") in (None, leg.to)
        and query.get("from_") in (None, leg.from_)
    ]
    chosen = legs[page * size : (page + 1) * size]
    return [leg_resource(record, leg, account) for leg in chosen], None


def init_app(app: Flask) -> None:
    """Add the routes (their errors answer in Twilio's body: :func:`_error_response`)."""
    app.register_blueprint(bp)
