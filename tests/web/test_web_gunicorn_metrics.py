"""Metrics under a real gunicorn with 2 workers, each with its embedded dialer, in
prometheus_client's multiprocess mode: whichever worker answers a scrape, it reports the
calls, fetches and dialer lag of both processes."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from support.net import free_port
from support.servers import wait_for
from support.web import GUNICORN_API_KEY, Gunicorn

FROM = "+19499300360"
CALLEES = [f"+88691200000{n}" for n in range(1, 5)]
AUTH = {"Authorization": f"Bearer {GUNICORN_API_KEY}"}


def config(port: int) -> str:
    numbers = "\n".join(f'"{number}" = {{ rings = 1 }}' for number in CALLEES)
    return f"""
outbound_numbers = {{ "{FROM}" = "active" }}
url_allowlist = ["127.0.0.1:{port}"]
dialer_poll = 0.05

[network]
ring_seconds = 0.2

[network.numbers]
{numbers}
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.mark.timeout(180)
def test_every_scrape_adds_up_every_worker(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "voiceapp.toml").write_text(config(port), encoding="utf-8")
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {
        "VOICEAPP_CONFIG": str(tmp_path / "voiceapp.toml"),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    store = f"sqlite:///{tmp_path / 'store.db'}"
    with Gunicorn(store, tmp_path, workers=2, env=env, port=port) as server:
        sids = []
        for callee in CALLEES:
            response = requests.post(
                server.base + "/v1/calls",
                json={
                    "from": FROM,
                    "to": callee,
                    "app": "pin",
                    "variables": {"pin": "8970", "repeat": 1},
                },
                headers=AUTH,
                timeout=30,
            )
            assert response.status_code == 201, response.text
            sids.append(response.json()["sid"])

        def status(sid: str) -> str:
            response = requests.get(f"{server.base}/v1/calls/{sid}", headers=AUTH, timeout=30)
            return str(response.json()["status"])

        wait_for(lambda: all(status(sid) == "completed" for sid in sids), timeout=60)
        ready = requests.get(server.base + "/v1/ready", timeout=30)
        assert ready.status_code == 200 and ready.json()["dialers"] == 2

        for _ in range(6):  # several scrapes: each may land on either worker
            response = requests.get(server.base + "/metrics", timeout=30)
            assert response.status_code == 200
            got = samples(response.text)
            assert got[("voiceapp_calls", (("status", "completed"),))] == len(CALLEES)
            assert got[("voiceapp_document_fetch_seconds_count", (("result", "ok"),))] == len(
                CALLEES
            )
            assert got[("voiceapp_dialer_lag_seconds_count", ())] == len(CALLEES)
            assert got[("voiceapp_dialers", ())] == 2
        assert any(multiproc.iterdir())  # the workers wrote their values there
