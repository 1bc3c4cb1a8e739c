"""The canonical serializer: a pure function from a node tree to UTF-8 bytes.

Canonical means: the XML declaration, attributes in schema order (the builder, the
parser and :meth:`~voiceapp.document.model.Node.set` keep ``attrs`` in that order), double quotes,
``<Hangup/>`` for empty elements, and the escapes of Canonical XML (``&amp; &lt; &gt;``
and ``&#13;`` in text; ``&amp; &lt; &quot; &#9; &#10; &#13;`` in attribute values).
Text is written as it is, whitespace included, so a parsed document keeps its layout.
Rendering never changes the tree.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voiceapp.document.model import Node

__all__ = ["DECLARATION", "serialize"]

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

_TEXT_SPECIAL = re.compile(r"[&<>\r]")
_ATTR_SPECIAL = re.compile(r'[&<"\t\n\r]')
_TEXT_ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ATTR_ESC = {"&": "&amp;", "<": "&lt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}


def _text_sub(m: re.Match[str]) -> str:
    return _TEXT_ESC[m.group()]


def _attr_sub(m: re.Match[str]) -> str:
    return _ATTR_ESC[m.group()]


def serialize(node: Node) -> bytes:
    """The document rooted at ``node`` as canonical UTF-8 bytes."""
    out: list[str] = [DECLARATION]
    _write(node, out)
    out.append("\n")
    return "".join(out).encode()


def open_tag(tag: str, attrs: dict[str, str]) -> str:
    """The start tag of an element, without its closing ``>`` or ``/>``."""
    parts = ["<", tag]
    for name, value in attrs.items():
        if _ATTR_SPECIAL.search(value) is not None:
            value = _ATTR_SPECIAL.sub(_attr_sub, value)
        parts.append(f' {name}="{value}"')
    return "".join(parts)


def _write(node: Node, out: list[str]) -> None:
    start = node._open
    if start is None:
        start = open_tag(node.element.name, node.attrs)
    children = node._children
    if children is None:
        children = node.children
    if not children:
        out += (start, "/>")
        return
    out += (start, ">")
    for child in children:
        if child.__class__ is str:
            text: str = child
            if "&" in text or "<" in text or ">" in text or "\r" in text:
                text = _TEXT_SPECIAL.sub(_text_sub, text)
            out.append(text)
            continue
        sub: Node = child  # type: ignore[assignment]
        kids = sub._children
        start = sub._open
        if kids is None or start is None or len(kids) > 1:
            _write(sub, out)
        elif not kids:
            out += (start, "/>")
        else:
            text = kids[0]  # type: ignore[assignment]
            if text.__class__ is not str:
                _write(sub, out)
                continue
            # a leaf with text, written here rather than in a call of its own
            if "&" in text or "<" in text or ">" in text or "\r" in text:
                text = _TEXT_SPECIAL.sub(_text_sub, text)
            out += (start, ">", text, sub.element.close_tag)
    out.append(node.element.close_tag)
