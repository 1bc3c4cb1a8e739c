"""Real parts for the vendor-route tests: voiceapp (examples/vendors.toml) on a threaded
werkzeug server on 127.0.0.1 (support.servers), a dialer on a virtual clock over the simulated
network, and small helpers to read calls back.  Every ``start`` has a ``stop``."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

from support import servers
from support.servers import wait_for

ROOT = Path(__file__).resolve().parents[2]
VENDORS = ROOT / "examples" / "vendors.toml"
#: voiceapp's own key in examples/vendors.toml (GET /v1/calls/<sid> reads the trace)
API_KEY = "vendors-api-key-for-localhost-only"
PATHORS_KEY = "pathors-key-for-localhost-only"
FEATHER_KEY = "feather-key-for-localhost-only"
THUNDER_KEY = "sk_live_thunder-key-for-localhost-only"
POLYAI_TOKEN = "polyai-token-for-localhost-only"
POLYAI_INBOUND_TOKEN = "polyai-inbound-token-for-localhost"
SEED_UUID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def vendors_compat() -> dict[str, Any]:
    """The [compat] table of examples/vendors.toml, as plain data a test may change."""
    data: dict[str, Any] = tomllib.loads(VENDORS.read_text(encoding="utf-8"))["compat"]
    return data


class ShiftClock:
    """Real time plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Server(servers.Server):
    """voiceapp on 127.0.0.1 (servers.Server); :meth:`call` reads with voiceapp's own key."""

    def __init__(self) -> None:
        super().__init__({"X-API-Key": API_KEY})

    def finished(self, sid: str) -> dict[str, Any]:
        """Poll (bounded) until the call has ended."""
        result: dict[str, Any] = wait_for(
            lambda: call if (call := self.call(sid))["status"] in TERMINAL else None
        )
        return result


def said(call: dict[str, Any]) -> list[str]:
    """The texts of the Say verbs the dialer played, from the fetched document."""
    return [row["detail"]["text"] for row in call.get("trace", ()) if row["kind"] == "say"]


def fetched(call: dict[str, Any]) -> list[str]:
    return [row["detail"]["url"] for row in call.get("trace", ()) if row["kind"] == "fetch"]
