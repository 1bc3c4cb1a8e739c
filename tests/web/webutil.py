"""Helpers shared by the web tests (fixtures live in conftest.py)."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

API_KEY = "test-api-key"
TO = "+14155550123"
AUTH = {"X-API-Key": API_KEY}


class Clock:
    """A controlled clock: starts at a fixed time, moves only when told."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def new_session(client: FlaskClient, **payload: Any) -> dict[str, Any]:
    """POST /v1/sessions (defaults: a pin session for TO); asserts 201."""
    body = {"app": "pin", "to": TO, "variables": {"pin": "8970"}, **payload}
    response = client.post("/v1/sessions", json=body, headers=AUTH)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert isinstance(data, dict)
    return data


def path_of(url: str) -> str:
    """The path (and query) of an absolute URL, for the test client."""
    match = re.match(r"https?://[^/]+(/.*)", url)
    assert match, url
    return match.group(1)
