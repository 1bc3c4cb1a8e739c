"""``voiceapp serve``: the development server.

For production use a WSGI server: ``gunicorn -w 4 'voiceapp.cli.wsgi:create_app()'``
(the app and its embedded dialer, :mod:`voiceapp.cli.wsgi`).
"""

from __future__ import annotations

from typing import Any

import click

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
def serve(config_file: str | None, host: str, port: int, debug: bool) -> None:
    """Run the voice application server (development server; use gunicorn in production).

    Without a configured ``PUBLIC_URL``, the server's own ``http://HOST:PORT`` is used
    (the address the embedded dialer reaches it at), unless HOST is a wildcard.
    """
    from voiceapp.cli.wsgi import create_app
    from voiceapp.config import load_settings

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
    click.echo(f"voiceapp serving on http://{host}:{port}/ (development server)", err=True)
    app.run(host=host, port=port, debug=app.debug, use_reloader=False, threaded=True)
