"""The builder: names derived from the schema, checks at the call that introduces a problem."""

from __future__ import annotations

import pytest

from voiceapp import DocumentError, Node, Response, lint, parse
from voiceapp.schema import ELEMENTS, python_name


def test_pin_say_then_hangup() -> None:
    r = Response()
    r.say("Your pin is 8 9 7 0", voice="alice", loop=2).hangup()
    assert r.to_xml() == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<Response><Say voice="alice" loop="2">Your pin is 8 9 7 0</Say><Hangup/></Response>\n'
    )


def test_gather_with_block_returns_the_child() -> None:
    r = Response()
    with r.gather(num_digits=4, action="/verify") as g:
        g.say("Enter your pin")
    assert g.tag == "Gather"
    assert g.get("numDigits") == 4
    assert g.get("timeout") == 5  # schema default
    assert [c.tag for c in g.elements] == ["Say"]
    assert (
        b'<Gather action="/verify" numDigits="4"><Say>Enter your pin</Say></Gather>' in r.to_xml()
    )


def test_dial_number_send_digits() -> None:
    r = Response()
    r.dial(caller_id="+15005550006").number("+18005797676", send_digits="wwww101")
    number = r.elements[0].elements[0]
    assert number.get("sendDigits") == "wwww101"
    assert number.get("statusCallbackEvent") == ("completed",)
    assert number.value == "+18005797676"


def test_ssml_text_and_elements_kept_in_order() -> None:
    r = Response()
    say = r.say("Your pin is ")
    say.say_as("8970", interpret_as="digits")
    say.add_text(". Goodbye.")
    assert say.children[0] == "Your pin is "
    assert say.children[2] == ". Goodbye."
    assert b'<Say>Your pin is <say-as interpret-as="digits">8970</say-as>. Goodbye.</Say>' in (
        r.to_xml()
    )


def test_lists_are_written_space_separated() -> None:
    r = Response()
    r.dial().number("+15551230000", status_callback_event=["initiated", "answered"])
    assert b'statusCallbackEvent="initiated answered"' in r.to_xml()


@pytest.mark.parametrize(
    ("build", "code", "path", "attribute"),
    [
        (lambda r: r.gather().dial(), "child-not-allowed", "/Response/Gather/Dial", None),
        (lambda r: r.number("+1555"), "child-not-allowed", "/Response/Number", None),
        (lambda r: r.pause(length=0), "bad-value", "/Response/Pause", "length"),
        (lambda r: r.dial(timeout=601), "bad-value", "/Response/Dial", "timeout"),
        (lambda r: r.say("hi", loop="often"), "bad-value", "/Response/Say", "loop"),
        (lambda r: r.pause(lenght=2), "unknown-attribute", "/Response/Pause", "lenght"),
        (lambda r: r.say("a\x01b"), "control-char", "/Response/Say", None),
        (lambda r: r.hangup("bye"), "text-not-allowed", "/Response/Hangup", None),
        (lambda r: r.sms(), "missing-text", "/Response/Sms", None),
        (
            lambda r: r.say("x").say_as("1"),
            "missing-attribute",
            "/Response/Say/say-as",
            "interpret-as",
        ),
        (
            lambda r: r.dial().number("+1555", send_digits="12x4"),
            "bad-digits",
            "/Response/Dial/Number",
            "sendDigits",
        ),
    ],
)
def test_invalid_input_fails_at_the_call(build, code, path, attribute) -> None:  # type: ignore[no-untyped-def]
    r = Response()
    with pytest.raises(DocumentError) as info:
        build(r)
    assert info.value.code == code
    assert info.value.path == path
    assert info.value.attribute == attribute


def test_bad_digits_message_names_the_index() -> None:
    with pytest.raises(DocumentError, match="index 2"):
        Response().dial().number("+1555", send_digits="12x4")


def test_rendering_never_mutates() -> None:
    r = Response()
    r.dial(timeout=20, caller_id="+1555", action="/done").number("+1666")
    before = (dict(r.elements[0].attrs), list(r.elements[0].children))
    first = r.to_xml()
    assert r.to_xml() == first
    assert (dict(r.elements[0].attrs), list(r.elements[0].children)) == before


def test_round_trip_equals() -> None:
    r = Response()
    r.say("Hello & <welcome>", voice="Polly.Joanna")
    r.play("https://example.com/a.mp3", loop=0)
    r.pause()
    assert parse(r.to_xml()) == r


def test_builder_names_are_derived_from_the_schema() -> None:
    r = Response()
    for element in ELEMENTS["Response"].children:
        assert hasattr(r, python_name(ELEMENTS[element].name))
    assert python_name("sendDigits") == "send_digits"
    assert python_name("say-as") == "say_as"
    assert python_name("xml:lang") == "xml_lang"
    with pytest.raises(AttributeError):
        r.no_such_verb  # noqa: B018


def test_checked_attributes_are_remembered_by_value_and_type() -> None:
    """Equal values of other types are checked on their own: after ``loop=2`` was
    accepted, ``loop=True`` and ``loop=2.0`` still fail, and text from ``1`` and
    ``1.0`` stays apart."""
    r = Response()
    for _ in range(2):
        r.say("x", loop=2)
        r.say("x", loop=1)
        r.gather(hints=1)
        r.gather(hints=1.0)
        for bad in (True, 2.0, 1.0):
            with pytest.raises(DocumentError) as info:
                r.say("x", loop=bad)
            assert info.value.code == "bad-value"
    assert [n.attrs for n in r.elements[:4]] == [
        {"loop": "2"},
        {"loop": "1"},
        {"hints": "1"},
        {"hints": "1.0"},
    ]


def test_remembered_attributes_are_not_shared_between_nodes() -> None:
    r = Response()
    a = r.say("x", voice="alice")
    b = r.say("y", voice="alice")
    a.set("loop", 3)
    assert a.attrs == {"voice": "alice", "loop": "3"} and b.attrs == {"voice": "alice"}
    assert r.say("z", voice="alice").attrs == {"voice": "alice"}
    assert b'<Say voice="alice">y</Say>' in r.to_xml()


def test_attributes_by_python_or_xml_name_alike() -> None:
    r = Response()
    say = r.say("Your pin is ")
    a = say.say_as("8970", interpret_as="digits")
    b = say.say_as("8970", **{"interpret-as": "digits"})
    c = r.add("Pause", length=2)
    d = r.pause(length=2)
    e = r.pause(length=None)
    assert a.attrs == b.attrs == {"interpret-as": "digits"}
    assert c.attrs == d.attrs == {"length": "2"}
    assert e.attrs == {}
    with pytest.raises(DocumentError) as info:
        say.say_as("8970", interpret_as="digits", **{"format": "nope"})
    assert info.value.attribute == "format"


def test_attributes_are_keywords_only() -> None:
    r = Response()
    with pytest.raises(TypeError):
        r.say("hi", "alice")
    with pytest.raises(TypeError):
        r.dial("+15551230000", 30)
    assert r.children == []


def test_several_wrong_attributes_name_the_first_in_schema_order() -> None:
    for attrs in ({"wait_url": 1, "method": 1000}, {"method": 1000, "wait_url": 1}):
        with pytest.raises(DocumentError) as info:
            Response().enqueue("queue", **attrs)
        assert info.value.attribute == next(
            a.name for a in ELEMENTS["Enqueue"].attrs if a.name in ("waitUrl", "method")
        )


def test_missing_text_says_what_text() -> None:
    with pytest.raises(DocumentError, match=r"<Sms> needs text \(message\)"):
        Response().sms()


def test_nodes_serialize_the_attributes_they_hold() -> None:
    r = Response()
    s = r.say("hi", voice="alice")
    s.attrs["voice"] = "man"
    assert b'<Say voice="man">hi</Say>' in r.to_xml()
    s.attrs["loop"] = 'a"b'  # written as held, escaped (lint would refuse the value)
    assert b'<Say voice="man" loop="a&quot;b">hi</Say>' in r.to_xml()
    r.elements[0].children[0] = "bye"
    assert b">bye</Say>" in r.to_xml()


_NODE_METHODS = {"add", "add_text", "get", "iter", "set", "to_xml"}


def test_one_shortcut_per_element_of_the_schema() -> None:
    shortcuts = {
        name
        for name, value in vars(Node).items()
        if callable(value) and not name.startswith("_") and name not in _NODE_METHODS
    }
    assert shortcuts == {python_name(e.name) for e in ELEMENTS.values() if e.key != "Response"}


def test_play_and_say_with_nothing_to_play_or_say_are_refused() -> None:
    cases = [(lambda r: r.play(loop=2), "missing-content"), (lambda r: r.say(), "missing-text")]
    for build, code in cases:
        r = Response()
        build(r)
        with pytest.raises(DocumentError) as info:
            r.to_xml()
        assert info.value.code == code
        assert [p.code for p in lint(r)] == [code]
    r = Response()
    r.play(digits="ww1")
    r.say("hi")
    assert lint(r.to_xml()) == []
