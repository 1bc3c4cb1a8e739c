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
        """The canonical document: UTF-8 bytes with the XML declaration."""
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
        self.attrs, self._open, _ = _attrs_for(self.parent or self, self.element, given, None)
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


# (element, (keyword, value)...) -> (attributes, start tag, ((keyword, type)...)) for
# keyword attributes already checked.  Equal values of other types (1, True and 1.0)
# are told apart by the types of the values that are not str, kept with them.
_ATTR_CACHE: dict[tuple[Any, ...], tuple[dict[str, str], str, tuple[tuple[str, type], ...]]] = {}


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
    new, cache_get, forbidden = Node.__new__, _ATTR_CACHE.get, _FORBIDDEN_CHARS.search

    def add(node: Node, text: Any = None, /, **attrs: Any) -> Node:
        element = node.element.any_children.get(name)
        while element is None:
            parent = node.parent
            if parent is None or node.element.key not in goes_up:
                raise _refused(node, name)
            node = parent
            element = node.element.any_children.get(name)
        child = new(Node)
        child.element = element
        child.parent = node
        child._source = None
        if attrs:
            try:
                key: tuple[Any, ...] | None = (element, *attrs.items())
                cached = cache_get(key)  # type: ignore[arg-type]
            except TypeError:  # an unhashable value, e.g. a list for a List attribute
                key, cached = None, None
            if cached is not None:
                for kw, cls in cached[2]:  # the keywords whose values are not str
                    if attrs[kw].__class__ is not cls:
                        cached = None
                        break
            if cached is None:
                cached = _attrs_for(node, element, attrs, key)
            child.attrs = cached[0].copy()
            child._open = cached[1]
        elif element.required_attrs:
            child.attrs, child._open, _ = _attrs_for(node, element, {}, None)
        else:
            child.attrs = {}
            child._open = element.open_tag
        if text.__class__ is str and text:
            if element.mixed or (
                element.value_type is not None
                and text in element.value_type._cache
                and text == text.strip()
            ):
                # free text, or a value its type already accepted: only the characters
                if (text.isascii() and text.isprintable()) or forbidden(text) is None:
                    child._children = [text]
                else:
                    child._children = [_checked_text(child, text, "")]  # raises control-char
            else:
                child._children = [_checked_text(child, text, "")]
        elif text is None or text == "":
            if element.text_required:
                raise _error(
                    node,
                    element.name,
                    f"<{element.name}> needs text ({element.text})",
                    "missing-text",
                )
            child._children = []
        else:
            child._children = [_checked_text(child, text, "")]
        children = node._children
        if children is None:
            children = node.children
        children.append(child)
        return child

    add.__name__ = add.__qualname__ = py
    xml_name = schema.XML_NAME_BY_PYTHON_NAME.get(py, name)
    add.__doc__ = f"Append a ``<{xml_name}>`` (see :meth:`Node.add`)."
    return add


def _refused(node: Node, name: str) -> DocumentError:
    """The error for a child ``name`` that neither ``node`` nor its parents take."""
    py = name if name in schema.KIND_BY_PYTHON_NAME else schema.python_name(name)
    xml_name = schema.XML_NAME_BY_PYTHON_NAME.get(py, name)
    if py not in schema.KIND_BY_PYTHON_NAME:
        message = f"<{xml_name}> is not an element of the dialect"
        return _error(node, xml_name, message, "unknown-element")  # type: ignore[no-any-return]
    message = f"<{xml_name}> is not allowed inside <{node.tag}>"
    return _error(node, xml_name, message, "child-not-allowed")  # type: ignore[no-any-return]


_ADDERS: dict[str, Callable[..., Node]] = {}
for _element in schema.ELEMENTS.values():
    for _name in (_element.name, _element.python_name):
        if _name not in _ADDERS:
            _ADDERS[_name] = _adder(_name)
for _name in schema.KIND_BY_PYTHON_NAME:
    if hasattr(Node, _name):
        raise RuntimeError(f"schema element name {_name!r} clashes with a Node attribute")
    setattr(Node, _name, _ADDERS[_name])


def _error(node: Node, child: str | None, message: str, code: str, attr: str | None = None) -> Any:
    path = node.path + (f"/{child}" if child else "")
    return DocumentError(message, code=code, path=path, attribute=attr)


def _attrs_for(
    parent: Node, element: Element, given: dict[str, Any], key: tuple[Any, ...] | None
) -> tuple[dict[str, str], str, tuple[tuple[str, type], ...]]:
    """Check keyword attributes against the schema: the attributes (XML name -> XML
    text, in schema order) and the start tag they make (without its ``>``); remembered
    under ``key`` when it is not None.  The caller copies the attributes."""
    out: dict[str, str] = {}
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
        try:
            text = attr.type.format(value)
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
    if len(out) > 1:
        order = element.attr_order
        out = dict(sorted(out.items(), key=lambda kv: order[kv[0]]))
    start = open_tag(element.name, out)
    typed = tuple((kw, v.__class__) for kw, v in given.items() if v.__class__ is not str)
    result = (out, start, typed)
    if key is not None and len(_ATTR_CACHE) < 8192:
        _ATTR_CACHE[key] = result
    return result


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
