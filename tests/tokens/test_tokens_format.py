"""Token format details kept by the faster signer: no compression, older tokens still open."""

from __future__ import annotations

import secrets

from itsdangerous import URLSafeSerializer

from voiceapp.tokens import SALT_PREFIX, Signer

T0 = 1_800_000_000.0


def test_new_tokens_are_not_compressed() -> None:
    signer = Signer(["k" * 32], clock=lambda: T0)
    # A payload that zlib would shrink: the stock serializer would start it with ".".
    token, _ = signer.issue("voice", {"sid": "a" * 40, "to": "+14155550123"}, 60)
    assert not token.startswith(".")
    stock = URLSafeSerializer([b"k" * 32], salt=SALT_PREFIX + "voice")
    assert stock.loads(token)["sid"] == "a" * 40  # still plain itsdangerous


def test_compressed_tokens_from_the_stock_serializer_still_verify() -> None:
    stock = URLSafeSerializer([b"old" * 8, b"new" * 8], salt=SALT_PREFIX + "step")
    payload = {"sid": "s" * 40, "nonce": secrets.token_urlsafe(16), "exp": T0 + 60}
    token = stock.dumps(payload)
    assert token.startswith(".")  # compressed
    signer = Signer(["old" * 8, "new" * 8], clock=lambda: T0)
    assert signer.verify("step", token) == payload


def test_the_derived_key_cache_follows_each_key_of_the_rotation() -> None:
    old_only = Signer(["old" * 8], clock=lambda: T0)
    both = Signer(["old" * 8, "new" * 8], clock=lambda: T0)
    new_only = Signer(["new" * 8], clock=lambda: T0)
    old_token, _ = old_only.issue("voice", {"sid": "x"}, 60)
    new_token, _ = both.issue("voice", {"sid": "y"}, 60)
    for _ in range(3):  # repeated: the cached keys must not leak between secrets
        assert both.verify("voice", old_token)["sid"] == "x"
        assert both.verify("voice", new_token)["sid"] == "y"
        assert new_only.verify("voice", new_token)["sid"] == "y"
