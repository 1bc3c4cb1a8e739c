"""Operations end to end: /v1/ready with no dialer and with Redis down, /metrics after
calls, and the dialer's back-off (one log line per change of state) while Redis is down."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from support.e2e import FROM, PIN_CALLEE, HttpReceiver, Server, finished, problem
from support.redisproc import RedisServer, start_redis
from support.servers import wait_for

from voiceapp.dialer.worker import Dialer


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``GET /metrics`` as {(sample name, sorted labels): value}."""
    response = requests.get(server.base + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def ready(server: Server) -> requests.Response:
    return requests.get(server.base + "/v1/ready", timeout=10)


def test_ready_and_metrics_before_and_after_a_dialer_runs(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    receiver: Callable[..., HttpReceiver],
) -> None:
    rec = receiver()
    server = serve(allow=(rec.port,))  # DIALER external: nobody takes calls yet
    assert requests.get(server.base + "/v1/health", timeout=10).json() == {"status": "ok"}
    not_ready = ready(server)
    assert not_ready.status_code == 503
    body = problem(not_ready)
    assert body["reason"] == "no-dialer" and "never" in body["detail"]

    before = scrape(server)
    response = server.post_call(
        **{
            "from": FROM,
            "to": PIN_CALLEE,
            "app": "pin",
            "variables": {"pin": "8970", "repeat": 1},
            "statusCallback": rec.url,
            "statusCallbackEvent": "initiated ringing answered completed",
        }
    )
    assert response.status_code == 201, response.text
    sid = response.json()["sid"]
    waiting = scrape(server)
    assert waiting[("voiceapp_queue_depth", ())] == 1
    assert waiting[("voiceapp_calls", (("status", "queued"),))] == 1
    assert waiting[("voiceapp_store_up", ())] == 1
    assert waiting[("voiceapp_dialers", ())] == 0

    dialer(server)
    assert finished(server, sid)["status"] == "completed"
    now_ready = ready(server)
    assert now_ready.status_code == 200
    assert now_ready.json()["status"] == "ready" and now_ready.json()["dialers"] == 1

    after = scrape(server)
    assert after[("voiceapp_calls", (("status", "completed"),))] == 1
    assert ("voiceapp_calls", (("status", "queued"),)) not in after
    assert after[("voiceapp_queue_depth", ())] == 0
    assert after[("voiceapp_dialers", ())] == 1

    def delta(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    assert delta("voiceapp_document_fetch_seconds_count", (("result", "ok"),)) >= 1
    assert delta("voiceapp_callback_deliveries_total", (("result", "delivered"),)) == 4
    assert delta("voiceapp_dialer_lag_seconds_count") == 1


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone (it is stopped and started again)."""
    workdir = tempfile.mkdtemp(prefix="voiceapp-redis-ops-")
    server = start_redis(workdir)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.timeout(120)
def test_redis_down_not_ready_and_the_dialer_backs_off_quietly(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    own_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="voiceapp")
    server = serve(STORE_URL=own_redis.url, STORE_BACKOFF_MAX=2.0)
    worker = dialer(server, real=True)
    wait_for(lambda: ready(server).status_code == 200)

    own_redis.stop()
    wait_for(lambda: ready(server).status_code == 503)
    assert problem(ready(server))["reason"] == "store-unavailable"
    assert requests.get(server.base + "/v1/health", timeout=10).status_code == 200
    assert scrape(server)[("voiceapp_store_up", ())] == 0

    time.sleep(4.0)  # 20 polls of 0.2 s; the back-off tries far fewer times
    assert worker.outage.down
    assert 1 <= worker.outage.tries <= 6, worker.outage.tries
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("voiceapp.dialer")]
    assert sum("the store is down" in m for m in messages) == 1, messages
    assert not any("taking calls failed" in m or "recovery pass" in m for m in messages)

    own_redis.start()
    wait_for(lambda: not worker.outage.down, timeout=20)
    wait_for(lambda: ready(server).status_code == 200, timeout=20)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("voiceapp.dialer")]
    assert sum("the store is back" in m for m in messages) == 1, messages
    back = [r for r in caplog.records if "the store is back" in r.getMessage()]
    assert getattr(back[0], "worker", None) == worker.worker_id
