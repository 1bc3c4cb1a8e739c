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

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from voiceapp.errors import PhoneError, TokenInvalid
from voiceapp.phone import is_e164, normalize
from voiceapp.signatures import HEADER, TWILIO_HEADER, validate_twilio, verify_request
from voiceapp.stores.base import Session
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


def phone_param(value: str | None, rt: Runtime, *, field: str = "To") -> str | None:
    """A ``To``/``From`` parameter as E.164 when it parses; as given otherwise (it then
    mismatches).  A ``+`` that reached us as a space (an unencoded ``+`` in a form or a
    query string is one) is put back first."""
    if not value:
        return None
    if value[:1] == " " and value[1:].strip().isdigit():
        value = "+" + value[1:].strip()
    value = value.strip()
    if is_e164(value):  # what dialers send; phonenumbers is slow, keep it for the rest
        return value
    try:
        return normalize(value, field=field, default_region=rt.settings.DEFAULT_REGION or None)
    except PhoneError:
        return value


def xml_response(body: bytes) -> Response:
    """A voice document as the dialer gets it: ``200 text/xml; charset=utf-8``, not cached."""
    response = Response(body, status=200, content_type=XML_CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


def open_session(token: str, render: Callable[[Session, str], bytes]) -> Response:
    """The first document of the session behind voice ``token``: the signature
    ``REQUIRE_SIGNATURE`` asks for is checked, ``To`` must be the session's number, and
    the token is claimed once (:meth:`voiceapp.sessions.Sessions.open`);
    ``render(session, call_sid)`` makes the document."""
    rt = runtime()
    check_signature(rt)
    call_sid = request.values.get("CallSid", "")
    to = phone_param(request.values.get("To"), rt)
    body = rt.sessions.open(
        token, to=to, call_sid=call_sid, render=lambda session: render(session, call_sid)
    )
    return xml_response(body)


def open_step(
    token: str, render: Callable[[Session, dict[str, Any], dict[str, str], str], bytes]
) -> Response:
    """A continuation step under its single-use step token (signature checked, bound to
    the fetching call); ``render(session, data, params, call_sid)`` makes the document."""
    rt = runtime()
    check_signature(rt)
    call_sid = request.values.get("CallSid", "")
    params = {key: request.values.get(key, "") for key in request.values}
    body = rt.sessions.open_step(
        token,
        call_sid=call_sid,
        render=lambda session, data: render(session, data, params, call_sid),
    )
    return xml_response(body)


@bp.route("/voice/<token>", methods=["GET", "POST"])
def document(token: str) -> Response:
    rt = runtime()
    return open_session(token, rt.render_start)


@bp.route("/voice/step/<token>", methods=["GET", "POST"])
def step(token: str) -> Response:
    rt = runtime()
    return open_step(token, rt.render_step)
