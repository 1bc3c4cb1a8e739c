"""Whatever the input, lint reports located problems with known codes and never
raises; parsing works from several threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from support.walks import fast_and_full_agree, near_misses_agree

from voiceapp import Response, lint, parse
from voiceapp.document import CODES

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
