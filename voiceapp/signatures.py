"""Request signatures: voiceapp's own header and Twilio's.

voiceapp signs a request with the header ``X-Voiceapp-Signature``, in one of two
versions:

``v1`` — documents (the dialer's fetches)::

    X-Voiceapp-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

over the bytes ``"<t>.<METHOD>.<URL>." + body`` (METHOD upper case, URL exactly as
requested, body the raw request body, empty for GET).

``v2`` — status callbacks, which carry an event id (``X-Voiceapp-Event-Id``)::

    X-Voiceapp-Signature: t=<unix seconds>,n=<nonce>,v2=<hex HMAC-SHA256>

over ``"v2.<t>.<n>.<event id>.<METHOD>.<URL>." + body``.  The event id is signed, so
a receiver can trust it for de-duplication; the nonce (16 random bytes, URL-safe
base64) makes every attempt's signature unique, so a receiver can refuse a replay
of one exactly (``seen=``) without refusing the sender's own retries.

A verifier accepts any secret of its rotation list and a timestamp within
``tolerance`` seconds (300 by default) of its clock.  Several ``v1=``/``v2=`` entries
may appear (a sender in the middle of a rotation signs with both secrets); one match
is enough.  With ``event_id=`` only ``v2`` entries count; without, only ``v1``.
``seen(key, ttl) -> bool`` is the receiver's replay guard: it answers whether
``key`` was seen before and remembers it for ``ttl`` seconds; :class:`ReplayCache`
is one in memory, and with Redis it is one command::

    def seen(key: str, ttl: int) -> bool:
        return not redis.set("voiceapp:seen:" + key, 1, nx=True, ex=ttl)

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
import re
import secrets as random_secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from voiceapp.errors import ConfigError, TokenInvalid

HEADER = "X-Voiceapp-Signature"
TWILIO_HEADER = "X-Twilio-Signature"
_VERSION = "v1"
_VERSION_EVENT = "v2"
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: ``seen(key, ttl) -> bool``: was ``key`` seen before?  Remember it ``ttl`` seconds.
Seen = Callable[[str, int], bool]


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def _message(timestamp: int, method: str, url: str, body: bytes) -> bytes:
    return f"{timestamp}.{method.upper()}.{url}.".encode() + body


def _message_v2(
    timestamp: int, nonce: str, event_id: str, method: str, url: str, body: bytes
) -> bytes:
    return f"v2.{timestamp}.{nonce}.{event_id}.{method.upper()}.{url}.".encode() + body


def _digest(secret: str | bytes, message: bytes) -> str:
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def sign_request(
    secret: str | bytes,
    method: str,
    url: str,
    body: bytes,
    *,
    timestamp: int,
    event_id: str | None = None,
    nonce: str | None = None,
) -> str:
    """The ``X-Voiceapp-Signature`` header value for a request signed at ``timestamp``.

    Without ``event_id``: ``v1`` (documents).  With it: ``v2``, which also signs the
    event id and a ``nonce`` (random unless given).
    """
    if not secret:
        raise ConfigError("the signing secret is empty", code="config-signing-secret")
    ts = int(timestamp)
    if event_id is None:
        return f"t={ts},{_VERSION}={_digest(secret, _message(ts, method, url, body))}"
    nonce = nonce if nonce is not None else random_secrets.token_urlsafe(16)
    if not _NONCE.fullmatch(nonce):
        raise ValueError("a nonce is 1-64 characters of A-Z a-z 0-9 _ -")
    message = _message_v2(ts, nonce, event_id, method, url, body)
    return f"t={ts},n={nonce},{_VERSION_EVENT}={_digest(secret, message)}"


@dataclass
class _Parsed:
    timestamp: int
    nonce: str | None
    signatures: dict[str, list[str]]  # version -> hex digests


def _parse(header: str) -> _Parsed:
    timestamp: int | None = None
    nonce: str | None = None
    signatures: dict[str, list[str]] = {_VERSION: [], _VERSION_EVENT: []}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise ValueError(f"{part.strip()!r} is not name=value")
        if name == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise ValueError("t must appear once, as unix seconds")
            timestamp = int(value)
        elif name == "n":
            if nonce is not None or not _NONCE.fullmatch(value):
                raise ValueError("n must appear once, 1-64 characters of A-Z a-z 0-9 _ -")
            nonce = value
        elif name in signatures:
            if len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
                raise ValueError(f"{name} must be 64 lower-case hex digits")
            signatures[name].append(value)
        # Unknown schemes (a future v3) are ignored, so senders can add them first.
    if timestamp is None:
        raise ValueError("t= is missing")
    if not any(signatures.values()):
        raise ValueError("v1= (or v2=) is missing")
    if signatures[_VERSION_EVENT] and nonce is None:
        raise ValueError("v2 needs n=")
    return _Parsed(timestamp, nonce, signatures)


def verify_request(
    secrets: Sequence[str | bytes],
    header: str | None,
    method: str,
    url: str,
    body: bytes,
    *,
    now: float,
    tolerance: int = 300,
    event_id: str | None = None,
    seen: Seen | None = None,
) -> None:
    """Check an ``X-Voiceapp-Signature`` header; return quietly when it is good.

    ``event_id``: the request's ``X-Voiceapp-Event-Id`` (status callbacks); then
    only ``v2`` signatures count, and they cover it.  ``seen``: the replay guard,
    asked (after the signature matched) about the signature's ``t`` and nonce, with
    a ttl of ``2 * tolerance + 1`` seconds (longer than the signature stays fresh).

    Raises :class:`~voiceapp.errors.TokenInvalid` (field ``X-Voiceapp-Signature``)
    with code ``signature-missing``, ``signature-malformed``, ``signature-stale``
    (timestamp more than ``tolerance`` seconds from ``now``), ``signature-mismatch``
    or ``signature-replayed`` (``seen`` knew it); :class:`~voiceapp.errors.ConfigError`
    when ``secrets`` is empty.
    """
    keys = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
    if not keys or not all(keys):
        raise ConfigError("no request-signing secret configured", code="config-signing-secret")
    if not header:
        raise TokenInvalid(
            f"the {HEADER} header is missing", code="signature-missing", field=HEADER
        )
    try:
        parsed = _parse(header)
    except ValueError as exc:
        raise TokenInvalid(
            f"the {HEADER} header is malformed: {exc}", code="signature-malformed", field=HEADER
        ) from None
    timestamp = parsed.timestamp
    if event_id is None:
        signatures = parsed.signatures[_VERSION]
        message = _message(timestamp, method, url, body)
        missing = "no v1= signature (a v2 signature needs the request's event id: event_id=)"
    else:
        signatures = parsed.signatures[_VERSION_EVENT]
        message = _message_v2(timestamp, parsed.nonce or "", event_id, method, url, body)
        missing = "no v2= signature: a request with an event id must be signed with v2"
    if not signatures:
        raise TokenInvalid(
            f"the {HEADER} header is malformed: {missing}", code="signature-malformed", field=HEADER
        )
    if abs(now - timestamp) > tolerance:
        raise TokenInvalid(
            f"the {HEADER} timestamp is more than {tolerance} s from the server clock",
            code="signature-stale",
            field=HEADER,
        )
    good: str | None = None
    for key in keys:
        expected = _digest(key, message)
        for candidate in signatures:
            # No early exit: every comparison runs, each in constant time.
            if hmac.compare_digest(expected, candidate):
                good = candidate
    if good is None:
        raise TokenInvalid(
            f"the {HEADER} signature does not match this request",
            code="signature-mismatch",
            field=HEADER,
        )
    if seen is not None:
        key = f"{timestamp}.{parsed.nonce}" if parsed.nonce is not None else f"{timestamp}.{good}"
        if seen(key, 2 * int(tolerance) + 1):
            raise TokenInvalid(
                f"the {HEADER} signature was seen before: a replayed request",
                code="signature-replayed",
                field=HEADER,
            )


@dataclass
class ReplayCache:
    """An in-memory replay guard for :func:`verify_request` (``seen=cache``).

    One process only (use the Redis recipe in the module docstring for several);
    thread-safe; keeps at most ``max_keys`` keys (the oldest expiring first are
    dropped when full, which can only let an old replay through after ``ttl``).
    """

    clock: Callable[[], float] = time.time
    max_keys: int = 100_000
    _expiry: dict[str, float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, key: str, ttl: int) -> bool:
        now = self.clock()
        with self._lock:
            until = self._expiry.get(key)
            if until is not None and until > now:
                return True
            if len(self._expiry) >= self.max_keys:
                self._purge(now)
            self._expiry[key] = now + ttl
            return False

    def _purge(self, now: float) -> None:
        for stale in [k for k, until in self._expiry.items() if until <= now]:
            del self._expiry[stale]
        while len(self._expiry) >= self.max_keys:
            del self._expiry[min(self._expiry, key=self._expiry.__getitem__)]

    def __len__(self) -> int:
        return len(self._expiry)


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
