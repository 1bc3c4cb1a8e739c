"""The document model: one :class:`Node` class for every element, and the builder.

A node holds its schema :class:`~voiceapp.schema.Element`, its attributes as XML text
in a dict, and its children: nodes and text strings, in document order.  Typed values
come from the schema on access (:meth:`Node.get`), with the schema's defaults.

Building goes through one checked :meth:`Node.add`; ``node.say(...)``,
``node.gather(...)``, ``node.say_as(...)`` are shortcuts whose names are derived from
the schema's XML names (``sendDigits`` -> ``send_digits``).  A problem fails the call
that introduces it with a :class:`~voiceapp.errors.DocumentError` naming the element
path and the attribute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from voiceapp import schema
from voiceapp.errors import DocumentError
from voiceapp.schema import Element, InvalidValue

__all__ = ["Node", "Response"]

_MISSING: Any = object()


class Node:
    """One element of a voice document."""

    __slots__ = ("attrs", "children", "column", "element", "line", "parent")

    element: Element
    attrs: dict[str, str]
    children: list[Node | str]
    parent: Node | None
    line: int | None
    column: int | None

    def __init__(
        self,
        element: Element,
        attrs: dict[str, str] | None = None,
        children: list[Node | str] | None = None,
        parent: Node | None = None,
    ) -> None:
        self.element = element
        self.attrs = {} if attrs is None else attrs
        self.children = [] if children is None else children
        self.parent = parent
        self.line = None
        self.column = None

    # ------------------------------------------------------------------ reading

    @property
    def tag(self) -> str:
        """The XML tag, e.g. ``"Say"`` or ``"say-as"``."""
        return self.element.name

    @property
    def elements(self) -> list[Node]:
        """Child elements in order (text left out)."""
        return [c for c in self.children if isinstance(c, Node)]

    @property
    def text(self) -> str:
        """All text directly inside this element, joined (SSML children left out)."""
        return "".join(c for c in self.children if isinstance(c, str))

    @property
    def value(self) -> Any:
        """The element's text as its schema type gives it, stripped (e.g. the URL of a
        ``<Redirect>``, the number of a ``<Number>``); None when there is none."""
        text = self.text.strip()
        if not text or self.element.text is None:
            return None
        return self.element.text.parse(text)

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
        from voiceapp.document.serialize import serialize

        return serialize(self)

    def add(self, name: str, text: Any = None, /, **attrs: Any) -> Node:
        """Append a child element and return it.

        ``name`` is the XML tag (``"say-as"``) or the derived Python name (``"say_as"``);
        ``text`` becomes the element's text; keyword arguments are attributes by Python
        name (``send_digits="wwww101"``), None values left out.  A name this element does
        not take, but its parent does, is added to the parent when it is of another kind
        than this element's children (``r.say("hi").hangup()`` appends ``<Hangup>`` to the
        response; ``gather.dial()`` fails because ``<Gather>`` holds verbs).
        """
        element = self.element.child_map.get(name) or self.element.py_children.get(name)
        if element is None:
            return self._forward(name, text, attrs)
        child = Node(element, _attrs_for(self, element, attrs), [], self)
        if text is not None and text != "":
            _add_text(child, text)
        elif element.text_required:
            raise _error(
                self, element.name, f"<{element.name}> needs text ({element.text})", "missing-text"
            )
        self.children.append(child)
        return child

    def _forward(self, name: str, text: Any, attrs: dict[str, Any]) -> Node:
        kinds = schema.KIND_BY_PYTHON_NAME.get(schema.python_name(name))
        name = schema.XML_NAME_BY_PYTHON_NAME.get(schema.python_name(name), name)
        if kinds is None:
            raise _error(
                self, name, f"<{name}> is not an element of the dialect", "unknown-element"
            )
        if self.parent is not None and not (kinds & self.element.child_kinds):
            return self.parent.add(name, text, **attrs)
        raise _error(
            self, name, f"<{name}> is not allowed inside <{self.tag}>", "child-not-allowed"
        )

    def add_text(self, text: str) -> Node:
        """Append text (after the children added so far) and return this node."""
        _add_text(self, text)
        return self

    def __getattr__(self, name: str) -> Callable[..., Node]:
        if name.startswith("_") or name not in schema.KIND_BY_PYTHON_NAME:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

        def build(text: Any = None, /, **attrs: Any) -> Node:
            return self.add(name, text, **attrs)

        build.__name__ = name
        return build

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class Response(Node):
    """The root of a voice document: ``Response().say("Hello").hangup()``."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(schema.ROOT)

    def __enter__(self) -> Response:
        return self


def _error(node: Node, child: str | None, message: str, code: str, attr: str | None = None) -> Any:
    path = node.path + (f"/{child}" if child else "")
    return DocumentError(message, code=code, path=path, attribute=attr)


def _attrs_for(parent: Node, element: Element, given: dict[str, Any]) -> dict[str, str]:
    """Check keyword attributes against the schema; XML name -> XML text, schema order."""
    out: dict[str, str] = {}
    for key, value in given.items():
        if value is None:
            continue
        attr = element.py_attrs.get(key) or element.attr_map.get(key)
        if attr is None:
            raise _error(
                parent,
                element.name,
                f"<{element.name}> has no attribute {key!r}",
                "unknown-attribute",
                key,
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
    return out


def _add_text(node: Node, value: Any) -> None:
    element = node.element
    if element.text is None:
        raise _error(node, None, f"<{node.tag}> takes no text", "text-not-allowed")
    try:
        text = value if isinstance(value, str) else element.text.format(value)
        schema.check_chars(text)
        if not element.mixed:
            element.text.parse((node.text + text).strip())
    except InvalidValue as exc:
        raise _error(node, None, f"text: {exc.message}", exc.code) from None
    children = node.children
    if children and isinstance(children[-1], str):
        children[-1] += text
    else:
        children.append(text)
