"""The [compat] table: examples/vendors.toml loads; every mistake names its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.compat import SEED_UUID, VENDORS, vendors_compat

from voiceapp.config import load_settings
from voiceapp.errors import ConfigError
from voiceapp.settings_tables.compat import CompatConfig
from voiceapp.web import create_app

AGENT = f"compat.feather.agents.{SEED_UUID}"


def test_the_example_file_loads() -> None:
    settings, _ = load_settings(VENDORS, environ={})
    compat = settings.COMPAT
    assert isinstance(compat, CompatConfig)
    assert compat.pathors is not None and compat.pathors.projects["proj_abc123"].app == "greeting"
    assert compat.feather is not None and compat.feather.teams[SEED_UUID].members == (SEED_UUID,)
    assert compat.feather.agents[SEED_UUID].declared["priority"] == ("low", "normal", "high")
    assert (
        compat.thunderphone is not None
        and compat.thunderphone.numbers["+15551234567"].outbound_agent == 12
    )
    assert compat.polyai is not None and compat.polyai.status_retention == 7200.0
    # its keys are published: fine for tests on 127.0.0.1, refused by a production start
    with pytest.raises(ConfigError) as info:
        settings.check_production()
    assert (info.value.code, info.value.field) == ("config-weak-secret", "SECRET_KEYS")
    assert "vendors-token-signing-key-localhost" not in info.value.message


def _set(data: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    if value is KeyError:
        del data[path[-1]]
    else:
        data[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["feather", "agents", SEED_UUID, "app"], "nope", f"{AGENT}.app"),
        (
            ["feather", "agents", SEED_UUID, "context_variables", "x"],
            "date",
            f"{AGENT}.context_variables.x",
        ),
        (
            ["feather", "agents", SEED_UUID, "context_variables", "x"],
            [],
            f"{AGENT}.context_variables.x",
        ),
        (["feather", "agents", SEED_UUID, "colour"], "red", f"{AGENT}.colour"),
        (
            ["feather", "numbers", "not-a-uuid"],
            {"number": "+19499300360"},
            "compat.feather.numbers.not-a-uuid",
        ),
        (
            ["feather", "numbers", SEED_UUID, "number"],
            "0912345678",
            f"compat.feather.numbers.{SEED_UUID}.number",
        ),
        (
            ["feather", "numbers", SEED_UUID, "agents"],
            ["00000000-0000-4000-8000-000000000000"],
            f"compat.feather.numbers.{SEED_UUID}.agents[0]",
        ),
        (
            ["feather", "teams", SEED_UUID, "members"],
            [],
            f"compat.feather.teams.{SEED_UUID}.members",
        ),
        (
            ["thunderphone", "numbers", "+15551234567", "outbound_agent"],
            99,
            "compat.thunderphone.numbers.+15551234567.outbound_agent",
        ),
        (
            ["thunderphone", "numbers", "+15551234567", "voip"],
            "yes",
            "compat.thunderphone.numbers.+15551234567.voip",
        ),
        (["thunderphone", "agents", "x"], {"app": "greeting"}, "compat.thunderphone.agents.x"),
        (["thunderphone", "balance"], "lots", "compat.thunderphone.balance"),
        (
            ["pathors", "projects", "proj_abc123", "numbers"],
            ["123"],
            "compat.pathors.projects.proj_abc123.numbers[0]",
        ),
        (["pathors", "api_keys"], "one-key", "compat.pathors.api_keys"),
        (
            ["polyai", "connectors", "inbound-only", "token"],
            "polyai-token-for-localhost-only",
            "compat.polyai.connectors.inbound-only.token",
        ),
        (["polyai", "status_retention"], -1, "compat.polyai.status_retention"),
        (["twilio"], {}, "compat.twilio"),
    ],
)
def test_a_mistake_names_its_key(path: list[str], value: Any, field: str) -> None:
    compat = vendors_compat()
    _set(compat, path, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(VENDORS, environ={}, overrides={"COMPAT": compat})
    assert caught.value.field == field, caught.value.message
    assert caught.value.message.startswith(field + ":")


def test_a_mistake_in_the_file_names_its_key(tmp_path: Path) -> None:
    text = VENDORS.read_text(encoding="utf-8").replace("outbound_agent = 12", "outbound_agent = 13")
    broken = tmp_path / "vendors.toml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(broken, environ={})
    assert caught.value.field == "compat.thunderphone.numbers.+15551234567.outbound_agent"


def test_a_vendor_number_must_be_an_outbound_number(tmp_path: Path) -> None:
    numbers = {"+1234567890": "active", "+19499300361": "inactive", "+15551234567": "active"}
    config = {
        "TESTING": True,
        "STORE_URL": f"sqlite:///{tmp_path / 'v.db'}",
        "DIALER": "external",
        "OUTBOUND_NUMBERS": numbers,  # +19499300360 (Feather, PolyAI) left out
    }
    with pytest.raises(ConfigError) as caught:
        create_app(config, config_file=VENDORS)
    assert caught.value.field == f"compat.feather.numbers.{SEED_UUID}.number"
    assert "OUTBOUND_NUMBERS" in caught.value.message
