"""voiceapp's Flask server: the application factory.

``create_app(test_config=None, *, config_file=None)`` builds the app:

1. settings from defaults, the TOML ``config_file`` (or ``VOICEAPP_CONFIG``),
   ``VOICEAPP_*`` variables and ``test_config`` (:mod:`voiceapp.config`); a
   production start with a development secret, or without ``PUBLIC_URL`` when it
   places calls, raises ``ConfigError``;
2. the voice templates, every one rendered with sample data and validated (a
   broken template raises :class:`~voiceapp.apps.TemplateError` with file and line);
3. the store (``STORE_URL``; default ``sqlite:///<instance folder>/voiceapp.db``, the
   instance folder being ``instance/`` of the current folder, or ``INSTANCE``),
   the token signer and the session service;
4. the blueprints ``voice``, ``api`` and ``calls`` (the call store; the in-process
   dialer is started by :mod:`voiceapp.cli.wsgi`, not here), the vendor-compatible
   blueprints (:mod:`voiceapp.web.compat`, ``[compat]``), the Twilio-compatible REST
   API (:mod:`voiceapp.web.twilio_api`, ``TWILIO_ACCOUNTS``), ``ops`` (``/v1/ready``,
   ``/metrics``), ``GET /openapi.json`` (:mod:`voiceapp.web.openapi`), the web
   console (:mod:`voiceapp.web.console`, ``CONSOLE``) and one problem+json error handler;
4. voiceapp's log handler (``LOG_FORMAT`` text or json, ``LOG_LEVEL``; :mod:`voiceapp.logs`).

Production: ``gunicorn 'voiceapp.cli.wsgi:create_app()'`` (this app and,
as ``DIALER`` asks, its embedded dialer: the CLI layer wires the two).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask

from voiceapp.apps import Templates, check_templates
from voiceapp.config import load_settings
from voiceapp.errors import ConfigError
from voiceapp.logs import configure as configure_logging
from voiceapp.redact import install_log_filter
from voiceapp.sessions import Sessions
from voiceapp.stores import open_store
from voiceapp.tokens import Signer
from voiceapp.web import (
    api,
    calls,
    carrier,
    compat,
    console,
    inbound,
    openapi,
    ops,
    problems,
    recordings,
    twilio_api,
    twilio_recordings,  # noqa: F401 - its routes are on twilio_api.bp
    voice,
)
from voiceapp.web.runtime import EXTENSION, Runtime, runtime

__all__ = ["create_app", "runtime"]


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
) -> Flask:
    """The voiceapp Flask application (see the module docstring)."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    settings, flask_extra = load_settings(
        config_file, overrides=test_config, passthrough=lambda key: key in app.config
    )
    settings.check_production()
    settings.check_serving()
    install_log_filter()  # access lines (werkzeug, gunicorn) show no voice token
    configure_logging(settings.LOG_FORMAT, settings.LOG_LEVEL)
    # the instance folder is the current folder's (or INSTANCE), not the package's
    app.instance_path = os.path.abspath(settings.INSTANCE or "instance")
    app.config.update(settings.as_dict())
    app.config.update(flask_extra)

    clock = settings.CLOCK or time.time
    templates = Templates([settings.TEMPLATE_FOLDER] if settings.TEMPLATE_FOLDER else [])
    languages = tuple(check_templates(templates, now=clock()))
    if settings.DEFAULT_LANGUAGE not in languages:
        raise ConfigError(
            f"DEFAULT_LANGUAGE {settings.DEFAULT_LANGUAGE!r} has no template folder "
            f"(languages: {', '.join(languages)})",
            code="config-value",
            field="DEFAULT_LANGUAGE",
        )

    store_url = settings.STORE_URL
    if not store_url:
        os.makedirs(app.instance_path, exist_ok=True)
        store_url = "sqlite:///" + os.path.join(app.instance_path, "voiceapp.db")
    store = open_store(store_url, clock=clock)
    signer = Signer(settings.SECRET_KEYS, clock=clock)
    app.extensions[EXTENSION] = Runtime(
        settings=settings,
        store=store,
        signer=signer,
        sessions=Sessions(store, signer, retry_window=settings.RETRY_WINDOW, clock=clock),
        templates=templates,
        languages=languages,
        clock=clock,
        destinations=settings.destination_policy(),
    )

    if settings.PROXY_FIX:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.PROXY_FIX
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    problems.init_app(app)
    app.register_blueprint(voice.bp)
    app.register_blueprint(api.bp)
    service = calls.init_app(app, settings, store_url, clock)
    app.register_blueprint(inbound.bp)
    recordings.init_app(app, settings)
    ops.init_app(app, settings, service.store)
    compat.init_app(app, settings)
    twilio_api.init_app(app)
    app.register_blueprint(carrier.bp)
    app.register_blueprint(openapi.bp)
    console.init_app(app, settings)
    return app
