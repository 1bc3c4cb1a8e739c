"""Operations in the Flask layer: the instance folder, /v1/ready, /metrics and log lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from support.clocks import Clock
from support.web import API_KEY

from voiceapp.logs import call_logger, configure
from voiceapp.web import create_app, runtime
from voiceapp.web.calls import call_service, shutdown


def _close(app: Flask) -> None:
    shutdown(app)
    with app.app_context():
        runtime().store.close()


def test_the_default_store_is_in_the_current_folders_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    base = {"TESTING": True, "API_KEYS": [API_KEY], "SECRET_KEYS": ["test-secret-key"]}
    app = create_app(base)
    try:
        assert app.instance_path == str(tmp_path / "instance")
        assert (tmp_path / "instance" / "voiceapp.db").is_file()
    finally:
        _close(app)
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("VOICEAPP_INSTANCE", str(other))
    app = create_app(base)
    try:
        assert app.instance_path == str(other)
        assert (other / "voiceapp.db").is_file()
    finally:
        _close(app)


def test_ready_follows_the_heartbeat_age(make_app: Callable[..., Flask], clock: Clock) -> None:
    app = make_app(CLOCK=clock, READY_DIALER_AGE=30)
    client = app.test_client()
    assert client.get("/v1/health").get_json() == {"status": "ok"}
    never = client.get("/v1/ready")
    assert never.status_code == 503
    assert never.content_type == "application/problem+json"
    assert never.get_json()["reason"] == "no-dialer"

    store = call_service(app).store
    store.beat("worker-1", clock.now)
    clock.advance(10)
    fresh = client.get("/v1/ready")
    assert fresh.status_code == 200
    assert fresh.get_json() == {"status": "ready", "dialers": 1, "heartbeat_age": 10.0}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "voiceapp_dialers 1.0" in metrics
    assert "voiceapp_dialer_heartbeat_age_seconds 10.0" in metrics

    clock.advance(21)  # 31 s since the beat
    stale = client.get("/v1/ready")
    assert stale.status_code == 503
    assert stale.get_json()["reason"] == "no-dialer"
    assert "31.0 s ago" in stale.get_json()["detail"]


def test_metrics_can_be_turned_off(make_app: Callable[..., Flask]) -> None:
    client = make_app(METRICS=False).test_client()
    assert client.get("/metrics").status_code == 404


def test_json_log_lines_carry_the_call_sid(capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("voiceapp.test")
    configure("json", "info")
    try:
        call_logger(log, "CA0123").warning("call %s: something", "CA0123")
        log.info("no call here")
        log.debug("below the level")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        assert [line["message"] for line in lines] == ["call CA0123: something", "no call here"]
        assert lines[0]["call_sid"] == "CA0123" and lines[0]["level"] == "WARNING"
        assert lines[0]["logger"] == "voiceapp.test" and lines[0]["time"].endswith("Z")
        assert "call_sid" not in lines[1]

        configure("text", "info")
        call_logger(log, "CA0123").error("boom")
        (text,) = capsys.readouterr().err.splitlines()
        assert text.endswith(" ERROR voiceapp.test [CA0123] boom")
        handlers = [h for h in logging.getLogger("voiceapp").handlers if hasattr(h, "_voiceapp")]
        assert len(handlers) == 1  # configure replaces its handler
    finally:
        configure("text", "info")


def test_create_app_sets_the_log_format(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    make_app(LOG_FORMAT="json")
    try:
        logging.getLogger("voiceapp.web").warning("from the app")
        (line,) = capsys.readouterr().err.splitlines()
        assert json.loads(line)["message"] == "from the app"
    finally:
        configure("text", "info")
