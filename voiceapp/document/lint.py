"""The linter: untrusted XML -> the document model plus every located problem.

One walk over the hardened parser's tree checks each element against the schema
(the rules live in :mod:`voiceapp.schema`; this module only applies them) and yields
its problems with the lxml element they belong to; a valid document is the walk
ending without one, and its :class:`~voiceapp.document.model.Node` tree is read from
the lxml tree lazily.  Locations (line, column, element path) are added at the end,
only when there are problems.

- :func:`check` -> ``(document or None, problems)``: the engine.
- :func:`lint` -> every problem; :func:`iter_problems` yields them.
- :func:`parse` -> the document, or :class:`~voiceapp.errors.DocumentError` for the
  first problem; :func:`validate` does the same for a document or XML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from voiceapp import schema
from voiceapp.document.model import (
    LEAF_RULES,
    ONE_CHILD_OK,
    Node,
    Response,
    from_source,
    quick_tests,
)
from voiceapp.document.parser import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, Locator, load
from voiceapp.document.serialize import serialize
from voiceapp.document.targets import TARGETS, Target, rewritten
from voiceapp.errors import DocumentError, InvalidValue, ParseFailure
from voiceapp.schema import Element

CODES: dict[str, str] = {
    "too-large": "the input is larger than the size cap (default 1 MiB)",
    "too-deep": "elements are nested deeper than the depth cap (default 64)",
    "doctype-forbidden": "a DOCTYPE (and so any entity declaration) is present",
    "xml-malformed": "the input is not well-formed XML",
    "control-char": "a character XML cannot carry (control characters, U+FFFE...)",
    "root": "the root element is not <Response>",
    "nested-response": "a <Response> inside the document",
    "unknown-element": "an element the dialect does not have",
    "child-not-allowed": "an element of the dialect where its parent does not take it",
    "text-not-allowed": "text in an element that takes none",
    "missing-text": "an element that needs text (a URL, a number, a name) has none",
    "unknown-attribute": "an attribute the element does not have",
    "missing-attribute": "a required attribute is absent",
    "bad-value": "an attribute value or text of the wrong type or out of range",
    "bad-digits": "a DTMF digit string with a bad character (its index is in the message)",
    "missing-content": "an element that needs one of some text, attributes or children has none",
    "too-many-children": "more children of a kind than the element takes (eleven <Number>s...)",
    "children-conflict": "children that cannot be mixed (<Conference> with <Number>...)",
    "say-too-long": "warning: a <Say> longer than its voice speaks at once",
    "voice-language": "warning: a <Say> language its voice does not speak",
    "prosody-rate": "warning: a <prosody rate> outside the range Twilio supports",
    "target-too-large": "the document is larger than the export target takes (Twilio: 64 kB)",
    "target-bad-digits": "a digit string with a character the export target does not take",
    "target-digits-too-long": "a digit string longer than the export target takes",
}
"""Every problem code, stable, with what it means."""

SEVERITY: dict[str, schema.Severity] = {
    rule.code: rule.severity for element in schema.ELEMENTS.values() for rule in element.rules
}
"""The severity of each code that is not an error (read from the schema's rules)."""

_XML_NS = "{http://www.w3.org/XML/1998/namespace}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem of a document."""

    code: str
    message: str
    line: int | None
    column: int | None
    path: str
    attribute: str | None = None
    severity: schema.Severity = "error"
    """``error`` (the document is invalid) or ``warning`` (Twilio only warns)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "path": self.path,
        }

    def to_error(self) -> DocumentError:
        return DocumentError(
            self.message,
            code=self.code,
            path=self.path,
            attribute=self.attribute,
            line=self.line,
            column=self.column,
        )

    def __str__(self) -> str:
        warning = "warning: " if self.severity == "warning" else ""
        return f"{self.line or 0}:{self.column or 0}: {self.code} {warning}{self.message}"


# A problem before locations: (code, message, element, attribute, text snippet,
# element the text follows).
_Raw = tuple[str, str, "etree._Element", str | None, str | None, "etree._Element | None"]


def _qname(tag: str) -> str:
    if tag.startswith(_XML_NS):
        return "xml:" + tag[len(_XML_NS) :]
    return tag


# One attribute as the walk reads it: (XML name, the value type's quick test, for an
# integer its range (checked inline; None otherwise), the value type).
_AttrCheck = tuple[str, Callable[[str], object], int | None, int, schema.ValueType]


class _Plan:
    """What the walk reads of one schema element, derived once at import (plain data,
    never written to afterwards): one lookup per element instead of one per field."""

    __slots__ = (
        "attrs",
        "children",
        "element",
        "leaf_rules",
        "mixed",
        "one_child_ok",
        "required",
        "rules",
        "short_attrs",
        "short_text",
        "text",
        "text_required",
    )

    def __init__(self, element: Element) -> None:
        self.element = element
        self.attrs: Mapping[str, _AttrCheck] = {
            # by the names lxml gives them: xml:lang is {http://...namespace}lang
            (_XML_NS + a.name[4:] if a.name.startswith("xml:") else a.name): _attr_check(a)
            for a in element.attrs
        }
        self.required = element.required_attrs
        self.text = element.text
        self.mixed = element.mixed
        self.text_required = element.text_required
        self.rules = element.rules
        self.leaf_rules = LEAF_RULES[element]
        # a leaf with at most short_text characters and none of the attributes
        # short_attrs keeps all its leaf_rules (a <Say> of a few words, no language)
        promises = [r.kept_by_short_leaf() for r in self.leaf_rules]
        self.short_text = -1
        self.short_attrs: frozenset[str] = frozenset()
        if promises and None not in promises:
            self.short_text = min(p[0] for p in promises if p is not None)
            self.short_attrs = frozenset().union(*(p[1] for p in promises if p is not None))
        self.one_child_ok = ONE_CHILD_OK[element]
        self.children: Mapping[str, _Plan] = {}


def _attr_check(attr: schema.Attr) -> _AttrCheck:
    accepts, lo, hi = quick_tests(attr.type)  # the builder's, too
    return (attr.name, accepts, lo, hi, attr.type)


def _plans() -> dict[Element, _Plan]:
    plans = {e: _Plan(e) for e in schema.ELEMENTS.values()}
    for element, plan in plans.items():
        plan.children = {tag: plans[child] for tag, child in element.child_map.items()}
    return plans


_ROOT_PLAN = _plans()[schema.ROOT]


def _walk(root: etree._Element, max_depth: int) -> Iterator[_Raw]:
    """Every problem of a tree, not yet located: the one walk.  It collects them in a
    list rather than yielding them from nested generators: check() wants them all
    when there is one, and generator frames cost more than one call per element."""
    problems: list[_Raw] = []
    if root.tag != "Response":
        message = f"the root element must be <Response>, not <{_qname(str(root.tag))}>"
        problems.append(("root", message, root, None, None, None))
    elif max_depth < 1:
        message = f"elements are nested deeper than {max_depth}"
        problems.append(("too-deep", message, root, None, None, None))
    else:
        _check(root, _ROOT_PLAN, 1, max_depth, problems)
    return iter(problems)


def _check(
    el: etree._Element, plan: _Plan, depth: int, max_depth: int, problems: list[_Raw]
) -> None:
    """Append the problems of ``el`` (an element of ``plan`` at ``depth``, the root at
    1) and of everything under it to ``problems``: its attributes; its children, each
    read once (tag, tail); then its text and the schema's rules about it as a whole,
    which read what the children loop collected.  (One pass over the children, the
    plans, the inline integer test: parse + lint of bench/bench_document.py's 3
    documents went from 277K to 270K instructions, valgrind.)"""
    items = el.items()
    if items:
        attrs = plan.attrs
        for key, value in items:
            known = attrs.get(key)
            if known is None:
                name = _qname(key)
                message = f"<{plan.element.name}> has no attribute {name!r}"
                problems.append(("unknown-attribute", message, el, name, None, None))
                continue
            if known[1](value):
                continue  # the quick test says valid
            name, _, lo, hi, type_ = known
            if lo is not None and value.isdigit() and value.isascii() and lo <= int(value) <= hi:
                continue  # an integer in range
            try:
                type_.parse(value)
            except InvalidValue as exc:
                problems.append((exc.code, f"{name}: {exc.message}", el, name, None, None))
    if plan.required:
        for attr in plan.required:
            if all(_qname(key) != attr.name for key, _ in items):
                spec = plan.element
                message = f"<{spec.name}> needs the attribute {attr.name} ({attr.type.describe()})"
                problems.append(("missing-attribute", message, el, None, None, None))
    text_type = plan.text
    own = el.text  # read once: lxml makes a new str on each read
    # text between the children, where el takes none, is reported once per element
    check_tails = text_type is None
    if check_tails and own is not None and not own.isspace():
        check_tails = False
        problems.append(_no_text(el, plan.element, own))
    tags: list[str] = []  # the tags of the child elements
    tails = ""  # the text after each child
    n = len(el)
    if n:
        children = plan.children
        depth += 1
        for c in el:
            tail = c.tail
            if tail is not None:
                tails += tail
                if check_tails and not tail.isspace():
                    check_tails = False
                    problems.append(_no_text(el, plan.element, tail, c))
            tag = c.tag
            cplan = children.get(tag)  # type: ignore[arg-type]
            if cplan is None:
                if tag.__class__ is str:
                    tags.append(tag)
                    problems.append(_refused(plan.element, c, tag))
                continue  # a comment or processing instruction when tag is not a str
            tags.append(tag)  # type: ignore[arg-type]
            if depth > max_depth:
                message = f"elements are nested deeper than {max_depth}"
                problems.append(("too-deep", message, c, None, None, None))
                continue
            _check(c, cplan, depth, max_depth, problems)
    if text_type is not None and not plan.mixed:
        text = (own + tails if own is not None else tails).strip()
        if not text:
            if plan.text_required:
                spec = plan.element
                message = f"<{spec.name}> needs text ({text_type.describe()})"
                problems.append(("missing-text", message, el, None, None, None))
        elif text_type.accepts is None or not text_type.accepts(text):
            try:
                text_type.parse(text)
            except InvalidValue as exc:
                problems.append((exc.code, f"text: {exc.message}", el, None, text[:20], None))
    elif plan.rules:  # the rules read the text too: for mixed elements, all inside
        text = ("".join(el.itertext()) if plan.mixed and n else (own or "") + tails).strip()
    else:
        return
    rules = plan.rules
    if not rules:
        return
    if not tags:
        if text:
            rules = plan.leaf_rules  # what a text leaf keeps is not checked
            if len(text) <= plan.short_text:
                for name in plan.short_attrs:
                    if el.get(name) is not None:
                        break
                else:
                    return  # a short leaf keeps them all (parse + lint: -8K instructions)
    elif len(tags) == 1 and tags[0] in plan.one_child_ok:
        return  # a lone child that keeps every rule (a <Dial> with one <Number>)
    if rules:
        given = dict(items)  # the rules read no namespaced (xml:) attribute
        for rule in rules:
            found = rule.check(plan.element, given, tags, text)
            if found is not None:
                attribute = rule.attribute if rule.attribute in given else None
                problems.append((rule.code, found, el, attribute, None, None))


def _has_text(text: str | None) -> bool:
    return text is not None and not text.isspace()


def _refused(parent: Element, child: etree._Element, tag: str) -> _Raw:
    name = _qname(tag)
    if name == "Response":
        code, message = "nested-response", "<Response> can only be the root"
    elif name in schema.TAGS:
        code, message = "child-not-allowed", f"<{name}> is not allowed inside <{parent.name}>"
    else:
        code, message = "unknown-element", f"<{name}> is not an element of the dialect"
    return (code, message, child, None, None, None)


def _no_text(
    el: etree._Element, spec: Element, text: str, anchor: etree._Element | None = None
) -> _Raw:
    """Text in ``el``, which takes none; ``anchor`` is the child it follows."""
    snippet = text.strip()
    message = f"<{spec.name}> takes no text, found {snippet[:40]!r}"
    return ("text-not-allowed", message, el, None, snippet[:20], anchor)


def _target_walk(root: etree._Element, target: Target, rewriting: bool) -> list[_Raw]:
    """The target's narrower rules over a tree the schema's walk has checked; with
    ``rewriting``, the rewrites are applied to the tree first (what ``fmt --target``
    prints).  A value the schema already refuses is not reported again."""
    problems: list[_Raw] = []
    for rule in target.digits:
        for el in root.iter(rule.element):
            given = el.get(rule.attribute)
            if given is None:
                continue
            try:
                schema.check_digits(given)
            except InvalidValue:
                continue  # bad-digits already
            value = rewritten(given, rule) if rewriting else given
            if value != given:
                el.set(rule.attribute, value)
            where = f"{target.title}'s <{rule.element} {rule.attribute}>"
            bad = next((i for i, ch in enumerate(value) if ch not in rule.allowed), None)
            if bad is not None:
                char = value[bad]
                hint = ""
                if char in rule.rewrites:
                    hint = (
                        f"; `voiceapp fmt --target {target.name}` rewrites it as "
                        f"{rule.rewrites[char]!r}"
                    )
                message = (
                    f"{rule.attribute}: {char!r} at index {bad}: {where} takes only "
                    f"`{rule.allowed_text}` ({rule.source}){hint}"
                )
                problems.append(("target-bad-digits", message, el, rule.attribute, None, None))
            elif rule.max_length is not None and len(value) > rule.max_length:
                after = " after rewriting" if value != given else ""
                message = (
                    f"{rule.attribute}: {len(value)} characters{after}, {where} takes at "
                    f"most {rule.max_length}"
                )
                problems.append(("target-digits-too-long", message, el, rule.attribute, None, None))
    return problems


def too_large(size: int, target: Target) -> Problem | None:
    """The target's size rule for a document of ``size`` bytes (UTF-8)."""
    if size <= target.max_bytes:
        return None
    message = (
        f"the document is {size} bytes, {target.title} takes at most {target.max_bytes} "
        f"({target.max_bytes_source})"
    )
    return Problem("target-too-large", message, 1, 1, "/Response")


def _target(name: str | None) -> Target | None:
    if name is None:
        return None
    found = TARGETS.get(name)
    if found is None:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(sorted(TARGETS))}")
    return found


def check(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    target: str | None = None,
    rewrite: bool = False,
) -> tuple[Response | None, list[Problem]]:
    """Parse and check untrusted XML: the document (None when it has errors) and
    every problem found (errors and warnings), located.

    ``target`` (a name of :data:`voiceapp.document.targets.TARGETS`, ``"twilio"``) adds
    that platform's narrower rules; with ``rewrite``, what they can rewrite is
    rewritten in the document returned (``W`` -> ``ww`` in Twilio's
    ``<Number sendDigits>``) and only what they cannot is a problem."""
    rules = _target(target)
    try:
        root, source = load(data, max_bytes)
    except ParseFailure as failure:
        return None, [Problem(failure.code, failure.message, failure.line, failure.column, "")]
    problems = _walk(root, max_depth)
    if rules is not None:
        found = [*problems, *_target_walk(root, rules, rewrite)]
        if not rewrite:  # fmt checks the size of what it prints
            size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8"))
            big = too_large(size, rules)
            if big is not None:
                found.insert(0, ("target-too-large", big.message, root, None, None, None))
        problems = iter(found)
    first = next(problems, None)
    if first is None:
        return from_source(root), []
    located = _locate(root, source, [first, *problems])
    if any(p.severity == "error" for p in located):
        return None, located
    return from_source(root), located  # warnings only


def _locate(root: etree._Element, source: bytes | str, raw: list[_Raw]) -> list[Problem]:
    locator = Locator(source, root.getroottree().docinfo.encoding)
    elements = list(root.iter(etree.Element))
    order = {el: i for i, el in enumerate(elements)}
    paths = _Paths(elements)
    out = []
    for code, message, el, attribute, snippet, anchor in raw:
        index = order.get(el, 0)
        where = None
        if attribute is not None:
            where = locator.attribute(index, attribute)
        elif snippet:
            where = locator.text_after(
                index if anchor is None else order.get(anchor, index), snippet
            )
        if where is None:
            where = locator.element(index)
        line, column = where if where is not None else (el.sourceline, None)
        severity = SEVERITY.get(code, "error")
        out.append(Problem(code, message, line, column, paths.path(el), attribute, severity))
    out.sort(key=lambda p: (p.line or 0, p.column or 0))
    return out


class _Paths:
    """Element paths like ``/Response/Gather[2]/Say`` for many elements in linear time
    (``getpath()`` per problem would be quadratic on a document of many problems)."""

    def __init__(self, elements: list[etree._Element]) -> None:
        self.counts: dict[tuple[etree._Element | None, Any], int] = {}
        self.index: dict[etree._Element, int] = {}
        self.cache: dict[etree._Element, str] = {}
        for el in elements:
            key = (el.getparent(), el.tag)
            n = self.counts.get(key, 0) + 1
            self.counts[key] = n
            self.index[el] = n

    def path(self, el: etree._Element) -> str:
        cached = self.cache.get(el)
        if cached is not None:
            return cached
        parent = el.getparent()
        step = _qname(str(el.tag))
        if self.counts.get((parent, el.tag), 1) > 1:
            step += f"[{self.index[el]}]"
        path = (self.path(parent) if parent is not None else "") + "/" + step
        self.cache[el] = path
        return path


def iter_problems(
    data: bytes | str | Node,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    target: str | None = None,
) -> Iterator[Problem]:
    """Yield every problem of a document (XML, or a built :class:`Node` tree), errors
    and warnings (and the ``target``'s narrower rules, as :func:`check`)."""
    if isinstance(data, Node):
        data = serialize(data)  # not to_xml(), which raises on the first error
    yield from check(data, max_bytes=max_bytes, max_depth=max_depth, target=target)[1]


def lint(
    data: bytes | str | Node,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    target: str | None = None,
) -> list[Problem]:
    """Every problem of a document, errors and warnings; an empty list when it is
    clean.  A document with warnings only is valid (``Problem.severity``)."""
    return list(iter_problems(data, max_bytes=max_bytes, max_depth=max_depth, target=target))


def parse(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Response:
    """Untrusted XML -> the document; raises :class:`DocumentError` (the first error;
    warnings do not stop it)."""
    doc, problems = check(data, max_bytes=max_bytes, max_depth=max_depth)
    if doc is None:
        raise next(p for p in problems if p.severity == "error").to_error()
    return doc


def validate(
    data: bytes | str | Node,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Response:
    """Check a document (XML or a node tree); return it parsed, or raise
    :class:`DocumentError` for the first error."""
    if isinstance(data, Node):
        data = serialize(data)
    return parse(data, max_bytes=max_bytes, max_depth=max_depth)
