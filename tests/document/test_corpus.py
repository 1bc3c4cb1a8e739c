"""The corpus: every valid document lints clean, round-trips and formats C14N-equal;
every invalid document gives exactly the problem codes its first line expects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.xml import c14n

from voiceapp import lint, parse
from voiceapp.schema import ELEMENTS

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
VALID = sorted((HERE / "corpus" / "valid").glob("*.xml")) + sorted(
    (ROOT / "examples").glob("*.xml")
)
INVALID = sorted((HERE / "corpus" / "invalid").glob("*.xml"))
EXPECT = re.compile(rb"<!-- expect: ([a-z\- ]+) -->")


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_document(path: Path) -> None:
    data = path.read_bytes()
    assert lint(data) == []
    doc = parse(data)
    out = doc.to_xml()
    assert parse(out) == doc
    assert parse(out).to_xml() == out
    # fmt output is C14N-equal to the input (C14N sorts attributes and expands
    # empty elements, which are the only differences allowed).
    assert c14n(out) == c14n(data)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_document(path: Path) -> None:
    data = path.read_bytes()
    expected = EXPECT.match(data)
    assert expected is not None, "first line must be <!-- expect: CODE... -->"
    problems = lint(data)
    assert [p.code for p in problems] == expected.group(1).decode().split()
    for problem in problems:
        assert problem.line is not None and problem.line >= 2
        assert problem.column is not None and problem.column >= 1


def test_valid_corpus_covers_every_element() -> None:
    seen = {node.element.key for path in VALID for node in parse(path.read_bytes()).iter()}
    assert seen == set(ELEMENTS)


def test_valid_corpus_covers_every_attribute() -> None:
    seen = {
        (node.element.key, name)
        for path in VALID
        for node in parse(path.read_bytes()).iter()
        for name in node.attrs
    }
    every = {(e.key, a.name) for e in ELEMENTS.values() for a in e.attrs}
    assert every - seen == set()


def test_every_code_seen_is_a_documented_code() -> None:
    from voiceapp.document import CODES

    for path in INVALID:
        for problem in lint(path.read_bytes()):
            assert problem.code in CODES
