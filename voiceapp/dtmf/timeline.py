"""Digit strings (``senddigits``, ``sendDigits``, ``<Play digits>``) as timed events.

Grammar::

    digits := symbol+ [ "@" ms ]
    symbol := "0".."9" | "*" | "#" | "A".."D"     a tone
            | "w"                                 wait 500 ms
            | "W"                                 wait 1000 ms

Timing rules (all exact, in whole milliseconds):

* every tone lasts ``tone_ms`` (or the ``@ms`` suffix, Plivo style);
* two tones written next to each other are separated by ``gap_ms`` of silence;
* a run of waits *replaces* the gap: the silence between the tones around it is
  exactly the sum of the waits (``1w2`` puts 500 ms between the end of 1 and the
  start of 2, never 500 + gap);
* a run of adjacent waits is one ``Wait`` event (``WWWW`` is one 4000 ms wait);
* leading and trailing waits are kept; the timeline starts at 0 and its
  ``duration_ms`` is the end of the last event.

The gap between adjacent tones is silence, not an event: schedule by ``start_ms``.
The grammar itself is the schema's (:func:`voiceapp.schema.check_digits`): one
check for the builder, the linter, the REST API and the dialer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from itertools import repeat
from operator import attrgetter
from typing import Any, ClassVar, Literal

from voiceapp.errors import DigitsError, InvalidValue
from voiceapp.schema import DTMF_MAX_LENGTH, DTMF_TONE_MS_RANGE, DTMF_TONES, check_digits

#: The sixteen DTMF symbols, in RFC 4733 event-code order (0-9, *, #, A-D).
TONES = DTMF_TONES
#: How long each wait character lasts.
WAIT_MS: dict[str, int] = {"w": 500, "W": 1000}

#: Default tone length and silence between adjacent tones: 200 ms and 400 ms, the
#: documented defaults of Bandwidth's SendDtmf (toneDuration / toneInterval), a
#: carrier that also documents the rule used here that a wait replaces the gap.
#: Comfortably above the 40 ms tone and pause ITU-T Q.24 receivers must accept.
DEFAULT_TONE_MS = 200
DEFAULT_GAP_MS = 400
#: Accepted tone length (for ``tone_ms`` and the ``@ms`` suffix): the W3C
#: insertDTMF bounds, 40 ms (the Q.24 recognition minimum) to 6000 ms.
TONE_MS_RANGE = DTMF_TONE_MS_RANGE
#: Accepted gap between tones: 40 ms (Q.24 minimum pause) to 6000 ms.
GAP_MS_RANGE = (40, 6000)
#: Default maximum length of a digit string, in characters (suffix included).
DEFAULT_MAX_LENGTH = DTMF_MAX_LENGTH
#: Twilio's REST ``SendDigits`` takes at most 32 characters; pass it as
#: ``max_length`` for strict parity.
TWILIO_REST_MAX_LENGTH = 32


@dataclass(frozen=True, slots=True)
class Tone:
    """One DTMF tone: ``digit`` sounds from ``start_ms`` for ``duration_ms``."""

    digit: str
    start_ms: int
    duration_ms: int

    type: ClassVar[Literal["tone"]] = "tone"

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "tone",
            "digit": self.digit,
            "start_ms": self.start_ms,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True, slots=True)
class Wait:
    """Silence asked for by ``w`` / ``W`` characters (one event per run)."""

    start_ms: int
    duration_ms: int

    type: ClassVar[Literal["wait"]] = "wait"

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms

    def to_dict(self) -> dict[str, Any]:
        return {"type": "wait", "start_ms": self.start_ms, "duration_ms": self.duration_ms}


Event = Tone | Wait


@dataclass(frozen=True, slots=True)
class Timeline:
    """A validated digit string: its ordered events and total length."""

    digits: str
    events: tuple[Event, ...]
    duration_ms: int
    tone_ms: int
    gap_ms: int

    @property
    def tones(self) -> tuple[Tone, ...]:
        return tuple(e for e in self.events if isinstance(e, Tone))

    @property
    def pressed(self) -> str:
        """The digits that are pressed, in order, without waits (``WWWW101`` → ``101``)."""
        return "".join(e.digit for e in self.events if isinstance(e, Tone))

    def to_dict(self) -> dict[str, Any]:
        """The ``voiceapp digits --json`` document."""
        return {
            "digits": self.digits,
            "duration_ms": self.duration_ms,
            "events": [e.to_dict() for e in self.events],
        }


def _check_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def parse_digits(
    text: str,
    *,
    tone_ms: int = DEFAULT_TONE_MS,
    gap_ms: int = DEFAULT_GAP_MS,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> Timeline:
    """Validate a digit string and lay it out in time.

    Raises :class:`~voiceapp.errors.DigitsError` (``code`` and ``index`` of the first
    bad character) for bad input, and :class:`ValueError` for bad keyword arguments.
    """
    if not TONE_MS_RANGE[0] <= tone_ms <= TONE_MS_RANGE[1] or type(tone_ms) is not int:
        _check_range("tone_ms", tone_ms, TONE_MS_RANGE)
    if not GAP_MS_RANGE[0] <= gap_ms <= GAP_MS_RANGE[1] or type(gap_ms) is not int:
        _check_range("gap_ms", gap_ms, GAP_MS_RANGE)
    if type(max_length) is not int or max_length < 1:
        raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
    if type(text) is not str:
        raise TypeError(f"digits must be a str, got {type(text).__name__}")
    try:
        check_digits(text, max_length)
    except InvalidValue as exc:
        raise DigitsError(exc.message, code=exc.code, index=exc.index or 0) from None

    body = text
    at = text.find("@")
    if at >= 0:
        body = text[:at]
        tone_ms = int(text[at + 1 :])

    step = tone_ms + gap_ms
    if "w" not in body and "W" not in body:  # the common case: tones only
        k = len(body)
        tones = _make_tones(body, range(0, k * step, step), tone_ms)
        return _make_timeline(text, tuple(tones), k * step - gap_ms, tone_ms, gap_ms)

    # One pass over the characters collects the tone start times and the merged
    # wait runs; the tone objects are then built in bulk (see _make_tones).
    starts: list[int] = []
    add_start = starts.append
    waits: list[Event] = []
    wait_ms = WAIT_MS.get
    t = 0
    wait_start = -1  # start of the wait run in progress, -1 outside one
    after_tone = False
    for char in body:
        ms = wait_ms(char)
        if ms is None:
            if wait_start >= 0:
                waits.append(_make_wait(wait_start, t - wait_start))
                wait_start = -1
            elif after_tone:
                t += gap_ms
            add_start(t)
            t += tone_ms
            after_tone = True
        else:
            if wait_start < 0:
                wait_start = t
            t += ms
    if wait_start >= 0:
        waits.append(_make_wait(wait_start, t - wait_start))
    events = _make_tones(body.replace("w", "").replace("W", ""), starts, tone_ms)
    # Start times are strictly increasing across tones and waits (a wait starts
    # where a tone ends; runs of waits are merged), so sorting is a C-level merge.
    events += waits
    events.sort(key=_START)
    return _make_timeline(text, tuple(events), t, tone_ms, gap_ms)


# Building many small frozen objects is most of the cost of parsing; the dataclass
# __init__ runs Python code per tone.  _make_tones sets the three slots straight
# through their descriptors from C-level map() loops instead (about twice as fast,
# and equal to ``list(map(Tone, digits, starts, repeat(tone_ms)))``: tested).
_NEW = object.__new__
_SET_DIGIT = vars(Tone)["digit"].__set__
_SET_START = vars(Tone)["start_ms"].__set__
_SET_DURATION = vars(Tone)["duration_ms"].__set__
_DRAIN: Callable[[Iterable[object]], None] = deque[object](maxlen=0).extend
_START = attrgetter("start_ms")
_SET_WAIT_START = vars(Wait)["start_ms"].__set__
_SET_WAIT_DURATION = vars(Wait)["duration_ms"].__set__


def _make_wait(start_ms: int, duration_ms: int) -> Wait:
    wait: Wait = _NEW(Wait)
    _SET_WAIT_START(wait, start_ms)
    _SET_WAIT_DURATION(wait, duration_ms)
    return wait


_TIMELINE_SLOTS = tuple(vars(Timeline)[f.name].__set__ for f in fields(Timeline))


def _make_timeline(
    digits: str, events: tuple[Event, ...], duration_ms: int, tone_ms: int, gap_ms: int
) -> Timeline:
    timeline: Timeline = _NEW(Timeline)
    a, b, c, d, e = _TIMELINE_SLOTS
    a(timeline, digits)
    b(timeline, events)
    c(timeline, duration_ms)
    d(timeline, tone_ms)
    e(timeline, gap_ms)
    return timeline


def _make_tones(digits: str, starts: Iterable[int], tone_ms: int) -> list[Event]:
    k = len(digits)
    tones: list[Event]
    if k < 2:  # below this the plain constructor is cheaper
        tones = list(map(Tone, digits, starts, repeat(tone_ms, k)))
        return tones
    tones = list(map(_NEW, repeat(Tone, k)))
    _DRAIN(map(_SET_DIGIT, tones, digits))
    _DRAIN(map(_SET_START, tones, starts))
    _DRAIN(map(_SET_DURATION, tones, repeat(tone_ms, k)))
    return tones
