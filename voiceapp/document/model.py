"""The document model: one :class:`Node` class for every element, and the builder.

A node holds its schema :class:`~voiceapp.schema.Element`, its attributes as XML text
(a dict in schema order) and its children: nodes and text strings, in document order.
Typed values come from the schema on access (:meth:`Node.get`), with its defaults.

Building goes through one checked :meth:`Node.add`; ``node.say(...)``,
``node.gather(...)``, ``node.say_as(...)`` are shortcuts whose names are derived from
the schema's XML names (``sendDigits`` -> ``send_digits``), installed on the class
from the schema table.  A problem fails the call that introduces it with a
:class:`~voiceapp.errors.DocumentError` naming the element path and the attribute.

Parsed documents are built lazily: the parser validates the whole tree up front, and
a node makes its children from the (hardened, already checked) lxml element the first
time they are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from voiceapp import schema
from voiceapp.errors import DocumentError
from voiceapp.schema import Element, InvalidValue

if TYPE_CHECKING:
    from lxml import etree

__all__ = ["Node", "Response"]

_MISSING: Any = object()
_FORBIDDEN_CHARS = schema.FORBIDDEN_CHARS
_XML_NS = "{http://www.w3.org/XML/1998/namespace}"
_ROOT = schema.ROOT


class Node:
    """One element of a voice document."""

    __slots__ = ("_children", "_open", "_source", "attrs", "element", "parent")

    element: Element
    attrs: dict[str, str]
    parent: Node | None
    _children: list[Node | str] | None
    _source: etree._Element | None
    _open: str | None  # the start tag without its ">" (a cache the builder fills)

    def __init__(
        self,
        element: Element,
        attrs: dict[str, str] | None = None,
        children: list[Node | str] | None = None,
        parent: Node | None = None,
    ) -> None:
        self.element = element
        self.attrs = {} if attrs is None else attrs
        self._children = [] if children is None else children
        self.parent = parent
        self._source = None
        self._open = None

    # ------------------------------------------------------------------ reading

    @property
    def tag(self) -> str:
        """The XML tag, e.g. ``"Say"`` or ``"say-as"``."""
        return self.element.name

    @property
    def children(self) -> list[Node | str]:
        """Child nodes and text strings, in document order."""
        children = self._children
        if children is None:
            children = self._children = _materialize(self)
        return children

    @property
    def elements(self) -> list[Node]:
        """Child elements in order (text left out)."""
        return [c for c in self.children if isinstance(c, Node)]

    @property
    def text(self) -> str:
        """All text directly inside this element, joined (child elements left out)."""
        return "".join(c for c in self.children if isinstance(c, str))

    @property
    def value(self) -> Any:
        """The element's text as its schema type gives it, stripped (the URL of a
        ``<Redirect>``, the number of a ``<Number>``); None when there is none."""
        text = self.text.strip()
        if not text or self.element.text is None:
            return None
        return self.element.text.parse(text)

    @property
    def line(self) -> int | None:
        """The source line of a parsed node (None for built nodes)."""
        return None if self._source is None else self._source.sourceline

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """The typed value of attribute ``name`` (XML or Python name).

        Absent attributes give ``default`` when passed, else the schema default, else
        None: ``pause.get("length")`` is 1 for ``<Pause/>``.  Unknown names raise
        :class:`KeyError`.
        """
        attr = self.element.attr_map.get(name) or self.element.py_attrs.get(name)
        if attr is None:
            raise KeyError(f"<{self.tag}> has no attribute {name!r}")
        text = self.attrs.get(attr.name)
        if text is None:
            return attr.default_value if default is _MISSING else default
        return attr.type.parse(text)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def iter(self) -> Iterator[Node]:
        """This node and all its descendant elements, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    @property
    def path(self) -> str:
        """Where the node is: ``/Response/Gather[2]/Say`` (an index only among several)."""
        steps: list[str] = []
        node: Node | None = self
        while node is not None:
            parent = node.parent
            step = node.tag
            if parent is not None:
                same = [c for c in parent.children if isinstance(c, Node) and c.tag == node.tag]
                index = next((i for i, c in enumerate(same, 1) if c is node), 0)
                if len(same) > 1 and index:
                    step += f"[{index}]"
            steps.append(step)
            node = parent
        return "/" + "/".join(reversed(steps))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return (
            self.element is other.element
            and self.attrs == other.attrs
            and self.children == other.children
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        attrs = "".join(f" {k}={v!r}" for k, v in self.attrs.items())
        return f"<Node {self.tag}{attrs} ({len(self.children)} children)>"

    # ------------------------------------------------------------------ writing

    def to_xml(self) -> bytes:
        """The canonical document: UTF-8 bytes with the XML declaration.  Raises
        :class:`DocumentError` when an element is incomplete (the schema's rules of
        severity error: a ``<Dial>`` with nothing to dial...); warnings do not stop it."""
        _check_complete(self)
        return _serialize(self)

    def add(self, name: str, text: Any = None, /, **attrs: Any) -> Node:
        """Append a child element and return it.

        ``name`` is the XML tag (``"say-as"``) or the derived Python name (``"say_as"``);
        ``text`` becomes the element's text; keyword arguments are attributes by Python
        or XML name (``send_digits="wwww101"``), None values left out.  A name this
        element does not take, but its parent does, is added to the parent when it is of
        another kind than this element's children: ``r.say("hi").hangup()`` appends
        ``<Hangup>`` to the response, while ``gather.dial()`` fails because ``<Gather>``
        holds verbs.
        """
        adder = _ADDERS.get(name)
        if adder is None:
            adder = _adder(name)
        return adder(self, text, **attrs)

    def add_text(self, text: str) -> Node:
        """Append text (after the children added so far) and return this node."""
        _add_text(self, text)
        return self

    def set(self, name: str, value: Any) -> Node:
        """Set an attribute (XML or Python name), checked like the builder's; None
        removes it.  Returns this node."""
        attr = self.element.attr_map.get(name) or self.element.py_attrs.get(name)
        given: dict[str, Any] = {
            k: v for k, v in self.attrs.items() if attr is None or k != attr.name
        }
        given[name if attr is None else attr.name] = value
        self.attrs, self._open, _ = _attrs_for(self.parent or self, self.element, given, None, None)
        return self

    if TYPE_CHECKING:
        # The builder shortcuts (say, gather, dial, number, say_as...) are installed
        # on the class from the schema table below; this tells type checkers so.
        def __getattr__(self, name: str) -> Callable[..., Node]: ...

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class Response(Node):
    """The root of a voice document: ``Response().say("Hello").hangup()``."""

    __slots__ = ()

    def __init__(self) -> None:
        self.element = schema.ROOT
        self.attrs = {}
        self._children = []
        self.parent = None
        self._source = None
        self._open = "<Response"

    def __enter__(self) -> Response:
        return self


# ---------------------------------------------------------------------- checks


_ADDER_SOURCE = """\
def _add(_node, _text=None, _stop=_STOP, /, {params}**_more):
    if _stop is not _STOP:
        raise TypeError(_usage)
    _element = _node.element.any_children.get(_name)
    while _element is None:
        _parent = _node.parent
        if _parent is None or _node.element.key not in _goes_up:
            raise _refused(_node, _name)
        _node = _parent
        _element = _node.element.any_children.get(_name)
    _child = _new(_Node)
    _child.element = _element
    _child.parent = _node
    _child._source = None
    if _more or {any_given}:
        if _more:
            _given = {merge}_more
            _key = (_element, *_given, *_given.values())
        else:
            _given = None
            _key = (_element, {values})
        try:
            _cached = _memo_get(_key)
        except TypeError:  # an unhashable value, e.g. a list for a List attribute
            _key, _cached = None, None
        if _cached is not None and _cached[2]:
            for _i, _cls in _cached[2]:  # the values that are not str, by position
                if _key[_i].__class__ is not _cls:
                    _cached = None
                    break
        if _cached is None:
            if _given is None:
                _given = {{{given}}}
            _cached = _attrs_for(_node, _element, _given, _key, _memo)
        _child.attrs = _cached[0].copy()
        _child._open = _cached[1]
    elif _element.required_attrs:
        _child.attrs, _child._open, _ = _attrs_for(_node, _element, {{}}, None, None)
    else:
        _child.attrs = {{}}
        _child._open = _element.open_tag
    if _text.__class__ is str and _text:
        if _element.mixed or (
            _element.value_type is not None
            and _text in _element.value_type._cache
            and _text == _text.strip()
        ):
            # free text, or a value its type already accepted: only the characters
            if (_text.isascii() and _text.isprintable()) or _forbidden(_text) is None:
                _child._children = [_text]
            else:
                _child._children = [_checked_text(_child, _text, "")]  # raises control-char
        else:
            _child._children = [_checked_text(_child, _text, "")]
    elif _text is None or _text == "":
        if _element.text_required:
            raise _missing_text(_node, _element)
        _child._children = []
    else:
        _child._children = [_checked_text(_child, _text, "")]
    _children = _node._children
    if _children is None:
        _children = _node.children
    _children.append(_child)
    return _child
"""
"""The source of the builder's adders, made from it once per element name the way
:mod:`dataclasses` makes ``__init__`` (only the schema's attribute names are written
into it).  An element with few attributes takes them as parameters (by Python name),
so the memo of checked attributes is keyed by a plain tuple of the values and no
keyword dict is built; others, and XML names, arrive as keywords in ``_more``."""

_STOP: Any = object()  # a third positional argument: attributes are keywords
_PARAMETERS_MAX = 6  # elements with more attributes take them as keywords

# (element, attribute values...) or (element, keywords..., values...) -> (attributes,
# start tag, ((position in the key, type)...)), one memo per adder, for attributes
# already checked.  Equal values of other types (1, True and 1.0) are told apart by
# the types of the values that are neither str nor None.
_Memo = dict[tuple[Any, ...], tuple[dict[str, str], str, tuple[tuple[int, type], ...]]]
_MEMO_LIMIT = 1024


def _adder(name: str) -> Callable[..., Node]:
    """The one checked way to append a child named ``name`` (an XML or Python name):
    ``adder(node, text, **attrs)`` (see :meth:`Node.add`).  The builder shortcuts
    (``say``, ``gather``...) are these functions, made once per name."""
    py = name if name in schema.KIND_BY_PYTHON_NAME else schema.python_name(name)
    kinds = schema.KIND_BY_PYTHON_NAME.get(py, frozenset())
    # elements whose children are of other kinds: from them, ``name`` goes to the parent
    goes_up = frozenset(e.key for e in schema.ELEMENTS.values() if not (kinds & e.child_kinds))
    if not kinds:
        goes_up = frozenset()
    params = list(
        dict.fromkeys(
            a.python_name for e in schema.ELEMENTS.values() if e.python_name == py for a in e.attrs
        )
    )
    if len(params) > _PARAMETERS_MAX:
        params = []
    memo: _Memo = {}
    namespace: dict[str, Any] = {
        "_name": name,
        "_STOP": _STOP,
        "_usage": f"{py}() takes the text, then attributes as keywords",
        "_goes_up": goes_up,
        "_new": Node.__new__,
        "_Node": Node,
        "_refused": _refused,
        "_attrs_for": _attrs_for,
        "_memo": memo,
        "_memo_get": memo.get,
        "_checked_text": _checked_text,
        "_missing_text": _missing_text,
        "_forbidden": _FORBIDDEN_CHARS.search,
    }
    given = ", ".join(f"{p!r}: {p}" for p in params)
    source = _ADDER_SOURCE.format(
        params="".join(f"{p}=None, " for p in params),
        merge="{" + given + "} | " if params else "",
        any_given=" or ".join(f"{p} is not None" for p in params) or "False",
        given=given,
        values="".join(f"{p}, " for p in params),
    )
    exec(compile(source, f"<voiceapp adder {py}>", "exec"), namespace)
    add: Callable[..., Node] = namespace["_add"]
    add.__name__ = add.__qualname__ = py
    xml_name = schema.XML_NAME_BY_PYTHON_NAME.get(py, name)
    add.__doc__ = f"Append a ``<{xml_name}>`` (see :meth:`Node.add`)."
    return add


def _missing_text(node: Node, element: Element) -> DocumentError:
    assert element.text is not None  # an element that needs text takes text
    message = f"<{element.name}> needs text ({element.text.describe()})"
    return _error(node, element.name, message, "missing-text")  # type: ignore[no-any-return]


def _refused(node: Node, name: str) -> DocumentError:
    """The error for a child ``name`` that neither ``node`` nor its parents take."""
    py = name if name in schema.KIND_BY_PYTHON_NAME else schema.python_name(name)
    xml_name = schema.XML_NAME_BY_PYTHON_NAME.get(py, name)
    if py not in schema.KIND_BY_PYTHON_NAME:
        message = f"<{xml_name}> is not an element of the dialect"
        return _error(node, xml_name, message, "unknown-element")  # type: ignore[no-any-return]
    message = f"<{xml_name}> is not allowed inside <{node.tag}>"
    return _error(node, xml_name, message, "child-not-allowed")  # type: ignore[no-any-return]


def _error(node: Node, child: str | None, message: str, code: str, attr: str | None = None) -> Any:
    path = node.path + (f"/{child}" if child else "")
    return DocumentError(message, code=code, path=path, attribute=attr)


def _attrs_for(
    parent: Node,
    element: Element,
    given: dict[str, Any],
    key: tuple[Any, ...] | None,
    memo: _Memo | None,
) -> tuple[dict[str, str], str, tuple[tuple[int, type], ...]]:
    """Check keyword attributes against the schema: the attributes (XML name -> XML
    text, in schema order) and the start tag they make (without its ``>``); remembered
    in ``memo`` under ``key`` when they are not None.  The caller copies the
    attributes."""
    chosen: dict[str, tuple[schema.Attr, Any]] = {}
    for name, value in given.items():
        if value is None:
            continue
        attr = element.py_attrs.get(name) or element.attr_map.get(name)
        if attr is None:
            raise _error(
                parent,
                element.name,
                f"<{element.name}> has no attribute {name!r}",
                "unknown-attribute",
                name,
            )
        chosen[attr.name] = (attr, value)
    # values checked in schema order: with several wrong, the error names the first
    pairs = list(chosen.values())
    if len(pairs) > 1:
        order = element.attr_order
        pairs.sort(key=lambda pair: order[pair[0].name])
    out: dict[str, str] = {}
    for attr, value in pairs:
        try:
            text = attr.type.format(value)
            if not (text.isascii() and text.isprintable()):
                schema.check_chars(text)
        except InvalidValue as exc:
            raise _error(
                parent, element.name, f"{attr.name}: {exc.message}", exc.code, attr.name
            ) from None
        out[attr.name] = text
    for attr in element.required_attrs:
        if attr.name not in out:
            raise _error(
                parent,
                element.name,
                f"<{element.name}> needs the attribute {attr.name} ({attr.type.describe()})",
                "missing-attribute",
                attr.name,
            )
    start = open_tag(element.name, out)
    typed: tuple[tuple[int, type], ...] = ()
    if key is not None:
        typed = tuple(
            [
                (i, v.__class__)
                for i, v in enumerate(key)
                if v.__class__ is not str and v is not None
            ]
        )[1:]  # not the element, at 0
    result = (out, start, typed)
    if key is not None and memo is not None and len(memo) < _MEMO_LIMIT:
        memo[key] = result
    return result


def _check_complete(node: Node) -> None:
    """Apply the schema's error rules to ``node`` and its descendants (what can only be
    checked once children are added: at least one of, at most N, not mixed)."""
    children = node._children
    if children is None:
        children = node.children
    if node.element.error_rules:
        _apply_rules(node, node.element.error_rules, children)
    _check_descendants(children)


def _check_descendants(children: list[Node | str]) -> None:
    for child in children:
        if child.__class__ is str:
            continue
        sub: Node = child  # type: ignore[assignment]
        kids = sub._children
        if kids is None:
            kids = sub.children
        element = sub.element
        rules = element.error_rules
        if rules and len(kids) == 1:
            only = kids[0]
            if only.__class__ is str:
                if only.strip():
                    rules = element.leaf_error_rules  # a leaf with text
            elif only.element.name in element.one_child_error_ok:  # type: ignore[union-attr]
                rules = ()
        if rules:
            _apply_rules(sub, rules, kids)
        if kids and (len(kids) > 1 or kids[0].__class__ is not str):
            _check_descendants(kids)


def _all_text(children: list[Node | str]) -> str:
    return "".join(c if isinstance(c, str) else _all_text(c.children) for c in children)


def _apply_rules(node: Node, rules: tuple[schema.Rule, ...], children: list[Node | str]) -> None:
    element = node.element
    if len(children) == 1 and children[0].__class__ is str:
        tags: list[str] = []
        text: str = children[0].strip()
    else:
        tags = [c.element.name for c in children if isinstance(c, Node)]
        if element.mixed:
            text = _all_text(children).strip()
        else:
            text = "".join(c for c in children if isinstance(c, str)).strip()
    for rule in rules:
        message = rule.check(element, node.attrs, tags, text)
        if message is not None:
            attribute = rule.attribute if rule.attribute in node.attrs else None
            raise _error(node, None, message, rule.code, attribute)


def _checked_text(node: Node, value: Any, before: str) -> str:
    """``value`` as text for ``node`` (whose text so far is ``before``), checked."""
    element = node.element
    text_type = element.text
    if text_type is None:
        raise _error(node, None, f"<{node.tag}> takes no text", "text-not-allowed")
    try:
        text = value if isinstance(value, str) else text_type.format(value)
        schema.check_chars(text)
        if not element.mixed:
            text_type.parse((before + text).strip())
    except InvalidValue as exc:
        raise _error(node, None, f"text: {exc.message}", exc.code) from None
    return text


def _add_text(node: Node, value: Any) -> None:
    text = _checked_text(node, value, node.text)
    children = node.children
    if children and isinstance(children[-1], str):
        children[-1] += text
    else:
        children.append(text)


# ---------------------------------------------------------------------- parsed nodes


def from_source(root: etree._Element) -> Response:
    """The lazy document over a hardened, already validated lxml tree."""
    doc = Node.__new__(Response)
    doc.element = _ROOT
    doc.attrs = {}
    doc.parent = None
    doc._children = None
    doc._source = root
    doc._open = "<Response"
    return doc


def _materialize(node: Node) -> list[Node | str]:
    el = node._source
    assert el is not None
    children: list[Node | str] = []
    text = el.text
    if text:
        children.append(text)
    child_map = node.element.child_map
    for c in el:
        tag = c.tag
        if isinstance(tag, str):
            element = child_map[tag]
            child = Node.__new__(Node)
            child.element = element
            items = c.items()
            if items:
                attrs = {(k if k[0] != "{" else "xml:" + k[len(_XML_NS) :]): v for k, v in items}
                if len(attrs) > 1:
                    order = element.attr_order
                    attrs = dict(sorted(attrs.items(), key=lambda kv: order[kv[0]]))
                child.attrs = attrs
            else:
                child.attrs = {}
            child._children = None
            child._source = c
            child._open = None
            child.parent = node
            children.append(child)
        tail = c.tail
        if tail:
            if children and isinstance(children[-1], str):
                children[-1] += tail
            else:
                children.append(tail)
    return children


from voiceapp.document.serialize import open_tag  # noqa: E402
from voiceapp.document.serialize import serialize as _serialize  # noqa: E402

_ADDERS: dict[str, Callable[..., Node]] = {}
for _element in schema.ELEMENTS.values():
    for _name in (_element.name, _element.python_name):
        if _name not in _ADDERS:
            _ADDERS[_name] = _adder(_name)
for _name in schema.KIND_BY_PYTHON_NAME:
    if hasattr(Node, _name):
        raise RuntimeError(f"schema element name {_name!r} clashes with a Node attribute")
    setattr(Node, _name, _ADDERS[_name])
