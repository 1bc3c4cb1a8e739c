"""Signed tokens: key rotation order, purposes, tampering, expiry with a controlled clock."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer
from support.clocks import Clock

from voiceapp.errors import ConfigError, TokenExpired, TokenInvalid
from voiceapp.tokens import SALT_PREFIX, Signer, key_list

T0 = 1_800_000_000.0


# -- key_list ----------------------------------------------------------------------------------


def test_key_list_keeps_oldest_first_newest_last_as_bytes() -> None:
    assert key_list(["old", b"middle", "new"]) == [b"old", b"middle", b"new"]
    assert key_list(("ключ",)) == ["ключ".encode()]
    assert key_list("only") == [b"only"]  # a bare string is one key, not its characters


@pytest.mark.parametrize(
    ("keys", "code"),
    [
        ([], "config-secret-keys-missing"),
        (["good", ""], "config-secret-key-empty"),
        ([b""], "config-secret-key-empty"),
        (["good", 42], "config-secret-key-type"),
        ([None], "config-secret-key-type"),
    ],
)
def test_key_list_refuses_unusable_keys(keys: Any, code: str) -> None:
    with pytest.raises(ConfigError) as info:
        key_list(keys)
    assert (info.value.code, info.value.field) == (code, "SECRET_KEYS")


def test_a_new_token_verifies_with_the_newest_key_alone() -> None:
    token, _ = Signer(["old", "new"]).issue("voice", {"sid": "s"}, 600)
    assert Signer(["new"]).verify("voice", token)["sid"] == "s"
    with pytest.raises(TokenInvalid) as info:
        Signer(["old"]).verify("voice", token)
    assert info.value.code == "token-bad-signature"
    # the same holds for itsdangerous itself: the token is signed with the last key
    assert URLSafeSerializer("new", salt=SALT_PREFIX + "voice").loads(token)["sid"] == "s"


def test_tokens_of_the_old_key_still_verify_during_a_rotation() -> None:
    before, _ = Signer(["old"]).issue("voice", {"sid": "s"}, 600)
    assert Signer(["old", "new"]).verify("voice", before)["sid"] == "s"
    with pytest.raises(TokenInvalid):
        Signer(["new"]).verify("voice", before)  # once "old" is dropped, it is gone


# -- payload, nonce, purposes -----------------------------------------------------------------


def test_issue_adds_a_nonce_and_the_expiry() -> None:
    clock = Clock()
    signer = Signer(["k"], clock=clock)
    token, expires_at = signer.issue("voice", {"sid": "s", "to": "+1"}, 600)
    twin, _ = signer.issue("voice", {"sid": "s", "to": "+1"}, 600)
    assert expires_at == T0 + 600
    payload = signer.verify("voice", token)
    assert payload["sid"] == "s" and payload["to"] == "+1" and payload["exp"] == expires_at
    assert len(payload["nonce"]) >= 16
    assert twin != token
    assert signer.verify("voice", twin)["nonce"] != payload["nonce"]


def test_a_token_of_one_purpose_is_invalid_for_another() -> None:
    signer = Signer(["k"])
    token, _ = signer.issue("voice", {"sid": "s"}, 600)
    with pytest.raises(TokenInvalid) as info:
        signer.verify("step", token)
    assert (info.value.code, info.value.status) == ("token-bad-signature", 403)


@pytest.mark.parametrize(
    ("payload", "ttl"),
    [({"nonce": "mine"}, 60), ({"exp": 1}, 60), ({}, 0), ({}, -5), ({}, True)],
)
def test_issue_refuses_reserved_fields_and_bad_ttls(payload: dict[str, Any], ttl: Any) -> None:
    with pytest.raises(ValueError):
        Signer(["k"]).issue("voice", payload, ttl)


# -- tampering and format ------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_payload_swapped_under_a_valid_signature_is_invalid() -> None:
    signer = Signer(["k"])
    token, _ = signer.issue("voice", {"sid": "mine", "to": "+1"}, 600)
    payload = signer.verify("voice", token)
    forged = _b64({**payload, "to": "+2"}) + "." + token.rsplit(".", 1)[1]
    with pytest.raises(TokenInvalid) as info:
        signer.verify("voice", forged)
    assert info.value.code == "token-bad-signature"


@pytest.mark.parametrize(
    "token", ["", "plain", ".", "a.b", "é.é", "eyJ.sig.extra", "x" * 500, " . "]
)
def test_malformed_tokens_are_invalid(token: str) -> None:
    with pytest.raises(TokenInvalid) as info:
        Signer(["k"]).verify("voice", token)
    assert info.value.code in {"token-malformed", "token-bad-signature"}


def test_a_correctly_signed_token_without_expiry_or_nonce_is_malformed() -> None:
    raw = URLSafeSerializer([b"k"], salt=SALT_PREFIX + "voice")
    for payload in ({"sid": "s", "nonce": "n"}, {"sid": "s", "exp": T0 + 1}, ["not", "a", "dict"]):
        with pytest.raises(TokenInvalid) as info:
            Signer(["k"], clock=Clock()).verify("voice", raw.dumps(payload))
        assert info.value.code == "token-malformed"


@settings(max_examples=150, deadline=None)
@given(position=st.integers(min_value=0), replacement=st.sampled_from("AbZ09-_.x"))
def test_no_single_character_change_verifies(position: int, replacement: str) -> None:
    signer = Signer(["k"], clock=Clock())
    token, _ = signer.issue("voice", {"sid": "s", "to": "+14155550123"}, 600)
    index = position % len(token)
    changed = token[:index] + replacement + token[index + 1 :]
    if changed == token:
        return
    try:
        payload = signer.verify("voice", changed)
    except TokenInvalid:
        return
    # base64 can carry the same bytes in two spellings of its last character; if so, the
    # payload must be the one we signed
    assert payload == signer.verify("voice", token)


# -- expiry ------------------------------------------------------------------------------------


def test_expiry_boundary_with_a_controlled_clock() -> None:
    clock = Clock()
    signer = Signer(["k"], clock=clock)
    token, expires_at = signer.issue("voice", {"sid": "s"}, 600)
    clock.now = expires_at - 1
    assert signer.verify("voice", token)["sid"] == "s"
    clock.now = expires_at - 0.001
    assert signer.verify("voice", token)["sid"] == "s"
    for now in (expires_at, expires_at + 1, expires_at + 86400):
        clock.now = now
        with pytest.raises(TokenExpired) as info:
            signer.verify("voice", token)
        assert (info.value.code, info.value.status) == ("token-expired", 410)


def test_a_tampered_expired_token_is_invalid_not_expired() -> None:
    clock = Clock()
    signer = Signer(["k"], clock=clock)
    token, expires_at = signer.issue("voice", {"sid": "s"}, 60)
    clock.now = expires_at + 1
    with pytest.raises(TokenInvalid):
        signer.verify("voice", token[:-3] + "abc")
