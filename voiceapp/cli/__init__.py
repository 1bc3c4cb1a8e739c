"""The ``voiceapp`` command line: one click group whose commands load lazily.

Each command lives in its own module under ``voiceapp.cli`` and is imported only
when it runs, so ``voiceapp lint`` never imports Flask.  Commands that print data
take ``--json`` (errors included, :mod:`voiceapp.cli.output`); colour only on a
terminal, and never with ``NO_COLOR`` set.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute"; modules are imported on first use.
COMMANDS: dict[str, str] = {
    "lint": "voiceapp.cli.lint:lint",
    "fmt": "voiceapp.cli.lint:fmt",
    "docs": "voiceapp.cli.docs:docs",
    "digits": "voiceapp.cli.digits:digits",
    "serve": "voiceapp.cli.serve:serve",
    "demo": "voiceapp.cli.demo:demo",
    "call": "voiceapp.cli.call:call",
    "dialer": "voiceapp.cli.dialer:dialer",
    "calls": "voiceapp.cli.calls:calls",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        import importlib.util  # here: only help lists the commands (cold start of the others)

        available = []
        for name, target in COMMANDS.items():
            module = target.partition(":")[0]
            if importlib.util.find_spec(module) is not None:
                available.append(name)
        return sorted(available)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup)
@click.version_option(package_name="voiceapp")
@click.pass_context
def main(ctx: click.Context) -> None:
    """voiceapp: build, lint, serve and dial TwiML-style voice applications."""
    from voiceapp.cli.output import color_setting

    ctx.color = color_setting()


__all__ = ["main"]
