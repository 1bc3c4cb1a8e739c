"""Request signatures: voiceapp's own header and Twilio's.

voiceapp signs a request with the header::

    X-Voiceapp-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

over the bytes ``"<t>.<METHOD>.<URL>." + body`` (METHOD upper case, URL exactly as
requested, body the raw request body, empty for GET).  A verifier accepts any secret
of its rotation list and a timestamp within ``tolerance`` seconds (300 by default)
of its clock.  Several ``v1=`` entries may appear (a sender in the middle of a
rotation signs with both secrets); one match is enough.

Twilio signs webhooks with ``X-Twilio-Signature``: base64 of HMAC-SHA1, keyed by the
account auth token, over the full URL followed by every POST parameter sorted by
name, each as name + value with no separator (for GET, the URL with its query and
no parameters).  :func:`twilio_signature` and :func:`validate_twilio` implement it
for deployments that put voiceapp behind Twilio.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from voiceapp.errors import ConfigError, TokenInvalid

__all__ = [
    "HEADER",
    "TWILIO_HEADER",
    "sign_request",
    "twilio_signature",
    "validate_twilio",
    "verify_request",
]

HEADER = "X-Voiceapp-Signature"
TWILIO_HEADER = "X-Twilio-Signature"
_VERSION = "v1"


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def _message(timestamp: int, method: str, url: str, body: bytes) -> bytes:
    return f"{timestamp}.{method.upper()}.{url}.".encode() + body


def _digest(secret: str | bytes, message: bytes) -> str:
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def sign_request(secret: str | bytes, method: str, url: str, body: bytes, *, timestamp: int) -> str:
    """The ``X-Voiceapp-Signature`` header value for a request signed at ``timestamp``."""
    if not secret:
        raise ConfigError("the signing secret is empty", code="config-signing-secret")
    ts = int(timestamp)
    return f"t={ts},{_VERSION}={_digest(secret, _message(ts, method, url, body))}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise ValueError(f"{part.strip()!r} is not name=value")
        if name == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise ValueError("t must appear once, as unix seconds")
            timestamp = int(value)
        elif name == _VERSION:
            if len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
                raise ValueError("v1 must be 64 lower-case hex digits")
            signatures.append(value)
        # Unknown schemes (a future v2) are ignored, so senders can add them first.
    if timestamp is None:
        raise ValueError("t= is missing")
    if not signatures:
        raise ValueError("v1= is missing")
    return timestamp, signatures


def verify_request(
    secrets: Sequence[str | bytes],
    header: str | None,
    method: str,
    url: str,
    body: bytes,
    *,
    now: float,
    tolerance: int = 300,
) -> None:
    """Check an ``X-Voiceapp-Signature`` header; return quietly when it is good.

    Raises :class:`~voiceapp.errors.TokenInvalid` (field ``X-Voiceapp-Signature``)
    with code ``signature-missing``, ``signature-malformed``, ``signature-stale``
    (timestamp more than ``tolerance`` seconds from ``now``) or
    ``signature-mismatch``; :class:`~voiceapp.errors.ConfigError` when ``secrets``
    is empty.
    """
    keys = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
    if not keys or not all(keys):
        raise ConfigError("no request-signing secret configured", code="config-signing-secret")
    if not header:
        raise TokenInvalid(
            f"the {HEADER} header is missing", code="signature-missing", field=HEADER
        )
    try:
        timestamp, signatures = _parse(header)
    except ValueError as exc:
        raise TokenInvalid(
            f"the {HEADER} header is malformed: {exc}", code="signature-malformed", field=HEADER
        ) from None
    if abs(now - timestamp) > tolerance:
        raise TokenInvalid(
            f"the {HEADER} timestamp is more than {tolerance} s from the server clock",
            code="signature-stale",
            field=HEADER,
        )
    message = _message(timestamp, method, url, body)
    good = False
    for key in keys:
        expected = _digest(key, message)
        for candidate in signatures:
            # No early exit: every comparison runs, each in constant time.
            good |= hmac.compare_digest(expected, candidate)
    if not good:
        raise TokenInvalid(
            f"the {HEADER} signature does not match this request",
            code="signature-mismatch",
            field=HEADER,
        )


# -- Twilio ----------------------------------------------------------------------------


def _values(params: Any, name: str) -> Iterable[str]:
    getlist = getattr(params, "getlist", None)  # werkzeug's MultiDict, Django's QueryDict
    if callable(getlist):
        return [str(v) for v in getlist(name)]
    value = params[name]
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]


def twilio_signature(
    auth_token: str | bytes, url: str, params: Mapping[str, Any] | None = None
) -> str:
    """Twilio's ``X-Twilio-Signature`` for a request to ``url`` with POST ``params``.

    ``params`` maps a name to a value or a list of values (a MultiDict works too);
    several values of a name are taken in sorted order, once each, as twilio-python
    does.  For a GET request pass the URL with its query string and no params.
    """
    data = url
    if params:
        for name in sorted(set(params)):
            for value in sorted(set(_values(params, name))):
                data += name + value
    mac = hmac.new(_key(auth_token), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """``url`` as given, without its port, and with the scheme's default port."""
    parts = urlsplit(url)
    variants = [url]
    if parts.port is not None:
        variants.append(urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])))
    elif parts.netloc:
        default = 443 if parts.scheme == "https" else 80
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    return variants


def validate_twilio(
    auth_token: str | bytes,
    signature: str | None,
    url: str,
    params: Mapping[str, Any] | None = None,
) -> bool:
    """Whether ``signature`` (the ``X-Twilio-Signature`` header) is good for this request.

    Like Twilio's own validator, the URL is also tried without its port and with
    the default port, since proxies and Twilio differ about including it.
    """
    if not signature or not auth_token:
        return False
    good = False
    for candidate_url in _port_variants(url):
        expected = twilio_signature(auth_token, candidate_url, params)
        good |= hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8"))
    return good
