"""What every ``voiceapp`` command shares about output: ``--json``, errors, colour.

* A command that prints data takes ``--json`` and uses :class:`JsonCommand`: with
  ``--json`` every error it ends with, usage errors included, is printed on stdout as
  ``{"error": {"code", "message", "field", ...}}``; the exit status is the same as
  without ``--json`` (2 for usage errors, 1 otherwise, unless the command says).
  Without ``--json`` errors go to stderr as text, as click prints them.
* :class:`CliError` is a click error with a stable ``code`` and a ``field``;
  a :class:`~voiceapp.errors.VoiceappError` that reaches the command is shown the same way.
* Colour only on a terminal: click drops styles when stdout is not a TTY; ``NO_COLOR``
  (any value) turns them off on a terminal too (set in :func:`color_setting`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import click

from voiceapp.errors import VoiceappError


class CliError(click.ClickException):
    """A command failed: a stable ``code``, a ``field`` when one is to blame."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        field: str | None = None,
        text: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)  # exit status 1
        self.code = code
        self.field = field
        self.text = text  # the line printed without --json (default: code [field]: message)
        self.extra = extra

    def format_message(self) -> str:
        if self.text is not None:
            return self.text
        where = f" [{self.field}]" if self.field else ""
        return f"{self.code}{where}: {self.message}"


def echo_json(data: Any) -> None:
    import json  # here: a text-only run never loads it (cold start, bench/bench_cli.py)

    click.echo(json.dumps(data, ensure_ascii=False, indent=None))


def error_body(exc: BaseException) -> dict[str, Any]:
    """``{"error": {"code", "message", "field", ...}}`` for any error a command ends with."""
    body: dict[str, Any]
    if isinstance(exc, CliError):
        body = {"code": exc.code, "message": exc.message, "field": exc.field, **exc.extra}
    elif isinstance(exc, VoiceappError):
        body = {"code": exc.code, "message": exc.message, "field": None, **exc.location()}
    elif isinstance(exc, click.BadParameter):
        hint = exc.param_hint if isinstance(exc.param_hint, str) else None
        if hint is None and exc.param is not None:
            opts = getattr(exc.param, "opts", None) or [exc.param.name]
            hint = str(opts[0])
        code = "missing" if isinstance(exc, click.MissingParameter) else "bad-parameter"
        body = {"code": code, "message": exc.message or exc.format_message(), "field": hint}
    elif isinstance(exc, click.UsageError):
        body = {"code": "usage", "message": exc.message, "field": None}
    elif isinstance(exc, click.ClickException):
        body = {"code": "error", "message": exc.message, "field": None}
    else:
        body = {"code": "error", "message": str(exc), "field": None}
    return {"error": body}


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, click.ClickException):
        return exc.exit_code
    return 1


class JsonCommand(click.Command):
    """A command with a ``--json`` flag whose errors are JSON when it is given."""

    #: the name of the flag's parameter
    json_param: ClassVar[str] = "as_json"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["voiceapp.json"] = "--json" in args  # before parsing: usage errors too
        try:
            return super().parse_args(ctx, args)
        except click.ClickException as exc:
            self._fail_json(ctx, exc)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        ctx.meta["voiceapp.json"] = bool(ctx.params.get(self.json_param))
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            self._fail_json(ctx, exc)
            raise
        except VoiceappError as exc:
            self._fail_json(ctx, exc)
            raise CliError(exc.message, code=exc.code, field=exc.field) from None

    def _fail_json(self, ctx: click.Context, exc: BaseException) -> None:
        if ctx.meta.get("voiceapp.json"):
            echo_json(error_body(exc))
            ctx.exit(_exit_code(exc))


def color_setting(environ: Mapping[str, str] | None = None) -> bool | None:
    """``False`` when ``NO_COLOR`` is set, else ``None`` (click decides: a TTY or not)."""
    env = os.environ if environ is None else environ
    return False if env.get("NO_COLOR") else None


def pairs(items: Sequence[str], option: str) -> list[tuple[str, str]]:
    """``name=value`` option values split once; a :class:`CliError` names the bad one."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"{item!r} is not name=value", code="bad-parameter", field=option)
        out.append((name, value))
    return out
