"""Reading documents: typed values with schema defaults, lazy parsed nodes, paths."""

from __future__ import annotations

import pytest

from voiceapp import DocumentError, Node, Response, lint, parse, validate

IVR = b"""<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Gather numDigits="1" action="/choice">
    <Say>Press 1.</Say>
    <Pause/>
  </Gather>
  <Say>Bye</Say>
  <Redirect>/menu</Redirect>
</Response>
"""


def test_typed_values_and_defaults() -> None:
    doc = parse(IVR)
    gather, say, redirect = doc.elements
    assert gather.get("numDigits") == 1
    assert gather.get("timeout") == 5
    assert gather.get("finishOnKey") == "#"
    assert gather.get("input") == ("dtmf",)
    assert gather.get("bargeIn") is True
    assert gather.get("partialResultCallback") is None
    assert gather["num_digits"] == 1  # Python names work too
    assert gather.get("speechTimeout", "same as timeout") == "same as timeout"
    pause = gather.elements[1]
    assert pause.tag == "Pause" and pause.get("length") == 1
    assert say.text == "Bye" and say.get("loop") == 1 and say.get("voice") == "man"
    assert redirect.value == "/menu" and redirect.get("method") == "POST"
    with pytest.raises(KeyError):
        pause.get("loop")


def test_parsed_nodes_know_parent_path_and_line() -> None:
    doc = parse(IVR)
    pause = doc.elements[0].elements[1]
    assert pause.parent is doc.elements[0]
    assert pause.path == "/Response/Gather/Pause"
    assert doc.elements[1].path == "/Response/Say"
    assert pause.line == 5
    assert [n.tag for n in doc.iter()] == ["Response", "Gather", "Say", "Pause", "Say", "Redirect"]


def test_whitespace_is_kept_and_equality_is_structural() -> None:
    doc = parse(IVR)
    assert doc.children[0] == "\n  "
    assert parse(doc.to_xml()) == doc
    assert doc != parse(b"<Response/>")
    assert parse(b"<Response><Hangup/></Response>") == parse(
        b"<Response><Hangup></Hangup></Response>"
    )


def test_builder_appends_to_parsed_documents() -> None:
    doc = parse(b"<Response><Say>Hi</Say></Response>")
    doc.hangup()
    assert doc.to_xml().endswith(b"<Response><Say>Hi</Say><Hangup/></Response>\n")


def test_set_checks_and_keeps_schema_order() -> None:
    r = Response()
    dial = r.dial(timeout=10)
    dial.set("caller_id", "+15550001111").set("action", "/done")
    assert list(dial.attrs) == ["action", "timeout", "callerId"]
    dial.set("timeout", None)
    assert "timeout" not in dial.attrs
    with pytest.raises(DocumentError) as info:
        dial.set("timeout", 4)
    assert info.value.code == "bad-value"


def test_chaining_goes_to_the_parent_only_across_kinds() -> None:
    r = Response()
    r.say("Hello").hangup()
    assert [n.tag for n in r.elements] == ["Say", "Hangup"]
    dial = r.dial()
    dial.number("+15550001111").number("+15550002222")
    assert [n.tag for n in dial.elements] == ["Number", "Number"]
    s = r.say("Your pin is ")
    s.say_as("8970", interpret_as="digits").break_(time=500)
    assert [n.tag for n in s.elements] == ["say-as", "break"]
    assert s.elements[1].get("time") == 500
    with pytest.raises(DocumentError) as info:
        r.gather().say("x").dial()
    assert info.value.code == "child-not-allowed"
    assert info.value.path == "/Response/Gather/Dial"


def test_add_by_xml_name_and_errors_for_unknown() -> None:
    r = Response()
    s = r.add("Say", "hi")
    s.add("say-as", "12", **{"interpret-as": "digits"})
    s.add("lang", "bonjour", **{"xml:lang": "fr-FR"})
    s.lang("hallo", xml_lang="de-DE")
    assert parse(r.to_xml()) == r
    with pytest.raises(DocumentError) as info:
        r.add("Whisper")
    assert info.value.code == "unknown-element"


def test_validate_accepts_documents_and_xml() -> None:
    r = Response()
    r.play(digits="ww1")
    assert validate(r) == r
    assert validate(r.to_xml()) == r
    r.children.append("stray text")  # hand-made damage is caught by validate
    assert [p.code for p in lint(r)] == ["text-not-allowed"]
    with pytest.raises(DocumentError):
        validate(r)


def test_str_input_and_bytes_like_input() -> None:
    text = '<?xml version="1.0"?><Response><Say>café</Say></Response>'
    assert parse(text).elements[0].text == "café"
    assert parse(bytearray(text.encode())).elements[0].text == "café"


def test_node_is_the_one_element_class() -> None:
    doc = parse(IVR)
    assert all(type(n) is Node for n in doc.iter() if n is not doc)
    assert isinstance(doc, Response)
