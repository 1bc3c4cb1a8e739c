"""Property: random valid documents, drawn from the schema table itself, survive
serialize -> parse -> serialize unchanged and lint clean."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.walks import near_misses_agree

from voiceapp import Node, Response, lint, parse
from voiceapp.errors import InvalidValue
from voiceapp.schema import (
    ROOT,
    Bool,
    Digits,
    Duration,
    Element,
    Enum,
    Int,
    Keys,
    List,
    OneOf,
    Rule,
    Url,
    ValueType,
)

_XML_SAFE = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
    "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff",
)


def _valid(type_: ValueType) -> Any:
    def ok(text: str) -> bool:
        try:
            type_.parse(text)
        except InvalidValue:
            return False
        return True

    return ok


def values(type_: ValueType) -> st.SearchStrategy[str]:
    """XML text of valid values of a schema value type."""
    if isinstance(type_, Enum):
        return st.sampled_from(type_.values)
    if isinstance(type_, Bool):
        return st.sampled_from(["true", "false"])
    if isinstance(type_, Int):
        hi = type_.hi if type_.hi is not None else type_.lo + 100_000
        return st.integers(type_.lo, hi).map(str)
    if isinstance(type_, Keys):
        return st.text(Keys.KEYS, max_size=type_.max_keys or 12).filter(_valid(type_))
    if isinstance(type_, Digits):
        return st.text("0123456789*#ABCDwW", min_size=1, max_size=24).filter(_valid(type_))
    if isinstance(type_, Duration):
        top = type_.max_ms or 100_000
        return st.one_of(
            st.integers(0, top).map(lambda n: f"{n}ms"),
            st.integers(0, top // 1000).map(lambda n: f"{n}s"),
        )
    if isinstance(type_, List):
        return st.lists(values(type_.item), min_size=type_.min_items, max_size=4, unique=True).map(
            " ".join
        )
    if isinstance(type_, Url):
        path = st.text("abcxyz0123-_/.%", min_size=1, max_size=12)
        absolute = st.builds(
            lambda s, p: f"{s}://example.com/{p}", st.sampled_from(type_.schemes), path
        )
        relative = path.map(lambda p: "/" + p)
        return st.one_of(absolute, relative) if type_.relative else absolute
    pattern = getattr(type_, "regex", None)
    if isinstance(pattern, re.Pattern):
        return (
            st.from_regex(pattern, fullmatch=True)
            .filter(_valid(type_))
            .filter(lambda s: not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", s))
        )
    return st.text(_XML_SAFE, max_size=20).filter(_valid(type_))


@st.composite
def children_of(draw: st.DrawFn, node: Node, depth: int) -> Node:
    element = node.element
    kids = list(element.child_map.values())
    count = draw(st.integers(0, 3 if depth < 3 else 0)) if kids else 0
    for _ in range(count):
        child = draw(st.sampled_from(kids))
        attrs = draw(attributes(child))
        text = draw(texts(child)) if child.text is not None else None
        sub = node.add(child.name, text, **attrs)
        draw(children_of(sub, depth + 1))
        draw(complete(sub))
        if element.mixed and draw(st.booleans()):
            node.add_text(draw(st.text(_XML_SAFE, min_size=1, max_size=10)))
    return node


def _broken(node: Node) -> Rule | None:
    """The first of the schema's rules (errors and warnings) ``node`` breaks."""
    element = node.element
    tags = [c.tag for c in node.elements]
    text = "".join(n.text for n in node.iter()) if element.mixed else node.text
    for rule in element.rules:
        if rule.check(element, node.attrs, tags, text.strip()) is not None:
            return rule
    return None


@st.composite
def complete(draw: st.DrawFn, node: Node) -> Node:
    """Make ``node`` keep the schema's element rules, whatever they are: give it what a
    ``OneOf`` asks for, drop children an ``AtMost`` or ``Apart`` refuses, drop the
    attribute a warning is about."""
    element = node.element
    for _ in range(12):
        rule = _broken(node)
        if rule is None:
            return node
        if isinstance(rule, OneOf):
            need = draw(st.sampled_from(rule.needs))
            if need == "#text":
                assert element.text is not None
                node.add_text(draw(values(element.text).filter(lambda t: bool(t.strip()))))
            elif need.startswith("@"):
                node.set(need[1:], draw(values(element.attr_map[need[1:]].type)))
            else:
                kid = next(c for c in element.child_map.values() if need in ("*", c.name))
                attrs = draw(attributes(kid))
                text = draw(texts(kid)) if kid.text is not None else None
                draw(complete(node.add(kid.name, text, **attrs)))
        elif rule.attribute is not None and rule.attribute in node.attrs:
            node.set(rule.attribute, None)
        else:  # too many or mixed children: drop the last element child
            node.children.remove(node.elements[-1])
    assume(False)
    return node


@st.composite
def attributes(draw: st.DrawFn, element: Element) -> dict[str, str]:
    chosen = (
        draw(st.sets(st.sampled_from([a.name for a in element.attrs]))) if element.attrs else set()
    )
    chosen |= {a.name for a in element.required_attrs}
    return {name: draw(values(element.attr_map[name].type)) for name in chosen}


def texts(element: Element) -> st.SearchStrategy[str | None]:
    assert element.text is not None
    if element.mixed:
        return st.text(_XML_SAFE, max_size=15)
    strategy: st.SearchStrategy[str | None] = values(element.text)
    return strategy if element.text_required else st.one_of(st.none(), strategy)


@st.composite
def documents(draw: st.DrawFn) -> Response:
    doc = Response()
    assert doc.element is ROOT
    draw(children_of(doc, 1))
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_serialize_parse_serialize(doc: Response) -> None:
    first = doc.to_xml()
    assert lint(first) == []
    again = parse(first)
    assert again == doc
    assert again.to_xml() == first


@settings(max_examples=100, deadline=None)
@given(st.text(_XML_SAFE, max_size=40))
def test_any_text_round_trips_in_say_and_attributes(text: str) -> None:
    doc = Response()
    doc.say(text + "-")
    doc.gather(hints=text)
    assert parse(doc.to_xml()) == doc


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.nested_given],
)
@given(documents(), st.data())
def test_fast_walk_agrees_on_near_valid_documents(doc: Response, data: st.DataObject) -> None:
    """Random valid documents and near misses of them: the linter's fast walk and its
    full walk agree."""
    near_misses_agree(doc.to_xml(), data)
