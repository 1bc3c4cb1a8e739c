"""Signed, expiring tokens with itsdangerous.

A token is ``itsdangerous.URLSafeSerializer`` output: a URL-safe, base64 JSON
payload, a ``.``, and an HMAC signature.  The payload is whatever the caller
gives :meth:`Signer.issue` plus two fields the signer adds itself:

``nonce``
    16 random bytes (URL-safe base64), so two tokens with the same payload differ
    and a store can remember "this token was used" by its nonce;
``exp``
    the expiry time, seconds since the epoch, from the injected clock.

Each *purpose* ("voice", "step", ...) signs with its own salt, so a token made for
one purpose never verifies for another.  Expiry is checked by :meth:`Signer.verify`
against the same injected clock and is final: an expired token stays expired.

Key rotation: :func:`key_list` is the one place that turns configured secrets into
the list itsdangerous wants, **oldest first, newest last**.  itsdangerous signs with
the last key and verifies with every key, newest first.  (Flask 3.1.0 built this
list in the wrong order and signed with a fallback key; GHSA-4grg-w6v8-c28g.)
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from itsdangerous import BadData, BadPayload, BadSignature, URLSafeSerializer
from itsdangerous import Signer as ItsSigner
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer

from voiceapp.errors import ConfigError, TokenExpired, TokenInvalid

#: Salts are ``SALT_PREFIX + purpose``.
SALT_PREFIX = "voiceapp.token."
#: Payload fields the signer owns; callers may not set them.
RESERVED_FIELDS = frozenset({"nonce", "exp"})


def key_list(secret_keys: Sequence[str | bytes]) -> list[bytes]:
    """The secret keys as itsdangerous wants them: oldest first, newest (signing) key last.

    ``secret_keys`` is the configured rotation list, written oldest → newest
    (``SECRET_KEYS = ["old", "new"]``).  To rotate, append a new key, deploy, and
    drop the oldest once every token signed with it has expired.  Raises
    :class:`~voiceapp.errors.ConfigError` (field ``SECRET_KEYS``) for an empty list,
    an empty key, or something that is not a string.
    """
    if isinstance(secret_keys, (str, bytes)):
        # A bare string is a list of characters to Sequence; take it as one key.
        secret_keys = [secret_keys]
    keys: list[bytes] = []
    for index, key in enumerate(secret_keys):
        if isinstance(key, str):
            raw = key.encode("utf-8")
        elif isinstance(key, bytes):
            raw = key
        else:
            raise ConfigError(
                f"secret key #{index} is a {type(key).__name__}, not a string",
                code="config-secret-key-type",
                field="SECRET_KEYS",
            )
        if not raw:
            raise ConfigError(
                f"secret key #{index} is empty", code="config-secret-key-empty", field="SECRET_KEYS"
            )
        keys.append(raw)
    if not keys:
        raise ConfigError(
            "no secret key configured", code="config-secret-keys-missing", field="SECRET_KEYS"
        )
    return keys


class _Serializer(URLSafeSerializer):
    """``URLSafeSerializer`` that never compresses what it signs.

    The stock one zlib-compresses a payload whenever that saves a byte: for our
    ~100-byte payloads it saves a few characters and costs two thirds of the time of
    issuing a token.  Loading is unchanged, so compressed tokens (a leading ``.``)
    still verify.
    """

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


class _KeySigner(ItsSigner):
    """itsdangerous' ``Signer`` remembering its derived keys (one HMAC less per token).

    A derived key depends only on the secret key and the salt, both fixed for the
    life of the signer.
    """

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        cache: dict[str | bytes | None, bytes] = self.__dict__.setdefault("_derived", {})
        key = cache.get(secret_key)
        if key is None:
            key = cache[secret_key] = super().derive_key(secret_key)
        return key


class Signer:
    """Issues and verifies purpose-bound, expiring tokens.

    ``secret_keys`` is the rotation list, oldest → newest (see :func:`key_list`);
    ``clock`` returns seconds since the epoch and decides both ``exp`` and expiry.
    """

    def __init__(
        self,
        secret_keys: Sequence[str | bytes],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = key_list(secret_keys)
        self.clock = clock
        self._purposes: dict[str, tuple[URLSafeSerializer, ItsSigner]] = {}

    def _serializer(self, purpose: str) -> tuple[URLSafeSerializer, ItsSigner]:
        """The serializer of ``purpose`` and its signer, made once.

        ``serializer.dumps`` / ``loads`` would build a new signer on every call;
        ``sign(dump_payload(...))`` and ``load_payload(unsign(...))`` with one kept
        signer are the same steps (no fallback signers are configured).
        """
        made = self._purposes.get(purpose)  # the signer is made once: its key cache lasts
        if made is None:
            if not purpose or not isinstance(purpose, str):
                raise ValueError("a token purpose is a non-empty string")
            serializer = _Serializer(self.keys, salt=SALT_PREFIX + purpose, signer=_KeySigner)
            made = self._purposes[purpose] = (serializer, serializer.make_signer())
        return made

    def issue(self, purpose: str, payload: Mapping[str, Any], ttl: int) -> tuple[str, float]:
        """A token for ``purpose`` carrying ``payload``, valid ``ttl`` seconds: (token, exp).

        ``payload`` must be JSON-serialisable and must not use the reserved fields
        ``nonce`` and ``exp``.
        """
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        clash = RESERVED_FIELDS.intersection(payload)
        if clash:
            raise ValueError(f"payload field(s) {sorted(clash)} are reserved for the signer")
        expires_at = float(self.clock()) + ttl
        body = {**payload, "nonce": secrets.token_urlsafe(16), "exp": expires_at}
        serializer, signer = self._serializer(purpose)
        token = signer.sign(serializer.dump_payload(body)).decode("ascii")
        return token, expires_at

    def verify(self, purpose: str, token: str) -> dict[str, Any]:
        """The payload of a valid, unexpired ``token`` of ``purpose`` (with ``nonce``, ``exp``).

        Raises :class:`~voiceapp.errors.TokenInvalid` (``token-malformed``,
        ``token-bad-signature``) or :class:`~voiceapp.errors.TokenExpired`
        (``token-expired``).  A token of another purpose fails as a bad signature:
        its salt differs.
        """
        if not isinstance(token, str) or not token or "." not in token:
            raise TokenInvalid("the token is not in the expected format", code="token-malformed")
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise TokenInvalid(
                "the token is not in the expected format", code="token-malformed"
            ) from None
        serializer, signer = self._serializer(purpose)
        try:
            payload = serializer.load_payload(signer.unsign(raw))
        except BadPayload:
            # Signed by us but not decodable: cannot happen for our own tokens.
            raise TokenInvalid("the token payload is damaged", code="token-malformed") from None
        except BadSignature:
            raise TokenInvalid(
                f"the token signature does not match (tampered, or not a {purpose} token)",
                code="token-bad-signature",
            ) from None
        except BadData:
            raise TokenInvalid("the token cannot be read", code="token-malformed") from None
        if not isinstance(payload, dict):
            raise TokenInvalid("the token payload is not an object", code="token-malformed")
        exp = payload.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
            raise TokenInvalid("the token has no expiry time", code="token-malformed")
        if not isinstance(payload.get("nonce"), str):
            raise TokenInvalid("the token has no nonce", code="token-malformed")
        if float(self.clock()) >= exp:
            raise TokenExpired("the token has expired", code="token-expired")
        return payload
