"""The [sip] table and the [network] backend choice: checked, located, secret-safe."""

from __future__ import annotations

from typing import Any

import pytest

from voiceapp.config import load_settings
from voiceapp.errors import ConfigError
from voiceapp.settings_tables.network import BACKENDS, NetworkConfig
from voiceapp.settings_tables.sip import SipConfig


def test_defaults_and_a_full_table() -> None:
    assert NetworkConfig().backend == "simulated" and BACKENDS == ("simulated", "sip", "carrier")
    config = SipConfig.from_dict(
        {
            "trunk": "sip:pbx.example:5070;transport=udp",
            "username": "alice",
            "password": "s3cret-trunk-password",
            "from_domain": "voice.example",
            "local_host": "127.0.0.1",
            "sip_ports": [5080, 5081],
            "rtp_ports": [30000, 30099],
            "routes": {"+18005797676": "sip:ivr.example"},
        }
    )
    assert config.route("+18005797676") == "sip:ivr.example"
    assert config.route("+886912345678") == "sip:pbx.example:5070;transport=udp"
    assert config.domain == "voice.example"
    assert "s3cret" not in repr(config) and "***" in repr(config)


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"trunk": "http://x"}, "sip.trunk"),
        ({"trunk": "sip:h:70000"}, "sip.trunk"),
        ({"username": "alice"}, "sip.password"),
        ({"username": 3, "password": "x"}, "sip.username"),
        ({"from_domain": "bad domain"}, "sip.from_domain"),
        ({"local_host": "localhost"}, "sip.local_host"),
        ({"sip_ports": [6000]}, "sip.sip_ports"),
        ({"rtp_ports": [30099, 30000]}, "sip.rtp_ports"),
        ({"rtp_ports": [80, 90]}, "sip.rtp_ports"),
        ({"routes": {"1800": "sip:h"}}, 'sip.routes."1800"'),
        ({"routes": {"+18005797676": "tel:1"}}, 'sip.routes."+18005797676"'),
        ({"proxy": "sip:h"}, "sip.proxy"),
    ],
)
def test_bad_sip_tables_name_the_key(table: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        SipConfig.from_dict(table)
    assert info.value.code == "config-sip"
    assert info.value.field == field


def test_bad_backend_is_located() -> None:
    with pytest.raises(ConfigError) as info:
        NetworkConfig.from_dict({"backend": "pstn"})
    assert info.value.field == "network.backend"


def test_settings_choose_the_sip_backend(tmp_path: Any) -> None:
    from voiceapp.dialer.sip_backend import SipNetwork
    from voiceapp.dialer.worker import Dialer
    from voiceapp.stores.calls.sqlite import SQLiteCallStore

    file = tmp_path / "voiceapp.toml"
    file.write_text(
        'testing = true\n[network]\nbackend = "sip"\n'
        '[sip]\ntrunk = "sip:127.0.0.1:5070"\nusername = "alice"\npassword = "wonderland"\n'
    )
    settings, _ = load_settings(str(file), environ={})
    assert settings.NETWORK.backend == "sip" and settings.SIP.username == "alice"
    store = SQLiteCallStore(str(tmp_path / "calls.db"))
    try:
        dialer = Dialer(settings, store, worker_id="w-sip")
        assert isinstance(dialer.network, SipNetwork)
        assert dialer.network.credentials is not None
        assert "wonderland" not in repr(dialer.network.credentials)
        dialer.clock.close()
    finally:
        store.close()
