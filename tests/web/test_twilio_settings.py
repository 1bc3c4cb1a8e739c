"""TWILIO_ACCOUNTS: the Twilio-compatible API's accounts, from a file or the environment;
tokens are secrets (never in a message, one purpose, strong in production)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voiceapp.config import load_settings
from voiceapp.errors import ConfigError

SID_A = "AC" + "0a" * 16
SID_B = "AC" + "1B" * 16
TOKEN_A = "7f3c2a9e41d04b6c8e5f1a2b3c4d5e6f"  # 32 hex digits, as Twilio's
TOKEN_B = "FrMGWrjBQ73VwS5hYw84bjr6EI5E3ImAfL3ohGWaRrU"


def test_accounts_from_a_toml_table(tmp_path: Path) -> None:
    file = tmp_path / "voiceapp.toml"
    file.write_text(f'[twilio_accounts]\n{SID_A} = "{TOKEN_A}"\n{SID_B} = "{TOKEN_B}"\n')
    settings, _ = load_settings(file, environ={})
    assert settings.TWILIO_ACCOUNTS == ((SID_A, TOKEN_A), (SID_B, TOKEN_B))
    assert settings.twilio_token(SID_A) == TOKEN_A
    assert settings.twilio_token(SID_B) == TOKEN_B
    assert settings.twilio_token("AC" + "f" * 32) is None


def test_accounts_from_the_environment() -> None:
    env = {"VOICEAPP_TWILIO_ACCOUNTS": f" {SID_A}={TOKEN_A} ,{SID_B}={TOKEN_B},"}
    settings, _ = load_settings(environ=env)
    assert settings.twilio_token(SID_A) == TOKEN_A
    assert settings.twilio_token(SID_B) == TOKEN_B


def test_no_accounts_by_default() -> None:
    settings, _ = load_settings(environ={})
    assert settings.TWILIO_ACCOUNTS == ()
    assert settings.twilio_token(SID_A) is None


@pytest.mark.parametrize(
    "value",
    [
        f"AC123={TOKEN_A}",  # not 32 hex digits
        f"XY{'0' * 32}={TOKEN_A}",
        SID_A,  # no token
        f"{SID_A}=",
    ],
)
def test_bad_accounts_name_the_key_never_the_token(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"VOICEAPP_TWILIO_ACCOUNTS": value})
    assert info.value.field == "TWILIO_ACCOUNTS"
    assert TOKEN_A not in str(info.value)


def test_a_bad_table_value(tmp_path: Path) -> None:
    file = tmp_path / "voiceapp.toml"
    file.write_text(f"[twilio_accounts]\n{SID_A} = 5\n")
    with pytest.raises(ConfigError) as info:
        load_settings(file, environ={})
    assert info.value.field == "TWILIO_ACCOUNTS"


def test_a_token_may_not_be_an_api_key() -> None:
    env = {"VOICEAPP_TWILIO_ACCOUNTS": f"{SID_A}={TOKEN_B}", "VOICEAPP_API_KEYS": TOKEN_B}
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env)
    assert info.value.code == "config-secret-reused"
    assert TOKEN_B not in str(info.value)


def test_production_refuses_a_weak_token() -> None:
    strong = "Qm9vdHN0cmFwLWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY"  # not a published key
    env = {"VOICEAPP_TWILIO_ACCOUNTS": f"{SID_A}=changeme", "VOICEAPP_SECRET_KEYS": strong}
    settings, _ = load_settings(environ=env)
    with pytest.raises(ConfigError) as info:
        settings.check_production(dialer=False)
    assert (info.value.code, info.value.field) == ("config-weak-secret", "TWILIO_ACCOUNTS")
    assert "changeme" not in str(info.value)
