"""The linter: untrusted XML -> the document model plus every located problem.

One walk over the hardened parser's tree checks each element against the schema
(the rules live in :mod:`voiceapp.schema`; this module only applies them), builds
the :class:`~voiceapp.document.model.Node` tree, and records problems with the lxml
element they belong to.  Locations (line, column, element path) are added at the end,
only when there are problems.

- :func:`check` -> ``(document or None, problems)``: the engine.
- :func:`lint` -> every problem; :func:`iter_problems` yields them.
- :func:`parse` -> the document, or :class:`~voiceapp.errors.DocumentError` for the
  first problem; :func:`validate` does the same for a document or XML.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from voiceapp import schema
from voiceapp.document.model import Node, Response, from_source
from voiceapp.document.parser import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    Locator,
    ParseFailure,
    load,
)
from voiceapp.document.serialize import serialize
from voiceapp.errors import DocumentError
from voiceapp.schema import Element, InvalidValue

__all__ = ["CODES", "SEVERITY", "Problem", "check", "iter_problems", "lint", "parse", "validate"]

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


# A problem before locations: (code, message, element, attribute, text snippet).
# (code, message, element, attribute, text snippet, element the text follows)
_Raw = tuple[str, str, "etree._Element", str | None, str | None, "etree._Element | None"]


def _qname(tag: str) -> str:
    if tag.startswith(_XML_NS):
        return "xml:" + tag[len(_XML_NS) :]
    return tag


# The parent of the root element: it takes exactly one <Response>.
_DOCUMENT = Element("#document", "#document", "root", "the document")
_DOCUMENT.child_map = {"Response": schema.ROOT}


def _walk(root: etree._Element, max_depth: int) -> list[_Raw]:
    """Check a whole tree against the schema; the problems, not yet located.

    This loop is the hot path of parsing, so it is written flat and inline: one pass
    over ``root.iter()`` (lxml's C iterator), each element's schema entry found from
    its parent's, attribute values checked against each type's memo first."""
    problems: list[_Raw] = []
    # element -> (schema entry, depth), for elements that have children
    parents: dict[etree._Element | None, tuple[Element, int]] = {None: (_DOCUMENT, 0)}
    texted: set[etree._Element] = set()  # elements already reported for text
    for el in root.iter():
        parent = el.getparent()
        entry = parents.get(parent)
        if entry is None:
            continue  # inside a refused or too deep subtree
        pspec, pdepth = entry
        tail = el.tail
        if tail is not None and pspec.text is None and parent is not None and not tail.isspace():
            _no_text(parent, pspec, tail, problems, texted, el)
        tag = el.tag
        if tag.__class__ is not str:
            continue  # a comment or processing instruction
        spec = pspec.child_map.get(tag)
        if spec is None:
            _refuse(pspec, el, tag, problems)
            continue
        if pdepth >= max_depth:
            message = f"elements are nested deeper than {max_depth}"
            problems.append(("too-deep", message, el, None, None, None))
            continue
        if len(el):
            parents[el] = (spec, pdepth + 1)
        items = el.items()
        if items:
            attr_map = spec.attr_map
            for key, value in items:
                attr = attr_map.get(key)
                if attr is None or value not in attr.type._cache:
                    _check_attr(el, spec, key, value, problems)
            if spec.required_attrs:
                _check_required(el, spec, {_qname(k) for k, _ in items}, problems)
        elif spec.required_attrs:
            _check_required(el, spec, set(), problems)
        text = el.text
        if spec.text is None:
            if text is not None and not text.isspace():
                _no_text(el, spec, text, problems, texted)
        elif not spec.mixed:
            value = text or ""
            if len(el):
                value += "".join(c.tail or "" for c in el)
            _check_text(el, spec, value.strip(), problems)
        if spec.rules:
            _check_rules(el, spec, problems)
    return problems


def _content(el: etree._Element, spec: Element) -> tuple[dict[str, str], list[str], str]:
    """What the schema's rules read of an element: attributes, child tags, text."""
    attrs = dict(el.items())  # the rules read no namespaced (xml:) attribute
    children = [c.tag for c in el if c.tag.__class__ is str]
    if spec.mixed:
        text = "".join(el.itertext())
    else:
        text = (el.text or "") + "".join(c.tail or "" for c in el)
    return attrs, children, text.strip()


def _check_rules(el: etree._Element, spec: Element, problems: list[_Raw]) -> None:
    attrs, children, text = _content(el, spec)
    for rule in spec.rules:
        message = rule.check(spec, attrs, children, text)
        if message is not None:
            attribute = rule.attribute if rule.attribute in attrs else None
            problems.append((rule.code, message, el, attribute, None, None))


# --------------------------------------------------------------- the fast yes-or-no walk

_MEMO_LIMIT = 1024  # attribute lists remembered per element


def _valid_children(kids: list[etree._Element], spec: Element, depth: int, max_depth: int) -> bool:
    """Whether :func:`_walk` would find no problem in ``kids``, the children of an
    element of ``spec`` at ``depth`` (the root at 1; call it with ``[root]``,
    ``_DOCUMENT`` and 0 for a whole tree), and everything under them.

    The same checks as :func:`_walk`, in a walk that only answers yes or no, so valid
    documents (the common case) pay for no bookkeeping; on a no, :func:`_walk` finds
    and reports the problems.  Attribute lists already found valid for an element
    are remembered on it."""
    child_map = spec.child_map
    no_text = spec.text is None
    for c in kids:
        if no_text:
            tail = c.tail
            if tail is not None and not tail.isspace():
                return False
        tag = c.tag
        cspec = child_map.get(tag)  # type: ignore[arg-type]
        if cspec is None:
            if tag.__class__ is str:
                return False  # not allowed here
            continue  # a comment or processing instruction
        if depth >= max_depth:
            return False
        items = c.items()
        if items:
            key = tuple(items)
            memo = cspec.valid_items
            if key not in memo:
                if not _valid_items(cspec, items):
                    return False
                if len(memo) < _MEMO_LIMIT:
                    memo.add(key)
        elif cspec.required_attrs:
            return False
        value_type = cspec.value_type
        if len(c):
            grandkids = c.getchildren()
            if value_type is not None:
                value = c.text or ""
                for x in grandkids:
                    tail = x.tail
                    if tail is not None:
                        value += tail
                if not _valid_text(cspec, value_type, value):
                    return False
            elif cspec.text is None:
                text = c.text
                if text is not None and not text.isspace():
                    return False
            if not _valid_children(grandkids, cspec, depth + 1, max_depth):
                return False
        elif value_type is not None:
            leaf = c.text
            if leaf is None:
                if cspec.text_required:
                    return False
            elif leaf not in value_type._cache and not _valid_text(cspec, value_type, leaf):
                return False
        elif cspec.text is None:
            text = c.text
            if text is not None and not text.isspace():
                return False
        rules = cspec.rules
        if rules:
            # what the rules read (as _content gives it): attributes, child tags, text
            n = len(c)
            if n == 1 and c[0].tag in cspec.one_child_ok:
                rules = ()  # a lone child that keeps every rule, whatever else
            elif n:
                tags = [x.tag for x in c if x.tag.__class__ is str]
                if cspec.mixed:
                    text = "".join(c.itertext())
                else:
                    text = (c.text or "") + "".join([x.tail or "" for x in c])
                text = text.strip()
            else:
                tags = _NO_TAGS
                text = (c.text or "").strip()
                if text:
                    rules = cspec.leaf_rules  # what a text leaf keeps is not checked
            if rules:
                attrs = dict(items) if items else _NO_ATTRS
                for rule in rules:
                    if rule.check(cspec, attrs, tags, text) is not None:  # type: ignore[arg-type]
                        return False
    return True


_NO_TAGS: list[str] = []
_NO_ATTRS: dict[str, str] = {}


def _valid_items(spec: Element, items: list[tuple[str, str]]) -> bool:
    """Every attribute known and of its type, every required one present."""
    attr_map = spec.attr_map
    names = set()
    for key, value in items:
        name = _qname(key)
        attr = attr_map.get(name)
        if attr is None:
            return False
        try:
            attr.type.parse(value)
        except InvalidValue:
            return False
        names.add(name)
    return all(attr.name in names for attr in spec.required_attrs)


def _valid_text(spec: Element, value_type: schema.ValueType, value: str) -> bool:
    """The text of an element whose text is one value (joined, not yet stripped)."""
    value = value.strip()
    if not value:
        return not spec.text_required
    if value not in value_type._cache:
        try:
            value_type.parse(value)
        except InvalidValue:
            return False
    return True


def _check_attr(
    el: etree._Element, spec: Element, key: str, value: str, problems: list[_Raw]
) -> None:
    name = _qname(key)
    attr = spec.attr_map.get(name)
    if attr is None:
        message = f"<{spec.name}> has no attribute {name!r}"
        problems.append(("unknown-attribute", message, el, name, None, None))
        return
    try:
        attr.type.parse(value)
    except InvalidValue as exc:
        problems.append((exc.code, f"{name}: {exc.message}", el, name, None, None))


def _check_required(
    el: etree._Element, spec: Element, present: set[str], problems: list[_Raw]
) -> None:
    for attr in spec.required_attrs:
        if attr.name not in present:
            message = f"<{spec.name}> needs the attribute {attr.name} ({attr.type.describe()})"
            problems.append(("missing-attribute", message, el, None, None, None))


def _refuse(parent: Element, child: etree._Element, tag: str, problems: list[_Raw]) -> None:
    name = _qname(tag)
    if name == "Response":
        code, message = "nested-response", "<Response> can only be the root"
    elif name in schema.TAGS:
        code, message = "child-not-allowed", f"<{name}> is not allowed inside <{parent.name}>"
    else:
        code, message = "unknown-element", f"<{name}> is not an element of the dialect"
    problems.append((code, message, child, None, None, None))


def _no_text(
    el: etree._Element,
    spec: Element,
    text: str,
    problems: list[_Raw],
    texted: set[etree._Element],
    anchor: etree._Element | None = None,
) -> None:
    """Report text in ``el``, which takes none; ``anchor`` is the child it follows."""
    if el in texted:
        return  # one text problem per element is enough
    texted.add(el)
    snippet = text.strip()
    message = f"<{spec.name}> takes no text, found {snippet[:40]!r}"
    problems.append(("text-not-allowed", message, el, None, snippet[:20], anchor))


def _check_text(el: etree._Element, element: Element, value: str, problems: list[_Raw]) -> None:
    text_type = element.text
    assert text_type is not None
    if not value:
        if element.text_required:
            problems.append(
                (
                    "missing-text",
                    f"<{element.name}> needs text ({text_type.describe()})",
                    el,
                    None,
                    None,
                    None,
                )
            )
        return
    try:
        text_type.parse(value)
    except InvalidValue as exc:
        problems.append((exc.code, f"text: {exc.message}", el, None, value[:20], None))


def check(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> tuple[Response | None, list[Problem]]:
    """Parse and check untrusted XML: the document (None when it has errors) and
    every problem found (errors and warnings), located."""
    try:
        root, source = load(data, max_bytes)
    except ParseFailure as failure:
        return None, [Problem(failure.code, failure.message, failure.line, failure.column, "")]
    if _valid_children([root], _DOCUMENT, 0, max_depth):  # it checks the root's tag too
        return from_source(root), []
    if root.tag != "Response":
        message = f"the root element must be <Response>, not <{_qname(str(root.tag))}>"
        return None, _locate(root, source, [("root", message, root, None, None, None)])
    problems = _walk(root, max_depth)
    if not problems:
        return from_source(root), []
    located = _locate(root, source, problems)
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
) -> Iterator[Problem]:
    """Yield every problem of a document (XML, or a built :class:`Node` tree), errors
    and warnings."""
    if isinstance(data, Node):
        data = serialize(data)  # not to_xml(), which raises on the first error
    yield from check(data, max_bytes=max_bytes, max_depth=max_depth)[1]


def lint(
    data: bytes | str | Node,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[Problem]:
    """Every problem of a document, errors and warnings; an empty list when it is
    clean.  A document with warnings only is valid (``Problem.severity``)."""
    return list(iter_problems(data, max_bytes=max_bytes, max_depth=max_depth))


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
