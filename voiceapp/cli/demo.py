"""``voiceapp demo``: the PIN, click-to-call and IVR flows end to end on one machine.

It starts the server (werkzeug's threaded WSGI server on 127.0.0.1) with the
embedded dialer on the real clock and the simulated network of the config file
(default: the packaged ``examples/demo.toml``), on a fresh SQLite store in a temporary folder,
and a status-callback receiver on 127.0.0.1 that refuses its first request (so a
retry shows).  Then it places three calls:

1. a PIN call: the callee hears "Your pin is 8 9 7 0";
2. a click-to-call bridge: the customer hears a greeting while the call centre's
   IVR is dialed with ``sendDigits="wwww101"``; the IVR connects only when ``101``
   arrives at least 2 s after it answered;
3. an IVR walk, an inbound call: the simulated network's caller dials the demo's own
   line (``POST /v1/calls/inbound``; the config's ``[inbound]`` table binds it to the
   IVR app and its menu), presses 3 for more options, then 9 to finish;

and prints each call's timeline from ``GET /v1/calls/<sid>`` as ``voiceapp call``
does, then the calls, callback deliveries and document fetches of its own
``GET /metrics``.  Exit status 0 when every call ended as expected, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any

import click

from voiceapp.cli.call import place, watch
from voiceapp.cli.output import CliError, JsonCommand, echo_json
from voiceapp.config import load_settings
from voiceapp.errors import VoiceappError

FROM = "+19499300360"
PIN_CALLEE = "0912345678"  # national (default region TW): +886912345678
CUSTOMER = "+886912000222"
IVR = "+18005797676"
WALKER = "+14155552671"  # the caller of the IVR walk (its script: [network.numbers])
IVR_LINE = "+14155550100"  # the demo's own line, [inbound]: the IVR app and its menu
EVENTS = "initiated ringing answered completed"


@dataclass
class Flow:
    title: str
    fields: dict[str, Any]
    check: Callable[[dict[str, Any]], list[str]]  # what went wrong (empty: as expected)
    path: str = "/v1/calls"  # /v1/calls/inbound: a caller dials one of our numbers
    sid: str = ""


def _rows(call: dict[str, Any], kind: str, leg: str | None = None) -> list[dict[str, Any]]:
    return [
        row.get("detail") or {}
        for row in call.get("trace") or ()
        if row.get("kind") == kind and (leg is None or row.get("leg") == leg)
    ]


def _expect(cond: bool, what: str) -> list[str]:
    return [] if cond else [what]


def check_pin(call: dict[str, Any]) -> list[str]:
    said = [d.get("text") for d in _rows(call, "say", "a")]
    return _expect(call.get("status") == "completed", "the call did not complete") + _expect(
        # the PIN is secret: the trace shows where it was said, masked
        "Your pin is ***." in said,
        f"the callee did not hear the PIN (heard {said})",
    )


def check_bridge(call: dict[str, Any]) -> list[str]:
    ivr = [d.get("result") for d in _rows(call, "ivr")]
    dial = [d.get("DialCallStatus") for d in _rows(call, "dial-result")]
    return (
        _expect(call.get("status") == "completed", "the call did not complete")
        + _expect("connected" in ivr, f"the IVR did not connect (ivr: {ivr})")
        + _expect(dial == ["completed"], f"the bridge did not complete (Dial: {dial})")
    )


def check_bridge_sip(call: dict[str, Any]) -> list[str]:
    """Over SIP the IVR is a sipp callee: the bridge is up until it hangs up."""
    dial = [d.get("DialCallStatus") for d in _rows(call, "dial-result")]
    return _expect(call.get("status") == "completed", "the call did not complete") + _expect(
        dial == ["completed"], f"the bridge did not complete (Dial: {dial})"
    )


def check_ivr_outbound(call: dict[str, Any]) -> list[str]:
    gathered = [d.get("digits") for d in _rows(call, "gathered")]
    said = [d.get("text") for d in _rows(call, "say", "a")]
    return (
        _expect(call.get("status") == "completed", "the call did not complete")
        + _expect(gathered[:2] == ["3", "9"], f"the walk pressed {gathered}, not 3 then 9")
        + _expect("Thank you for calling. Goodbye." in said, "the caller did not hear goodbye")
    )


def check_ivr(call: dict[str, Any]) -> list[str]:
    return check_ivr_outbound(call) + _expect(
        call.get("direction") == "inbound", "the call was not an inbound call"
    )


def flows(
    callback: str, network: str = "simulated", ivr_menu: Mapping[str, Any] | None = None
) -> list[Flow]:
    status = {"statusCallback": callback, "statusCallbackEvent": EVENTS}
    return [
        Flow(
            "PIN call: tell the customer their PIN",
            {
                "from": FROM,
                "to": PIN_CALLEE,
                "app": "pin",
                "variables": {"pin": "8970", "repeat": 1},
                **status,
                "optional": "token=123456",
            },
            check_pin,
        ),
        Flow(
            "Click-to-call: bridge the customer to the call centre IVR, extension wwww101",
            {
                "from": FROM,
                "to": CUSTOMER,
                "app": "bridge",
                "variables": {"number": IVR, "send_digits": "wwww101"},
                **status,
            },
            check_bridge_sip if network == "sip" else check_bridge,
        ),
        ivr_walk(status, network, ivr_menu or {}),
    ]


def ivr_walk(status: dict[str, Any], network: str, ivr_menu: Mapping[str, Any]) -> Flow:
    """The IVR walk: an inbound call to our line on the simulated network; over SIP (whose
    backend places no inbound call) an outbound call to the sipp walker with the menu of
    our line's ``[inbound]`` binding (``ivr_menu``)."""
    if network == "sip":
        return Flow(
            "IVR walk: our IVR calls the walker over SIP, who presses 3, then 9",
            {"from": FROM, "to": WALKER, "app": "ivr", "variables": dict(ivr_menu), **status},
            check_ivr_outbound,
        )
    return Flow(
        f"IVR walk: a caller dials our line {IVR_LINE} (inbound), presses 3, then 9",
        {"from": WALKER, "to": IVR_LINE},
        check_ivr,
        path="/v1/calls/inbound",
    )


class _Receiver:
    """Status callbacks land here; the very first request is refused (503) to show a retry."""

    def __init__(self, port: int) -> None:
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with receiver.lock:
                    receiver.count += 1
                    first = receiver.count == 1
                self.send_response(503 if first else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = _handle
            do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():  # shutdown() waits for serve_forever: only when it runs
            self.httpd.shutdown()
            self.thread.join(5)
        self.httpd.server_close()


class _Dispatch:
    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


def _quiet_handler() -> type[Any]:
    from werkzeug.serving import WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

    return Quiet


def default_config() -> str:
    """The packaged ``examples/demo.toml`` (``voiceapp.examples``), from any folder."""
    return str(files("voiceapp.examples") / "demo.toml")


@contextmanager
def running(
    config: str,
    port: int,
    receiver_port: int,
    echo: Callable[[str], None],
    extra: dict[str, Any] | None = None,
) -> Iterator[tuple[str, str, str]]:
    """Server + embedded dialer + receiver; yields (base URL, API key, callback URL)."""
    from werkzeug.serving import make_server

    from voiceapp.cli.wsgi import create_app
    from voiceapp.config import read_toml
    from voiceapp.web import runtime
    from voiceapp.web.calls import shutdown

    _QuietHandler = _quiet_handler()
    folder = tempfile.mkdtemp(prefix="voiceapp-demo-")
    receiver: _Receiver | None = None
    httpd = None
    thread = None
    app = None
    try:
        receiver = _Receiver(receiver_port)
        dispatch = _Dispatch()
        httpd = make_server(
            "127.0.0.1", port, dispatch, threaded=True, request_handler=_QuietHandler
        )
        base = f"http://127.0.0.1:{httpd.server_port}"
        allow = tuple(read_toml(config).get("URL_ALLOWLIST", ()))
        ours = (f"127.0.0.1:{httpd.server_port}", f"127.0.0.1:{receiver.port}")
        app = create_app(
            {
                "STORE_URL": f"sqlite:///{Path(folder) / 'voiceapp.db'}",
                "URL_ALLOWLIST": list(allow + tuple(a for a in ours if a not in allow)),
                "PUBLIC_URL": base,  # session URLs name this server, whatever Host says
                "DIALER": "embedded",
                "DEBUG": True,  # the example file's keys are published: local work only
                "LOG_LEVEL": "warning",  # the timelines say what happens
                **(extra or {}),  # --network sip: the backend, its routes to the sipp callees
            },
            config_file=config,
        )
        dispatch.app = app
        with app.app_context():
            settings = runtime().settings
        if not settings.API_KEYS:
            raise CliError(f"{config}: api_keys is empty; the demo needs one", code="demo-config")
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        receiver.start()
        echo(f"server   {base}  (store {folder}/voiceapp.db, dialer embedded, real clock)")
        echo(f"receiver http://127.0.0.1:{receiver.port}/status  (refuses its first request)")
        yield base, settings.API_KEYS[-1], f"http://127.0.0.1:{receiver.port}/status"
    finally:
        if httpd is not None:
            if thread is not None:
                httpd.shutdown()
                thread.join(5)
            httpd.server_close()
        if app is not None:
            shutdown(app)
            with app.app_context():
                runtime().store.close()
        if receiver is not None:
            receiver.stop()
        shutil.rmtree(folder, ignore_errors=True)


@click.command(cls=JsonCommand)
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, exists=True),
    default=default_config,
    show_default="examples/demo.toml",
    help="TOML settings: keys, numbers, the simulated network, callback retries.",
)
@click.option(
    "--port",
    default=8470,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Server port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--receiver-port",
    default=8471,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Callback receiver port (0: any free port).",
)
@click.option(
    "--timeout",
    default=45.0,
    show_default=True,
    type=click.FloatRange(5, 600),
    help="Seconds each call may take.",
)
@click.option(
    "--network",
    type=click.Choice(["simulated", "sip"]),
    default="simulated",
    show_default=True,
    help="simulated: the config's [network]; sip: real SIP and RTP to sipp callees it starts.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a summary (calls, metrics) as JSON instead of the timelines; errors too.",
)
def demo(
    config: str, port: int, receiver_port: int, timeout: float, network: str, as_json: bool
) -> None:
    """Run the PIN, click-to-call and IVR flows on the simulated network (or over SIP)."""
    started = time.monotonic()
    problems: list[str] = []
    say: Callable[..., None] = _silent if as_json else click.echo
    bold: Callable[..., None] = _silent if as_json else click.secho
    summary: list[dict[str, Any]] = []
    try:
        with contextlib.ExitStack() as stack:
            extra = None
            if network == "sip":
                from voiceapp.cli.sipp import demo_network

                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sipp-")))
                extra = stack.enter_context(demo_network(folder, say))
            base, key, callback = stack.enter_context(
                running(config, port, receiver_port, say, extra)
            )
            binding = load_settings(config)[0].inbound_binding(IVR_LINE)
            todo = flows(callback, network, binding.variables if binding is not None else None)
            for flow in todo:  # all three ring at once; the timelines print one by one
                flow.sid = place(base, key, flow.fields, path=flow.path)
            for number, flow in enumerate(todo, 1):
                say("")
                bold(f"[{number}] {flow.title}", bold=True)
                say(f"    POST {flow.path} {_fields(flow.fields)}")
                say(f"    -> {flow.sid} queued")
                record = watch(base, key, flow.sid, timeout=timeout, interval=0.1, echo=say)
                wrong = flow.check(record)
                verdict = "as expected" if not wrong else "NOT as expected: " + "; ".join(wrong)
                say(f"    => {record.get('status')}, {record.get('duration')} s, {verdict}")
                problems += [f"[{number}] {w}" for w in wrong]
                summary.append(
                    {
                        "title": flow.title,
                        "sid": flow.sid,
                        "status": record.get("status"),
                        "duration": record.get("duration"),
                        "problems": wrong,
                    }
                )
            say("")
            bold("GET /metrics (the calls, the deliveries, the fetches)", bold=True)
            metrics = _metrics(base)
            for line in metrics:
                say(f"    {line}")
    except VoiceappError as exc:
        raise CliError(exc.message, code=exc.code, field=exc.field) from None
    except OSError as exc:
        raise CliError(f"cannot start the demo: {exc}", code="demo-start") from None
    say("")
    elapsed = time.monotonic() - started
    if problems:
        raise CliError(
            f"{len(problems)} problem(s) in {elapsed:.1f} s: " + "; ".join(problems),
            code="demo-failed",
            calls=summary,
        )
    if as_json:
        echo_json(
            {
                "calls": summary,
                "metrics": metrics,
                "elapsed": round(elapsed, 3),
                "ok": True,
            }
        )
        return
    click.echo(f"demo: 3 calls ended as expected in {elapsed:.1f} s")


def _silent(*args: Any, **kwargs: Any) -> None:
    return None


#: the families of ``/metrics`` the demo prints
SHOWN_METRICS = (
    "voiceapp_calls{",
    "voiceapp_queue_depth ",
    "voiceapp_dialers ",
    "voiceapp_callback_deliveries_total{",
    "voiceapp_document_fetch_seconds_count{",
    "voiceapp_dialer_lag_seconds_count ",
)


def _metrics(base: str) -> list[str]:
    """The demo's lines of its own ``GET /metrics``."""
    import requests

    try:
        response = requests.get(base + "/metrics", timeout=10)
    except requests.RequestException as exc:
        raise CliError(f"cannot scrape {base}/metrics: {exc}", code="unreachable") from None
    if response.status_code != 200:
        raise CliError(f"GET /metrics answered HTTP {response.status_code}", code="http-error")
    return [line for line in response.text.splitlines() if line.startswith(SHOWN_METRICS)]


def _fields(fields: dict[str, Any]) -> str:
    shown = {k: v for k, v in fields.items() if k not in ("statusCallback", "variables")}
    if "variables" in fields and fields.get("app") != "ivr":
        from voiceapp.apps import get_app
        from voiceapp.redact import mask_variables

        secret = get_app(fields["app"]).secret_variables if "app" in fields else frozenset()
        shown["variables"] = mask_variables(fields["variables"], secret)  # no PIN printed
    return " ".join(f"{k}={v}" for k, v in shown.items())
