"""Fixtures for the Flask layer: an app on a SQLite file in tmp, its client, a clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.clocks import Clock
from support.web import API_KEY

from voiceapp.web import create_app, runtime


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """``make_app(**settings)``: a TESTING app on a SQLite file in tmp (closed at the end)."""
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        config: dict[str, Any] = {
            "TESTING": True,
            "API_KEYS": [API_KEY],
            "SECRET_KEYS": ["test-secret-key"],
            "STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        }
        config.update(settings)
        app = create_app(config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            runtime().store.close()


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: Clock) -> Flask:
    return make_app(CLOCK=clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
