"""The real thing: gunicorn with 4 workers, 32 concurrent fetches of one token, one winner."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.web import TO, Gunicorn

TRIALS = 5
FETCHES = 32


@pytest.fixture(params=["sqlite", "redis"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gunicorn]:
    if request.param == "sqlite":
        store = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        store = request.getfixturevalue("redis_server")
    with Gunicorn(store, tmp_path, workers=4) as running:
        yield running


def fetch_concurrently(url: str, n: int) -> list[int]:
    barrier = threading.Barrier(n)
    statuses: list[int] = [0] * n

    def worker(i: int) -> None:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            response = http.post(url, data={"CallSid": f"CA{i:04d}", "To": TO}, timeout=30)
            statuses[i] = response.status_code
            if response.status_code != 200:
                assert response.headers["Content-Type"] == "application/problem+json"
                assert b"<Response" not in response.content

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return statuses


@pytest.mark.timeout(180)
def test_32_concurrent_fetches_of_one_token_have_one_winner(server: Gunicorn) -> None:
    assert server.worker_pids() >= 4
    for trial in range(TRIALS):
        created = server.create_session({"pin": f"{trial:04d}"})
        statuses = fetch_concurrently(created["url"], FETCHES)
        assert Counter(statuses) == {200: 1, 410: FETCHES - 1}, (trial, Counter(statuses))


@pytest.mark.timeout(120)
def test_real_http_retry_and_binding(server: Gunicorn) -> None:
    created = server.create_session({"pin": "8970"})
    url = created["url"]
    with requests.Session() as http:
        wrong = http.post(url, data={"CallSid": "CA1", "To": "+14155550999"}, timeout=30)
        assert wrong.status_code == 403
        first = http.post(url, data={"CallSid": "CA1", "To": TO}, timeout=30)
        assert first.status_code == 200
        assert first.headers["Content-Type"] == "text/xml; charset=utf-8"
        assert b"Your pin is 8 9 7 0" in first.content
        again = http.post(url, data={"CallSid": "CA1", "To": TO}, timeout=30)
        assert again.status_code == 200 and again.content == first.content
        other = http.post(url, data={"CallSid": "CA2", "To": TO}, timeout=30)
        assert other.status_code == 410
        bad_key = http.post(
            server.base + "/v1/sessions",
            json={"app": "pin", "to": TO, "variables": {"pin": "8970"}},
            headers={"X-API-Key": secrets.token_hex(8)},
            timeout=30,
        )
        assert bad_key.status_code == 401
        assert bad_key.headers["Content-Type"] == "application/problem+json"
