"""The hardened XML parser for untrusted documents, and source locations.

One lxml parser configuration, every option spelled out (lxml's defaults have changed
between releases): no entity expansion, no DTD loading or validation, no network, no
huge trees, no XInclude.  On top of that, any DOCTYPE is refused before lxml sees the
document (and checked again after, for encodings the byte scan cannot read), and the
input size is capped before parsing.  Depth is capped by the linter's walk (and by
libxml2's own limit of 256 beyond that).

lxml gives elements a line but no column; :class:`Locator` scans the source text to
find the line and column of the n-th start tag and of its attributes.  It runs only
when there is a problem to locate, so valid documents do not pay for it.
"""

from __future__ import annotations

import bisect
import re
import threading
from functools import cached_property

from lxml import etree

from voiceapp.errors import ParseFailure

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 64


def new_parser(*, force_utf8: bool = False) -> etree.XMLParser:
    """A fresh hardened parser (``force_utf8`` for text that was a Python str)."""
    return etree.XMLParser(
        encoding="utf-8" if force_utf8 else None,
        attribute_defaults=False,
        dtd_validation=False,
        load_dtd=False,
        no_network=True,
        resolve_entities=False,
        huge_tree=False,
        recover=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=True,
        ns_clean=False,
        compact=True,
        collect_ids=False,
    )


_local = threading.local()  # lxml parsers must not be shared between threads


def _parser(force_utf8: bool) -> etree.XMLParser:
    name = "utf8" if force_utf8 else "bytes"
    parser: etree.XMLParser | None = getattr(_local, name, None)
    if parser is None:
        parser = new_parser(force_utf8=force_utf8)
        setattr(_local, name, parser)
    return parser


# Anything that may come before the root element; a DOCTYPE right after it is refused.
_PROLOG_DOCTYPE = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->)*<!DOCTYPE", re.DOTALL
)


_PROLOG_DOCTYPE_TEXT = re.compile(r"\A\ufeff?(?:\s+|<\?.*?\?>|<!--.*?-->)*<!DOCTYPE", re.DOTALL)


def _doctype(raw: bytes) -> tuple[int, int] | None:
    """Where a DOCTYPE starts in the prolog, if there is one (before any parsing)."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:4]:
        # UTF-16 or UTF-32: read the text, not the bytes
        for codec in ("utf-32", "utf-16") if raw[:4].count(b"\x00") >= 2 else ("utf-16",):
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                continue
            found_text = _PROLOG_DOCTYPE_TEXT.match(text)
            if found_text is None:
                return None
            offset = found_text.end() - len("<!DOCTYPE")
            line = text.count("\n", 0, offset) + 1
            return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
        return None
    if b"<!DOCTYPE" not in raw:
        return None
    found = _PROLOG_DOCTYPE.match(raw)
    return None if found is None else _position(raw, found.end() - len(b"<!DOCTYPE"))


# First bytes of inputs whose prolog _doctype() reads (ASCII-compatible, UTF-16/32).
_SCANNED_STARTS = frozenset([b"<", b" ", b"\t", b"\n", b"\r", b"\xef", b"\xff", b"\xfe", b"\x00"])


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    return line, len(data[start:offset].decode("utf-8", "replace")) + 1


def _classify(message: str) -> str:
    lowered = message.lower()
    if "excessive depth" in lowered or "nesting" in lowered:
        return "too-deep"
    if (
        "invalid xmlchar" in lowered
        or "invalid char" in lowered
        or "out of allowed range" in lowered
    ):
        return "control-char"
    if "huge" in lowered:
        return "too-large"
    if "doctype" in lowered or "amplification" in lowered:
        return "doctype-forbidden"
    return "xml-malformed"


def _syntax_failure(raw: bytes, force_utf8: bool) -> ParseFailure:
    """Re-parse with a fresh parser to get a clean error log, and pick the telling error."""
    parser = new_parser(force_utf8=force_utf8)
    try:
        etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        entries = [e for e in parser.error_log if e.level_name in ("ERROR", "FATAL")]
        chosen = None
        for entry in entries:
            if _classify(entry.message) != "xml-malformed":
                chosen = entry
                break
        if chosen is None and entries:
            chosen = entries[0]
        if chosen is not None:
            message = chosen.message.strip()
            return ParseFailure(_classify(message), message, chosen.line, max(chosen.column, 1))
        line, column = exc.position
        return ParseFailure(_classify(exc.msg), exc.msg, line, max(column, 1))
    return ParseFailure("xml-malformed", "the document could not be parsed", 1, 1)


def load(data: bytes | str, max_bytes: int) -> tuple[etree._Element, bytes | str]:
    """Parse untrusted ``data`` with the hardened parser; returns the root element and
    the source (for :class:`Locator`).  Raises :class:`ParseFailure`."""
    if data.__class__ is bytes:
        raw = data
        # Fast path: ASCII-compatible bytes (first byte "<", second not NUL) within the
        # size cap, with no "!" at all or at least no "<!DOCTYPE" ("in" on bytes first
        # tries the needle as an integer; find() does not).
        size = len(raw)
        if (
            1 < size <= max_bytes
            and raw[0] == 60
            and raw[1]
            and (raw.find(b"!") < 0 or raw.find(b"<!DOCTYPE") < 0)
        ):
            try:
                parser = _local.bytes
            except AttributeError:
                parser = _parser(False)
            try:
                return etree.fromstring(raw, parser), raw
            except etree.XMLSyntaxError:
                raise _syntax_failure(raw, False) from None
            except ValueError as exc:
                raise ParseFailure("xml-malformed", str(exc), 1, 1) from None
    return _load(data, max_bytes)


def _load(data: bytes | str, max_bytes: int) -> tuple[etree._Element, bytes | str]:
    force_utf8 = isinstance(data, str)
    # a str is encoded; bytes, bytearray and memoryview are copied as bytes
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    parser = _parser(force_utf8)
    if len(raw) > max_bytes:
        raise ParseFailure(
            "too-large", f"document is {len(raw)} bytes, the limit is {max_bytes}", 1, 1
        )
    # Scanned the cheap way: ASCII-compatible input without the word DOCTYPE anywhere;
    # everything else goes through the careful prolog scan.
    scanned = raw[:1] == b"<" and raw[1:2] != b"\x00" and raw.find(b"<!DOCTYPE") < 0
    if not scanned:
        where = _doctype(raw)
        if where is not None:
            raise ParseFailure("doctype-forbidden", "DOCTYPE declarations are not allowed", *where)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError:
        raise _syntax_failure(raw, force_utf8) from None
    except ValueError as exc:  # e.g. a str with an encoding declaration lxml refuses
        raise ParseFailure("xml-malformed", str(exc), 1, 1) from None
    if not scanned and raw[:1] not in _SCANNED_STARTS:
        # an encoding the prolog scan cannot read (EBCDIC...): ask lxml
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None:
            raise ParseFailure("doctype-forbidden", "DOCTYPE declarations are not allowed", 1, 1)
    return root, data


_TOKENS = re.compile(
    r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>"
    r"|<(?P<tag>[^\s/>!?][^\s/>]*)"
    r"(?P<attrs>(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*/?>",
    re.DOTALL,
)
_ATTR = re.compile(r"([^\s=/>]+)\s*=\s*(?:\"[^\"]*\"|'[^']*')")


class Locator:
    """Line and column (1-based, in characters) of start tags, attributes and text."""

    def __init__(self, source: bytes | str, encoding: str | None = None) -> None:
        if isinstance(source, bytes):
            codec = (encoding or "utf-8").lower()
            if codec in ("utf-8", "utf8") and source.startswith(b"\xef\xbb\xbf"):
                codec = "utf-8-sig"
            try:
                text = source.decode(codec, "replace")
            except LookupError:
                text = source.decode("utf-8", "replace")
        else:
            text = source
        self.text = text

    @cached_property
    def _line_starts(self) -> list[int]:
        return [0] + [m.end() for m in re.finditer("\n", self.text)]

    @cached_property
    def _tags(self) -> list[re.Match[str]]:
        return [m for m in _TOKENS.finditer(self.text) if m.group("tag") is not None]

    def position(self, offset: int) -> tuple[int, int]:
        starts = self._line_starts
        i = bisect.bisect_right(starts, offset) - 1
        return i + 1, offset - starts[i] + 1

    def element(self, index: int) -> tuple[int, int] | None:
        """The ``<`` of the ``index``-th start tag (document order, from 0)."""
        tags = self._tags
        if index >= len(tags):
            return None
        return self.position(tags[index].start())

    def attribute(self, index: int, name: str) -> tuple[int, int] | None:
        """The name of attribute ``name`` (qualified, e.g. ``xml:lang``) of a start tag."""
        tags = self._tags
        if index >= len(tags):
            return None
        m = tags[index]
        local = name.rpartition(":")[2]
        fallback = None
        for a in _ATTR.finditer(m.group("attrs")):
            if a.group(1) == name:
                return self.position(m.start("attrs") + a.start())
            if fallback is None and a.group(1).rpartition(":")[2] == local:
                fallback = self.position(m.start("attrs") + a.start())
        return fallback

    def text_after(self, index: int, snippet: str) -> tuple[int, int] | None:
        """The first occurrence of ``snippet`` after the start of the ``index``-th tag."""
        tags = self._tags
        start = tags[index].end() if index < len(tags) else 0
        found = self.text.find(snippet, start)
        return None if found < 0 else self.position(found)
