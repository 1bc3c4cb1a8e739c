"""When the store is unavailable each vendor route answers its documented failure
(Pathors 500, Feather 503, ThunderPhone 502 "safe to retry", PolyAI 500), and a retry
succeeds once the store is back.  The store is a real redis-server this test starts,
stops and starts again on the same port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.compat import FEATHER_KEY, PATHORS_KEY, POLYAI_TOKEN, SEED_UUID, THUNDER_KEY, Server
from support.redisproc import RedisServer, start_redis


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
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


def test_store_unavailable_then_back(vendors: Callable[..., Server], redis: RedisServer) -> None:
    server = vendors(STORE_URL=redis.url)
    assert (
        server.post(
            REQUESTS[0][0], {**REQUESTS[0][2], "toNumber": "0912000001"}, REQUESTS[0][1]
        ).status_code
        == 200
    )
    redis.stop()
    for path, headers, body, status, expected in REQUESTS:
        response = server.post(path, body, headers)
        assert response.status_code == status, (path, response.text)
        assert response.json() == expected
    redis.start()
    for path, headers, body, _status, _expected in REQUESTS:
        response = server.post(path, body, headers)
        assert response.status_code in (200, 201), (path, response.text)
