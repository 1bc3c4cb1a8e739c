"""``voiceapp calls``: list the calls a server has stored, newest first.

    voiceapp calls [--status failed] [--to N] [--from N] [--limit 20] [--all] [--json]
                   [--server URL] [--api-key KEY]

It reads ``GET /v1/calls`` (the same ``--server`` and ``--api-key`` as ``voiceapp
call``) and prints one line per call: sid, status, when it was created, the numbers,
its duration and, when its document failed, its error (``fetch-status (HTTP 404):
...``).  ``--all`` follows ``next_cursor`` through every page (bounded); ``--json``
prints the calls as one JSON list (errors as ``{"error": {...}}``, as every command).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from voiceapp.cli.call import format_error, problem_error, server_options
from voiceapp.cli.output import CliError, JsonCommand

#: Pages ``--all`` reads at most.
MAX_PAGES = 1000


def fetch_calls(
    server: str, api_key: str, query: dict[str, Any], *, every: bool = False
) -> list[dict[str, Any]]:
    """``GET /v1/calls`` with ``query``; every page when ``every``.  :class:`CliError`
    (the server's problem code and field) on an error."""
    import requests

    out: list[dict[str, Any]] = []
    params = {k: v for k, v in query.items() if v is not None}
    for _ in range(MAX_PAGES):
        try:
            response = requests.get(
                server.rstrip("/") + "/v1/calls",
                params=params,
                headers={"X-API-Key": api_key},
                timeout=10,
            )
        except requests.RequestException as exc:
            raise CliError(f"cannot reach {server}: {exc}", code="unreachable") from None
        if response.status_code != 200:
            raise problem_error(response)
        body = response.json()
        out += body["calls"]
        cursor = body.get("next_cursor")
        if not every or not cursor:
            break
        params["cursor"] = cursor
    return out


def format_call(call: dict[str, Any]) -> str:
    """One line: ``CA…  completed  2026-12-03 07:29:15  +1… -> +886…  4 s  error …``."""
    created = datetime.fromtimestamp(float(call["createdAt"]), UTC).strftime("%Y-%m-%d %H:%M:%S")
    duration = "-" if call.get("duration") is None else f"{call['duration']} s"
    line = f"{call['sid']}  {call['status']:<11} {created}  {call['from']} -> {call['to']}  "
    line += duration
    if call.get("error"):
        line += f"  error {format_error(call['error'])}"
    return line


@click.command(cls=JsonCommand)
@click.option("--status", default=None, help="Only calls in this status (e.g. completed).")
@click.option("--to", default=None, help="Only calls to this number.")
@click.option("--from", "from_", default=None, help="Only calls from this number.")
@click.option("--created-after", default=None, help="Created at or after (epoch s or ISO 8601).")
@click.option("--created-before", default=None, help="Created before (epoch s or ISO 8601).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--all", "every", is_flag=True, help="Follow next_cursor through every page.")
@click.option("--json", "as_json", is_flag=True, help="Print the calls as JSON.")
@server_options
def calls(
    status: str | None,
    to: str | None,
    from_: str | None,
    created_after: str | None,
    created_before: str | None,
    limit: int,
    every: bool,
    as_json: bool,
    server: str,
    api_key: str | None,
) -> None:
    """List the server's calls, newest first (with the error of a call whose document failed)."""
    if not api_key:
        raise click.UsageError("no API key: pass --api-key or set VOICEAPP_API_KEY")
    query = {
        "status": status,
        "to": to,
        "from": from_,
        "created_after": created_after,
        "created_before": created_before,
        "limit": limit,
    }
    found = fetch_calls(server, api_key, query, every=every)
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for call in found:
        click.echo(format_call(call))
    if not found:
        click.echo("no calls")
