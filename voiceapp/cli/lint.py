"""``voiceapp lint`` and ``voiceapp fmt``: check and format voice documents.

Contract (later work relies on it):

- ``voiceapp lint [--json] [--strict] [--target NAME] PATH...`` (``-`` reads stdin):
  exit 0 when every document is valid, 1 when any is invalid, 2 on usage errors or unreadable files.
  Warnings (what Twilio only warns about) are printed but leave the exit status 0,
  unless ``--strict`` makes them count as errors.  Text output is one line per
  problem, ``PATH:LINE:COL: CODE message`` (``CODE warning: message`` for warnings);
  ``--json`` prints a list of ``{"path", "valid", "problems": [{"code", "severity",
  "message", "line", "column", "path"}]}``.  A file that cannot be read is
  ``{"path", "valid": false, "error": {"code": "unreadable", "message", "field": null}}``
  in that list.  ``--target twilio`` adds the platform's narrower rules
  (:mod:`voiceapp.document.targets`) as errors.
- ``voiceapp fmt [--json] [--target NAME] PATH`` prints the canonical document; exit 1
  (problems on stderr) when it is invalid, 2 when it cannot be read.  ``--json`` prints
  ``{"path", "xml"}``, or ``{"error": {"code", "message", "field", "problems"}}``.
  ``--target`` rewrites what the target's rules can (``W`` -> ``ww`` in Twilio's
  ``<Number sendDigits>``) and fails, located, on what they cannot.

Only the document layer is imported here (never Flask).
"""

from __future__ import annotations

import sys

import click

from voiceapp.cli.output import JsonCommand, echo_json
from voiceapp.document import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, Problem, check
from voiceapp.document.lint import too_large
from voiceapp.document.targets import TARGETS

_limits = [
    click.option(
        "--max-bytes",
        type=click.IntRange(1),
        default=DEFAULT_MAX_BYTES,
        show_default=True,
        help="Refuse documents larger than this.",
    ),
    click.option(
        "--max-depth",
        type=click.IntRange(1),
        default=DEFAULT_MAX_DEPTH,
        show_default=True,
        help="Refuse elements nested deeper than this.",
    ),
]

_target = click.option(
    "--target",
    type=click.Choice(sorted(TARGETS)),
    default=None,
    help="Also apply this platform's narrower rules (fmt: rewrite what they can).",
)


def _read(path: str, max_bytes: int) -> bytes | str:
    """The file's bytes (stdin for ``-``), or why it cannot be read.

    Reads at most one byte past the cap, so a huge input is refused as ``too-large``
    without being read whole."""
    try:
        if path == "-":
            return sys.stdin.buffer.read(max_bytes + 1)
        with open(path, "rb") as f:
            return f.read(max_bytes + 1)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"


def _unreadable(path: str, why: str) -> dict[str, object]:
    return {"code": "unreadable", "message": f"{path}: {why}", "field": None}


def _line(path: str, problem: Problem) -> str:
    return f"{path}:{problem}"


@click.command(cls=JsonCommand)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of text.")
@click.option("--strict", is_flag=True, help="Count warnings as errors.")
@_limits[0]
@_limits[1]
@_target
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
def lint(
    as_json: bool,
    strict: bool,
    max_bytes: int,
    max_depth: int,
    target: str | None,
    paths: tuple[str, ...],
) -> None:
    """Check voice documents against the schema; print every problem.

    PATH may be - for standard input.  Exit status: 0 all valid (warnings allowed
    unless --strict), 1 some invalid, 2 usage error or unreadable file.
    --target twilio also checks Twilio's narrower rules (sendDigits on <Number>:
    0-9 * # w, at most 32; documents up to 64 kB).
    """
    unreadable = False
    invalid = False
    report = []
    for path in paths:
        data = _read(path, max_bytes)
        if isinstance(data, str):
            unreadable = True
            if as_json:
                report.append({"path": path, "valid": False, "error": _unreadable(path, data)})
            else:
                click.echo(f"{path}: {data}", err=True)
            continue
        doc, problems = check(data, max_bytes=max_bytes, max_depth=max_depth, target=target)
        valid = doc is not None and not (strict and problems)
        invalid = invalid or not valid
        if as_json:
            report.append(
                {
                    "path": path,
                    "valid": valid,
                    "problems": [p.to_dict() for p in problems],
                }
            )
        else:
            for problem in problems:
                click.echo(_line(path, problem))
    if as_json:
        import json  # here: a text-only run never loads it (cold start, bench/bench_cli.py)

        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    sys.exit(2 if unreadable else 1 if invalid else 0)


@click.command(cls=JsonCommand)
@click.option("--json", "as_json", is_flag=True, help='Print {"path", "xml"} (errors too).')
@_limits[0]
@_limits[1]
@_target
@click.argument("path", metavar="PATH")
def fmt(as_json: bool, max_bytes: int, max_depth: int, target: str | None, path: str) -> None:
    """Print the canonical form of a voice document (PATH may be -).

    --target twilio rewrites what Twilio takes otherwise (W as ww in sendDigits) and
    fails on what it cannot (a sendDigits longer than 32 after rewriting).
    Exit status: 0 printed, 1 invalid (problems on stderr), 2 unreadable.
    """
    data = _read(path, max_bytes)
    if isinstance(data, str):
        if as_json:
            echo_json({"error": _unreadable(path, data)})
        else:
            click.echo(f"{path}: {data}", err=True)
        sys.exit(2)
    doc, problems = check(
        data, max_bytes=max_bytes, max_depth=max_depth, target=target, rewrite=True
    )
    xml = b""
    if doc is not None:
        xml = doc.to_xml()
        big = too_large(len(xml), TARGETS[target]) if target is not None else None
        if big is not None:
            doc, problems = None, [big, *problems]
    if doc is None and as_json:
        first = next((p for p in problems if p.severity == "error"), problems[0])
        echo_json(
            {
                "error": {
                    "code": first.code,
                    "message": f"{path} is not a valid document: {first.message}",
                    "field": None,
                    "problems": [p.to_dict() for p in problems],
                }
            }
        )
        sys.exit(1)
    for problem in problems:
        click.echo(_line(path, problem), err=True)  # errors, or warnings only
    if doc is None:
        sys.exit(1)
    if as_json:
        echo_json({"path": path, "xml": xml.decode("utf-8")})
        return
    sys.stdout.buffer.write(xml)
    sys.stdout.buffer.flush()
