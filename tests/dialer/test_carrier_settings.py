"""The ``[carrier]`` table and ``[network] backend = "carrier"``: refusals located by key,
the auth token kept secret (strong in production, one purpose, never in a repr), and the
dialer building its carrier backend from the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voiceapp.config import load_settings
from voiceapp.dialer.carrier_backend import CarrierNetwork
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.worker import Dialer
from voiceapp.errors import ConfigError
from voiceapp.settings_tables.carrier import CarrierConfig
from voiceapp.stores.calls import open_call_store

STRONG = "k3Jx9QvN2mR7tL5wY8zA1bC4dE6fG0hI"
GOOD = {"base_url": "https://api.twilio.com/", "account_sid": "AC" + "a" * 32, "auth_token": STRONG}


def settings(**overrides: Any) -> Any:
    return load_settings(environ={}, overrides={"TESTING": True, **overrides})[0]


def test_a_good_table() -> None:
    carrier = settings(CARRIER=GOOD).CARRIER
    assert carrier == CarrierConfig("https://api.twilio.com", "AC" + "a" * 32, STRONG)
    assert carrier.calls_url == f"https://api.twilio.com/2010-04-01/Accounts/AC{'a' * 32}/Calls"
    assert STRONG not in repr(carrier)


@pytest.mark.parametrize(
    ("table", "field", "words"),
    [
        ({**GOOD, "region": "us1"}, "carrier.region", "unknown key"),
        ({k: v for k, v in GOOD.items() if k != "auth_token"}, "carrier.auth_token", "required"),
        ({**GOOD, "account_sid": ""}, "carrier.account_sid", "non-empty"),
        ({**GOOD, "account_sid": "AC 1"}, "carrier.account_sid", "letters, digits"),
        ({**GOOD, "base_url": "ftp://api.twilio.com"}, "carrier.base_url", "http(s)"),
        ({**GOOD, "base_url": "https://u:p@api.twilio.com"}, "carrier.base_url", "user info"),
        ({**GOOD, "auth_token": 42}, "carrier.auth_token", "string"),
    ],
)
def test_bad_tables_are_refused_by_key(table: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(CARRIER=table)
    assert info.value.code == "config-carrier" and info.value.field == field
    assert words in info.value.message
    assert STRONG not in info.value.message


def test_the_backend_choice() -> None:
    with pytest.raises(ConfigError) as info:
        settings(NETWORK={"backend": "carrier"})
    assert info.value.code == "config-carrier" and info.value.field == "CARRIER"
    with pytest.raises(ConfigError) as public:
        settings(NETWORK={"backend": "carrier"}, CARRIER=GOOD)
    assert public.value.code == "config-public-url" and public.value.field == "PUBLIC_URL"
    with pytest.raises(ConfigError) as bad:
        settings(NETWORK={"backend": "pstn"})
    assert bad.value.field == "network.backend" and "simulated" in bad.value.message
    assert settings().NETWORK.backend == "simulated"


def test_the_token_is_a_secret_of_its_own() -> None:
    weak = {**GOOD, "auth_token": "changeme"}
    strong_keys = {"SECRET_KEYS": ["p" + STRONG[1:]], "CARRIER": weak}
    production, _ = load_settings(environ={}, overrides=strong_keys)
    with pytest.raises(ConfigError) as info:
        production.check_production(dialer=False)
    assert info.value.code == "config-weak-secret" and info.value.field == "CARRIER"
    assert "changeme" not in info.value.message
    with pytest.raises(ConfigError) as reused:
        settings(CARRIER=GOOD, API_KEYS=[STRONG])
    assert reused.value.code == "config-secret-reused"


def test_the_carriers_requests_are_checked_with_its_token() -> None:
    s = settings(CARRIER=GOOD, REQUIRE_SIGNATURE="twilio")
    assert s.twilio_signing_token(GOOD["account_sid"]) == STRONG
    assert s.twilio_signing_token("AC" + "b" * 32) is None


def test_the_dialer_builds_its_carrier_backend(tmp_path: Path) -> None:
    s = settings(
        CARRIER=GOOD, NETWORK={"backend": "carrier"}, PUBLIC_URL="https://voice.example.com"
    )
    store = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}")
    try:
        dialer = Dialer(s, store, clock=VirtualClock())
        assert isinstance(dialer.network, CarrierNetwork) and dialer.network.runs_documents
        assert dialer.network.public_url == "https://voice.example.com"
    finally:
        store.close()
