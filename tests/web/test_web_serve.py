"""``voiceapp serve --config FILE``: the development server, started as users start it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from support.net import free_port
from support.web import TO

VOICEAPP = str(Path(sys.executable).with_name("voiceapp"))


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VOICEAPP_")}


def test_serve_with_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "voiceapp.toml"
    config.write_text(
        f'secret_keys = ["serve-test-secret-DbkQk65pyX8kHns1L2X-XKs9wXU3"]\n'
        f'callback_secrets = ["serve-test-callbacks-r_zAzaZUxRAD-5YN_jd5pMOhVZ"]\n'
        f'api_keys = ["serve-test-api-key-_VwpqSC7L5zY2KiVzmOur8H8"]\n'
        f'store_url = "sqlite:///{tmp_path / "serve.db"}"\n'
        f'default_language = "zh-TW"\n'
    )
    port = free_port()
    proc = subprocess.Popen(
        [VOICEAPP, "serve", "--config", str(config), "--port", str(port)],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "voiceapp serve did not start"
            try:
                if requests.get(base + "/v1/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        created = requests.post(
            base + "/v1/sessions",
            json={"app": "pin", "to": TO, "variables": {"pin": "1234"}},
            headers={"X-API-Key": "serve-test-api-key-_VwpqSC7L5zY2KiVzmOur8H8"},
            timeout=10,
        )
        assert created.status_code == 201
        url = created.json()["url"]
        assert url.startswith(base + "/voice/")
        document = requests.get(url, params={"CallSid": "CA1", "To": TO}, timeout=10)
        assert document.status_code == 200
        assert "您的密碼是 1 2 3 4" in document.text  # default_language from the file
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('require_signature = "sometimes"\n')
    result = subprocess.run(
        [VOICEAPP, "serve", "--config", str(config), "--port", str(free_port())],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "REQUIRE_SIGNATURE" in result.stderr


def test_serve_refuses_dev_secrets_outside_debug(tmp_path: Path) -> None:
    result = subprocess.run(
        [VOICEAPP, "serve", "--port", str(free_port())],
        env={**clean_env(), "VOICEAPP_STORE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "SECRET_KEYS" in result.stderr
