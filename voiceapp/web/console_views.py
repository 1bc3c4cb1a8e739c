"""What the console pages show, as plain data, made from a call as the API shows it.

Every function here takes the *redacted* body of ``GET /v1/calls/<sid>`` (what
:func:`voiceapp.web.calls.shown_call` returns): so the console shows exactly what the API
may show, and nothing here needs to know a secret to hide it.

* :func:`timeline` — the legs' lanes: states from each leg's history, and what the
  dialer's trace says happened (fetches with their latency, verbs, digits sent and
  heard, gathers, bridges, hang-ups), on one time axis (ms since the call was dialed);
  :func:`timeline_svg` draws it (inline SVG, every text escaped);
* :func:`documents` — every fetched document with its outcome, latency and text,
  pretty-printed and linted (:func:`lint_view`, also the lint page's);
* :func:`digit_strings` — the digits sent and heard, each with its DTMF timeline SVG
  (:func:`voiceapp.dtmf.svg.render_svg`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from lxml import etree
from markupsafe import Markup, escape

from voiceapp.document import Problem, lint
from voiceapp.document.parser import new_parser
from voiceapp.dtmf import parse_digits
from voiceapp.dtmf.svg import render_svg
from voiceapp.errors import DigitsError
from voiceapp.redact import redact_document

#: Trace kinds that end a fetch (the ``fetch`` row before them started it).
FETCH_ENDS: Final = frozenset({"document", "document-error", "fetch-error"})
#: Trace kinds drawn as an error.
ERRORS: Final = frozenset(
    {"fetch-error", "document-error", "internal-error", "dial-error", "store-error"}
)
#: Trace kinds that end a leg.
ENDS: Final = frozenset({"hangup", "reject", "cancel", "callee-hangup", "whisper-ended"})


@dataclass(frozen=True)
class Mark:
    """One thing on a lane: a span (``end_ms`` > ``start_ms``) or a point."""

    leg: str
    start_ms: int
    end_ms: int
    kind: str  # a CSS class: state, fetch, verb, digits, digit, gather, bridge, end, error, other
    label: str  # short text drawn on the chart
    title: str  # the full description (tooltip, and the table under the chart)

    @property
    def span(self) -> bool:
        return self.end_ms > self.start_ms


@dataclass(frozen=True)
class Lane:
    leg: str  # a, b1, b2 ...
    sid: str
    to: str
    status: str
    states: tuple[Mark, ...]
    marks: tuple[Mark, ...]


@dataclass(frozen=True)
class Timeline:
    lanes: tuple[Lane, ...]
    duration_ms: int

    def rows(self) -> list[Mark]:
        """Every state and mark of every lane, in time order (the chart as a table)."""
        out = [m for lane in self.lanes for m in (*lane.states, *lane.marks)]
        return sorted(out, key=lambda m: (m.start_ms, m.leg))


def _ms(detail: Mapping[str, Any], key: str, scale: float = 1.0) -> int:
    value = detail.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0, round(value * scale))
    return 0


def _short(value: Any, size: int = 60) -> str:
    text = str(value)
    return text if len(text) <= size else text[: size - 1] + "…"


def leg_labels(call: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """``(label, leg)`` of every leg: ``a`` for the first, then ``b1``, ``b2`` ..."""
    legs: list[Mapping[str, Any]] = list(call.get("legs") or ())
    return [("a" if i == 0 else f"b{i}", leg) for i, leg in enumerate(legs)]


def origin(call: Mapping[str, Any]) -> float:
    """The wall time of trace ms 0: the a-leg's ``initiated`` (else the call's creation)."""
    stamps = call.get("timestamps") or {}
    start = stamps.get("initiated")
    return float(start if start is not None else call.get("createdAt") or 0.0)


def _states(label: str, leg: Mapping[str, Any], zero: float, end_ms: int) -> list[Mark]:
    history = [h for h in leg.get("history") or () if h.get("status") != "queued"]
    out: list[Mark] = []
    for i, change in enumerate(history):
        start = max(0, round((float(change["at"]) - zero) * 1000))
        if i + 1 < len(history):
            stop = max(start, round((float(history[i + 1]["at"]) - zero) * 1000))
        elif leg.get("endedAt") is None:
            stop = max(start, end_ms)  # still in this state
        else:
            stop = start  # the final status: a point
        status = str(change["status"])
        title = f"{label}: {status} at {start / 1000:.3f} s"
        out.append(Mark(label, start, stop, f"state state-{status}", status, title))
    return out


def _mark(leg: str, row: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], i: int) -> Mark:
    """The mark of trace row ``rows[i]`` (a fetch looks ahead for its answer)."""
    kind = str(row.get("kind"))
    detail: Mapping[str, Any] = row.get("detail") or {}
    at = int(row.get("ms") or 0)
    if kind == "fetch":
        for later in rows[i + 1 :]:
            if later.get("leg") == leg and later.get("kind") in FETCH_ENDS:
                end = int(later.get("ms") or at)
                outcome = "ok" if later["kind"] == "document" else later["kind"]
                title = (
                    f"{detail.get('method', '')} {detail.get('url', '')}: {outcome}, {end - at} ms"
                )
                return Mark(leg, at, end, "fetch", "fetch", title)
        return Mark(leg, at, at, "fetch", "fetch", f"fetch {detail.get('url', '')}")
    if kind == "say":
        seconds = _ms(detail, "seconds", 1000) * max(1, _ms(detail, "loop"))
        return Mark(leg, at, at + seconds, "verb", "Say", f"Say: {_short(detail.get('text'))}")
    if kind == "play":
        seconds = _ms(detail, "seconds", 1000) * max(1, _ms(detail, "loop"))
        return Mark(leg, at, at + seconds, "verb", "Play", f"Play {detail.get('url', '')}")
    if kind == "pause":
        return Mark(leg, at, at + _ms(detail, "seconds", 1000), "verb", "Pause", "Pause")
    if kind in ("digits-sent", "play-digits"):
        digits = str(detail.get("digits", ""))
        span = _ms(detail, "ms") * max(1, _ms(detail, "loop"))
        return Mark(leg, at, at + span, "digits", digits, f"{kind}: {digits}")
    if kind == "digit-heard":
        digit = str(detail.get("digit", ""))
        return Mark(leg, at, at, "digit", digit, f"digit heard: {digit}")
    if kind == "gather":
        for later in rows[i + 1 :]:
            if later.get("leg") == leg and later.get("kind") == "gathered":
                found: Mapping[str, Any] = later.get("detail") or {}
                end = int(later.get("ms") or at)
                title = f"Gather: {found.get('digits') or 'nothing'} ({found.get('reason')})"
                return Mark(leg, at, end, "gather", "Gather", title)
        return Mark(leg, at, at, "gather", "Gather", "Gather")
    if kind == "record-start":
        for later in rows[i + 1 :]:
            if later.get("leg") == leg and later.get("kind") == "record":
                return Mark(leg, at, int(later.get("ms") or at), "verb", "Record", "Record")
        return Mark(leg, at, at, "verb", "Record", "Record")
    if kind == "bridge":
        for later in rows[i + 1 :]:
            if later.get("leg") == leg and later.get("kind") in ("unbridge", *ENDS):
                end = int(later.get("ms") or at)
                return Mark(leg, at, end, "bridge", "bridge", f"bridged with {detail.get('b')}")
        return Mark(leg, at, at, "bridge", "bridge", f"bridged with {detail.get('b')}")
    if kind in ERRORS:
        text = detail.get("message") or detail.get("error") or detail.get("code") or ""
        return Mark(leg, at, at, "error", kind, f"{kind}: {_short(text, 120)}")
    if kind in ENDS:
        return Mark(leg, at, at, "end", kind, kind)
    if kind == "dial":
        return Mark(leg, at, at, "other", "Dial", f"Dial {_short(detail.get('numbers', ''))}")
    return Mark(leg, at, at, "other", kind, f"{kind} {_short(_detail_text(detail), 100)}")


#: Kinds that are not drawn: their story is told by the mark of another row.
_SKIPPED: Final = frozenset({"document", "gathered", "record", "unbridge", "status", "callback"})


def _detail_text(detail: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in detail.items() if k != "body")


def timeline(call: Mapping[str, Any], now: float | None = None) -> Timeline:
    """The call's lanes (see the module docstring); ``now`` (wall time) ends the states
    of legs still going."""
    zero = origin(call)
    rows: list[Mapping[str, Any]] = list(call.get("trace") or ())
    last = max((int(r.get("ms") or 0) for r in rows), default=0)
    ended = [float(leg["endedAt"]) for _, leg in leg_labels(call) if leg.get("endedAt")]
    if now is not None and call.get("endedAt") is None:
        ended.append(now)
    end_ms = max([last, *(round((t - zero) * 1000) for t in ended)], default=0)
    lanes = []
    for label, leg in leg_labels(call):
        marks = [
            _mark(label, row, rows, i)
            for i, row in enumerate(rows)
            if row.get("leg") == label and row.get("kind") not in _SKIPPED
        ]
        lanes.append(
            Lane(
                label,
                str(leg.get("sid", "")),
                str(leg.get("to", "")),
                str(leg.get("status", "")),
                tuple(_states(label, leg, zero, end_ms)),
                tuple(marks),
            )
        )
    duration = max([end_ms, *(m.end_ms for lane in lanes for m in lane.marks)], default=0)
    return Timeline(tuple(lanes), max(duration, 1000))


# -- the chart -------------------------------------------------------------------------------

_LEFT = 110
_PLOT = 860
_RIGHT = 30
_LANE = 92
_TOP = 34


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _tick(total: int) -> int:
    step = 1
    while True:
        for mult in (1, 2, 5):
            if total / (step * mult) <= 10:
                return step * mult
        step *= 10


def timeline_svg(line: Timeline) -> Markup:
    """The timeline as an inline SVG chart: one lane per leg, states as a coloured band,
    spans (fetches, verbs, digits, gathers, bridges) as bars, points (digits heard,
    errors, hang-ups) as ticks; a ``<title>`` on each item; the axis in seconds."""
    total = max(line.duration_ms, 1)
    scale = _PLOT / total
    height = _TOP + _LANE * len(line.lanes) + 30
    width = _LEFT + _PLOT + _RIGHT
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
        f'aria-labelledby="timeline-title" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<title id="timeline-title">Call timeline: {len(line.lanes)} leg(s), '
        f"{total / 1000:.1f} s (the table below lists every item)</title>",
    ]
    for n, lane in enumerate(line.lanes):
        y = _TOP + n * _LANE
        out.append(
            f'<text x="4" y="{y + 16}" font-weight="bold">{escape(lane.leg)} leg</text>'
            f'<text x="4" y="{y + 32}" class="muted">{escape(lane.to)}</text>'
            f'<text x="4" y="{y + 48}" class="muted">{escape(lane.status)}</text>'
        )
        out.append(
            f'<line x1="{_LEFT}" y1="{y + _LANE - 6}" x2="{_LEFT + _PLOT}" '
            f'y2="{y + _LANE - 6}" class="lane-rule"/>'
        )
        for m in lane.states:
            x = _LEFT + m.start_ms * scale
            w = max((m.end_ms - m.start_ms) * scale, 2.0)
            out.append(
                f'<g class="{escape(m.kind)}"><rect x="{_n(x)}" y="{y + 4}" width="{_n(w)}" '
                f'height="16"/><title>{escape(m.title)}</title>'
                + (
                    f'<text x="{_n(x + 3)}" y="{y + 16}">{escape(m.label)}</text>'
                    if w > 7 * len(m.label)
                    else ""
                )
                + "</g>"
            )
        row = 0
        for m in lane.marks:
            x = _LEFT + m.start_ms * scale
            if m.span:
                w = max((m.end_ms - m.start_ms) * scale, 2.0)
                top = y + 26 + (row % 2) * 22
                row += 1
                label = (
                    f'<text x="{_n(x + 3)}" y="{top + 13}">{escape(m.label)}</text>'
                    if w > 7 * len(m.label)
                    else ""
                )
                out.append(
                    f'<g class="mark {escape(m.kind)}"><rect x="{_n(x)}" y="{top}" '
                    f'width="{_n(w)}" height="18" rx="3"/><title>{escape(m.title)}</title>'
                    f"{label}</g>"
                )
            else:
                out.append(
                    f'<g class="mark point {escape(m.kind)}"><line x1="{_n(x)}" y1="{y + 24}" '
                    f'x2="{_n(x)}" y2="{y + 70}"/><circle cx="{_n(x)}" cy="{y + 74}" r="4"/>'
                    f"<title>{escape(m.title)}</title>"
                    + (
                        f'<text x="{_n(x)}" y="{y + 86}" text-anchor="middle">'
                        f"{escape(m.label)}</text>"
                        if m.kind == "digit"
                        else ""
                    )
                    + "</g>"
                )
    axis = _TOP + _LANE * len(line.lanes)
    out.append(f'<line x1="{_LEFT}" y1="{axis}" x2="{_LEFT + _PLOT}" y2="{axis}" class="axis"/>')
    step = _tick(total)
    for ms in range(0, total + 1, step):
        tx = _n(_LEFT + ms * scale)
        text = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
        out.append(
            f'<line x1="{tx}" y1="{axis}" x2="{tx}" y2="{axis + 5}" class="axis"/>'
            f'<text x="{tx}" y="{axis + 18}" text-anchor="middle">{text} s</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # every text in it is escaped


# -- documents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    number: int
    before: str  # the text before the problem's column (the whole line when none)
    at: str  # the character at the column (highlighted)
    after: str
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class LintView:
    text: str  # as shown (pretty-printed when it came on one line)
    lines: tuple[Line, ...]
    problems: tuple[Problem, ...]
    checked: bool = True  # False: the text was cut, so it was not linted

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if p.severity == "warning")


def pretty(text: str) -> str:
    """``text`` indented when it is well-formed XML written on one or two lines (the
    way apps send it); else as it is, so a hand-written document keeps its lines."""
    if text.strip().count("\n") > 1:
        return text
    try:
        root = etree.fromstring(text.encode("utf-8"), new_parser(force_utf8=True))
    except (etree.XMLSyntaxError, ValueError):
        return text
    etree.indent(root, space="  ")
    body = etree.tostring(root, encoding="unicode")
    declaration = (
        '<?xml version="1.0" encoding="UTF-8"?>\n' if text.lstrip().startswith("<?xml") else ""
    )
    return declaration + body + "\n"


def lint_view(text: str, *, checked: bool = True) -> LintView:
    """``text`` pretty-printed, its problems (:func:`voiceapp.document.lint`) and its
    lines, each with the problems located on it (``checked`` False: not linted)."""
    shown = pretty(text) if checked else text
    problems = tuple(lint(shown)) if checked else ()
    by_line: dict[int, list[Problem]] = {}
    for problem in problems:
        by_line.setdefault(problem.line or 1, []).append(problem)
    lines = []
    for number, content in enumerate(shown.splitlines() or [""], start=1):
        here = tuple(by_line.get(number, ()))
        column = next((p.column for p in here if p.column), None)
        if column is not None and 1 <= column <= len(content):
            i = column - 1
            lines.append(Line(number, content[:i], content[i], content[i + 1 :], here))
        else:
            lines.append(Line(number, content, "", "", here))
    count = len(lines)
    for number, found in by_line.items():  # a problem past the last line (end of input)
        if number > count:
            lines.append(Line(number, "", "", "", tuple(found)))
    return LintView(shown, tuple(lines), problems, checked)


@dataclass(frozen=True)
class Document:
    leg: str
    method: str
    url: str
    at_ms: int
    latency_ms: int | None
    outcome: str  # ok | fetch-error | document-error
    status: str  # "2xx" for a document, the HTTP status or error code otherwise
    message: str
    verbs: tuple[str, ...]
    size: int | None  # the document's length when its text was cut
    view: LintView | None  # None: no text (a fetch error)


def documents(call: Mapping[str, Any]) -> list[Document]:
    """Every fetch of the call's trace and what came of it, in order."""
    rows: list[Mapping[str, Any]] = list(call.get("trace") or ())
    out = []
    for i, row in enumerate(rows):
        if row.get("kind") not in FETCH_ENDS:
            continue
        leg = str(row.get("leg"))
        detail: Mapping[str, Any] = row.get("detail") or {}
        at = int(row.get("ms") or 0)
        fetch: Mapping[str, Any] | None = None
        for earlier in reversed(rows[:i]):
            if earlier.get("leg") == leg and earlier.get("kind") in (*FETCH_ENDS, "fetch"):
                fetch = earlier if earlier.get("kind") == "fetch" else None
                break
        fetched: Mapping[str, Any] = (fetch or {}).get("detail") or {}
        latency = at - int(fetch.get("ms") or 0) if fetch is not None else None
        body = detail.get("body")
        size = detail.get("size") if isinstance(detail.get("size"), int) else None
        view = None
        if isinstance(body, str):  # the dialer masked it already; again, to be sure
            view = lint_view(redact_document(body), checked=size is None)
        kind = str(row["kind"])
        if kind == "document":
            status, message = "2xx", "fetched and valid"
        elif kind == "fetch-error":
            status = str(detail.get("status") or detail.get("code") or "error")
            message = str(detail.get("error") or "")
        else:
            status = str(detail.get("code") or "invalid")
            message = str(detail.get("message") or "")
        out.append(
            Document(
                leg,
                str(fetched.get("method") or ""),
                str(detail.get("url") or fetched.get("url") or ""),
                at,
                latency,
                "ok" if kind == "document" else kind,
                status,
                message,
                tuple(str(v) for v in detail.get("verbs") or ()),
                size,
                view,
            )
        )
    return out


# -- digits ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digits:
    leg: str
    what: str  # "sent" | "heard"
    digits: str
    svg: Markup | None  # None: not a digit string the timeline takes
    at_ms: int = 0
    moments: tuple[int, ...] = field(default=())


def digits_svg(digits: str) -> Markup | None:
    """The DTMF timeline picture of ``digits`` (the dtmf layer's SVG), None if invalid."""
    try:
        return Markup(render_svg(parse_digits(digits)))  # validated digits only
    except DigitsError:
        return None


def digit_strings(call: Mapping[str, Any]) -> list[Digits]:
    """The digits sent (each ``digits-sent`` / ``play-digits`` row) and heard (the
    ``digit-heard`` rows of each leg, together) of the call, with their timelines."""
    rows: list[Mapping[str, Any]] = list(call.get("trace") or ())
    out: list[Digits] = []
    heard: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        detail: Mapping[str, Any] = row.get("detail") or {}
        leg = str(row.get("leg"))
        if row.get("kind") in ("digits-sent", "play-digits"):
            digits = str(detail.get("digits", ""))
            out.append(Digits(leg, "sent", digits, digits_svg(digits), int(row.get("ms") or 0)))
        elif row.get("kind") == "digit-heard":
            heard.setdefault(leg, []).append((int(row.get("ms") or 0), str(detail.get("digit"))))
    for leg, items in heard.items():
        digits = "".join(d for _, d in items)
        out.append(
            Digits(
                leg,
                "heard",
                digits,
                digits_svg(digits),
                items[0][0],
                tuple(ms for ms, _ in items),
            )
        )
    return out
