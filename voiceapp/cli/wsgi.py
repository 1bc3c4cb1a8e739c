"""The server application as deployments run it: the Flask app and its embedded dialer.

:func:`create_app` is :func:`voiceapp.web.create_app` plus, when ``DIALER`` says so
(``embedded``, or ``auto`` outside ``TESTING``), a :class:`~voiceapp.dialer.worker.Dialer`
started on the app's call store.  The web layer knows nothing of the dialer: this
module, above both, wires them (``voiceapp serve``, ``voiceapp demo`` and gunicorn)::

    gunicorn -w 4 'voiceapp.cli.wsgi:create_app()'

:func:`voiceapp.web.calls.shutdown` stops the dialer and closes the call store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from voiceapp.dialer.carrier_backend import CarrierNetwork
from voiceapp.dialer.worker import Dialer
from voiceapp.web import carrier, runtime
from voiceapp.web import create_app as create_web_app
from voiceapp.web.calls import call_service


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
) -> Flask:
    """The voiceapp Flask application with its embedded dialer started (if ``DIALER`` asks)."""
    app = create_web_app(test_config, config_file=config_file)
    with app.app_context():
        settings = runtime().settings
    if settings.embedded_dialer:
        attach_dialer(app, Dialer(settings, call_service(app).store)).start()
    return app


def attach_dialer(app: Flask, dialer: Dialer) -> Dialer:
    """Make ``dialer`` the app's: woken by each new call, stopped by ``shutdown(app)``;
    a carrier backend's status callbacks (``POST /carrier/status/<sid>``) go to it."""
    call_service(app).dialer = dialer
    if isinstance(dialer.network, CarrierNetwork):
        carrier.attach(app, dialer.network)
    return dialer
