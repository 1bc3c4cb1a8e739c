"""A timeline as an SVG picture: tones as labelled bars, waits as thin grey bars,
on a time axis in milliseconds (seconds for long timelines).

The text is written directly: every string placed in it comes from a validated
:class:`Timeline` (digits, ``w``/``W``, ``@`` and numbers), none of which needs
escaping in XML.
"""

from __future__ import annotations

from voiceapp.dtmf.timeline import Timeline, Tone

_PLOT_WIDTH = 960
_LEFT = 30
_RIGHT = 40
_HEIGHT = 130
_BAR_TOP = 40
_BAR_HEIGHT = 40
_AXIS_Y = 95
_TONE_FILL = "#2b6cb0"
_WAIT_FILL = "#cbd5e0"


def _tick_step(duration_ms: int) -> int:
    """A 1-2-5 step giving at most about ten ticks."""
    step = 1
    while True:
        for mult in (1, 2, 5):
            if duration_ms / (step * mult) <= 10:
                return step * mult
        step *= 10


def _label(ms: int, seconds: bool) -> str:
    if not seconds:
        return f"{ms} ms"
    text = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text} s"


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def render_svg(timeline: Timeline) -> str:
    """The SVG document (UTF-8 text) for ``timeline``."""
    total = max(timeline.duration_ms, 1)
    scale = _PLOT_WIDTH / total
    width = _LEFT + _PLOT_WIDTH + _RIGHT
    seconds = total >= 2000
    title = f"DTMF timeline {timeline.digits}: {timeline.duration_ms} ms"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{_HEIGHT}" '
        f'viewBox="0 0 {width} {_HEIGHT}" font-family="sans-serif" font-size="12">',
        f"<title>{title}</title>",
        f'<text x="{_LEFT}" y="18" font-size="13">{title}'
        f" (tone {timeline.tone_ms} ms, gap {timeline.gap_ms} ms)</text>",
    ]
    for event in timeline.events:
        x = _LEFT + event.start_ms * scale
        w = max(event.duration_ms * scale, 1.0)
        span = f"{event.start_ms}-{event.end_ms} ms"
        if isinstance(event, Tone):
            out.append(
                f'<rect class="tone" x="{_num(x)}" y="{_BAR_TOP}" width="{_num(w)}" '
                f'height="{_BAR_HEIGHT}" fill="{_TONE_FILL}">'
                f"<title>tone {event.digit}: {span}</title></rect>"
            )
            out.append(
                f'<text x="{_num(x + w / 2)}" y="{_BAR_TOP - 5}" '
                f'text-anchor="middle">{event.digit}</text>'
            )
        else:
            out.append(
                f'<rect class="wait" x="{_num(x)}" y="{_BAR_TOP + 15}" width="{_num(w)}" '
                f'height="10" fill="{_WAIT_FILL}"><title>wait: {span}</title></rect>'
            )
            if w >= 60:
                out.append(
                    f'<text x="{_num(x + w / 2)}" y="{_BAR_TOP + 37}" text-anchor="middle" '
                    f'fill="#4a5568">wait {event.duration_ms} ms</text>'
                )
    out.append(
        f'<line x1="{_LEFT}" y1="{_AXIS_Y}" x2="{_LEFT + _PLOT_WIDTH}" y2="{_AXIS_Y}" '
        'stroke="#1a202c"/>'
    )
    step = _tick_step(total)
    for ms in range(0, total + 1, step):
        tx = _num(_LEFT + ms * scale)
        out.append(
            f'<line x1="{tx}" y1="{_AXIS_Y}" x2="{tx}" y2="{_AXIS_Y + 5}" stroke="#1a202c"/>'
        )
        out.append(
            f'<text x="{tx}" y="{_AXIS_Y + 18}" text-anchor="middle">{_label(ms, seconds)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
