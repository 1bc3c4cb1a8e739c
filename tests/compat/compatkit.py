"""Real parts for the vendor-route tests: voiceapp (examples/vendors.toml) on a threaded
werkzeug server on 127.0.0.1, a dialer on a virtual clock over the simulated network,
and small helpers to read calls back.  Every ``start`` has a ``stop``."""

from __future__ import annotations

import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server

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


class Dispatch:
    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


class Server:
    """voiceapp on 127.0.0.1 (port chosen by the OS)."""

    def __init__(self) -> None:
        self.dispatch = Dispatch()
        self.httpd: BaseWSGIServer = make_server("127.0.0.1", 0, self.dispatch, threaded=True)
        self.port: int = self.httpd.server_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self, app: Any) -> None:
        self.dispatch.app = app
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(10)
        self.httpd.server_close()

    def post(self, path: str, body: Any, headers: dict[str, str]) -> requests.Response:
        return requests.post(self.base + path, json=body, headers=headers, timeout=10)

    def get(self, path: str, headers: dict[str, str]) -> requests.Response:
        return requests.get(self.base + path, headers=headers, timeout=10)

    def call(self, sid: str) -> dict[str, Any]:
        """voiceapp's own view of a call (with the dialer's trace)."""
        response = self.get(f"/v1/calls/{sid}", {"X-API-Key": API_KEY})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def finished(self, sid: str) -> dict[str, Any]:
        """Poll (bounded) until the call has ended."""
        result: dict[str, Any] = wait_for(
            lambda: call if (call := self.call(sid))["status"] in TERMINAL else None
        )
        return result


def wait_for(predicate: Callable[[], Any], *, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


def said(call: dict[str, Any]) -> list[str]:
    """The texts of the Say verbs the dialer played, from the fetched document."""
    return [row["detail"]["text"] for row in call.get("trace", ()) if row["kind"] == "say"]


def fetched(call: dict[str, Any]) -> list[str]:
    return [row["detail"]["url"] for row in call.get("trace", ()) if row["kind"] == "fetch"]
