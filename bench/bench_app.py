"""The server benchmark's WSGI app: voiceapp plus one plain view, for comparison.

``gunicorn --pythonpath bench 'bench_app:create_bench_app()'`` serves the normal
voiceapp routes and ``GET /bench/constant``: a plain Flask view returning a
constant XML document, the peer the session documents are measured against.
The extra route exists only in this module, never in voiceapp itself.
"""

from __future__ import annotations

from flask import Flask, Response

from voiceapp.web import create_app

CONSTANT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<Response>\n  <Say language="en-US">Your pin is 8 9 7 0.</Say><Pause length="1"/>\n'
    b'  <Say language="en-US">Your pin is 8 9 7 0.</Say><Pause length="1"/>\n'
    b"  <Hangup/>\n</Response>\n"
)


def create_bench_app() -> Flask:
    app = create_app()

    @app.route("/bench/constant", methods=["GET", "POST"])
    def constant() -> Response:
        return Response(CONSTANT, status=200, content_type="text/xml; charset=utf-8")

    return app
