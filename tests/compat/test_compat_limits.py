"""The core's rate limits on the vendor-compatible routes (issue 10): 429 with
``Retry-After``, in each vendor's error shape, per API key and per destination."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support import feather, pathors, polyai, thunderphone
from support.compat import Server

ROUTES: dict[str, tuple[str, dict[str, str], dict[str, Any], set[str]]] = {
    "pathors": (pathors.PATH, pathors.AUTH, pathors.EXAMPLE, {"error"}),
    "feather": (feather.PATH, feather.AUTH, feather.FILLED, {"detail"}),
    "thunderphone": ("/v1/call", thunderphone.AUTH, thunderphone.EXAMPLE, {"detail", "code"}),
    "polyai": (polyai.PATH, polyai.AUTH, polyai.EXAMPLE, {"message", "code"}),
}


@pytest.mark.parametrize("vendor", sorted(ROUTES))
@pytest.mark.parametrize(
    ("settings", "limit"),
    [
        ({"RATE_LIMIT_PER_KEY": "1/3600s", "RATE_LIMIT_PER_DESTINATION": ""}, "key"),
        ({"RATE_LIMIT_PER_KEY": "", "RATE_LIMIT_PER_DESTINATION": "1/3600s"}, "to"),
    ],
)
def test_vendor_routes_are_rate_limited(
    vendors: Callable[..., Server], vendor: str, settings: dict[str, str], limit: str
) -> None:
    path, auth, example, shape = ROUTES[vendor]
    server = vendors(**settings)  # no dialer: the first call stays queued
    first = server.post(path, example, auth)
    assert first.status_code in (200, 201), first.text
    # the same request again: over the limit (checked before the number's busy check)
    second = server.post(path, example, auth)
    assert second.status_code == 429, second.text
    assert set(second.json()) == shape
    assert 1 <= int(second.headers["Retry-After"]) <= 3600
    assert "calls to" in second.text if limit == "to" else "API key" in second.text
