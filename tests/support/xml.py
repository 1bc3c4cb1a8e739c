"""Canonical XML, to compare documents by content rather than by spelling."""

from __future__ import annotations

from lxml import etree

from voiceapp.document.parser import new_parser


def c14n(data: bytes) -> bytes:
    """Canonical XML 1.0 (comments left out) of a document, via the hardened parser."""
    tree = etree.fromstring(data, new_parser()).getroottree()
    return etree.tostring(tree, method="c14n", with_comments=False)
