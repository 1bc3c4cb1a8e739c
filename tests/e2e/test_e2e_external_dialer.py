"""The deployment shape: gunicorn (2 workers) + a real redis-server + a ``voiceapp dialer``
process.  A call whose document URL answers 404, one whose document is invalid and one
that redirects forever each show their error (a stable code) and their trace in
``GET /v1/calls/<sid>`` -- though the process that dialed is not the one that answers --
and in ``voiceapp calls``; the dialer prints the timelines (``--trace``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from support.e2e import VOICEAPP, clean_env
from support.net import free_port
from support.servers import wait_for

pytestmark = pytest.mark.timeout(180)

# production keys: random-looking and at least 32 bytes (config-weak-secret otherwise)
API_KEY = "xd-api-7Qm2Vt9LpZ4kRw8NcY3bHs6Jf1Ge5Ua0"
SECRET = "xd-token-Kp3Wq8Zr5Tm1Vy7Nb4Lc9Hs2Jd6Gf0Ae"
CALLBACK_SECRET = "xd-callback-Rt6Yn2Wq9Lm4Kp8Zv1Bc5Hx3Jd7Gs0Fa"
AUTH = {"X-API-Key": API_KEY}
FROM = "+19499300360"
CALLEES = {"missing": "+886912000301", "bad": "+886912000302", "loop": "+886912000303"}
BAD_XML = b"<Response><Bogus/></Response>"
LOOP_XML = b"<Response><Redirect>/loop</Redirect></Response>"


class Site:
    """Documents on 127.0.0.1: ``/missing`` answers 404, ``/bad`` an invalid document,
    ``/loop`` a redirect to itself."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                body = {"/bad": BAD_XML, "/loop": LOOP_XML}.get(path)
                self.send_response(404 if body is None else 200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            do_GET = _handle
            do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def write_config(tmp_path: Path, store_url: str, site: Site, port: int) -> Path:
    callees = "\n".join(f'[network.numbers."{n}"]\nrings = 1\n' for n in CALLEES.values())
    text = f"""
store_url = "{store_url}"
api_keys = ["{API_KEY}"]
secret_keys = ["{SECRET}"]
callback_secrets = ["{CALLBACK_SECRET}"]
public_url = "http://127.0.0.1:{port}"
dialer = "external"
dialer_poll = 0.05
default_region = "TW"
url_allowlist = ["127.0.0.1:{site.port}"]

[outbound_numbers]
"{FROM}" = "active"

[network]
ring_seconds = 0.2
{callees}
"""
    path = tmp_path / "deploy.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Proc:
    """A subprocess whose output lines are collected; :meth:`stop` ends it (SIGTERM, then
    SIGKILL) and closes its pipes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


@pytest.fixture
def deployment(tmp_path: Path, redis_server: str) -> Iterator[tuple[str, Proc, Site]]:
    """(server base URL, the dialer process, the document site): gunicorn and ``voiceapp
    dialer --trace`` on one Redis keyspace, both reading one config file; stopped at the end."""
    store_url = f"{redis_server.rsplit('/', 1)[0]}/5?prefix=ext-{uuid.uuid4().hex[:8]}:"
    site = Site()
    port = free_port()
    config = write_config(tmp_path, store_url, site, port)
    env = {**clean_env(), "VOICEAPP_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    server = Proc(
        [gunicorn, "--workers", "2", "--bind", f"127.0.0.1:{port}", "voiceapp.web:create_app()"],
        env,
    )
    dialer = Proc([VOICEAPP, "dialer", "--config", str(config), "--trace", "-v"], env)
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return requests.get(base + "/v1/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout=60, interval=0.2)
        wait_for(lambda: "voiceapp dialer ready" in dialer.text(), timeout=60)
        yield base, dialer, site
    finally:
        codes = (dialer.stop(), server.stop())
        site.stop()
    assert codes == (0, 0), dialer.text()


def place(base: str, url: str, to: str) -> str:
    response = requests.post(
        base + "/v1/calls", json={"from": FROM, "to": to, "url": url}, headers=AUTH, timeout=10
    )
    assert response.status_code == 201, response.text
    sid: str = response.json()["sid"]
    return sid


def ended_with_error(base: str, sid: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        call: dict[str, Any] = requests.get(
            f"{base}/v1/calls/{sid}", headers=AUTH, timeout=10
        ).json()
        return call if call["status"] == "completed" and call.get("error") else None

    result: dict[str, Any] = wait_for(done, timeout=60, interval=0.1)
    return result


def test_document_errors_are_visible_whatever_process_dialed(
    deployment: tuple[str, Proc, Site],
) -> None:
    base, dialer, site = deployment
    sids = {name: place(base, site.url(f"/{name}"), to) for name, to in CALLEES.items()}

    missing = ended_with_error(base, sids["missing"])
    # Twilio's rule: the call was answered and ends completed; the error says why it was short
    assert missing["status"] == "completed"
    assert missing["error"]["code"] == "fetch-status"
    assert missing["error"]["status"] == 404
    assert "HTTP 404" in missing["error"]["message"]
    kinds = [row["kind"] for row in missing["trace"]]
    assert "status" not in kinds  # the legs' history has the statuses (and the CLI shows them)
    assert kinds.index("fetch") < kinds.index("fetch-error") < kinds.index("announce")

    bad = ended_with_error(base, sids["bad"])
    assert bad["error"]["code"] == "unknown-element"  # the linter's code, located
    assert bad["error"]["line"] == 1 and "document-error" in [r["kind"] for r in bad["trace"]]

    loop = ended_with_error(base, sids["loop"])
    assert loop["error"]["code"] == "loop-guard"
    fetches = [r for r in loop["trace"] if r["kind"] == "fetch"]
    assert len(fetches) == 50  # max_documents, then the guard

    # the listing shows the errors too, newest first
    listed = requests.get(base + "/v1/calls", params={"limit": 100}, headers=AUTH, timeout=10)
    assert listed.status_code == 200
    by_sid = {c["sid"]: c for c in listed.json()["calls"]}
    assert by_sid[sids["missing"]]["error"]["code"] == "fetch-status"
    assert "trace" not in by_sid[sids["missing"]]

    # voiceapp calls against the server
    env = {**clean_env(), "VOICEAPP_API_KEY": API_KEY}
    out = subprocess.run(
        [VOICEAPP, "calls", "--server", base, "--status", "completed"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith(sids["missing"]))
    assert "completed" in line and "error fetch-status (HTTP 404)" in line
    assert any(line.startswith(sids["loop"]) and "loop-guard" in line for line in out.splitlines())
    as_json = subprocess.run(
        [VOICEAPP, "calls", "--server", base, "--json", "--to", CALLEES["bad"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    (only,) = json.loads(as_json)
    assert only["sid"] == sids["bad"] and only["error"]["code"] == "unknown-element"

    # the dialer's own output: a line per call with its error, and the timelines (--trace)
    wait_for(lambda: all(f"{sid} completed at" in dialer.text() for sid in sids.values()))
    assert any(
        line.startswith(f"{sids['missing']} completed at") and "error fetch-status" in line
        for line in dialer.lines
    )
    wait_for(lambda: "fetch-error" in dialer.text() and "document-error" in dialer.text())
    assert "    error loop-guard: more than 50 documents" in dialer.text()
    assert API_KEY not in dialer.text() and SECRET not in dialer.text()
