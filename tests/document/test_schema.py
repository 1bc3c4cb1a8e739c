"""The schema table and its value types."""

from __future__ import annotations

import pytest

from voiceapp.errors import InvalidValue
from voiceapp.schema import (
    ELEMENTS,
    ROOT,
    Bool,
    Digits,
    Duration,
    Enum,
    Int,
    Keys,
    List,
    Pattern,
    Url,
    python_name,
)


def test_every_default_is_a_valid_value_of_its_type() -> None:
    for element in ELEMENTS.values():
        for attr in element.attrs:
            if attr.default is not None:
                attr.type.parse(attr.default)
            assert not (attr.required and attr.default is not None)


def test_documented_defaults_the_dialer_reads() -> None:
    assert ELEMENTS["Pause"].attr_map["length"].default_value == 1
    assert ELEMENTS["Say"].attr_map["loop"].default_value == 1
    gather = ELEMENTS["Gather"].attr_map
    assert (gather["timeout"].default_value, gather["finishOnKey"].default_value) == (5, "#")
    assert ELEMENTS["Dial"].attr_map["timeout"].default_value == 30
    assert ELEMENTS["Number"].attr_map["statusCallbackEvent"].default_value == ("completed",)


def test_structure_rules() -> None:
    assert "Dial" not in ROOT.child_map["Gather"].child_map
    assert set(ROOT.child_map["Gather"].child_map) == {"Say", "Play", "Pause"}
    assert ELEMENTS["Refer"].child_map["Sip"] is ELEMENTS["ReferSip"]
    assert ROOT.child_map["Dial"].child_map["Sip"] is ELEMENTS["Sip"]
    assert ELEMENTS["say-as"].mixed and not ELEMENTS["Number"].mixed
    # every element is reachable from <Response>
    seen, todo = set(), [ROOT]
    while todo:
        element = todo.pop()
        if element.key not in seen:
            seen.add(element.key)
            todo.extend(element.child_map.values())
    assert seen == set(ELEMENTS)


@pytest.mark.parametrize(
    ("xml", "python"),
    [
        ("sendDigits", "send_digits"),
        ("statusCallbackEvent", "status_callback_event"),
        ("say-as", "say_as"),
        ("xml:lang", "xml_lang"),
        ("interpret-as", "interpret_as"),
        ("for", "for_"),
        ("from", "from_"),
        ("break", "break_"),
        ("ApplicationSid", "application_sid"),
    ],
)
def test_python_names_are_derived(xml: str, python: str) -> None:
    assert python_name(xml) == python


@pytest.mark.parametrize(
    ("type_", "good", "value", "bad"),
    [
        (Int(5, 600), "30", 30, ["4", "601", "3.5", "", "ten", "1e3"]),
        (Int(0), "0", 0, ["-1"]),
        (Enum("GET", "POST"), "GET", "GET", ["get", "PUT", ""]),
        (Bool(), "true", True, ["True", "1", "yes", ""]),
        (Url(), "/next", "/next", ["", "a b", "ftp://x/y", "https://", "javascript:alert(1)"]),
        (Url(("wss",), relative=False), "wss://h/p", "wss://h/p", ["/p", "https://h/p"]),
        (Keys(1), "#", "#", ["##", "a"]),
        (Keys(), "", "", ["12a"]),
        (Duration(10_000), "2s", 2000, ["11s", "500", "1.5s", "ms"]),
        (List(Enum("a", "b")), "a b", ("a", "b"), ["", "a  b", "a c", "a a"]),
        (Pattern(r"auto|[0-9]+", "seconds or auto"), "auto", "auto", ["Auto", "-1"]),
        (Digits(), "wwww101", "wwww101", ["12x", ""]),
    ],
)
def test_value_types(type_, good, value, bad) -> None:  # type: ignore[no-untyped-def]
    assert type_.parse(good) == value
    assert type_.describe()
    for text in bad:
        with pytest.raises(InvalidValue):
            type_.parse(text)


def test_format_converts_python_values() -> None:
    assert Int(1).format(3) == "3"
    assert Bool().format(False) == "false"
    assert Duration().format(250) == "250ms"
    assert List(Enum("initiated", "completed")).format(["initiated", "completed"]) == (
        "initiated completed"
    )
    with pytest.raises(InvalidValue):
        Int(1).format(True)
    with pytest.raises(InvalidValue):
        Int(1).format(2.0)
    with pytest.raises(InvalidValue):
        Bool().format(1)


def test_bad_digits_carry_the_index() -> None:
    with pytest.raises(InvalidValue) as info:
        Digits().parse("12x4")
    assert info.value.code == "bad-digits"
    assert info.value.index == 2


def test_value_types_remember_nothing() -> None:
    types = [Int(1, 5), Url(), Pattern(r"[a-z]+", "letters"), Digits(), List(Enum("a", "b"))]
    before = [dict(vars(t)) for t in types]
    for t, text in zip(types, ["3", "/a", "abc", "ww1", "a b"], strict=True):
        for _ in range(3):
            t.parse(text)
            t.format(text)
    assert [dict(vars(t)) for t in types] == before


def test_the_schema_imports_no_layer_above_it() -> None:
    import subprocess
    import sys

    code = "import sys, voiceapp.schema; print([m for m in sys.modules if m[:8] == 'voiceapp'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(eval(out.stdout)) <= {"voiceapp", "voiceapp.errors", "voiceapp.schema"}


@pytest.mark.parametrize("text", ["12x4", "", "@200", "1@", "1@2x", "1@20", "1@9999999", "1" * 300])
def test_the_digit_grammar_is_the_schemas_and_the_dtmf_layers(text: str) -> None:
    from voiceapp.dtmf import parse_digits
    from voiceapp.errors import DigitsError
    from voiceapp.schema import check_digits

    with pytest.raises(InvalidValue) as schema_info:
        check_digits(text)
    with pytest.raises(DigitsError) as dtmf_info:
        parse_digits(text)
    assert (dtmf_info.value.code, dtmf_info.value.index) == (
        schema_info.value.code,
        schema_info.value.index,
    )
    assert dtmf_info.value.message == schema_info.value.message


def test_short_leaf_promises_hold() -> None:
    """A rule's kept_by_short_leaf() promise (the linter skips the rule on such leaves)
    is true: a leaf with at most n characters and none of the named attributes keeps
    it, whatever its other attributes."""
    from voiceapp.schema import ELEMENTS

    checked = 0
    for element in ELEMENTS.values():
        for rule in element.rules:
            promise = rule.kept_by_short_leaf()
            if promise is None:
                continue
            n, names = promise
            length = min(n, 6000)
            others = {a.name: a.default or "x" for a in element.attrs if a.name not in names}
            for voice in ("alice", "Polly.Joanna", "Google.en-US-Standard-A"):
                attrs = {**others, "voice": voice} if "voice" in element.attr_map else others
                assert rule.check(element, attrs, [], "a" * length) is None, rule
            checked += 1
    assert checked >= 3  # TextLimit and VoiceLanguage on <Say>, PercentRange on <prosody>
