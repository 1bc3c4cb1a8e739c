"""DIALER decides whether create_app (the CLI's, voiceapp.cli.wsgi) runs the dialer in the
server process."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.e2e import base_config
from support.servers import close_app

from voiceapp.cli.wsgi import create_app
from voiceapp.dialer.worker import Dialer
from voiceapp.web.calls import call_service


@pytest.mark.parametrize(
    ("settings", "embedded"),
    [
        ({"DIALER": "embedded"}, True),
        ({"DIALER": "external"}, False),
        ({"DIALER": "auto"}, False),  # TESTING: tests drive their own dialer
        (
            {
                "DIALER": "auto",
                "TESTING": False,  # production: strong keys, and callback secrets for the dialer
                "API_KEYS": ["mFZEkOzNcBJ52zVUyf6BANnoI8Xltjf0bAjn49q1s-s"],
                "SECRET_KEYS": ["Jwef78Cp3_oqYIwFNpNU04Ar4dTzoqtVkfRzo3xfpU0"],
                "CALLBACK_SECRETS": ["_VwpqSC7L5zY2KiVzmOur8H8DLED6X-iRxazNUr-n9U"],
                "PUBLIC_URL": "http://127.0.0.1:9",
            },
            True,
        ),
    ],
)
def test_dialer_setting(tmp_path: Path, settings: dict[str, object], embedded: bool) -> None:
    config = base_config(tmp_path, [])
    config.update(settings)
    app = create_app(config)
    service = call_service(app)
    try:
        assert isinstance(service.dialer, Dialer) is embedded
        if embedded:
            assert service.dialer is not None and service.dialer._thread is not None
            assert service.dialer._thread.is_alive()
    finally:
        worker = service.dialer
        close_app(app)
    assert service.dialer is None
    if isinstance(worker, Dialer):
        assert worker._thread is None  # stopped and joined
