from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceapp.dtmf import (
    DEFAULT_GAP_MS,
    DEFAULT_MAX_LENGTH,
    DEFAULT_TONE_MS,
    TWILIO_REST_MAX_LENGTH,
    Timeline,
    Tone,
    Wait,
    parse_digits,
)
from voiceapp.errors import DigitsError

T, G = DEFAULT_TONE_MS, DEFAULT_GAP_MS


def test_seed_example_waits_four_seconds_then_presses_101() -> None:
    tl = parse_digits("WWWW101")
    assert tl.events == (
        Wait(0, 4000),
        Tone("1", 4000, T),
        Tone("0", 4000 + T + G, T),
        Tone("1", 4000 + 2 * (T + G), T),
    )
    assert tl.pressed == "101"
    assert tl.duration_ms == 4000 + 3 * T + 2 * G


@pytest.mark.parametrize(
    ("text", "waited"),
    [("w", 500), ("W", 1000), ("ww", 1000), ("wW", 1500), ("WWWW", 4000), ("wwwwwwww", 4000)],
)
def test_wait_runs_are_one_exact_event(text: str, waited: int) -> None:
    tl = parse_digits(text)
    assert tl.events == (Wait(0, waited),)
    assert tl.duration_ms == waited


def test_a_wait_replaces_the_gap_between_tones() -> None:
    tl = parse_digits("1w2", tone_ms=200, gap_ms=300)
    assert tl.events == (Tone("1", 0, 200), Wait(200, 500), Tone("2", 700, 200))
    assert tl.duration_ms == 900


def test_adjacent_tones_are_separated_by_the_gap() -> None:
    tl = parse_digits("12#", tone_ms=80, gap_ms=60)
    assert [(e.start_ms, e.end_ms) for e in tl.events] == [(0, 80), (140, 220), (280, 360)]


def test_trailing_wait_counts_in_the_duration() -> None:
    tl = parse_digits("1W", tone_ms=100)
    assert tl.events == (Tone("1", 0, 100), Wait(100, 1000))
    assert tl.duration_ms == 1100


def test_plivo_tone_length_suffix_applies_to_every_tone() -> None:
    tl = parse_digits("1w2w3@1000", gap_ms=100)
    assert tl.tone_ms == 1000
    assert tl.events == (
        Tone("1", 0, 1000),
        Wait(1000, 500),
        Tone("2", 1500, 1000),
        Wait(2500, 500),
        Tone("3", 3000, 1000),
    )
    assert tl.digits == "1w2w3@1000"


def test_all_sixteen_symbols_are_tones() -> None:
    assert parse_digits("0123456789*#ABCD").pressed == "0123456789*#ABCD"


def test_to_dict_is_the_cli_json_shape() -> None:
    assert parse_digits("1w#", tone_ms=100, gap_ms=100).to_dict() == {
        "digits": "1w#",
        "duration_ms": 700,
        "events": [
            {"type": "tone", "digit": "1", "start_ms": 0, "duration_ms": 100},
            {"type": "wait", "start_ms": 100, "duration_ms": 500},
            {"type": "tone", "digit": "#", "start_ms": 600, "duration_ms": 100},
        ],
    }


def test_timeline_is_frozen() -> None:
    tl = parse_digits("1")
    assert isinstance(tl, Timeline)
    with pytest.raises(AttributeError):
        tl.duration_ms = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "code", "index"),
    [
        ("12x9", "digits-bad-char", 2),
        ("", "digits-empty", 0),
        ("@100", "digits-empty", 0),
        ("12a", "digits-bad-char", 2),
        ("1 2", "digits-bad-char", 1),
        ("1,2", "digits-bad-char", 1),
        ("+123", "digits-bad-char", 0),
        ("123@", "digits-bad-suffix", 3),
        ("123@1x", "digits-bad-suffix", 5),
        ("123@-5", "digits-bad-suffix", 4),
        ("1@2@3", "digits-bad-suffix", 3),
        ("1@39", "digits-bad-suffix", 2),
        ("1@6001", "digits-bad-suffix", 2),
        ("1@99999999999", "digits-bad-suffix", 2),
    ],
)
def test_bad_strings_name_code_and_first_bad_index(text: str, code: str, index: int) -> None:
    with pytest.raises(DigitsError) as info:
        parse_digits(text)
    assert info.value.code == code
    assert info.value.index == index
    assert str(info.value).startswith(f"error at index {index}: ")
    assert info.value.to_dict()["index"] == index


def test_too_long_points_at_the_first_character_past_the_limit() -> None:
    parse_digits("1" * DEFAULT_MAX_LENGTH)
    with pytest.raises(DigitsError) as info:
        parse_digits("1" * (TWILIO_REST_MAX_LENGTH + 1), max_length=TWILIO_REST_MAX_LENGTH)
    assert (info.value.code, info.value.index) == ("digits-too-long", TWILIO_REST_MAX_LENGTH)


def test_an_earlier_bad_character_wins_over_too_long() -> None:
    with pytest.raises(DigitsError) as info:
        parse_digits("12x" + "1" * 40, max_length=32)
    assert (info.value.code, info.value.index) == ("digits-bad-char", 2)


def test_explicit_max_length_admits_long_strings() -> None:
    assert len(parse_digits("1w" * 2048, max_length=4096).events) == 4096


@pytest.mark.parametrize(
    "kwargs",
    [{"tone_ms": 39}, {"tone_ms": 6001}, {"gap_ms": 0}, {"max_length": 0}, {"tone_ms": True}],
)
def test_bad_keyword_arguments_are_programming_errors(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        parse_digits("1", **kwargs)


def reference_parse(text: str, tone_ms: int, gap_ms: int) -> tuple[list[Tone | Wait], int]:
    """The timing rules written as plainly as possible, one character at a time."""
    events: list[Tone | Wait] = []
    t = 0
    for char in text:
        if char in "wW":
            ms = 500 if char == "w" else 1000
            last = events[-1] if events else None
            if isinstance(last, Wait):
                events[-1] = Wait(last.start_ms, last.duration_ms + ms)
            else:
                events.append(Wait(t, ms))
            t += ms
        else:
            if events and isinstance(events[-1], Tone):
                t += gap_ms
            events.append(Tone(char, t, tone_ms))
            t += tone_ms
    return events, t


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="0123456789*#ABCDwW", min_size=1, max_size=80),
    tone_ms=st.integers(40, 6000),
    gap_ms=st.integers(40, 6000),
)
def test_fast_parser_matches_the_plain_rules(text: str, tone_ms: int, gap_ms: int) -> None:
    tl = parse_digits(text, tone_ms=tone_ms, gap_ms=gap_ms)
    events, duration = reference_parse(text, tone_ms, gap_ms)
    assert list(tl.events) == events
    assert tl.duration_ms == duration
    assert tl == Timeline(text, tuple(events), duration, tone_ms, gap_ms)
    assert all(type(e) in (Tone, Wait) for e in tl.events)


@given(text=st.text(min_size=1, max_size=30))
def test_any_text_either_parses_or_raises_digits_error(text: str) -> None:
    try:
        tl = parse_digits(text)
    except DigitsError as exc:
        assert exc.code.startswith("digits-")
        assert 0 <= exc.index <= len(text)
    else:
        assert tl.digits == text


@given(
    prefix=st.text(alphabet="0123456789*#ABCDwW", min_size=0, max_size=20),
    bad=st.characters(blacklist_characters="0123456789*#ABCDwW@"),
    suffix=st.text(max_size=10),
)
def test_the_index_is_the_first_bad_character(prefix: str, bad: str, suffix: str) -> None:
    with pytest.raises(DigitsError) as info:
        parse_digits(prefix + bad + suffix)
    assert (info.value.code, info.value.index) == ("digits-bad-char", len(prefix))
