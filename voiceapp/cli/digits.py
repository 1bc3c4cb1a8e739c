"""``voiceapp digits``: show, render or check a senddigits / digits string."""

from __future__ import annotations

from pathlib import Path

import click

from voiceapp.cli.output import JsonCommand, echo_json, error_body
from voiceapp.dtmf import (
    DEFAULT_GAP_MS,
    DEFAULT_TONE_MS,
    GAP_MS_RANGE,
    TONE_MS_RANGE,
    Timeline,
    Tone,
    parse_digits,
)
from voiceapp.errors import DigitsError


def format_timeline(timeline: Timeline) -> str:
    """The human-readable timeline printed without ``--json``."""
    tones = len(timeline.tones)
    lines = [
        f"{timeline.digits}: {tones} tone{'s' if tones != 1 else ''}, "
        f"{timeline.duration_ms} ms (tone {timeline.tone_ms} ms, gap {timeline.gap_ms} ms)"
    ]
    for event in timeline.events:
        what = f"tone {event.digit}" if isinstance(event, Tone) else "wait"
        lines.append(
            f"{event.start_ms:>8} ms  {what:<7} {event.duration_ms:>5} ms"
            f"  (until {event.end_ms} ms)"
        )
    return "\n".join(lines)


@click.command(cls=JsonCommand)
@click.option("--json", "as_json", is_flag=True, help="Print the timeline (or the error) as JSON.")
@click.option(
    "--wav",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the tones as 8 kHz 16-bit mono PCM WAV.",
)
@click.option(
    "--svg",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write a picture of the timeline (tones as bars on a time axis).",
)
@click.option(
    "--tone-ms",
    type=click.IntRange(*TONE_MS_RANGE),
    default=DEFAULT_TONE_MS,
    show_default=True,
    help="Length of each tone (an @ms suffix in DIGITS overrides it).",
)
@click.option(
    "--gap-ms",
    type=click.IntRange(*GAP_MS_RANGE),
    default=DEFAULT_GAP_MS,
    show_default=True,
    help="Silence between two adjacent tones (w/W waits replace it).",
)
@click.argument("digits")
def digits(
    as_json: bool, wav: Path | None, svg: Path | None, tone_ms: int, gap_ms: int, digits: str
) -> None:
    """Lay out DIGITS (0-9 * # A-D, w = 0.5 s wait, W = 1 s wait, optional @ms
    tone length) as a timeline of tones and waits.

    Exit status 1 with "error at index N: message" on stderr for a bad string
    (with --json: {"error": {"code", "message", "field", "index"}} on stdout).
    """
    try:
        timeline = parse_digits(digits, tone_ms=tone_ms, gap_ms=gap_ms)
    except DigitsError as exc:
        if as_json:
            echo_json(error_body(exc))
        else:
            click.echo(str(exc), err=True)
        raise SystemExit(1) from None
    if wav is not None:
        from voiceapp.dtmf.audio import synthesize, write_wav

        write_wav(wav, synthesize(timeline))
    if svg is not None:
        from voiceapp.dtmf.svg import render_svg

        svg.write_text(render_svg(timeline), encoding="utf-8")
    if as_json:
        echo_json(timeline.to_dict())
    else:
        click.echo(format_timeline(timeline))
