"""``voiceapp call``: place a call against a running server and print its live timeline.

    voiceapp call --from +19499300360 --to 0912345678 --app pin --var-str pin=8970 --var repeat=1
    voiceapp call --from +19499300360 --to +18005797676 --url http://127.0.0.1:5000/x.xml \\
        --senddigits wwww101 --server http://127.0.0.1:5000 --api-key KEY

The command posts ``/v1/calls`` and then polls ``GET /v1/calls/<sid>`` (a bounded
loop) and prints each new thing as it appears: status changes of every leg,
dialer trace rows when the server keeps them (fetched documents, digits sent),
status-callback events and each delivery attempt.  It returns when the call has
ended and its callbacks are settled, or at ``--timeout``.

:class:`Timeline` turns successive call records into new lines; ``voiceapp demo``
uses it too.

Every field of ``POST /v1/calls`` has an option.  ``--var name=JSON`` gives an app
variable a JSON value (``--var timeout=5`` is the integer 5, ``--var 'menu={...}'`` an
object, ``--var 'pin="0042"'`` a string); ``--var-str name=TEXT`` gives it the text as
it is (``--var-str pin=8970``: the PIN app wants a string, so leading zeros stay).
``--json`` prints the final call record as one JSON object instead of the timeline, and
any error as ``{"error": {"code", "message", "field"}}`` (same exit statuses).

``voiceapp call --hangup SID`` ends a call instead (``POST /v1/calls/<sid>`` with
``status: completed``): a queued or ringing call is canceled, an answered one is hung up
by its dialer; it prints the call as it is after the request.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import click

from voiceapp.cli.output import CliError, JsonCommand, echo_json, pairs

TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
DEFAULT_SERVER = "http://127.0.0.1:5000"


def format_row(seconds: float, leg: str, kind: str, detail: str) -> str:
    return f"{seconds:8.3f}s  {leg:<4} {kind:<14} {detail}"


def _short(value: Any, limit: int = 110) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _url(url: Any) -> str:
    """A URL with its long token cut short: ``http://h/voice/eyJzaWQi…``."""
    text = str(url)
    head, sep, token = text.rpartition("/")
    return f"{head}{sep}{token[:10]}…" if sep and len(token) > 24 else text


def describe(kind: str, detail: Mapping[str, Any]) -> str:
    """One dialer trace row in words (the JSON detail for kinds without a rule)."""
    d = detail
    rules: dict[str, Callable[[], str]] = {
        "fetch": lambda: f"{d.get('method')} {_url(d.get('url'))}",
        "document": lambda: "verbs: " + " ".join(map(str, d.get("verbs") or ())),
        "say": lambda: f'"{d.get("text")}" ({d.get("seconds")} s)',
        "play": lambda: f"{_url(d.get('url'))} ({d.get('seconds')} s)",
        "pause": lambda: f"{d.get('seconds')} s",
        "digits-sent": lambda: f"{d.get('digits')} (over {d.get('ms')} ms)",
        "callee-pressed": lambda: f"{d.get('digit')}",
        "digit-heard": lambda: f"{d.get('digit')}",
        "gathered": lambda: f"digits {d.get('digits')!r} ({d.get('reason')})",
        "dial": lambda: f"{', '.join(d.get('numbers') or ())} callerId {d.get('callerId')}",
        "dial-result": lambda: f"{d.get('DialCallStatus')} ({d.get('DialCallDuration')} s)",
        "ivr": lambda: " ".join(f"{k}={v}" for k, v in sorted(d.items())),
        "redirect": lambda: f"{d.get('method')} {_url(d.get('url'))}",
        "fetch-error": lambda: f"{d.get('code')}: {d.get('error')}",
        "dial-error": lambda: f"{d.get('number')} {d.get('code')}: {d.get('message')}",
        "document-error": lambda: (
            f"{d.get('code')} at line {d.get('line')}, column {d.get('column')}: {d.get('message')}"
        ),
        "truncated": lambda: str(d.get("note")),
        "announce": lambda: f'"{d.get("text")}"',
        "gather": lambda: " ".join(f"{k}={v}" for k, v in sorted(d.items()) if v is not None),
    }
    rule = rules.get(kind)
    if rule is not None:
        return rule()
    return _short(dict(d)) if d else ""


def format_error(error: Mapping[str, Any]) -> str:
    """A call's ``error`` member in one line: ``fetch-status (HTTP 404): GET …: HTTP 404``."""
    status = f" (HTTP {error['status']})" if error.get("status") is not None else ""
    return f"{error.get('code')}{status}: {error.get('message')}"


class Timeline:
    """New timeline lines from successive ``GET /v1/calls/<sid>`` bodies.

    Rows are keyed, so a row printed once is never printed again, and sorted by
    time within each poll.  Times are seconds since the call was created.
    """

    def __init__(self) -> None:
        self.seen: set[tuple[Any, ...]] = set()
        self.start: float | None = None

    def _rows(self, call: Mapping[str, Any]) -> Iterator[tuple[float, tuple[Any, ...], str]]:
        start = self.start if self.start is not None else float(call.get("createdAt") or 0)
        self.start = start
        labels: dict[str, str] = {}
        key: tuple[Any, ...]
        for index, leg in enumerate(call.get("legs") or ()):
            label = "a" if index == 0 else f"b{index}"
            labels[leg["sid"]] = label
            for change in leg.get("history") or ():
                key = ("status", leg["sid"], change["status"])
                text = change["status"]
                if index and change["status"] == "queued":
                    text += f"  (b-leg {leg['sid']} to {leg['to']})"
                if change["status"] in TERMINAL and leg.get("duration") is not None:
                    text += f"  duration {leg['duration']} s"
                yield (
                    change["at"] - start,
                    key,
                    format_row(change["at"] - start, label, "status", text),
                )
        dialed = float((call.get("timestamps") or {}).get("initiated", start))
        for row in call.get("trace") or ():
            if row.get("kind") in ("status", "callback"):
                continue  # the store's history and events say it (with attempts)
            at = dialed + float(row.get("ms", 0)) / 1000
            key = ("trace", row.get("leg"), row.get("kind"), json.dumps(row, sort_keys=True))
            kind = str(row.get("kind"))
            text = _short(describe(kind, row.get("detail") or {}), 120)
            yield at - start, key, format_row(at - start, str(row.get("leg", "a")), kind, text)
        for event in call.get("events") or ():
            label = labels.get(event.get("callSid", ""), "a")
            key = ("event", event["id"])
            text = f"{event['event']} -> {event['method']} {event['url']}"
            yield (
                event["createdAt"] - start,
                key,
                format_row(event["createdAt"] - start, label, "callback", text),
            )
            for attempt in event.get("attempts") or ():
                key = ("attempt", event["id"], attempt["number"])
                result = (
                    f"HTTP {attempt['status']}"
                    if attempt.get("status") is not None
                    else str(attempt.get("error"))
                )
                text = (
                    f"{event['event']} attempt {attempt['number']}: "
                    f"{'delivered' if attempt['ok'] else 'failed'} ({_short(result, 60)})"
                )
                yield (
                    attempt["at"] - start,
                    key,
                    format_row(attempt["at"] - start, label, "delivery", text),
                )

    def update(self, call: Mapping[str, Any]) -> list[str]:
        """Lines not printed before, in time order."""
        new = []
        for at, key, line in self._rows(call):
            if key not in self.seen:
                self.seen.add(key)
                new.append((at, line))
        new.sort(key=lambda item: item[0])
        return [line for _, line in new]


def settled(call: Mapping[str, Any]) -> bool:
    """The call has ended and no callback is still pending."""
    if call.get("status") not in TERMINAL:
        return False
    return all(event.get("state") != "pending" for event in call.get("events") or ())


def place(server: str, api_key: str, fields: Mapping[str, Any], *, timeout: float = 10) -> str:
    """POST /v1/calls; the sid, or a :class:`CliError` with the problem's code and field."""
    import requests

    try:
        response = requests.post(
            server.rstrip("/") + "/v1/calls",
            json=dict(fields),
            headers={"X-API-Key": api_key},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise CliError(f"cannot reach {server}: {exc}", code="unreachable") from None
    if response.status_code != 201:
        raise problem_error(response)
    sid = response.json()["sid"]
    assert isinstance(sid, str)
    return sid


def problem_error(response: Any) -> CliError:
    """The server's problem+json answer as a :class:`CliError` (its code, field, status)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return CliError(
            f"HTTP {response.status_code}: {response.text[:200]}",
            code="http-error",
            status=response.status_code,
        )
    extra = {"index": body["index"]} if body.get("index") is not None else {}
    where = "".join(
        f" {name}={body[name]}" for name in ("field", "index") if body.get(name) is not None
    )
    return CliError(
        str(body.get("detail")),
        code=str(body.get("code") or "http-error"),
        field=body.get("field"),
        text=f"HTTP {response.status_code} {body.get('code')}{where}: {body.get('detail')}",
        status=response.status_code,
        **extra,
    )


def watch(
    server: str,
    api_key: str,
    sid: str,
    *,
    timeout: float = 120.0,
    interval: float = 0.2,
    settle: float = 10.0,
    echo: Any = click.echo,
    queued_note: float = 10.0,
) -> dict[str, Any]:
    """Poll the call until it is settled (or ``timeout``), echoing new timeline lines.

    After the call ends, pending callbacks are waited for at most ``settle`` s.  A call
    still ``queued`` after ``queued_note`` s gets one note on stderr (no dialer may be
    running).  Returns the last call record.
    """
    import requests

    timeline = Timeline()
    deadline = time.monotonic() + timeout
    ended_at: float | None = None
    url = f"{server.rstrip('/')}/v1/calls/{sid}"
    call: dict[str, Any] = {}
    noted = False
    started = time.monotonic()
    while True:
        try:
            response = requests.get(url, headers={"X-API-Key": api_key}, timeout=10)
        except requests.RequestException as exc:
            raise CliError(f"cannot reach {server}: {exc}", code="unreachable") from None
        if response.status_code != 200:
            raise problem_error(response)
        call = response.json()
        for line in timeline.update(call):
            echo(line)
        now = time.monotonic()
        if call.get("status") == "queued" and not noted and now - started >= queued_note:
            noted = True
            click.echo(
                f"note: call {sid} is still queued after {queued_note:g} s; is a dialer "
                f"running? (GET {server.rstrip('/')}/v1/ready)",
                err=True,
            )
        if call.get("status") in TERMINAL and ended_at is None:
            ended_at = now
        if settled(call) or (ended_at is not None and now - ended_at > settle):
            return call
        if now > deadline:
            raise CliError(
                f"call {sid} is still {call.get('status')} after {timeout:g} s",
                code="timeout",
                status=call.get("status"),
            )
        time.sleep(interval)


def variables(typed: Sequence[str], literal: Sequence[str] = ()) -> dict[str, Any]:
    """``--var name=JSON`` (a JSON value) and ``--var-str name=TEXT`` (the text) as one
    mapping; a name given twice, or a value that is not JSON, is a :class:`CliError`."""
    out: dict[str, Any] = {}
    for option, items in (("--var", typed), ("--var-str", literal)):
        for name, value in pairs(items, option):
            if name in out:
                raise CliError(
                    f"variable {name!r} is given twice", code="duplicate-variable", field=option
                )
            if option == "--var-str":
                out[name] = value
                continue
            try:
                out[name] = json.loads(value)
            except ValueError:
                raise CliError(
                    f"{name}={value}: the value is not JSON (a string is --var '{name}=\"...\"'"
                    f" or --var-str {name}=...)",
                    code="invalid-json",
                    field=option,
                ) from None
    return out


def default_api_key() -> str | None:
    key = os.environ.get("VOICEAPP_API_KEY")
    if key:
        return key
    keys = [k.strip() for k in os.environ.get("VOICEAPP_API_KEYS", "").split(",") if k.strip()]
    return keys[-1] if keys else None


def server_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--server`` and ``--api-key``, as every command that talks to a server takes them."""
    command = click.option(
        "--api-key",
        default=default_api_key,
        show_default="$VOICEAPP_API_KEY or the last of $VOICEAPP_API_KEYS",
        help="API key of the server.",
    )(command)
    return click.option(
        "--server",
        default=lambda: os.environ.get("VOICEAPP_SERVER", DEFAULT_SERVER),
        show_default=f"$VOICEAPP_SERVER or {DEFAULT_SERVER}",
        help="Base URL of the voiceapp server.",
    )(command)


def change(server: str, api_key: str, sid: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """POST /v1/calls/<sid> (a live change); the call after it, or a :class:`CliError`."""
    import requests

    try:
        response = requests.post(
            f"{server.rstrip('/')}/v1/calls/{sid}",
            json=dict(fields),
            headers={"X-API-Key": api_key},
            timeout=10,
        )
    except requests.RequestException as exc:
        raise CliError(f"cannot reach {server}: {exc}", code="unreachable") from None
    if response.status_code != 200:
        raise problem_error(response)
    body: dict[str, Any] = response.json()
    return body


@click.command(cls=JsonCommand)
@click.option("--from", "from_", default=None, help="Caller ID: an active outbound number.")
@click.option("--to", default=None, help="The number to call (E.164 or national).")
@click.option(
    "--country-code",
    default=None,
    help="Region (TW) or calling code (886) of a national --to (default: the server's).",
)
@click.option("--url", default=None, help="Document URL fetched when the callee answers.")
@click.option(
    "--method",
    type=click.Choice(["GET", "POST"], case_sensitive=False),
    default=None,
    help="HTTP method of the --url fetch (server default POST).",
)
@click.option("--app", default=None, help="Or an app the server makes a session for (pin...).")
@click.option("--twiml", default=None, help="Or the document itself, run on answer.")
@click.option(
    "--ring-timeout",
    type=click.IntRange(1, 600),
    default=None,
    help="Seconds the callee's phone rings before no-answer (server default 60).",
)
@click.option(
    "--time-limit",
    type=click.IntRange(1, 86400),
    default=None,
    help="Seconds the whole call may last (server default 14400).",
)
@click.option(
    "--hangup",
    metavar="SID",
    default=None,
    help="Instead of placing a call: hang up (or cancel) the call SID and print it.",
)
@click.option(
    "--var",
    "typed_vars",
    multiple=True,
    metavar="NAME=JSON",
    help="An app variable with a JSON value: timeout=5, 'pin=\"8970\"' (repeat).",
)
@click.option(
    "--var-str",
    "literal_vars",
    multiple=True,
    metavar="NAME=TEXT",
    help="An app variable with a string value, as written: pin=8970 (repeat).",
)
@click.option("--senddigits", default=None, help="DTMF sent on answer, e.g. wwww101.")
@click.option("--status-callback", default=None, help="URL receiving status callbacks.")
@click.option(
    "--status-callback-event",
    default=None,
    help="Events to report: a space-separated subset of initiated ringing answered completed.",
)
@click.option(
    "--status-callback-method",
    type=click.Choice(["GET", "POST"], case_sensitive=False),
    default=None,
    help="HTTP method of the status callbacks (server default POST).",
)
@click.option(
    "--secret-key",
    default=None,
    help="Key the status callbacks are signed with (never printed back).",
)
@click.option(
    "--optional", default=None, help="Text passed back in every status callback (Optional)."
)
@server_options
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(1, 3600))
@click.option(
    "--expect",
    default=None,
    help="Exit with status 1 unless the call ends with this status (e.g. completed).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the final call record as JSON (errors too) instead of the timeline.",
)
def call(
    from_: str | None,
    to: str | None,
    country_code: str | None,
    url: str | None,
    method: str | None,
    app: str | None,
    twiml: str | None,
    ring_timeout: int | None,
    time_limit: int | None,
    hangup: str | None,
    typed_vars: tuple[str, ...],
    literal_vars: tuple[str, ...],
    senddigits: str | None,
    status_callback: str | None,
    status_callback_event: str | None,
    status_callback_method: str | None,
    secret_key: str | None,
    optional: str | None,
    server: str,
    api_key: str | None,
    timeout: float,
    expect: str | None,
    as_json: bool,
) -> None:
    """Place a call and print its timeline until it ends (or, with --hangup, end one)."""
    if hangup is None:  # placing a call: --from and --to are required
        ctx = click.get_current_context()
        for name, value in (("from_", from_), ("to", to)):
            if not value:
                option = next(p for p in ctx.command.params if p.name == name)
                raise click.MissingParameter(ctx=ctx, param=option)
    if not api_key:
        raise click.UsageError("no API key: pass --api-key or set VOICEAPP_API_KEY")
    if hangup is not None:
        if from_ or to or url or app or twiml:
            raise click.UsageError("--hangup takes no call to place (no --from, --to, ...)")
        ended = change(server, api_key, hangup, {"status": "completed"})
        if as_json:
            echo_json(ended)
        else:
            click.echo(f"call {hangup}: hang-up asked; it is {ended.get('status')}")
        return
    if sum(1 for given in (url, app, twiml) if given) > 1:
        raise click.UsageError("give --url or --app (or --twiml), only one")
    if (typed_vars or literal_vars) and not app:
        raise click.UsageError("--var and --var-str go with --app")
    fields: dict[str, Any] = {"from": from_, "to": to}
    if url:
        fields["url"] = url
    if app:
        fields["app"] = app
        fields["variables"] = variables(typed_vars, literal_vars)
    given: tuple[tuple[str, str | int | None], ...] = (
        ("country_code", country_code),
        ("method", method),
        ("senddigits", senddigits),
        ("statusCallback", status_callback),
        ("statusCallbackEvent", status_callback_event),
        ("statusCallbackMethod", status_callback_method),
        ("secretKey", secret_key),
        ("optional", optional),
        ("twiml", twiml),
        ("timeout", ring_timeout),
        ("timeLimit", time_limit),
    )
    for name, item in given:
        if item:
            fields[name] = item
    sid = place(server, api_key, fields)

    def quiet(line: str) -> None:
        return None

    if not as_json:
        click.echo(f"call {sid} queued: {from_} -> {to}")
    record = watch(server, api_key, sid, timeout=timeout, echo=quiet if as_json else click.echo)
    status = record.get("status")
    if expect is not None and status != expect:
        raise CliError(
            f"expected {expect}, the call ended {status}",
            code="unexpected-status",
            field="--expect",
            sid=sid,
            status=status,
        )
    if as_json:
        echo_json(record)
    else:
        click.echo(f"call {sid} ended: {status} (duration {record.get('duration')} s)")
