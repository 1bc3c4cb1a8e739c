"""Helpers shared by the web tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from flask.testing import FlaskClient

from support.net import free_port

API_KEY = "test-api-key"
TO = "+14155550123"
AUTH = {"X-API-Key": API_KEY}


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


# -- a real gunicorn ------------------------------------------------------------------------

SECRET = "gunicorn-test-secret-" + "0" * 16
GUNICORN_API_KEY = "gunicorn-test-api-key-" + "0" * 16
GUNICORN_CALLBACK_SECRET = "KybVAY_ZIO-JeN1kpK7Yy-jHc0ca77GbvIAdE8o6FAA"


class Gunicorn:
    """``gunicorn -w N 'voiceapp.cli.wsgi:create_app()'`` on a free 127.0.0.1 port, production mode.

    Settings come from ``VOICEAPP_*`` variables, as in a deployment.  Use as a
    context manager: it waits until every worker has booted and stops the server.
    """

    def __init__(
        self,
        store_url: str,
        workdir: Path,
        *,
        workers: int = 4,
        app: str = "voiceapp.cli.wsgi:create_app()",
        env: dict[str, str] | None = None,
        port: int = 0,
    ) -> None:
        self.store_url = store_url
        self.workers = workers
        self.app = app
        self.log = workdir / f"gunicorn-{secrets.token_hex(4)}.log"
        self.extra_env = env or {}
        self.port = port  # 0: a free one, picked at start
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> int:
        return self.log.read_text(errors="replace").count("Booting worker with pid")

    def __enter__(self) -> Gunicorn:
        binary = Path(sys.executable).with_name("gunicorn")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEAPP_")}
        self.port = self.port or free_port()
        env.update(
            VOICEAPP_STORE_URL=self.store_url,
            VOICEAPP_SECRET_KEYS=SECRET,
            VOICEAPP_API_KEYS=GUNICORN_API_KEY,
            VOICEAPP_PUBLIC_URL=self.base,  # production places calls: PUBLIC_URL is required
            VOICEAPP_CALLBACK_SECRETS=GUNICORN_CALLBACK_SECRET,
            **self.extra_env,
        )
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(binary),
                    "--workers",
                    str(self.workers),
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--graceful-timeout",
                    "5",
                    "--log-level",
                    "info",
                    self.app,
                ],
                env=env,
                stdout=log,
                stderr=log,
            )
        try:
            self._wait()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text(errors='replace')}")
            if self.worker_pids() >= self.workers:
                try:
                    if requests.get(self.base + "/v1/health", timeout=2).status_code == 200:
                        time.sleep(0.5)  # let the last workers finish importing
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start: {self.log.read_text(errors='replace')}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def create_session(self, variables: dict[str, Any], app: str = "pin") -> dict[str, Any]:
        response = requests.post(
            self.base + "/v1/sessions",
            json={"app": app, "to": TO, "variables": variables},
            headers={"Authorization": f"Bearer {GUNICORN_API_KEY}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data
