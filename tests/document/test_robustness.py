"""Whatever the input, lint reports located problems with known codes and never
raises; parsing works from several threads at once."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from voiceapp import Response, lint, parse
from voiceapp.document import CODES, DEFAULT_MAX_DEPTH
from voiceapp.document.parser import ParseFailure, load, new_parser

CORPUS = Path(__file__).parent / "corpus"
SEEDS = [p.read_bytes() for p in sorted(CORPUS.glob("*/*.xml"))]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A corpus document with a few bytes deleted, replaced or inserted."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["delete", "replace", "insert"]))
        junk = draw(st.binary(min_size=1, max_size=3))
        if op == "delete":
            del data[i]
        elif op == "replace":
            data[i : i + 1] = junk
        else:
            data[i:i] = junk
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(mutated(), st.binary(max_size=200), st.text(max_size=200)))
def test_lint_never_raises_and_locates(data: bytes | str) -> None:
    problems = lint(data)
    for problem in problems:
        assert problem.code in CODES
        assert problem.message
        assert problem.line is not None and problem.line >= 1
    if not problems:
        assert lint(parse(data).to_xml()) == []


def fast_and_full_agree(data: bytes | str) -> None:
    """The linter's yes-or-no answer (its walk stopped at the first problem) says yes
    exactly when its full walk finds nothing."""
    import sys

    engine = sys.modules["voiceapp.document.lint"]  # the module, not the lint() function
    try:
        root, _ = load(data, 1 << 20)
    except ParseFailure:
        return
    if root.tag != "Response":
        return
    for max_depth in (0, 1, 2, 3, DEFAULT_MAX_DEPTH):
        problems = list(engine._walk(root, max_depth))
        full = not problems
        for _ in range(2):  # twice: a walk remembers nothing for the next one
            first = next(engine._walk(root, max_depth), None)
            assert (first is None) == full
            assert first == (problems[0] if problems else None)


_JUNK_MARKUP = [b"x", b" ", b"\n", b"<Hangup/>", b"<Pause/>", b"<!-- c -->", b"<Say>hi</Say>"]
_JUNK_VALUES = [b"", b" ", b"x", b"0", b"-1", b"99999", b"true", b"ww1", b"+1555", b"/a", b"en-US"]


def near_misses_agree(xml: bytes, data: st.DataObject) -> None:
    """``xml`` as it is and pretty-printed, then with one change at a time (markup or
    text inserted after a tag or into an empty element; an attribute value or a text
    swapped for another; an attribute left out): the fast and the full walk agree."""
    pretty = etree.tostring(etree.fromstring(xml, new_parser()), pretty_print=True)
    fast_and_full_agree(xml)
    fast_and_full_agree(pretty)
    base = data.draw(st.sampled_from([xml, pretty]))
    spots = [m.end() for m in re.finditer(rb">", base)]
    for i in data.draw(st.lists(st.sampled_from(spots), max_size=3)):
        fast_and_full_agree(base[:i] + data.draw(st.sampled_from(_JUNK_MARKUP)) + base[i:])
    values = list(re.finditer(rb'="([^"]*)"|>([^<]+)<', base))
    for m in data.draw(st.lists(st.sampled_from(values), max_size=6)) if values else []:
        group = 1 if m.group(1) is not None else 2
        new = data.draw(st.sampled_from(_JUNK_VALUES))
        fast_and_full_agree(base[: m.start(group)] + new + base[m.end(group) :])
    attributes = list(re.finditer(rb' [^ =<>]+="[^"]*"', base))
    for m in data.draw(st.lists(st.sampled_from(attributes), max_size=3)) if attributes else []:
        fast_and_full_agree(base[: m.start()] + base[m.end() :])  # one attribute less
    empty = list(re.finditer(rb"<([^ />!?]+)([^<>]*)/>", base))
    for m in data.draw(st.lists(st.sampled_from(empty), max_size=3)) if empty else []:
        new = data.draw(st.sampled_from(_JUNK_VALUES + _JUNK_MARKUP))
        opened = b"<" + m.group(1) + m.group(2) + b">" + new + b"</" + m.group(1) + b">"
        fast_and_full_agree(base[: m.start()] + opened + base[m.end() :])


VALID_SEEDS = [p.read_bytes() for p in sorted(CORPUS.glob("valid/*.xml"))]


@settings(max_examples=300, deadline=None)
@given(st.one_of(mutated(), st.sampled_from(SEEDS)))
def test_fast_walk_agrees_with_full_walk(data: bytes) -> None:
    fast_and_full_agree(data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(VALID_SEEDS), st.data())
def test_fast_walk_agrees_on_near_valid_corpus(xml: bytes, data: st.DataObject) -> None:
    near_misses_agree(xml, data)


def test_parse_in_threads() -> None:
    docs = []
    for i in range(20):
        r = Response()
        r.say(f"Your pin is {i:04d}", voice="alice")
        r.dial().number("+15550001111", send_digits=f"ww{i}")
        docs.append(r)

    def roundtrip(doc: Response) -> bool:
        return all(parse(doc.to_xml()) == doc for _ in range(50))

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(roundtrip, docs))


def test_numbers_become_text() -> None:
    r = Response()
    r.say(42)
    assert parse(r.to_xml()).elements[0].text == "42"
