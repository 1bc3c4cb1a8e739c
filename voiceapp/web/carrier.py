"""The ``carrier`` blueprint: status callbacks of a Twilio-compatible carrier.

With ``[network] backend = "carrier"`` every call is placed through the carrier's
REST API (:mod:`voiceapp.dialer.carrier_backend`), with ``StatusCallback`` set to
``POST /carrier/status/<sid>`` of this server (``sid``: our call's sid).  This route
checks the request's ``X-Twilio-Signature`` with the ``[carrier]`` auth token (403
``signature-missing`` / ``signature-mismatch`` otherwise) and hands the carrier's
parameters (``CallStatus``, ``SipResponseCode``, ``CallDuration`` ...) to the
:class:`CarrierInbox` the dialer attached (``voiceapp.cli.wsgi.attach_dialer``), which
maps them onto the call's own events.  Answers: 204 taken; 404 ``carrier-unknown-call``
when no dialer of this process runs that call; 404 ``carrier-off`` when the server
has no ``[carrier]`` table or no dialer here carries calls through it.

The web layer knows nothing of the dialer: it sees only the inbox's ``report``.
See docs/carrier.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol

from flask import Blueprint, Flask, Response, current_app, request

from voiceapp.errors import NotFoundError, TokenInvalid
from voiceapp.signatures import TWILIO_HEADER, validate_twilio
from voiceapp.web.runtime import runtime

bp = Blueprint("carrier", __name__)

EXTENSION: Final = "voiceapp.carrier"


class CarrierInbox(Protocol):
    """What the route needs of the carrier backend: take one status callback."""

    def report(self, call_sid: str, params: Mapping[str, str]) -> bool:
        """Hand the carrier's parameters for our call ``call_sid`` to its leg; False when
        no call of that sid runs here (safe to call from any thread)."""
        ...


def attach(app: Flask, inbox: CarrierInbox) -> None:
    """Make ``inbox`` receive the carrier's status callbacks of ``app``."""
    app.extensions[EXTENSION] = inbox


@bp.post("/carrier/status/<sid>")
def status(sid: str) -> Response:
    rt = runtime()
    carrier = rt.settings.CARRIER
    inbox: CarrierInbox | None = current_app.extensions.get(EXTENSION)
    if carrier is None or inbox is None:
        raise NotFoundError(
            "this server places no calls through a carrier ([network] backend = carrier)",
            code="carrier-off",
            field="sid",
        )
    signature = request.headers.get(TWILIO_HEADER)
    if not signature:
        raise TokenInvalid(
            f"the {TWILIO_HEADER} header is missing", code="signature-missing", field=TWILIO_HEADER
        )
    if not validate_twilio(carrier.auth_token, signature, rt.request_url(), request.form):
        raise TokenInvalid(
            f"the {TWILIO_HEADER} signature does not match the [carrier] auth token",
            code="signature-mismatch",
            field=TWILIO_HEADER,
        )
    params = {name: request.form.get(name, "") for name in request.form}
    if not inbox.report(sid, params):
        raise NotFoundError(
            f"no call {sid} is carried by a dialer of this server",
            code="carrier-unknown-call",
            field="sid",
        )
    return Response(status=204)
