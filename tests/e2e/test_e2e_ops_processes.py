"""``voiceapp serve`` started in an empty folder (its SQLite store lands in that folder's
``instance/``) and a separate ``voiceapp dialer --json --metrics-port``: readiness waits for
the dialer, the dialer prints JSON lines, and its own /metrics shows the call it dialed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from support.e2e import AUTH, FROM, PIN_CALLEE, VOICEAPP, clean_env, finished
from support.net import free_port
from support.servers import wait_for


def write_config(path: Path, port: int) -> None:
    path.write_text(
        f"""
testing = true
dialer = "external"
dialer_poll = 0.1
api_keys = ["e2e-api-key"]
secret_keys = ["e2e-secret-key-0123456789"]
default_region = "TW"
url_allowlist = ["127.0.0.1:{port}"]
log_format = "json"

[outbound_numbers]
"{FROM}" = "active"

[network]
ring_seconds = 0.2

[network.numbers."{PIN_CALLEE}"]
rings = 1
""",
        encoding="utf-8",
    )


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.timeout(120)
def test_serve_from_an_empty_folder_and_a_separate_dialer(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    config = tmp_path / "voiceapp.toml"
    write_config(config, port)
    folder = tmp_path / "empty"
    folder.mkdir()
    base = f"http://127.0.0.1:{port}"
    serve_log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [VOICEAPP, "serve", "--config", str(config), "--port", str(port)],
        cwd=folder,
        stdout=serve_log,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
    )
    dialer: subprocess.Popen[str] | None = None
    try:

        def up() -> bool:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return requests.get(base + "/v1/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout=30)
        database = folder / "instance" / "voiceapp.db"
        assert database.is_file()  # the current folder's instance/, not the checkout's
        not_ready = requests.get(base + "/v1/ready", timeout=10)
        assert not_ready.status_code == 503 and not_ready.json()["reason"] == "no-dialer"

        env = {**clean_env(), "VOICEAPP_STORE_URL": f"sqlite:///{database}"}
        argv = [VOICEAPP, "dialer", "--config", str(config), "--json"]
        dialer = subprocess.Popen(
            [*argv, "--metrics-port", str(metrics_port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert dialer.stdout is not None
        first = json.loads(dialer.stdout.readline())
        assert first["event"] == "ready" and len(first["workers"]) == 1
        wait_for(lambda: requests.get(base + "/v1/ready", timeout=10).status_code == 200)

        response = requests.post(
            base + "/v1/calls",
            json={"from": FROM, "to": PIN_CALLEE, "app": "pin", "variables": {"pin": "8970"}},
            headers=AUTH,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        sid = response.json()["sid"]

        class Remote:
            def call(self, sid: str) -> dict[str, object]:
                got = requests.get(f"{base}/v1/calls/{sid}", headers=AUTH, timeout=10)
                data: dict[str, object] = got.json()
                return data

        assert finished(Remote(), sid)["status"] == "completed"
        ended = json.loads(dialer.stdout.readline())
        assert (ended["event"], ended["sid"], ended["status"]) == ("ended", sid, "completed")

        text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        got = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert got[("voiceapp_document_fetch_seconds_count", (("result", "ok"),))] >= 1
        assert got[("voiceapp_calls", (("status", "completed"),))] == 1
        assert got[("voiceapp_dialers", ())] == 1
    finally:
        if dialer is not None:
            stop(dialer)
        stop(server)
        serve_log.close()
    assert dialer is not None and dialer.stdout is not None
    assert dialer.stderr is not None
    with dialer.stdout, dialer.stderr:
        rest = [json.loads(line) for line in dialer.stdout.read().splitlines() if line.strip()]
        errors = dialer.stderr.read().splitlines()
    assert rest[-1] == {"event": "stopped"}
    for line in errors:  # LOG_FORMAT = json: every line is JSON
        assert json.loads(line)["logger"].startswith("voiceapp")
