"""The thunderphone route's test constants: its path, credentials and the seed's example requests
(shared by test_compat_thunderphone and test_compat_limits)."""

from __future__ import annotations

from typing import Any

from support.compat import THUNDER_KEY

AUTH = {"Authorization": f"Bearer {THUNDER_KEY}"}
#: the seed's example request, verbatim
EXAMPLE: dict[str, Any] = {
    "from_number": "+15551234567",
    "to_number": "+14155550199",
    "agent_id": 12,
}
BUSY = "+14155550100"
NETWORK = {"ring_seconds": 1.0, "default": {"rings": 1}, "numbers": {BUSY: {"outcome": "busy"}}}
