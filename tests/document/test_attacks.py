"""Hostile XML: each attack is a located problem, never a crash, rejected in under 50 ms
and without growing memory by more than 10 MB.

Time and memory are measured, not assumed: each attack runs in a fresh interpreter
(so its peak resident size, ``ru_maxrss``, starts from a warmed-up baseline), and the
same attack runs again in this process under ``tracemalloc``.  Time is the best of
three runs, so a busy machine does not fail the test by itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import pytest
from lxml import etree

from voiceapp import lint
from voiceapp.document.parser import new_parser

MIB = 1 << 20
LOL = (
    '<?xml version="1.0"?>\n<!DOCTYPE Response [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n<Response><Say>&lol9;</Say></Response>\n"
)
LOL_UTF16 = LOL.replace('"1.0"?', '"1.0" encoding="UTF-16"?').encode("utf-16")
QUADRATIC = (
    '<!DOCTYPE Response [<!ENTITY a "'
    + "a" * 100_000
    + '">]>\n<Response><Say>'
    + "&a;" * 20_000
    + "</Say></Response>"
)


def _nested(depth: int) -> str:
    return (
        "<Response><Say>" + "<prosody>" * depth + "x" + "</prosody>" * depth + "</Say></Response>"
    )


# name -> (document, lint keyword arguments, expected code)
ATTACKS: dict[str, tuple[str | bytes, dict[str, int], str]] = {
    "billion-laughs": (LOL, {}, "doctype-forbidden"),
    "billion-laughs-utf16": (LOL_UTF16, {}, "doctype-forbidden"),
    "quadratic-blowup": (QUADRATIC, {}, "doctype-forbidden"),
    "external-entity-file": (
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response><Say>&x;</Say></Response>',
        {},
        "doctype-forbidden",
    ),
    "external-entity-network": (
        '<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/secret">]><Response><Say>&x;</Say></Response>',
        {},
        "doctype-forbidden",
    ),
    "parameter-entity": (
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]><Response/>',
        {},
        "doctype-forbidden",
    ),
    "external-dtd": (
        '<?xml version="1.0"?><!-- hi --><!DOCTYPE Response SYSTEM "http://127.0.0.1:9/a.dtd"><Response/>',
        {},
        "doctype-forbidden",
    ),
    "undeclared-entity": ("<Response><Say>&xxe;</Say></Response>", {}, "xml-malformed"),
    "too-large": ("<Response><Say>" + "a" * MIB + "</Say></Response>", {}, "too-large"),
    "too-large-configured": (
        "<Response><Say>" + "a" * 200 + "</Say></Response>",
        {"max_bytes": 99},
        "too-large",
    ),
    "too-deep": (_nested(70), {}, "too-deep"),
    "too-deep-configured": (_nested(5), {"max_depth": 4}, "too-deep"),
    "too-deep-for-libxml": (_nested(5000), {}, "too-deep"),
    "malformed": ("<Response><Say>&#0;</Say><<<>>>", {}, "control-char"),
    "binary-junk": (bytes(range(256)) * 64, {}, "xml-malformed"),
}

CHILD = r"""
import json, resource, sys, time
from voiceapp import lint
data = sys.stdin.buffer.read()
kwargs = json.loads(sys.argv[1])
lint("<Response><Say>warm up</Say></Response>")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
best = None
for _ in range(3):
    start = time.perf_counter()
    problems = lint(data, **kwargs)
    elapsed = time.perf_counter() - start
    best = elapsed if best is None else min(best, elapsed)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"ms": best * 1000, "rss_kb": after - before,
                  "problems": [p.to_dict() for p in problems]}))
"""


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_is_a_located_problem_fast_and_small(name: str) -> None:
    data, kwargs, code = ATTACKS[name]
    # In a fresh interpreter: time and peak resident memory.
    raw = data.encode("utf-8") if isinstance(data, str) else data
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(kwargs)],
        input=raw,
        capture_output=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout)
    problems = report["problems"]
    assert problems, "an attack must be reported"
    assert problems[0]["code"] == code
    assert problems[0]["line"] >= 1 and problems[0]["column"] >= 1
    assert report["ms"] < 50, f"{name} took {report['ms']:.1f} ms"
    assert report["rss_kb"] < 10 * 1024, f"{name} grew memory by {report['rss_kb']} KiB"
    # In this process: Python-level allocations stay small too.
    tracemalloc.start()
    try:
        lint(data, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * MIB + 2 * len(data), f"{name} allocated {peak} bytes"


def test_hardened_parser_alone_does_not_expand_entities() -> None:
    """Second line of defence: even if the DOCTYPE refusal were bypassed, the parser
    itself neither expands entities nor reads external ones."""
    start = time.perf_counter()
    try:
        root = etree.fromstring(LOL.encode(), new_parser())
    except etree.XMLSyntaxError as exc:  # libxml2's amplification guard
        assert "amplification" in str(exc)
    else:
        assert "lol" not in "".join(root.itertext())
    assert time.perf_counter() - start < 0.05
    xxe = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    assert "root:" not in "".join(etree.fromstring(xxe, new_parser()).itertext())


def test_too_deep_points_at_the_first_element_past_the_cap() -> None:
    problems = lint(_nested(64), max_depth=64)
    assert [p.code for p in problems] == ["too-deep"]
    # Response=1, Say=2, prosody 1..62 fit: the 63rd prosody is depth 65.
    assert problems[0].column == len("<Response><Say>") + 62 * len("<prosody>") + 1


def test_doctype_inside_text_is_not_a_doctype() -> None:
    assert lint("<Response><Say><![CDATA[<!DOCTYPE x>]]></Say></Response>") == []


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe\x00",
        "<Response>\x00</Response>",
        b"<?xml version='1.0' encoding='nope'?><a/>",
    ],
)
def test_junk_never_crashes(data: Callable[[], None] | bytes | str) -> None:
    problems = lint(data)  # type: ignore[arg-type]
    assert problems and problems[0].code in ("xml-malformed", "control-char")


def test_many_problems_are_all_reported_with_paths() -> None:
    """A document made of errors is reported whole (paths are computed in one pass,
    not one ``getpath()`` per problem, which was quadratic)."""
    problems = lint("<Response>" + "<Foo/>" * 20_000 + "</Response>")
    assert len(problems) == 20_000
    assert problems[-1].path == "/Response/Foo[20000]"
    assert problems[-1].column == len("<Response>") + 19_999 * len("<Foo/>") + 1
