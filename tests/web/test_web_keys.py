"""One secret, one purpose; production refuses weak, published and reused secrets."""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from support.web import new_session

from voiceapp.config import load_settings
from voiceapp.errors import ConfigError
from voiceapp.keys import PUBLISHED_SECRETS, derive_key, weakness
from voiceapp.sessions import STEP_PURPOSE
from voiceapp.tokens import Signer
from voiceapp.web import create_app, runtime

ROOT = Path(__file__).resolve().parents[2]
TOKEN_KEY = "FrMGWrjBQ73VwS5hYw84bjr6EI5E3ImAfL3ohGWaRrU"
FETCH_KEY = "-pAaHMkBAantEHzxHEQhiIHygXUyWz8PqmQwUqV7mVE"
CALLBACK_KEY = "DbkQk65pyX8kHns1L2X-XKs9wXU3ieZ_z8MesJNb8Z0"
API_KEY = "Jwef78Cp3_oqYIwFNpNU04Ar4dTzoqtVkfRzo3xfpU0"
STRONG = {
    "SECRET_KEYS": [TOKEN_KEY],
    "SIGNATURE_SECRETS": [FETCH_KEY],
    "CALLBACK_SECRETS": [CALLBACK_KEY],
    "API_KEYS": [API_KEY],
}


def production(**settings: Any) -> None:
    """Load ``settings`` (no DEBUG/TESTING) and run the production start check."""
    loaded, _ = load_settings(environ={}, overrides={**STRONG, **settings})
    loaded.check_production(dialer=True)


def refused(**settings: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        production(**settings)
    return info.value


# -- a receiver's key mints nothing ------------------------------------------------------------


@pytest.fixture
def testing_app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    yield make_app(SECRET_KEYS=[TOKEN_KEY])


def test_the_default_callback_key_is_derived_and_cannot_mint_a_step_token(
    testing_app: Flask,
) -> None:
    with testing_app.app_context():
        rt = runtime()
        receiver_key = rt.settings.callback_secrets[-1]
        fetch_key = rt.settings.signature_secrets[-1]
    # documented derivation: hex HMAC-SHA256 of the purpose label under each token key
    expected = hmac.new(
        TOKEN_KEY.encode(), b"voiceapp.signature.callback.v1", hashlib.sha256
    ).hexdigest()
    assert receiver_key == expected == derive_key(TOKEN_KEY, "callback")
    assert len({receiver_key, fetch_key, TOKEN_KEY}) == 3

    client = testing_app.test_client()
    token = new_session(client, app="pin-verify")["token"]
    with testing_app.app_context():
        rt = runtime()
        session = rt.sessions.get(str(rt.signer.verify("voice", token)["sid"]))
        good = rt.sessions.step_token(session, "check", {"attempt": 1}, ttl=60)
    payload = {"sid": session.id, "step": "check", "data": {"attempt": 1}}
    for key in (receiver_key, fetch_key):  # what a receiver (or a fetch signer) holds
        forged, _ = Signer([key]).issue(STEP_PURPOSE, payload, 60)
        response = client.post(f"/voice/step/{forged}", data={"CallSid": "CA1", "Digits": "8970"})
        assert response.status_code == 403
        assert response.get_json(force=True)["code"] == "token-bad-signature"
    response = client.post(f"/voice/step/{good}", data={"CallSid": "CA1", "Digits": "8970"})
    assert response.status_code == 200  # the token key still signs what the server takes


# -- reuse is refused in every mode ------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"CALLBACK_SECRETS": [TOKEN_KEY]}, "CALLBACK_SECRETS"),
        ({"SIGNATURE_SECRETS": ["old-fetch-key", TOKEN_KEY]}, "SIGNATURE_SECRETS"),
        ({"API_KEYS": [TOKEN_KEY]}, "API_KEYS"),
        ({"CALLBACK_SECRETS": [FETCH_KEY]}, "CALLBACK_SECRETS"),
        ({"CALLBACK_RECEIVERS": {"hooks.example.com": [TOKEN_KEY]}}, "CALLBACK_RECEIVERS"),
        ({"CALLBACK_RECEIVERS": {"hooks.example.com": [API_KEY]}}, "API_KEYS"),
    ],
)
@pytest.mark.parametrize("mode", [{"TESTING": True}, {"DEBUG": True}, {}])
def test_a_secret_reused_across_purposes_refuses_to_start(
    settings: dict[str, Any], field: str, mode: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        create_app(
            {
                **STRONG,
                "STORE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                "DIALER": "external",
                **mode,
                **settings,
            }
        )
    assert (info.value.code, info.value.field) == ("config-secret-reused", field)
    assert TOKEN_KEY not in info.value.message and API_KEY not in info.value.message


def test_one_receiver_may_share_the_default_callback_secret() -> None:
    production(CALLBACK_RECEIVERS={"hooks.example.com": [CALLBACK_KEY]})


# -- weak secrets in production -----------------------------------------------------------------


WEAK = [
    ("demo-token-signing-key-localhost", "published"),  # examples/demo.toml
    ("vendors-api-key-for-localhost-only", "published"),  # examples/vendors.toml
    ("a" * 32, "repeated"),
    ("a" * 64, "repeated"),
    ("0123456789abcdef" * 2, "repeated"),
    ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "low entropy"),
    ("Zq3v9Xk2Lw8Rt5Yp1Nm7Bc4Hd6Gf0Js", "shorter than 32"),  # 31 random characters
    ("changeme", "development"),
]


@pytest.mark.parametrize(("secret", "why"), WEAK)
@pytest.mark.parametrize(
    "name", ["SECRET_KEYS", "SIGNATURE_SECRETS", "CALLBACK_SECRETS", "API_KEYS"]
)
def test_a_weak_secret_refuses_a_production_start(secret: str, why: str, name: str) -> None:
    error = refused(
        **{name: [STRONG[name][0], secret]} if name != "SECRET_KEYS" else {name: [secret]}
    )
    assert (error.code, error.field) == ("config-weak-secret", name)
    assert why in error.message
    assert secret not in error.message  # a secret is never in a message


def test_a_weak_receiver_secret_is_refused() -> None:
    error = refused(CALLBACK_RECEIVERS={"hooks.example.com": ["a" * 40]})
    assert (error.code, error.field) == ("config-weak-secret", "CALLBACK_RECEIVERS")


def test_strong_secrets_start_and_the_weak_ones_are_fine_for_local_work() -> None:
    production()
    for secret, _ in WEAK:
        assert weakness(secret) is not None
        settings, _ = load_settings(environ={}, overrides={"DEBUG": True, "SECRET_KEYS": [secret]})
        settings.check_production(dialer=True)  # DEBUG: derived keys, nothing refused


def test_production_needs_the_signing_secrets_it_uses() -> None:
    error = refused(CALLBACK_SECRETS=[])
    assert (error.code, error.field) == ("config-callback-secret", "CALLBACK_SECRETS")
    error = refused(SIGNATURE_SECRETS=[], REQUIRE_SIGNATURE="voiceapp")
    assert (error.code, error.field) == ("config-signing-secret", "SIGNATURE_SECRETS")
    settings, _ = load_settings(environ={}, overrides={**STRONG, "SIGNATURE_SECRETS": []})
    settings.check_production(dialer=True)  # REQUIRE_SIGNATURE = none: fetches go unsigned
    assert settings.signature_secrets == ()  # never derived, never SECRET_KEYS, in production
    assert settings.callback_secrets == (CALLBACK_KEY,)


def test_published_secrets_are_the_ones_in_the_example_files() -> None:
    found: set[str] = set()

    def walk(data: Any, key: str = "") -> None:
        if isinstance(data, dict):
            for name, value in data.items():
                walk(value, "secrets" if key == "callback_receivers" else name)
        elif isinstance(data, list):
            for item in data:
                walk(item, key)
        elif isinstance(data, str) and key in {
            "api_keys",
            "secret_keys",
            "signature_secrets",
            "callback_secrets",
            "secrets",
            "token",
        }:
            found.add(data)

    for path in sorted((ROOT / "examples").glob("*.toml")):
        walk(tomllib.loads(path.read_text(encoding="utf-8")))
    assert found == set(PUBLISHED_SECRETS)


def test_callback_receivers_pick_the_secret_by_host() -> None:
    other = "r_zAzaZUxRAD-5YN_jd5pMOhVZmbg-GAGv0toizw9m4"
    settings, _ = load_settings(
        environ={},
        overrides={
            **STRONG,
            "CALLBACK_RECEIVERS": {"hooks.example.com": [other], "127.0.0.1:8471": [other]},
        },
    )
    assert settings.callback_secrets_for("https://hooks.example.com/s") == (other,)
    assert settings.callback_secrets_for("https://HOOKS.example.com:443/s") == (other,)
    assert settings.callback_secrets_for("http://127.0.0.1:8471/status") == (other,)
    assert settings.callback_secrets_for("http://127.0.0.1:8472/status") == (CALLBACK_KEY,)
    assert settings.callback_secrets_for("https://elsewhere.example.com/") == (CALLBACK_KEY,)


def test_the_vendor_routes_keys_follow_the_same_rules() -> None:
    published = {"pathors": {"api_keys": ["pathors-key-for-localhost-only"]}}
    error = refused(COMPAT=published)
    assert (error.code, error.field) == ("config-weak-secret", "COMPAT")
    with pytest.raises(ConfigError) as info:  # any mode: a vendor key is no token key
        load_settings(
            environ={},
            overrides={"TESTING": True, **STRONG, "COMPAT": {"feather": {"api_keys": [TOKEN_KEY]}}},
        )
    assert (info.value.code, info.value.field) == ("config-secret-reused", "COMPAT")
    production(COMPAT={"polyai": {"connectors": {}}, "pathors": {"api_keys": [API_KEY]}})
