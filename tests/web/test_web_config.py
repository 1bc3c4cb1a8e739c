"""Settings: sources in order, typed values, errors naming the key, production refusal, rotation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from support.web import TO, new_session, path_of

from voiceapp.config import Settings, load_settings, setting_docs
from voiceapp.errors import ConfigError
from voiceapp.web import create_app

STRONG = "FrMGWrjBQ73VwS5hYw84bjr6EI5E3ImAfL3ohGWaRrU"  # secrets.token_urlsafe(32)


def test_defaults() -> None:
    settings, extra = load_settings(environ={})
    assert settings == Settings()
    assert settings.SECRET_KEYS == ("dev",)
    assert settings.REQUIRE_SIGNATURE == "none"
    assert settings.RETRY_WINDOW == 30.0
    assert extra == {}


def test_sources_apply_in_order(tmp_path: Path) -> None:
    file = tmp_path / "voiceapp.toml"
    file.write_text(
        'secret_keys = ["file-old", "file-new"]\n'
        "retry_window = 12\n"
        'store_url = "sqlite:///from-file.db"\n'
        "session_ttl = 300\n"
    )
    env = {
        "VOICEAPP_CONFIG": str(file),
        "VOICEAPP_API_KEYS": " k1, k2 ,,",
        "VOICEAPP_RETRY_WINDOW": "20.5",
        "VOICEAPP_TESTING": "yes",
        "VOICEAPP_UNRELATED": "ignored",
    }
    settings, _ = load_settings(environ=env, overrides={"SESSION_TTL": 100})
    assert settings.SECRET_KEYS == ("file-old", "file-new")  # file over defaults
    assert settings.STORE_URL == "sqlite:///from-file.db"
    assert settings.API_KEYS == ("k1", "k2")  # environment, comma-separated
    assert settings.RETRY_WINDOW == 20.5  # environment over file
    assert settings.TESTING is True
    assert settings.SESSION_TTL == 100  # overrides last
    # an explicit path wins over VOICEAPP_CONFIG
    other = tmp_path / "other.toml"
    other.write_text("session_ttl = 200\n")
    assert load_settings(other, environ=env)[0].SESSION_TTL == 200


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"VOICEAPP_RETRY_WINDOW": "soon"}, "RETRY_WINDOW"),
        ({"VOICEAPP_SESSION_TTL": "0"}, "SESSION_TTL"),
        ({"VOICEAPP_REQUIRE_SIGNATURE": "maybe"}, "REQUIRE_SIGNATURE"),
        ({"VOICEAPP_STORE_URL": "postgres://db"}, "STORE_URL"),
        ({"VOICEAPP_PUBLIC_URL": "voice.example.com"}, "PUBLIC_URL"),
        ({"VOICEAPP_DEBUG": "perhaps"}, "DEBUG"),
        ({"VOICEAPP_DEFAULT_REGION": "Taiwan"}, "DEFAULT_REGION"),
        ({"VOICEAPP_SECRET_KEYS": " , "}, "SECRET_KEYS"),
        ({"VOICEAPP_SESSION_TTL": "90000"}, "SESSION_TTL"),  # > MAX_SESSION_TTL
        ({"VOICEAPP_REQUIRE_SIGNATURE": "twilio"}, "TWILIO_AUTH_TOKEN"),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env)
    assert info.value.field == key
    assert key in str(info.value)


def test_bad_toml(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("api_keys = 5\n")
    with pytest.raises(ConfigError) as info:
        load_settings(file, environ={})
    assert info.value.field == "API_KEYS" and str(file) in str(info.value)
    file.write_text("retry_windw = 5\n")
    with pytest.raises(ConfigError) as info:
        load_settings(file, environ={})
    assert info.value.field == "retry_windw" and info.value.code == "config-unknown"
    file.write_text("clock = 5\n")  # tests only, never from a file
    with pytest.raises(ConfigError):
        load_settings(file, environ={})
    file.write_text("api_keys = [\n")
    with pytest.raises(ConfigError) as info:
        load_settings(file, environ={})
    assert info.value.code == "config-syntax"
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "missing.toml", environ={})
    assert "does not exist" in str(info.value)


def test_unknown_test_config_keys_are_refused_but_flask_keys_pass() -> None:
    with pytest.raises(ConfigError) as info:
        create_app({"TESTING": True, "SECRET_KEY_LIST": ["x"]})
    assert info.value.field == "SECRET_KEY_LIST"


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"SECRET_KEYS": ["dev"]},
        {"SECRET_KEYS": [STRONG, "changeme"]},
        {"SECRET_KEYS": ["short-secret"]},
        {"SECRET_KEYS": [STRONG], "API_KEYS": ["k1"]},
    ],
)
def test_production_start_with_a_dev_secret_refuses_to_boot(
    config: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VOICEAPP_SECRET_KEYS", "VOICEAPP_DEBUG", "VOICEAPP_TESTING", "VOICEAPP_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    store = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(ConfigError) as info:
        create_app({"STORE_URL": store, **config})
    assert info.value.code == "config-weak-secret"
    assert info.value.field in ("SECRET_KEYS", "API_KEYS")
    # the same secrets are fine for local work
    create_app({"STORE_URL": store, "DEBUG": True, "DIALER": "external", **config})


def test_production_start_with_strong_secrets(tmp_path: Path) -> None:
    app = create_app(
        {
            "STORE_URL": f"sqlite:///{tmp_path / 'x.db'}",
            "SECRET_KEYS": [STRONG],
            "DIALER": "external",  # the embedded dialer would outlive this test
        }
    )
    assert app.config["SECRET_KEYS"] == (STRONG,)
    assert not app.testing and not app.debug


def test_settings_docs_cover_every_setting() -> None:
    names = [row[0] for row in setting_docs()]
    assert names == list(Settings.__dataclass_fields__)
    assert all(row[3] for row in setting_docs())


# -- key rotation through the config -------------------------------------------------------


def test_key_rotation_via_config(make_app: Callable[..., Flask]) -> None:
    old_app = make_app(SECRET_KEYS=["key-old-0000000000"])
    both = make_app(SECRET_KEYS=["key-old-0000000000", "key-new-0000000000"])
    new_only = make_app(SECRET_KEYS=["key-new-0000000000"])
    # a token of the rotation deployment verifies with the newest key alone...
    url = new_session(both.test_client())["url"]
    assert new_only.test_client().post(path_of(url), data={"To": TO}).status_code == 200
    # ...and not with the old key alone (it was not signed with it)
    url = new_session(both.test_client())["url"]
    response = old_app.test_client().post(path_of(url), data={"To": TO})
    assert response.status_code == 403
    # tokens issued before the rotation still work during it
    url = new_session(old_app.test_client())["url"]
    assert both.test_client().post(path_of(url), data={"To": TO}).status_code == 200
    # and stop working once the old key is dropped
    url = new_session(old_app.test_client())["url"]
    assert new_only.test_client().post(path_of(url), data={"To": TO}).status_code == 403


def test_key_rotation_via_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from support.web import API_KEY

    def app_from_env() -> Flask:
        store = f"sqlite:///{tmp_path / 'env.db'}"
        return create_app({"TESTING": True, "API_KEYS": [API_KEY], "STORE_URL": store})

    monkeypatch.setenv("VOICEAPP_SECRET_KEYS", "env-old-000000000000, env-new-000000000000")
    both = app_from_env()
    assert both.config["SECRET_KEYS"] == ("env-old-000000000000", "env-new-000000000000")
    monkeypatch.setenv("VOICEAPP_SECRET_KEYS", "env-new-000000000000")
    new_only = app_from_env()
    url = new_session(both.test_client())["url"]
    assert new_only.test_client().post(path_of(url), data={"To": TO}).status_code == 200
