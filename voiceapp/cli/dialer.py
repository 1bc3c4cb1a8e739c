"""``voiceapp dialer``: the dialer as its own process (deployments with Redis).

It reads the same settings as ``voiceapp serve`` (``--config FILE`` or
``VOICEAPP_CONFIG``, then ``VOICEAPP_*``), opens the call store named by
``STORE_URL`` and runs ``--workers`` :class:`~voiceapp.dialer.worker.Dialer`
workers (threads, each with its own clock and worker id) until SIGTERM or
SIGINT.  Several processes, on one machine or many, can share one Redis: each
queued call is taken by exactly one worker.

Logs go to stderr as ``LOG_FORMAT`` says (text or json).  ``--metrics-port`` serves
this process's Prometheus metrics (:mod:`voiceapp.metrics`, with the store's
gauges) on ``--metrics-host``; with ``PROMETHEUS_MULTIPROC_DIR`` shared with the
server's processes, the server's ``/metrics`` has them already.  ``--json`` prints
the lines on stdout as JSON objects (``{"event": "ready", ...}``, ``{"event":
"ended", "sid", "status", "seconds"}``, ``{"event": "stopped"}``) and errors as
``{"error": {...}}``.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import click

from voiceapp.cli.output import CliError, JsonCommand, echo_json
from voiceapp.errors import VoiceappError

if TYPE_CHECKING:
    from voiceapp.stores.calls import CallStore

TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def _safe_url(url: str) -> str:
    """The store URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@click.command(cls=JsonCommand)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML settings file (default: $VOICEAPP_CONFIG).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker threads in this process (default: the DIALER_WORKERS setting).",
)
@click.option(
    "--worker-id", default=None, help="Base of the worker ids (default: host:pid:random)."
)
@click.option("--quiet", is_flag=True, help="Do not print a line per finished call.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this process's Prometheus metrics on this port (default: none).",
)
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True, help="Interface of --metrics-port."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines (errors too).")
def dialer(
    config_path: str | None,
    workers: int | None,
    worker_id: str | None,
    quiet: bool,
    metrics_port: int | None,
    metrics_host: str,
    as_json: bool,
) -> None:
    """Take queued calls from the store and run them until stopped (SIGTERM/SIGINT)."""
    from voiceapp.config import load_settings
    from voiceapp.dialer.trace import TraceEntry
    from voiceapp.dialer.worker import Dialer, default_worker_id
    from voiceapp.logs import configure
    from voiceapp.stores.calls import open_call_store

    try:
        settings, _ = load_settings(config_path)
        if not settings.STORE_URL:
            raise click.UsageError(
                "voiceapp dialer needs STORE_URL: the store the server writes calls to "
                "(redis://host:port/db, or sqlite:///path for one machine)"
            )
        settings.check_production(dialer=True)
        configure(settings.LOG_FORMAT, settings.LOG_LEVEL)
        store = open_call_store(settings.STORE_URL)
    except VoiceappError as exc:
        raise CliError(exc.message, code=exc.code, field=exc.field) from None
    if metrics_port is not None:
        _serve_metrics(store, settings.READY_DIALER_AGE, metrics_host, metrics_port)

    count = workers or settings.DIALER_WORKERS
    base = worker_id or default_worker_id()
    lock = threading.Lock()

    def show(sid: str, entry: TraceEntry) -> None:
        if entry.kind == "status" and entry.leg == "a":
            status = str(entry.detail.get("status"))
            if status in TERMINAL_STATUSES:
                with lock:
                    if as_json:
                        echo_json(
                            {
                                "event": "ended",
                                "sid": sid,
                                "status": status,
                                "seconds": entry.ms / 1000,
                            }
                        )
                    else:
                        click.echo(f"{sid} {status} at {entry.ms / 1000:.3f}s")

    dialers = []
    for index in range(count):
        one = Dialer(settings, store, worker_id=base if count == 1 else f"{base}-{index + 1}")
        if not quiet:
            one.subscribe(show)
        dialers.append(one)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for one in dialers:
        one.start()
    ids = ", ".join(one.worker_id for one in dialers)
    if as_json:
        echo_json(
            {
                "event": "ready",
                "workers": [one.worker_id for one in dialers],
                "store": _safe_url(settings.STORE_URL),
                "clock": settings.DIALER_CLOCK,
                "lease": settings.DIALER_LEASE,
            }
        )
    else:
        click.echo(
            f"voiceapp dialer ready: {count} worker(s) [{ids}] on "
            f"{_safe_url(settings.STORE_URL)}, "
            f"{settings.DIALER_CLOCK} clock, lease {settings.DIALER_LEASE:g} s"
        )
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    if not as_json:
        click.echo("voiceapp dialer stopping")
    for one in dialers:
        one.stop(timeout=5.0)
    store.close()
    if as_json:
        echo_json({"event": "stopped"})
    else:
        click.echo("voiceapp dialer stopped")


def _serve_metrics(store: CallStore, ready_age: float, host: str, port: int) -> None:
    """This process's metrics and the store's gauges on ``host:port`` (a daemon thread)."""
    from prometheus_client import start_http_server

    from voiceapp.metrics import StoreCollector, process_registry

    registry = process_registry()
    registry.register(StoreCollector(store, ready_age=ready_age, clock=store.clock))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise CliError(
            f"cannot serve metrics on {host}:{port}: {exc}",
            code="metrics-port",
            field="--metrics-port",
        ) from None
