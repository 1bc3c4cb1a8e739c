"""``voiceapp dialer``: the dialer as its own process (deployments with Redis).

It reads the same settings as ``voiceapp serve`` (``--config FILE`` or
``VOICEAPP_CONFIG``, then ``VOICEAPP_*``), opens the call store named by
``STORE_URL`` and runs ``--workers`` :class:`~voiceapp.dialer.worker.Dialer`
workers (threads, each with its own clock and worker id) until SIGTERM or
SIGINT.  Several processes, on one machine or many, can share one Redis: each
queued call is taken by exactly one worker.

It prints a line per finished call (``CA… completed at 4.607s``, with the call's
error code and message when its document failed); ``--trace`` prints the call's
whole timeline from the store when it ends (the printer of ``voiceapp call`` and
``voiceapp demo``); ``-v`` / ``-vv`` log at INFO / DEBUG (else ``LOG_LEVEL``).

Logs go to stderr as ``LOG_FORMAT`` says (text or json).  ``--metrics-port`` serves
this process's Prometheus metrics (:mod:`voiceapp.metrics`, with the store's
gauges) on ``--metrics-host``; with ``PROMETHEUS_MULTIPROC_DIR`` shared with the
server's processes, the server's ``/metrics`` has them already.  ``--json`` prints
the lines on stdout as JSON objects (``{"event": "ready", ...}``, ``{"event":
"ended", "sid", "status", "seconds"}``, ``{"event": "stopped"}``) and errors as
``{"error": {...}}``.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import click

from voiceapp.calls.api_json import call_json
from voiceapp.calls.states import TERMINAL
from voiceapp.cli.output import CliError, JsonCommand, echo_json
from voiceapp.errors import VoiceappError

if TYPE_CHECKING:
    from voiceapp.stores.calls.base import CallStore


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
@click.option(
    "--trace", "show_trace", is_flag=True, help="Print each call's timeline when it ends."
)
@click.option("-v", "--verbose", count=True, help="Log at INFO (-v) or DEBUG (-vv) to stderr.")
def dialer(
    config_path: str | None,
    workers: int | None,
    worker_id: str | None,
    quiet: bool,
    metrics_port: int | None,
    metrics_host: str,
    as_json: bool,
    show_trace: bool,
    verbose: int,
) -> None:
    """Take queued calls from the store and run them until stopped (SIGTERM/SIGINT)."""
    from voiceapp.config import load_settings
    from voiceapp.dialer.trace import TraceEntry, error_of
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
        level = ("debug" if verbose > 1 else "info") if verbose else settings.LOG_LEVEL
        configure(settings.LOG_FORMAT, level)
        store = open_call_store(settings.STORE_URL)
    except VoiceappError as exc:
        raise CliError(exc.message, code=exc.code, field=exc.field) from None
    if metrics_port is not None:
        _serve_metrics(store, settings.READY_DIALER_AGE, metrics_host, metrics_port)

    count = workers or settings.DIALER_WORKERS
    base = worker_id or default_worker_id()
    lock = threading.Lock()
    errors: dict[str, dict[str, Any]] = {}  # the first error of each running call
    ended: queue.Queue[str | None] = queue.Queue()

    def show(sid: str, entry: TraceEntry) -> None:
        error = error_of(entry.leg, entry.kind, entry.detail)
        if error is not None:
            errors.setdefault(sid, error)
        if entry.kind == "status" and entry.leg == "a":
            status = str(entry.detail.get("status"))
            if status in TERMINAL:
                error = errors.pop(sid, None)
                why = "" if error is None else f" error {error['code']}: {error.get('message')}"
                with lock:
                    if as_json:
                        echo_json(
                            {
                                "event": "ended",
                                "sid": sid,
                                "status": status,
                                "seconds": entry.ms / 1000,
                                "error": error,
                            }
                        )
                    else:
                        click.echo(f"{sid} {status} at {entry.ms / 1000:.3f}s{why}")
                    sys.stdout.flush()
                if show_trace:
                    ended.put(sid)

    printer = None
    if show_trace and not quiet:
        printer = threading.Thread(
            target=_print_timelines, args=(store, ended, lock), name="trace-printer", daemon=True
        )
        printer.start()

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
    if printer is not None:
        ended.put(None)
        printer.join(10)
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


def _print_timelines(store: Any, ended: queue.Queue[str | None], lock: threading.Lock) -> None:
    """Print the stored timeline of each call that ended (until ``None`` comes)."""
    from voiceapp.cli.call import Timeline, format_error

    while True:
        sid = ended.get()
        if sid is None:
            return
        record = None
        for _ in range(40):  # bounded: the end is written in the dialer's next group
            try:
                record = store.get(sid)
            except Exception as exc:  # the store is down: say so, go on
                with lock:
                    click.echo(f"{sid}: cannot read the trace ({exc})", err=True)
                break
            if record is not None and record.status in TERMINAL:
                break
            time.sleep(0.05)
        if record is None:
            continue
        call = call_json(record)
        lines = Timeline().update(call)
        with lock:
            click.echo(f"{sid} {call['from']} -> {call['to']}: {call['status']}")
            for line in lines:
                click.echo(line)
            if call.get("error"):
                click.echo(f"    error {format_error(call['error'])}")
            sys.stdout.flush()
