"""The ``voice`` blueprint: the documents dialers fetch.

``GET|POST /voice/<token>``
    The first document of a session, for the one fetch that claims the token.
``GET|POST /voice/step/<token>``
    A continuation step (a ``<Gather>`` action, a ``<Redirect>``, a ``<Dial>``
    action, a whisper), under its own single-use step token.

Both read ``CallSid``, ``From``, ``To`` (and ``Digits``, ``DialCallStatus``...) from
the form body or the query string, check the request signature that
``REQUIRE_SIGNATURE`` asks for, and answer ``200 text/xml; charset=utf-8`` or a
problem+json error (403 / 410) with no script content.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from voiceapp.errors import PhoneError, TokenInvalid
from voiceapp.phone import is_e164, normalize
from voiceapp.signatures import HEADER, TWILIO_HEADER, validate_twilio, verify_request
from voiceapp.web.runtime import Runtime, runtime

XML_CONTENT_TYPE = "text/xml; charset=utf-8"

bp = Blueprint("voice", __name__)


def check_signature(rt: Runtime) -> None:
    """Enforce ``REQUIRE_SIGNATURE`` on the current request (403 when it fails)."""
    mode = rt.settings.REQUIRE_SIGNATURE
    if mode == "none":
        return
    url = rt.request_url()
    if mode == "voiceapp":
        verify_request(
            rt.settings.signature_secrets,
            request.headers.get(HEADER),
            request.method,
            url,
            request.get_data(cache=True),
            now=rt.clock(),
            tolerance=rt.settings.SIGNATURE_TOLERANCE,
        )
        return
    signature = request.headers.get(TWILIO_HEADER)
    params = request.form if request.method == "POST" else None
    if not signature:
        raise TokenInvalid(
            f"the {TWILIO_HEADER} header is missing", code="signature-missing", field=TWILIO_HEADER
        )
    # a request of a TWILIO_ACCOUNTS account is signed with its AuthToken (as Twilio does)
    token = rt.settings.twilio_signing_token(request.values.get("AccountSid"))
    if not validate_twilio(token or "", signature, url, params):
        raise TokenInvalid(
            f"the {TWILIO_HEADER} signature does not match this request",
            code="signature-mismatch",
            field=TWILIO_HEADER,
        )


def _destination(value: str | None, rt: Runtime) -> str | None:
    """The ``To`` parameter as E.164 when it parses; as given otherwise (it then mismatches)."""
    if not value:
        return None
    if is_e164(value):  # what dialers send; phonenumbers is slow, keep it for the rest
        return value
    try:
        return normalize(value, field="To", default_region=rt.settings.DEFAULT_REGION or None)
    except PhoneError:
        return value


def _xml(body: bytes) -> Response:
    response = Response(body, status=200, content_type=XML_CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/voice/<token>", methods=["GET", "POST"])
def document(token: str) -> Response:
    rt = runtime()
    check_signature(rt)
    call_sid = request.values.get("CallSid", "")
    to = _destination(request.values.get("To"), rt)
    body = rt.sessions.open(
        token,
        to=to,
        call_sid=call_sid,
        render=lambda session: rt.render_start(session, call_sid),
    )
    return _xml(body)


@bp.route("/voice/step/<token>", methods=["GET", "POST"])
def step(token: str) -> Response:
    rt = runtime()
    check_signature(rt)
    call_sid = request.values.get("CallSid", "")
    params = {key: request.values.get(key, "") for key in request.values}
    body = rt.sessions.open_step(
        token,
        call_sid=call_sid,
        render=lambda session, data: rt.render_step(session, data, params, call_sid),
    )
    return _xml(body)
