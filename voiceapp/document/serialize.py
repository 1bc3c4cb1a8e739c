"""The canonical serializer: a pure function from a node tree to UTF-8 bytes.

Canonical means: the XML declaration, attributes in schema order (the builder, the
parser and :meth:`~voiceapp.document.model.Node.set` keep ``attrs`` in that order),
double quotes, ``<Hangup/>`` for empty elements, and the escapes of Canonical XML
(``&amp; &lt; &gt;`` and ``&#13;`` in text; ``&amp; &lt; &quot; &#9; &#10; &#13;`` in
attribute values).  Text is written as it is, whitespace included, so a parsed
document keeps its layout.  Rendering reads each node's ``attrs`` and ``children`` as
they are and never changes the tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voiceapp.document.model import Node
    from voiceapp.schema import Element


DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

_TEXT_SPECIAL = re.compile(r"[&<>\r]")
_ATTR_SPECIAL = re.compile(r'[&<"\t\n\r]')
_TEXT_ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ATTR_ESC = {"&": "&amp;", "<": "&lt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}


def _text_sub(m: re.Match[str]) -> str:
    return _TEXT_ESC[m.group()]


def _attr_sub(m: re.Match[str]) -> str:
    return _ATTR_ESC[m.group()]


Check = Callable[["Node", list["Node | str"]], None]
"""A check of a complete node (``node``, its children), run before it is written."""


def serialize(node: Node, checks: Mapping[Element, Check] = MappingProxyType({})) -> bytes:
    """The document rooted at ``node`` as canonical UTF-8 bytes.  ``checks`` gives the
    check to run on each node of some elements before writing it (what
    :meth:`~voiceapp.document.model.Node.to_xml` checks, in the same walk)."""
    out: list[str] = [DECLARATION]
    _write(node, out, checks)
    out.append("\n")
    return "".join(out).encode()


def _write(node: Node, out: list[str], checks: Mapping[Element, Check]) -> None:
    """Append ``node``, as it is now, to ``out``: one piece per tag and attribute,
    joined once by :func:`serialize`."""
    element = node.element
    children = node._children
    if children is None:
        children = node.children
    check = checks.get(element)
    if check is not None:
        check(node, children)
    name = element.name
    out.append("<" + name)
    for key, value in node.attrs.items():
        # isalnum() first, then one memchr per special character: most values have
        # nothing to escape, and a regex search costs more to set up than these scans
        if not value.isalnum() and (
            "&" in value
            or "<" in value
            or '"' in value
            or "\t" in value
            or "\n" in value
            or "\r" in value
        ):
            value = _ATTR_SPECIAL.sub(_attr_sub, value)
        out.append(f' {key}="{value}"')
    if not children:
        out.append("/>")
        return
    out.append(">")
    for child in children:
        if child.__class__ is str:
            text: str = child
            if "&" in text or "<" in text or ">" in text or "\r" in text:
                text = _TEXT_SPECIAL.sub(_text_sub, text)
            out.append(text)
        else:
            _write(child, out, checks)  # type: ignore[arg-type]
    out.append(f"</{name}>")
