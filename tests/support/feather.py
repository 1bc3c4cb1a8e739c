"""The feather route's test constants: its path, credentials and the seed's example requests
(shared by test_compat_feather and test_compat_limits)."""

from __future__ import annotations

from typing import Any

from support.compat import FEATHER_KEY, SEED_UUID

PATH = "/v1/voice/outbound"
AUTH = {"x-api-key": FEATHER_KEY}
SECOND_AGENT = "5b0e7c8a-2f41-4c55-9d1e-0a6b3f2c4e71"
UNBOUND_NUMBER = "7d2f0a4e-8b1c-4e2a-9f3d-5c6b7a8e9f01"
#: the seed's example request, verbatim
EXAMPLE: dict[str, Any] = {
    "from_phone_number_id": SEED_UUID,
    "to_phone_number": "<string>",
    "agent_id": SEED_UUID,
    "team_id": SEED_UUID,
    "context_variables": {},
}
#: the example with its placeholder filled and one binding
FILLED: dict[str, Any] = {
    "from_phone_number_id": SEED_UUID,
    "to_phone_number": "+14155550199",
    "agent_id": SEED_UUID,
    "context_variables": {},
}
