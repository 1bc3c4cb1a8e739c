"""The session URL of an ``app`` call names PUBLIC_URL, never the request's Host header.

Production refuses to start without ``PUBLIC_URL`` when it places calls; under
TESTING/DEBUG the request's host may still be used, and the dialer then refuses a
host that is neither public nor allow-listed when it connects.  No test connects
anywhere but 127.0.0.1 (a non-loopback connection fails the test first).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from support.web import AUTH, TO

import voiceapp.dialer.fetch as fetch_module
from voiceapp.config import load_settings
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.worker import Dialer
from voiceapp.errors import ConfigError
from voiceapp.web import create_app, runtime
from voiceapp.web.calls import call_service, shutdown

STRONG = "a-strong-production-secret-0123456789"
FROM = "+19499300360"
METADATA_HOST = "169.254.169.254"


def place_pin_call(app: Flask, host: str) -> tuple[str, str]:
    """POST /v1/calls (an app call) with ``Host: host``; the sid and stored document URL."""
    client = app.test_client()
    response = client.post(
        "/v1/calls",
        json={"from": FROM, "to": TO, "app": "pin", "variables": {"pin": "8970"}},
        headers=AUTH,
        environ_overrides={"HTTP_HOST": host},
    )
    assert response.status_code == 201, response.get_json()
    record = call_service(app).store.require(response.get_json()["sid"])
    assert record.spec.url is not None
    return record.sid, record.spec.url


def calls_app(make_app: Callable[..., Flask], **settings: Any) -> Flask:
    app: Flask = make_app(OUTBOUND_NUMBERS={FROM: "active"}, DIALER="external", **settings)
    return app


def test_production_without_public_url_refuses_to_start(tmp_path: Path) -> None:
    config: dict[str, Any] = {
        "STORE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "SECRET_KEYS": [STRONG],
        "API_KEYS": [STRONG + "-api"],
        "DIALER": "external",
    }
    with pytest.raises(ConfigError) as info:
        create_app(config)
    assert info.value.code == "config-public-url"
    assert info.value.field == "PUBLIC_URL"
    assert STRONG not in str(info.value)
    # with its public URL it starts, and so does a server that places no calls
    for extra in ({"PUBLIC_URL": "https://voice.example.com"}, {"API_KEYS": []}):
        app = create_app({**config, **extra})
        shutdown(app)
        with app.app_context():
            runtime().store.close()


def test_app_call_session_url_is_public_url_whatever_the_host_header(
    make_app: Callable[..., Flask],
) -> None:
    app = calls_app(make_app, PUBLIC_URL="https://voice.example.com")
    try:
        _, url = place_pin_call(app, METADATA_HOST)
    finally:
        shutdown(app)
    assert url.startswith("https://voice.example.com/voice/")
    assert METADATA_HOST not in url


def test_a_host_header_session_url_is_refused_when_dialed(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    connected: list[tuple[str, int]] = []

    def loopback_only(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        connected.append(address)
        raise AssertionError(f"the dialer connected to {address}")

    monkeypatch.setattr(fetch_module, "create_connection", loopback_only)
    app = calls_app(make_app)  # TESTING: the request's host makes the URL
    try:
        sid, url = place_pin_call(app, METADATA_HOST)
        assert url.startswith(f"http://{METADATA_HOST}/voice/")
        with app.app_context():
            settings = runtime().settings
        service = call_service(app)
        worker = Dialer(settings, service.store, clock=VirtualClock(), worker_id="w-host")
        try:
            assert worker.run_until_idle() == 1
            trace = worker.trace(sid)
        finally:
            worker.stop()
        record = service.store.require(sid)
    finally:
        shutdown(app)
    assert trace is not None
    [error] = trace.of("fetch-error")
    assert error.detail["code"] == "fetch-blocked"
    assert f"resolves to {METADATA_HOST}" in error.detail["error"]
    assert "/voice/" not in error.detail["error"]  # the message never carries the token
    assert all("8 9 7 0" not in e.detail["text"] for e in trace.of("say"))  # no document
    assert record.status == "completed"
    assert connected == []  # refused before connecting


@pytest.mark.parametrize(
    ("public_url", "allowlist", "expected"),
    [
        ("", ["127.0.0.1:8000"], ("127.0.0.1:8000",)),
        ("http://127.0.0.1:8470", ["[::1]:9"], ("[::1]:9", "127.0.0.1:8470")),
        ("https://voice.example.com/base", [], ("voice.example.com:443",)),
        ("http://[::1]:8080", ["[::1]:8080"], ("[::1]:8080",)),
    ],
)
def test_public_url_is_allowed_for_outbound_requests(
    public_url: str, allowlist: list[str], expected: tuple[str, ...]
) -> None:
    settings, _ = load_settings(
        environ={}, overrides={"PUBLIC_URL": public_url, "URL_ALLOWLIST": allowlist}
    )
    assert settings.outbound_allowlist == expected
