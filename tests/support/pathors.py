"""The pathors route's test constants: its path, credentials and the seed's example requests
(shared by test_compat_pathors and test_compat_limits)."""

from __future__ import annotations

from typing import Any

from support.compat import PATHORS_KEY

PATH = "/project/proj_abc123/integration/phone/call/outbound"
AUTH = {"Authorization": f"Bearer {PATHORS_KEY}"}
#: the seed's example request, verbatim
EXAMPLE: dict[str, Any] = {
    "fromNumber": "+1234567890",
    "toNumber": "+0987654321",
    "dynamicVariables": {"customerName": "John Doe", "orderId": "12345"},
}
