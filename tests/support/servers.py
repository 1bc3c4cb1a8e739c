"""voiceapp on a real HTTP server, for the end-to-end and vendor-route tests.

Imported as ``from support.servers import ...`` (``tests/`` is on ``sys.path``, see
:mod:`support`).

A :class:`Server` is a threaded werkzeug server on 127.0.0.1 (port 0: the OS picks a free
one, known before the app is made, so the app's ``URL_ALLOWLIST`` can name it);
:meth:`Server.start_dialer` runs a dialer against the app's call store; :meth:`Server.stop`
stops the HTTP server, the dialer and the store.  Every ``start`` has a ``stop``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from voiceapp.cli.wsgi import attach_dialer
from voiceapp.dialer.clock import Clock
from voiceapp.dialer.network import NetworkBackend
from voiceapp.dialer.worker import Dialer
from voiceapp.settings_tables.retry import RetryPolicy
from voiceapp.web import runtime
from voiceapp.web.calls import call_service, shutdown


class Dispatch:
    """A WSGI app that forwards to ``app`` once it is set (the port is known first)."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


def close_app(app: Flask) -> None:
    """Stop the app's dialer and close its call store and session store."""
    shutdown(app)
    with app.app_context():
        runtime().store.close()


class Server:
    """A threaded werkzeug server on 127.0.0.1 serving a voiceapp Flask app.

    ``auth`` are the headers :meth:`call` sends to read a call back.
    """

    def __init__(self, auth: dict[str, str]) -> None:
        self.auth = auth
        self.dispatch = Dispatch()
        self.httpd: BaseWSGIServer = make_server("127.0.0.1", 0, self.dispatch, threaded=True)
        self.port: int = self.httpd.server_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def app(self) -> Flask:
        app: Flask = self.dispatch.app
        return app

    def start(self, app: Flask) -> None:
        self.dispatch.app = app
        self.thread.start()

    def stop(self) -> None:
        """Stop serving, then stop the app's dialer and close its stores."""
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(10)
        self.httpd.server_close()
        if self.dispatch.app is not None:
            close_app(self.dispatch.app)

    def start_dialer(
        self,
        clock: Clock,
        network: NetworkBackend | None = None,
        policy: RetryPolicy | None = None,
    ) -> Dialer:
        """A dialer on the app's call store and settings, started; :meth:`stop` stops it.

        ``network`` None: the config's simulated network; ``policy`` None: the config's
        callback retry policy."""
        service = call_service(self.app)
        with self.app.app_context():
            settings = runtime().settings
        worker = Dialer(settings, service.store, clock=clock, network=network)
        if policy is not None:
            worker.policy = policy
            worker.deliverer.policy = policy
        attach_dialer(self.app, worker).start()
        return worker

    def post(self, path: str, body: Any, headers: dict[str, str]) -> requests.Response:
        return requests.post(self.base + path, json=body, headers=headers, timeout=10)

    def get(self, path: str, headers: dict[str, str]) -> requests.Response:
        return requests.get(self.base + path, headers=headers, timeout=10)

    def call(self, sid: str) -> dict[str, Any]:
        """``GET /v1/calls/<sid>``: voiceapp's own view of a call (with the dialer's trace)."""
        response = self.get(f"/v1/calls/{sid}", self.auth)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def wait_for(predicate: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something true (bounded); return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
