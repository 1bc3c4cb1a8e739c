"""A server (``voiceapp serve``, embedded dialer, SQLite file) killed with SIGKILL in the
middle of a call: after a restart on the same store no call and no event is lost, the
interrupted call is settled, the queued one is dialed, and every stored event reaches
the callback receiver."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support.e2e import AUTH, FROM, PIN_CALLEE, VOICEAPP, HttpReceiver, clean_env, finished, problem
from support.net import free_port
from support.servers import wait_for

from voiceapp.stores.calls import open_call_store

SECOND = "+886912000333"


def write_config(path: Path, port: int, receiver_port: int, store: Path) -> None:
    path.write_text(
        f"""
testing = true
dialer = "embedded"
dialer_lease = 2.0
dialer_poll = 0.1
dialer_concurrency = 1
api_keys = ["e2e-api-key"]
secret_keys = ["e2e-secret-key-0123456789"]
store_url = "sqlite:///{store}"
default_region = "TW"
url_allowlist = ["127.0.0.1:{port}", "127.0.0.1:{receiver_port}"]

[outbound_numbers]
"{FROM}" = "active"

[callback_retry]
attempts = 6
first_delay = 0.2
max_delay = 1.0

[network]
ring_seconds = 0.5

[network.numbers."{PIN_CALLEE}"]
rings = 1

[network.numbers."{SECOND}"]
rings = 1
""",
        encoding="utf-8",
    )


class ServeProcess:
    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [VOICEAPP, "serve", "--config", str(self.config), "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=clean_env(),
            )

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                return requests.get(self.base + "/v1/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout=30)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def call(self, sid: str) -> dict[str, Any]:
        response = requests.get(f"{self.base}/v1/calls/{sid}", headers=AUTH, timeout=10)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[[int], ServeProcess]]:
    started: list[ServeProcess] = []

    def make(receiver_port: int) -> ServeProcess:
        port = free_port()
        config = tmp_path / "voiceapp.toml"
        write_config(config, port, receiver_port, tmp_path / "calls.db")
        server = ServeProcess(config, port, tmp_path / "serve.log")
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def test_sigkill_mid_call_loses_nothing(
    server_process: Callable[[int], ServeProcess],
    receiver: Callable[..., HttpReceiver],
    tmp_path: Path,
) -> None:
    rec = receiver()
    server = server_process(rec.port)
    server.start()
    events = "initiated ringing answered completed"
    fields = {"from": FROM, "statusCallback": rec.url, "statusCallbackEvent": events}
    first = requests.post(
        server.base + "/v1/calls",
        json={**fields, "to": PIN_CALLEE, "app": "pin", "variables": {"pin": "8970", "repeat": 5}},
        headers=AUTH,
        timeout=10,
    )
    second = requests.post(
        server.base + "/v1/calls",
        json={**fields, "to": SECOND, "app": "pin", "variables": {"pin": "1234", "repeat": 1}},
        headers=AUTH,
        timeout=10,
    )
    assert first.status_code == second.status_code == 201
    a, b = first.json()["sid"], second.json()["sid"]

    # mid-call: the PIN is being said; the second call waits (one call at a time)
    wait_for(lambda: server.call(a)["status"] == "in-progress", timeout=20)
    wait_for(lambda: any(e["event"] == "answered" for e in server.call(a)["events"]))
    before_a, before_b = server.call(a), server.call(b)
    assert before_b["status"] == "queued"
    server.kill()
    killed_at = time.time()

    # while it is down, nothing answers; the store file holds everything
    with pytest.raises(requests.ConnectionError):
        requests.get(server.base + "/v1/health", timeout=1)
    server.start()

    after_a = finished(server, a)
    after_b = finished(server, b)

    # no call, leg, status or event is lost; the interrupted call is settled, not redialed
    history_before = [c["status"] for c in before_a["legs"][0]["history"]]
    history_after = [c["status"] for c in after_a["legs"][0]["history"]]
    assert history_after[: len(history_before)] == history_before
    assert after_a["status"] == "completed"
    assert statuses_once(after_a)
    # settled with the duration its heartbeats vouch for, not up to the restart + lease
    answered_at = before_a["timestamps"]["in-progress"]
    assert after_a["recovered"] is True and after_b["recovered"] is False
    assert after_a["endedAt"] - answered_at > killed_at - answered_at + 1  # restart took time
    assert after_a["duration"] <= killed_at - answered_at + 0.5
    ids_before = [e["id"] for e in before_a["events"]]
    ids_after = [e["id"] for e in after_a["events"]]
    assert ids_after[: len(ids_before)] == ids_before
    assert ids_after == [f"{a}:{e}" for e in events.split()]
    for old in before_a["events"]:
        new = next(e for e in after_a["events"] if e["id"] == old["id"])
        assert new["attempts"][: len(old["attempts"])] == old["attempts"]
    # the queued call was dialed after the restart and ran normally
    assert after_b["status"] == "completed"
    assert [e["event"] for e in after_b["events"]] == events.split()
    # every stored event was delivered, and the receiver saw each one (at least once)
    for call in (after_a, after_b):
        assert all(e["state"] == "delivered" for e in call["events"]), call["events"]
    received = {r.headers["X-Voiceapp-Event-Id"] for r in rec.delivered()}
    assert received == set(ids_after) | {e["id"] for e in after_b["events"]}
    # the session URL of the interrupted call stays used (the API masks its token: read the
    # URL from the store file)
    assert after_a["url"] == server.base + "/voice/***"
    store = open_call_store(f"sqlite:///{tmp_path / 'calls.db'}")
    try:
        url = store.require(a).spec.url
    finally:
        store.close()
    assert url is not None
    gone = requests.post(url, data={"CallSid": "CAx", "To": PIN_CALLEE}, timeout=10)
    assert gone.status_code == 410 and problem(gone)["code"] == "token-used"


def statuses_once(call: dict[str, Any]) -> bool:
    seen = [c["status"] for c in call["legs"][0]["history"]]
    return len(seen) == len(set(seen))
