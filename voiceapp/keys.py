"""Secrets per purpose: derived development keys and the production strength rule.

voiceapp holds secrets for separate purposes, and no secret serves two of them:

=============================  ==========================================================
``SECRET_KEYS``                sign session and step tokens (itsdangerous)
``SIGNATURE_SECRETS``          sign the dialer's document fetches, which the server
                               checks when ``REQUIRE_SIGNATURE = "voiceapp"``
``CALLBACK_SECRETS``           sign status callbacks (what receivers verify); per
                               receiver host, ``CALLBACK_RECEIVERS``
``API_KEYS``                   authenticate REST API clients
=============================  ==========================================================

A receiver that verifies callbacks holds a callback secret, so that secret must not
be able to mint a token the server accepts.  In development (``DEBUG`` or
``TESTING``) an empty ``SIGNATURE_SECRETS`` / ``CALLBACK_SECRETS`` is *derived* from
``SECRET_KEYS`` by :func:`derive_key`: ``hex(HMAC-SHA256(key, label))`` for each key,
in the same order, with ``label`` ``voiceapp.signature.fetch.v1`` or
``voiceapp.signature.callback.v1`` (:data:`PURPOSE_LABELS`).  An HMAC output does
not reveal its key, so holding a derived key gives nothing of ``SECRET_KEYS``.  In
production these secrets must be configured.

:func:`weakness` is the production strength rule (``config-weak-secret``).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter
from collections.abc import Sequence
from typing import Final, Literal

Purpose = Literal["fetch", "callback", "redact"]

#: The HMAC message of each derived purpose (versioned: a change makes new keys).
PURPOSE_LABELS: Final[dict[Purpose, str]] = {
    "fetch": "voiceapp.signature.fetch.v1",
    "callback": "voiceapp.signature.callback.v1",
    "redact": "voiceapp.redact.v1",  # keys the fingerprints of secret values (voiceapp.redact)
}

#: Secrets that are fine for a laptop and never for a deployment.
DEV_SECRETS: Final = frozenset(
    {"", "dev", "development", "secret", "changeme", "change-me", "test"}
)
#: A production secret has at least this many bytes (UTF-8) ...
MIN_SECRET_BYTES: Final = 32
#: ... and at least this many bits by :func:`entropy_bits`.
MIN_ENTROPY_BITS: Final = 80

#: Every secret published in ``examples/*.toml`` (a test keeps this list equal to the
#: files): anyone can read them, so production refuses them.
PUBLISHED_SECRETS: Final = frozenset(
    {
        "demo-api-key-for-localhost-only",
        "demo-token-signing-key-localhost",
        "demo-fetch-signing-key-for-localhost-only",
        "demo-callback-signing-key-for-localhost",
        "vendors-api-key-for-localhost-only",
        "vendors-token-signing-key-localhost",
        "pathors-key-for-localhost-only",
        "feather-key-for-localhost-only",
        "sk_live_thunder-key-for-localhost-only",
        "polyai-token-for-localhost-only",
        "polyai-inbound-token-for-localhost",
    }
)


def derive_key(secret: str, purpose: Purpose) -> str:
    """The development key of ``purpose`` made from one ``SECRET_KEYS`` entry (64 hex)."""
    label = PURPOSE_LABELS[purpose].encode("ascii")
    return hmac.new(secret.encode("utf-8"), label, hashlib.sha256).hexdigest()


def derive_keys(secrets: Sequence[str], purpose: Purpose) -> tuple[str, ...]:
    """:func:`derive_key` of every key, oldest first (so rotation carries over)."""
    return tuple(derive_key(secret, purpose) for secret in secrets)


def entropy_bits(secret: str) -> float:
    """Length times the Shannon entropy of the character frequencies, in bits.

    An estimate, and a generous one for the patterns people type; it is zero for
    ``aaaa...``, 32 for ``abab...`` of 32 characters, 96-125 for 32 random hex
    digits (``secrets.token_hex(16)``) and about 200 for ``secrets.token_urlsafe(32)``.
    """
    if not secret:
        return 0.0
    counts = Counter(secret)
    n = len(secret)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    return max(0.0, n * per_char)


def _repeats(secret: str) -> bool:
    """Whether ``secret`` is a shorter string written several times (``abcabcabc``)."""
    return len(secret) > 1 and secret in (secret + secret)[1:-1]


def weakness(secret: str) -> str | None:
    """Why ``secret`` is too weak for production, or None.

    Refused: a development word (:data:`DEV_SECRETS`), a secret published in
    ``examples/*.toml`` (:data:`PUBLISHED_SECRETS`), fewer than
    :data:`MIN_SECRET_BYTES` bytes, a repeated pattern, or fewer than
    :data:`MIN_ENTROPY_BITS` bits by :func:`entropy_bits`.  The reason never
    includes the secret.
    """
    if secret.lower() in DEV_SECRETS:
        return "is a development secret"
    if secret in PUBLISHED_SECRETS:
        return "is published in examples/*.toml"
    size = len(secret.encode("utf-8"))
    if size < MIN_SECRET_BYTES:
        return f"is {size} bytes long, shorter than {MIN_SECRET_BYTES}"
    if _repeats(secret):
        return "is a repeated pattern (low entropy)"
    bits = entropy_bits(secret)
    if bits < MIN_ENTROPY_BITS:
        return f"has low entropy (about {bits:.0f} bits, at least {MIN_ENTROPY_BITS} needed)"
    return None
