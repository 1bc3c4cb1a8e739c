"""The linter's yes-or-no answer against its full walk, on a document and on near
misses of it (test_robustness, test_roundtrip)."""

from __future__ import annotations

import re

from hypothesis import strategies as st
from lxml import etree

from voiceapp.document import DEFAULT_MAX_DEPTH
from voiceapp.document.parser import load, new_parser
from voiceapp.errors import ParseFailure


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
