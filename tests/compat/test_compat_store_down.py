"""When the store is unavailable each vendor route answers its documented failure
(Pathors 500, Feather 503, ThunderPhone 502 "safe to retry", PolyAI 500), and a retry
succeeds once the store is back.  The store is a real redis-server this test starts,
stops and starts again on the same port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest
from compatkit import FEATHER_KEY, PATHORS_KEY, POLYAI_TOKEN, SEED_UUID, THUNDER_KEY, Server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Redis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (scripts/setup installs it)")
        self.binary = binary
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="voiceapp-compat-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis() -> Iterator[Redis]:
    server = Redis()
    server.start()
    yield server
    server.stop()


REQUESTS = [
    (
        "/project/proj_abc123/integration/phone/call/outbound",
        {"Authorization": f"Bearer {PATHORS_KEY}"},
        {"fromNumber": "+1234567890", "toNumber": "0912345678"},
        500,
        {"error": "Internal server error"},
    ),
    (
        "/v1/voice/outbound",
        {"x-api-key": FEATHER_KEY},
        {
            "from_phone_number_id": SEED_UUID,
            "to_phone_number": "+14155550199",
            "agent_id": SEED_UUID,
        },
        503,
        {"detail": "Service unavailable, retry later"},
    ),
    (
        "/v1/call",
        {"Authorization": f"Bearer {THUNDER_KEY}"},
        {"from_number": "+15551234567", "to_number": "+14155550198", "agent_id": 12},
        502,
        {"detail": "Upstream SIP / LiveKit failure; safe to retry", "code": "upstream-failure"},
    ),
    (
        "/v1/outbound-calling",
        {"X-PolyAi-Auth-Token": POLYAI_TOKEN},
        {"to_number": "+14155550197"},
        500,
        {
            "message": "Failed to place the outbound call; retry with backoff",
            "code": "store-unavailable",
        },
    ),
]


def test_store_unavailable_then_back(vendors: Callable[..., Server], redis: Redis) -> None:
    server = vendors(STORE_URL=f"redis://127.0.0.1:{redis.port}/0")
    assert (
        server.post(
            REQUESTS[0][0], {**REQUESTS[0][2], "toNumber": "0912000001"}, REQUESTS[0][1]
        ).status_code
        == 200
    )
    redis.proc.terminate()  # type: ignore[union-attr]
    redis.proc.wait(timeout=10)  # type: ignore[union-attr]
    for path, headers, body, status, expected in REQUESTS:
        response = server.post(path, body, headers)
        assert response.status_code == status, (path, response.text)
        assert response.json() == expected
    redis.start()
    for path, headers, body, _status, _expected in REQUESTS:
        response = server.post(path, body, headers)
        assert response.status_code in (200, 201), (path, response.text)
