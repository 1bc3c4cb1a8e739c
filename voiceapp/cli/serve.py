"""``voiceapp serve``: the development server.

For production use a WSGI server: ``gunicorn -w 4 'voiceapp.cli.wsgi:create_app()'``
(the app and its embedded dialer, :mod:`voiceapp.cli.wsgi`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from flask import Blueprint, Flask
from werkzeug.serving import run_simple
from werkzeug.utils import ImportStringError, import_string

from voiceapp.errors import ConfigError

#: Listening addresses that name no address the dialer could use.
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


@click.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="TOML settings file (default: $VOICEAPP_CONFIG).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--debug", is_flag=True, help="Development mode (debugger, dev secrets allowed).")
@click.option(
    "--app",
    "user_app",
    metavar="MODULE:OBJECT",
    default=None,
    help="Your own Flask app or Blueprint (or a factory of one), served beside the built-in apps.",
)
def serve(config_file: str | None, host: str, port: int, debug: bool, user_app: str | None) -> None:
    """Run the voice application server (development server; use gunicorn in production).

    Without a configured ``PUBLIC_URL``, the server's own ``http://HOST:PORT`` is used
    (the address the embedded dialer reaches it at), unless HOST is a wildcard.
    With ``--app``, a request for none of voiceapp's routes goes to your app, which
    shares voiceapp's settings, store and sessions (docs/your-own-app.md).
    """
    from voiceapp.cli.wsgi import create_app
    from voiceapp.config import load_settings

    user = None if user_app is None else load_user_app(user_app)  # before any setting
    overrides: dict[str, Any] = {"DEBUG": True} if debug else {}
    try:
        settings, _ = load_settings(config_file, overrides=overrides)
        if not settings.PUBLIC_URL and port and host not in _WILDCARDS:
            shown = f"[{host.strip('[]')}]" if ":" in host else host
            overrides["PUBLIC_URL"] = f"http://{shown}:{port}"
        app = create_app(overrides or None, config_file=config_file)
    except ConfigError as exc:
        where = f" [{exc.field}]" if exc.field else ""
        raise click.ClickException(f"configuration error{where}: {exc}") from None
    wsgi: Any = app
    if user is not None:
        from voiceapp.flask import mount

        wsgi = mount(app, user)
    click.echo(f"voiceapp serving on http://{host}:{port}/ (development server)", err=True)
    if wsgi is app:
        app.run(host=host, port=port, debug=app.debug, use_reloader=False, threaded=True)
    else:
        run_simple(host, port, wsgi, use_debugger=app.debug, threaded=True)


def load_user_app(spec: str) -> Flask | Blueprint:
    """``module:object`` -> the Flask app or Blueprint it names (a factory is called)."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise click.BadParameter("expected MODULE:OBJECT, e.g. shop.voice:app", param_hint="--app")
    if os.getcwd() not in sys.path:  # the user's module is found from where they stand
        sys.path.insert(0, os.getcwd())
    try:
        found = import_string(f"{module}:{name}")
    except ImportStringError as exc:
        raise click.BadParameter(
            f"cannot import {spec}: {exc.exception}", param_hint="--app"
        ) from None
    if not isinstance(found, Flask | Blueprint) and callable(found):
        found = found()
    if not isinstance(found, Flask | Blueprint):
        raise click.BadParameter(
            f"{spec} is a {type(found).__name__}, not a Flask app or Blueprint",
            param_hint="--app",
        )
    return found
