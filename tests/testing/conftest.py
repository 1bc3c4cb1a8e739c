"""A voiceapp server for the kit's tests (its sessions are made through the REST API)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from voiceapp.web import create_app, runtime

API_KEY = "kit-test-api-key"


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """``make_server(**settings)``: a TESTING voiceapp server on a SQLite file in tmp."""
    made: list[Flask] = []

    def make(**settings: Any) -> Flask:
        config: dict[str, Any] = {
            "TESTING": True,
            "API_KEYS": [API_KEY],
            "SECRET_KEYS": ["kit-test-secret-key"],
            "STORE_URL": f"sqlite:///{tmp_path / f'kit{len(made)}.db'}",
            **settings,
        }
        app = create_app(config)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            runtime().store.close()


@pytest.fixture
def server(make_server: Callable[..., Flask]) -> Flask:
    return make_server()
