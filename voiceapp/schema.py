"""The one table of the voice dialect: every element, its attributes, children and text.

Everything else reads this module: the builder derives its method and keyword names
from the XML names here, the parser and linter check documents against it, the docs
table is generated from it and the dialer reads its defaults (``Pause.length`` is 1).
A rule written here is written nowhere else.

Value types are small objects.  Each converts a Python value to the XML text it is
written as (:meth:`ValueType.format`) and XML text to a typed Python value
(:meth:`ValueType.parse`); both raise :class:`InvalidValue` with a reason a person
can act on.

Facts come from Twilio's public TwiML reference (ranges, enums, defaults); where the
reference gives no range, none is invented.
"""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, get_args

from voiceapp.errors import InvalidValue

__all__ = [
    "DTMF_MAX_LENGTH",
    "DTMF_TONES",
    "DTMF_TONE_MS_RANGE",
    "DTMF_WAITS",
    "ELEMENTS",
    "HTTP_METHODS",
    "NATIONAL_NUMBER_REGION",
    "ROOT",
    "SAY_LIMITS",
    "VOICE_LANGUAGES",
    "Apart",
    "AtMost",
    "Attr",
    "Bool",
    "Digits",
    "Duration",
    "Element",
    "Enum",
    "HttpMethod",
    "Int",
    "Keys",
    "List",
    "Method",
    "NeedsText",
    "OneOf",
    "Pattern",
    "PercentRange",
    "Rule",
    "Severity",
    "Text",
    "TextLimit",
    "Url",
    "ValueType",
    "VoiceLanguage",
    "check_chars",
    "check_digits",
    "python_name",
    "voice_family",
    "voice_languages",
]

FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 cannot carry at all (not even as character references)."""


def check_chars(text: str) -> None:
    """Refuse characters that XML 1.0 cannot carry (raises ``control-char``)."""
    bad = FORBIDDEN_CHARS.search(text)
    if bad is not None:
        raise InvalidValue(
            f"character U+{ord(bad.group()):04X} at index {bad.start()} cannot be written in XML",
            code="control-char",
            index=bad.start(),
        )


_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z])")
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


def python_name(xml_name: str) -> str:
    """The Python name derived from an XML name: ``sendDigits`` -> ``send_digits``,
    ``say-as`` -> ``say_as``, ``xml:lang`` -> ``xml_lang``, ``for`` -> ``for_``."""
    name = _CAMEL_HUMP.sub(r"_\1", xml_name)
    name = _NOT_IDENTIFIER.sub("_", name).lower()
    return name + "_" if keyword.iskeyword(name) else name


# --------------------------------------------------------------------------- value types


class ValueType:
    """Base of the value types: converts and explains.  A value type holds only its
    parameters: it remembers nothing between calls."""

    kind: ClassVar[str] = "value"
    accepts: Callable[[str], object] | None = None
    """A cheap test (a C function where there is one, fixed when the type is made):
    text it answers true for is valid (:meth:`parse` would accept it); a false answer
    decides nothing, :meth:`parse` does.  The builder and the linter ask it first: a
    bound ``fullmatch``/``__contains__`` is one C call, ``parse()`` a Python call
    around the same test (figures where they are asked)."""

    def parse(self, text: str) -> Any:
        """XML text -> typed value; raises :class:`InvalidValue`."""
        return text

    def format(self, value: Any) -> str:
        """A Python value (or its XML text) -> the XML text; raises :class:`InvalidValue`."""
        text = value if isinstance(value, str) else self._format(value)
        self.parse(text)
        return text

    def _format(self, value: Any) -> str:
        """The XML text of a Python value that is not a str (checked by the caller)."""
        raise self._refused(value)

    def _refused(self, value: Any) -> InvalidValue:
        return InvalidValue(f"expected {self.describe()}, got {type(value).__name__} {value!r}")

    def describe(self) -> str:
        raise NotImplementedError


class Text(ValueType):
    """Any text (characters XML cannot carry are refused everywhere, not here)."""

    kind = "text"

    def __init__(self, description: str = "text", *, nonempty: bool = False) -> None:
        self.description = description
        self.nonempty = nonempty
        self.accepts = str.strip  # non-blank text is valid either way

    def parse(self, text: str) -> str:
        if self.nonempty and not text.strip():
            raise InvalidValue(f"expected {self.description}, got an empty value")
        return text

    def _format(self, value: Any) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise self._refused(value)

    def describe(self) -> str:
        return self.description


class Int(ValueType):
    """A decimal integer in ``[lo, hi]`` (``hi`` None: no upper bound)."""

    kind = "int"
    _RE = re.compile(r"[+-]?[0-9]{1,18}")

    def __init__(self, lo: int, hi: int | None = None) -> None:
        self.lo = lo
        self.hi = hi

    def parse(self, text: str) -> int:
        # plain ASCII digits, the common case, without the pattern (about 3x the cost
        # of these two tests)
        plain = text.isascii() and text.isdigit() and len(text) <= 18
        if not plain and self._RE.fullmatch(text) is None:
            raise InvalidValue(f"expected an integer, got {text!r}")
        return self._in_range(int(text))

    def format(self, value: Any) -> str:
        if value.__class__ is int:  # not a bool, which is an int too
            return str(self._in_range(value))
        return super().format(value)

    def _in_range(self, value: int) -> int:
        if value < self.lo or (self.hi is not None and value > self.hi):
            raise InvalidValue(f"{value} is out of range, expected {self.describe()}")
        return value

    def describe(self) -> str:
        if self.hi is None:
            return f"integer >= {self.lo}"
        return f"integer {self.lo}-{self.hi}"


class Enum(ValueType):
    """One of a fixed set of strings (case-sensitive)."""

    kind = "enum"

    def __init__(self, *values: str) -> None:
        self.values = values
        self._set = frozenset(values)
        self.accepts = self._set.__contains__

    def parse(self, text: str) -> str:
        if text not in self._set:
            raise InvalidValue(f"{text!r} is not one of {', '.join(self.values)}")
        return text

    def describe(self) -> str:
        return "one of " + ", ".join(f"`{v}`" for v in self.values)


#: An HTTP method for a callback or a document fetch.
HttpMethod = Literal["GET", "POST"]
#: The values of :data:`HttpMethod`: what ``method`` attributes, the call API's ``method``
#: and ``statusCallbackMethod`` accept.
HTTP_METHODS: Final[tuple[HttpMethod, ...]] = get_args(HttpMethod)


class Method(Enum):
    """An HTTP method for a callback: one of :data:`HTTP_METHODS` (GET or POST)."""

    def __init__(self) -> None:
        super().__init__(*HTTP_METHODS)


class Bool(ValueType):
    """``true`` or ``false``."""

    kind = "bool"
    accepts = frozenset(("true", "false")).__contains__

    def parse(self, text: str) -> bool:
        if text == "true":
            return True
        if text == "false":
            return False
        raise InvalidValue(f"expected true or false, got {text!r}")

    def _format(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        raise self._refused(value)

    def describe(self) -> str:
        return "`true` or `false`"


class Url(ValueType):
    """An absolute URL with one of ``schemes``, or (when ``relative``) a relative reference."""

    kind = "url"
    _SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
    _SPACE = re.compile(r"\s")

    def __init__(
        self,
        schemes: Sequence[str] = ("http", "https"),
        *,
        relative: bool = True,
        empty: bool = False,
    ) -> None:
        self.schemes = tuple(schemes)
        self.relative = relative
        self.empty = empty
        """The empty string is accepted and means "none" (Twilio error 13233: a
        ``waitUrl`` is "a well formed URL or the empty string")."""
        # what parse() accepts, in one test: a path or scheme://host..., printable ASCII
        absolute = "(?:" + "|".join(re.escape(s) for s in self.schemes) + ")://[!-~]+"
        quick = f"/[!-~]*|{absolute}" if relative else absolute
        self.accepts = re.compile(quick, re.IGNORECASE | re.ASCII).fullmatch

    def parse(self, text: str) -> str:
        if not text:
            if self.empty:
                return text
            raise InvalidValue("expected a URL, got an empty value")
        # a URL with no whitespace is printable with no space (whitespace other than
        # the space is not printable); a test that is cheaper than the search
        if " " in text or not text.isprintable():
            space = self._SPACE.search(text)
            if space is not None:
                raise InvalidValue(f"a URL cannot contain whitespace (index {space.start()})")
        if text[0] == "/" and self.relative:
            return text  # a relative reference: no scheme
        scheme = self._SCHEME.match(text)
        if scheme is None:
            if not self.relative:
                raise InvalidValue(f"expected an absolute {'/'.join(self.schemes)} URL")
            return text
        if scheme.group(1).lower() not in self.schemes:
            raise InvalidValue(
                f"URL scheme {scheme.group(1)!r} is not allowed, expected {'/'.join(self.schemes)}"
            )
        if not text[scheme.end() :].startswith("//") or len(text) <= scheme.end() + 2:
            raise InvalidValue(f"{text!r} has no host")
        return text

    def describe(self) -> str:
        what = "absolute " if not self.relative else ""
        tail = " or relative" if self.relative else ""
        empty = ", or empty for none" if self.empty else ""
        return f"{what}{'/'.join(self.schemes)} URL{tail}{empty}"


class Pattern(ValueType):
    """Text matching a regular expression, with a human description."""

    kind = "pattern"

    def __init__(self, regex: str, description: str) -> None:
        self.regex = re.compile(regex)
        self.description = description
        self.accepts = self.regex.fullmatch

    def parse(self, text: str) -> str:
        if not self.regex.fullmatch(text):
            raise InvalidValue(f"expected {self.description}, got {text!r}")
        return text

    def _format(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise self._refused(value)

    def describe(self) -> str:
        return self.description


class Keys(ValueType):
    """A set of keypad keys (``0-9``, ``*``, ``#``), at most ``max_keys`` of them."""

    kind = "keys"
    KEYS: ClassVar[str] = "0123456789*#"

    def __init__(self, max_keys: int | None = None, *, empty: bool = True) -> None:
        self.max_keys = max_keys
        self.empty = empty
        most = "" if max_keys is None else max_keys
        self.accepts = re.compile(f"[0-9*#]{{{0 if empty else 1},{most}}}").fullmatch

    def parse(self, text: str) -> str:
        if not text and not self.empty:
            raise InvalidValue("expected at least one key")
        for i, ch in enumerate(text):
            if ch not in self.KEYS:
                raise InvalidValue(f"{ch!r} at index {i} is not a key (0-9, *, #)", index=i)
        if self.max_keys is not None and len(text) > self.max_keys:
            raise InvalidValue(f"at most {self.max_keys} key(s), got {len(text)}")
        return text

    def describe(self) -> str:
        many = "one key" if self.max_keys == 1 else "keys"
        empty = " or empty" if self.empty else ""
        return f"{many} from `0-9 * #`{empty}"


# The digit grammar (``senddigits``, ``sendDigits``, ``<Play digits>``)::
#
#     digits := symbol+ [ "@" ms ]
#     symbol := "0".."9" | "*" | "#" | "A".."D"     a tone
#             | "w" | "W"                           a wait (0.5 s, 1 s)
#
# It is a value type's grammar like the others, so it lives here, in the lowest layer;
# voiceapp.dtmf checks digit strings with check_digits() and lays them out in time.

#: The sixteen DTMF symbols, in RFC 4733 event-code order (0-9, *, #, A-D).
DTMF_TONES: Final = "0123456789*#ABCD"
#: The wait characters: ``w`` waits 0.5 s, ``W`` 1 s.
DTMF_WAITS: Final = "wW"
#: Accepted tone length in milliseconds (the ``@ms`` suffix, Plivo style): the W3C
#: insertDTMF bounds, 40 ms (the ITU-T Q.24 recognition minimum) to 6000 ms.
DTMF_TONE_MS_RANGE: Final = (40, 6000)
#: Default maximum length of a digit string, in characters (suffix included).
DTMF_MAX_LENGTH: Final = 256

_DIGITS_ALLOWED = "0-9 * # A-D w W"
_DIGITS_VALID = re.compile(r"[0-9A-D*#wW]+(?:@[0-9]{1,6})?")
_DIGIT_SYMBOLS = frozenset(DTMF_TONES + DTMF_WAITS)


def check_digits(text: str, max_length: int = DTMF_MAX_LENGTH) -> None:
    """Check a digit string against the grammar; raises :class:`InvalidValue` with
    the code (``digits-empty``, ``digits-bad-char``, ``digits-bad-suffix``,
    ``digits-too-long``) and the index of the first problem."""
    if len(text) > max_length:
        for index, char in enumerate(text[:max_length]):
            if char not in _DIGIT_SYMBOLS and char != "@":
                _diagnose_digits(text[: index + 1])  # an earlier bad character wins
        raise InvalidValue(
            f"digit string is {len(text)} characters long, the limit is {max_length}",
            code="digits-too-long",
            index=max_length,
        )
    if _DIGITS_VALID.fullmatch(text) is None:
        _diagnose_digits(text)  # always raises
    at = text.find("@")
    if at >= 0:
        tone_ms = int(text[at + 1 :])
        low, high = DTMF_TONE_MS_RANGE
        if not low <= tone_ms <= high:
            raise InvalidValue(
                f"tone length @{tone_ms} ms is outside {low}-{high} ms",
                code="digits-bad-suffix",
                index=at + 1,
            )


def _diagnose_digits(text: str) -> None:
    """Slow path: find the first problem in a string the fast regex refused."""
    if not text:
        raise InvalidValue("digit string is empty", code="digits-empty", index=0)
    for index, char in enumerate(text):
        if char in _DIGIT_SYMBOLS:
            continue
        if char == "@":
            _diagnose_digits_suffix(text, index)
        hint = ""
        if char in "abcd":
            hint = f" (tones A-D are upper case: {char.upper()!r})"
        elif char in ",pP":
            hint = " (use 'w' for a 0.5 s wait or 'W' for 1 s)"
        raise InvalidValue(
            f"{char!r} is not a DTMF symbol; allowed: {_DIGITS_ALLOWED}{hint}",
            code="digits-bad-char",
            index=index,
        )
    raise AssertionError(f"unreachable: {text!r} passed every check")  # pragma: no cover


def _diagnose_digits_suffix(text: str, at: int) -> None:
    if at == 0:
        raise InvalidValue("no digits before the '@' tone length", code="digits-empty", index=0)
    number = text[at + 1 :]
    if not number:
        raise InvalidValue(
            "'@' must be followed by a tone length in milliseconds, e.g. '123@200'",
            code="digits-bad-suffix",
            index=at,
        )
    for offset, char in enumerate(number):
        if not "0" <= char <= "9":
            raise InvalidValue(
                f"tone length after '@' must be a whole number of milliseconds, got {char!r}",
                code="digits-bad-suffix",
                index=at + 1 + offset,
            )
    # Only digits, but too many of them for the fast path: out of range.
    low, high = DTMF_TONE_MS_RANGE
    raise InvalidValue(
        f"tone length @{number} ms is outside {low}-{high} ms",
        code="digits-bad-suffix",
        index=at + 1,
    )


class Digits(ValueType):
    """A DTMF digit string (``0-9 * # A-D``, ``w`` = 0.5 s wait, ``W`` = 1 s), checked by
    :func:`check_digits`; the value is the digit text."""

    kind = "digits"
    accepts = re.compile(f"[0-9A-D*#wW]{{1,{DTMF_MAX_LENGTH}}}").fullmatch  # no @ suffix

    def parse(self, text: str) -> str:
        try:
            check_digits(text)
        except InvalidValue as exc:
            raise InvalidValue(
                f"bad DTMF digits at index {exc.index}: {exc.message}",
                code="bad-digits",
                index=exc.index,
            ) from None
        return text

    def _format(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        raise self._refused(value)

    def describe(self) -> str:
        return "DTMF digits `0-9 * # A-D`, `w` waits 0.5 s, `W` 1 s"


class Duration(ValueType):
    """A time like ``500ms`` or ``2s``; the value is in milliseconds."""

    kind = "duration"
    _RE = re.compile(r"([0-9]{1,9})(ms|s)")

    def __init__(self, max_ms: int | None = None) -> None:
        self.max_ms = max_ms

    def parse(self, text: str) -> int:
        m = self._RE.fullmatch(text)
        if m is None:
            raise InvalidValue(f"expected a duration like 500ms or 2s, got {text!r}")
        ms = int(m.group(1)) * (1 if m.group(2) == "ms" else 1000)
        if self.max_ms is not None and ms > self.max_ms:
            raise InvalidValue(f"{text} is longer than the maximum {self.max_ms}ms")
        return ms

    def _format(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value}ms"
        raise self._refused(value)

    def describe(self) -> str:
        most = f", at most {self.max_ms}ms" if self.max_ms is not None else ""
        return f"duration like `500ms` or `2s`{most}"


class List(ValueType):
    """A space-separated list of items of one type, without repeats; the value is a tuple."""

    kind = "list"

    def __init__(self, item: ValueType, *, min_items: int = 1) -> None:
        self.item = item
        self.min_items = min_items

    def parse(self, text: str) -> tuple[Any, ...]:
        parts = text.split(" ")
        if parts == [""]:
            parts = []
        if len(parts) < self.min_items:
            raise InvalidValue(f"expected at least {self.min_items} item(s)")
        values = []
        for part in parts:
            if not part:
                raise InvalidValue(f"items are separated by single spaces: {text!r}")
            values.append(self.item.parse(part))
        if len(set(parts)) != len(parts):
            raise InvalidValue(f"repeated item in {text!r}")
        return tuple(values)

    def _format(self, value: Any) -> str:
        if isinstance(value, Iterable):
            parts = [self.item.format(v) for v in value]
            return " ".join(parts)
        raise self._refused(value)

    def describe(self) -> str:
        return f"space-separated list of {self.item.describe()}"


# --------------------------------------------------------------------------- structural rules

Severity = Literal["error", "warning"]


class Rule:
    """A rule about an element as a whole (its attributes, children and text together),
    checked once the element is complete: by the linter's walk and by ``to_xml()``.

    :meth:`check` reads plain data, so the linter (lxml elements) and the builder (nodes)
    apply the same rule: ``attrs`` (XML name -> text), ``children`` (the tags of the child
    elements, in order) and ``text`` (the element's text, stripped; for ``mixed``
    elements all the text inside, SSML included).  It returns the message of the
    problem, or None.  Errors make a document invalid; warnings (what Twilio only warns
    about) are reported with the same codes and locations and fail only ``--strict``."""

    code: ClassVar[str] = "bad-content"
    severity: ClassVar[Severity] = "error"
    attribute: str | None = None
    """The attribute a problem is located at, when it is about one."""

    def check(
        self, element: Element, attrs: Mapping[str, str], children: Sequence[str], text: str
    ) -> str | None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def kept_by_text(self) -> bool:
        """Whether any element with non-blank text and no child elements keeps this rule,
        whatever its attributes (so checkers may skip it for such leaves)."""
        return False

    def kept_by_one_child(self, tag: str) -> bool:
        """Whether any element whose one child element is a ``tag`` keeps this rule,
        whatever its attributes and text."""
        return False

    def kept_by_short_leaf(self) -> tuple[int, frozenset[str]] | None:
        """``(n, names)`` when any element with no child elements, at most ``n``
        characters of text and none of the attributes ``names`` keeps this rule (so
        checkers may skip it for such leaves); None when there is no such promise."""
        return None


def _tags(names: Sequence[str]) -> str:
    return " or ".join(f"`<{n}>`" for n in names)


class OneOf(Rule):
    """At least one of: the text (``"#text"``), an attribute (``"@digits"``), a child
    element by tag (``"Number"``) or any child element (``"*"``)."""

    code = "missing-content"

    def __init__(self, *needs: str) -> None:
        self.needs = needs
        self.text = "#text" in needs
        self.any_child = "*" in needs
        self.attrs = tuple(n[1:] for n in needs if n.startswith("@"))
        self.tags = frozenset(n for n in needs if n[0] not in "#@*")

    def check(
        self, element: Element, attrs: Mapping[str, str], children: Sequence[str], text: str
    ) -> str | None:
        if self.text and text:
            return None
        if children and (self.any_child or not self.tags.isdisjoint(children)):
            return None
        for name in self.attrs:
            if attrs.get(name):
                return None
        return f"<{element.name}> {self.describe()}"

    def kept_by_text(self) -> bool:
        return self.text

    def kept_by_one_child(self, tag: str) -> bool:
        return self.any_child or tag in self.tags

    def describe(self) -> str:
        parts = []
        for need in self.needs:
            if need == "#text":
                parts.append("text")
            elif need == "*":
                parts.append("a child element")
            elif need.startswith("@"):
                parts.append(f"the attribute `{need[1:]}`")
            else:
                parts.append(f"{'an' if need[0] in 'AEIOU' else 'a'} `<{need}>`")
        return "needs " + " or ".join(parts)


class NeedsText(OneOf):
    """Text somewhere inside (for ``mixed`` elements, SSML included)."""

    code = "missing-text"

    def __init__(self) -> None:
        super().__init__("#text")


class AtMost(Rule):
    """At most ``most`` child elements with these tags (``"*"``: any)."""

    code = "too-many-children"

    def __init__(self, most: int, *tags: str) -> None:
        self.most = most
        self.tags = tags
        self._set = frozenset(tags)

    def check(
        self, element: Element, attrs: Mapping[str, str], children: Sequence[str], text: str
    ) -> str | None:
        if len(children) <= self.most:
            return None
        found = children if "*" in self._set else [c for c in children if c in self._set]
        if len(found) <= self.most:
            return None
        return f"<{element.name}> takes {self.describe()}, found {len(found)}"

    def kept_by_text(self) -> bool:
        return True

    def kept_by_one_child(self, tag: str) -> bool:
        return self.most >= 1

    def describe(self) -> str:
        what = "child element" if "*" in self._set else _tags(self.tags)
        return f"at most {self.most} {what}{'s' if self.most != 1 and '*' in self._set else ''}"


class Apart(Rule):
    """Children with tags in ``first`` and children with tags in ``second`` cannot be
    mixed in one element."""

    code = "children-conflict"

    def __init__(self, first: Sequence[str], second: Sequence[str]) -> None:
        self.first = tuple(first)
        self.second = tuple(second)
        self._first = frozenset(first)
        self._second = frozenset(second)

    def check(
        self, element: Element, attrs: Mapping[str, str], children: Sequence[str], text: str
    ) -> str | None:
        if len(children) < 2:
            return None
        a = next((c for c in children if c in self._first), None)
        b = next((c for c in children if c in self._second), None)
        if a is None or b is None:
            return None
        return f"<{a}> cannot be mixed with <{b}> in one <{element.name}>"

    def kept_by_text(self) -> bool:
        return True

    def kept_by_one_child(self, tag: str) -> bool:
        return True

    def describe(self) -> str:
        return f"{_tags(self.first)} cannot be mixed with {_tags(self.second)}"


def voice_family(voice: str) -> str:
    """``basic`` (``man``, ``woman``, ``alice``), ``Polly`` or ``Google``."""
    head, dot, _ = voice.partition(".")
    return head if dot and head in ("Polly", "Google") else "basic"


class TextLimit(Rule):
    """Twilio warns when a ``<Say>`` is longer than its voice can speak at once."""

    code = "say-too-long"
    severity = "warning"

    def __init__(self, limits: Mapping[str, int]) -> None:
        self.limits = dict(limits)
        self.shortest = min(self.limits.values())

    def check(
        self, element: Element, attrs: Mapping[str, str], children: Sequence[str], text: str
    ) -> str | None:
        if len(text) <= self.shortest:
            return None
        voice = attrs.get("voice") or element.attr_map["voice"].default or ""
        family = voice_family(voice)
        limit = self.limits[family]
        if len(text) <= limit:
            return None
        return f"<{element.name}> text is {len(text)} characters; {family} voices speak {limit}"

    def kept_by_short_leaf(self) -> tuple[int, frozenset[str]]:
        return self.shortest, frozenset()

    def describe(self) -> str:
        each = ", ".join(f"{n:,} for {family}" for family, n in self.limits.items())
        return f"text longer than the voice speaks at once ({each} voices)"


_LANGUAGE_ALIASES: Final[Mapping[str, str]] = {"cmn": "zh", "yue": "zh", "arb": "ar", "no": "nb"}


def _primary(tag: str) -> str:
    head = tag.partition("-")[0].lower()
    return _LANGUAGE_ALIASES.get(head, head)


class VoiceLanguage(Rule):
    """Twilio warns when a ``<Say>``'s ``language`` is one its ``voice`` does not speak.
    Languages are compared by their primary subtag (``en-GB`` text is fine for an
    ``en-US`` voice); voices not in :data:`VOICE_LANGUAGES` (and not ``Google.<tag>-...``)
    are not checked."""

    code = "voice-language"
    severity = "warning"
    attribute = "language"

    def check(
        self, element: Element, attrs: Mapping[str, str], children: Sequence[str], text: str
    ) -> str | None:
        language = attrs.get("language")
        if language is None:
            return None
        voice = attrs.get("voice") or element.attr_map["voice"].default or ""
        spoken = voice_languages(voice)
        if spoken is None or _primary(language) in spoken:
            return None
        return f"voice {voice!r} does not speak {language!r}"

    def kept_by_short_leaf(self) -> tuple[int, frozenset[str]]:
        return sys.maxsize, frozenset(["language"])

    def describe(self) -> str:
        return "a `language` the `voice` does not speak"


class PercentRange(Rule):
    """Twilio warns when a percentage attribute (``<prosody rate="300%">``) is out of
    the range it supports; the attribute's type still decides what is well formed."""

    code = "prosody-rate"
    severity = "warning"

    def __init__(self, attr: str, lo: int, hi: int) -> None:
        self.attr = attr
        self.attribute = attr
        self.lo = lo
        self.hi = hi

    def check(
        self, element: Element, attrs: Mapping[str, str], children: Sequence[str], text: str
    ) -> str | None:
        value = attrs.get(self.attr)
        if value is None or not value.endswith("%"):
            return None
        try:
            n = float(value[:-1])
        except ValueError:
            return None
        if self.lo <= n <= self.hi:
            return None
        return f"{self.attr}: {value} is outside {self.lo}%-{self.hi}%"

    def kept_by_short_leaf(self) -> tuple[int, frozenset[str]]:
        return sys.maxsize, frozenset([self.attr])

    def describe(self) -> str:
        return f"`{self.attr}` outside {self.lo}%-{self.hi}%"


#: Twilio's text limits of one ``<Say>``, by voice family (Twilio warns beyond them).
SAY_LIMITS: Final[Mapping[str, int]] = {"basic": 4096, "Polly": 3000, "Google": 5000}

#: The primary languages each voice speaks: the basic voices, and Amazon Polly's
#: voices by name (accents folded, ``-Neural``/``-Generative`` suffixes left out).
#: ``Google.<language>-...`` voices name their language.
_VOICES_BY_LANGUAGE = """
en es fr de: man woman
da de en ca es fi fr it ja ko nb nl pl pt ru sv zh: alice
en: Ivy Joanna Joey Justin Kendra Kevin Kimberly Matthew Salli Ruth Stephen Danielle Gregory
en: Patrick Amy Brian Emma Arthur Nicole Russell Olivia Raveena Geraint Aria Ayanda Niamh Jasmine
en hi: Aditi Kajal
fr: Celine Mathieu Lea Remi Chantal Gabrielle Liam Isabelle
de: Hans Marlene Vicki Daniel Hannah
es: Conchita Enrique Lucia Sergio Mia Andres Penelope Miguel Lupe Pedro Alba Raul
it: Carla Giorgio Bianca Adriano
ja: Mizuki Takumi Kazuha Tomoko
ko: Seoyeon Jihye
zh: Zhiyu Hiujin
pt: Camila Ricardo Vitoria Thiago Cristiano Ines
nl: Lotte Ruben Laura Lisa
da: Naja Mads Sofie
nb: Liv Ida
pl: Ewa Jacek Jan Maja Ola
ru: Maxim Tatyana
sv: Astrid Elin
tr: Filiz Burcu
ro: Carmen
cy: Gwyneth
is: Dora Karl
ar: Zeina Hala Zayd
fi: Suvi
"""

VOICE_LANGUAGES: Final[Mapping[str, frozenset[str]]] = {
    voice: frozenset(languages.split())
    for languages, _, voices in (
        line.partition(":") for line in _VOICES_BY_LANGUAGE.strip().splitlines()
    )
    for voice in voices.split()
}


def voice_languages(voice: str) -> frozenset[str] | None:
    """The primary languages ``voice`` speaks; None when the table does not know it."""
    family = voice_family(voice)
    if family == "basic":
        return VOICE_LANGUAGES.get(voice)
    name = voice.partition(".")[2]
    if family == "Google":
        return frozenset([_primary(name)]) if "-" in name else None
    base = unicodedata.normalize("NFKD", name.partition("-")[0])
    return VOICE_LANGUAGES.get(base.encode("ascii", "ignore").decode())


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute: XML name, value type, default (as XML text), whether required."""

    name: str
    type: ValueType
    default: str | None = None
    required: bool = False
    doc: str = ""

    @property
    def python_name(self) -> str:
        return python_name(self.name)

    @property
    def default_value(self) -> Any:
        """The default as a typed value (None when there is none)."""
        return None if self.default is None else self.type.parse(self.default)


Kind = Literal["root", "verb", "noun", "ssml"]


@dataclass(eq=False, slots=True)
class Element:
    """One element of the dialect.  ``key`` is unique; ``name`` is the XML tag (two
    elements may share a tag in different parents, like ``<Sip>`` in ``<Dial>`` and in
    ``<Refer>``).  ``text`` is the type of the element's text, None when it takes none."""

    key: str
    name: str
    kind: Kind
    doc: str
    attrs: tuple[Attr, ...] = ()
    children: tuple[str, ...] = ()
    text: ValueType | None = None
    text_required: bool = False
    mixed: bool = False
    """Free text and child elements interleave (``<Say>`` and SSML); otherwise the text,
    joined and stripped, is one value of type ``text``."""
    rules: tuple[Rule, ...] = ()
    """Rules about the element as a whole (at least one of, at most N, children that
    cannot be mixed, warnings), checked once it is complete."""
    notes: tuple[str, ...] = ()
    """Why a form is accepted where Twilio's docs are silent (shown in the reference)."""
    # the schema's own index, filled in by _index() from the fields above
    attr_map: dict[str, Attr] = field(default_factory=dict, repr=False)
    """Attributes by XML name."""
    child_map: dict[str, Element] = field(default_factory=dict, repr=False)
    """Child elements by XML tag."""
    required_attrs: tuple[Attr, ...] = field(default=(), repr=False)

    @property
    def python_name(self) -> str:
        return python_name(self.name)


# shared attribute groups -----------------------------------------------------

_URL = Url()
_METHOD = Method()
_LANGUAGE = Pattern(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", "BCP-47 language tag like `en-US`")
_PHONE = Pattern(
    r"\+?[0-9(][0-9 ()./\-]{0,30}",
    "phone number, E.164 recommended (or a US number like `(415) 555-1212`)",
)
_SIP_URI = Pattern(r"sips?:[^\s<>\"]+", "SIP URI like `sip:alice@example.com`")
_SIP_ADDRESS = Pattern(
    r"sips?:[^\s<>\"]+|[^\s<>\"@:;]+@[^\s<>\"@]+",
    "SIP URI like `sip:alice@example.com` (or `alice@example.com`, read as `sip:`)",
)
_TRIM = Enum("trim-silence", "do-not-trim")
_TRACK = Enum("inbound_track", "outbound_track", "both_tracks")
#: Where a national number in a ``<Dial>`` or ``<Number>`` is read when no region is
#: configured: Twilio's ``<Number>`` docs accept unformatted US numbers.
NATIONAL_NUMBER_REGION: Final = "US"
_CALL_EVENTS = List(Enum("initiated", "ringing", "answered", "completed"))
_RECORDING_EVENTS = List(Enum("in-progress", "completed", "absent"))
_NAME = Text("name", nonempty=True)


def _a(name: str, type_: ValueType, default: str | None = None, doc: str = "") -> Attr:
    return Attr(name, type_, default, False, doc)


def _req(name: str, type_: ValueType, doc: str = "") -> Attr:
    return Attr(name, type_, None, True, doc)


def _method(name: str = "method", doc: str = "HTTP method for the URL") -> Attr:
    return _a(name, _METHOD, "POST", doc)


_ACTION = (_a("action", _URL, doc="URL requested when the verb ends"), _method())
_STATUS = (
    _a("url", _URL, doc="TwiML run on the called party before bridging (whisper)"),
    _method(),
    _a("statusCallbackEvent", _CALL_EVENTS, "completed", "call progress events to report"),
    _a("statusCallback", _URL, doc="URL for call progress events"),
    _method("statusCallbackMethod", "HTTP method for statusCallback"),
)
_AMD = (
    _a("machineDetection", Enum("Enable", "DetectMessageEnd"), doc="answering machine detection"),
    _method("amdStatusCallbackMethod", "HTTP method for amdStatusCallback"),
    _a("amdStatusCallback", _URL, doc="URL for the detection result"),
    _a("machineDetectionTimeout", Int(3, 60), "30", "seconds to decide"),
    _a("machineDetectionSpeechThreshold", Int(1000, 6000), "2400", "ms of speech = machine"),
    _a("machineDetectionSpeechEndThreshold", Int(500, 5000), "1200", "ms of silence after speech"),
    _a("machineDetectionSilenceTimeout", Int(2000, 10000), "5000", "ms of initial silence"),
)
_RECORDING_STATUS = (
    _a("recordingStatusCallback", _URL, doc="URL for recording status"),
    _method("recordingStatusCallbackMethod", "HTTP method for recordingStatusCallback"),
    _a("recordingStatusCallbackEvent", _RECORDING_EVENTS, "completed", "recording events"),
)
_PARAM = ("Parameter",)
_URL_OR_NONE = Url(empty=True)
_STREAM = (
    _a("name", _NAME, doc="name used to stop it"),
    _a("connectorName", Text(), doc="stream connector"),
    _a("url", Url(("ws", "wss"), relative=False), doc="WebSocket URL"),
    _a("track", _TRACK, "inbound_track", "tracks to stream"),
    _a("statusCallback", _URL, doc="URL for stream events"),
    _method("statusCallbackMethod", "HTTP method for statusCallback"),
    _a("audioFormat", Text("audio format name", nonempty=True), doc="audio format of the stream"),
    _a("sampleRate", Int(1), doc="sample rate in Hz (HD codecs)"),
)
_TEXT_NORMALIZATION = Enum("auto", "on", "off")
_SSML_ALL = ("break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w")
_SSML_INLINE = ("break", "emphasis", "lang", "phoneme", "prosody", "say-as", "sub", "w")
_SSML_WORD = ("break", "emphasis", "phoneme", "prosody", "say-as", "sub")
_WORDS = Text("words")

_E = Element

# fmt: off
_TABLE: tuple[Element, ...] = (
    _E(
        "Response", "Response", "root", "the document root; its verbs run in order",
        children=(
            "Connect", "Dial", "Echo", "Enqueue", "Gather", "Hangup", "Leave", "Pause", "Pay",
            "Play", "Record", "Redirect", "Refer", "Reject", "Say", "Sms", "Start", "Stop",
        ),
    ),
    # ------------------------------------------------------------------ verbs
    _E(
        "Say", "Say", "verb", "speaks text (and SSML) to the caller",
        attrs=(
            _a("voice", Pattern(
                r"man|woman|alice|(Polly|Google)\.[^\W_][\w.\-]*",
                "`man`, `woman`, `alice`, `Polly.<voice>` or `Google.<voice>`",
            ), "man", "text-to-speech voice"),
            _a("loop", Int(0, 1000), "1", "times to repeat; 0 repeats until hangup (1000 max)"),
            _a("language", _LANGUAGE, "en-US", "language of the text"),
        ),
        children=_SSML_ALL, text=Text("text to speak"), mixed=True,
        rules=(NeedsText(), TextLimit(SAY_LIMITS), VoiceLanguage()),
        notes=("Polly voice names may carry non-ASCII letters (`Polly.Mía-Generative`, "
               "`Polly.Rémi-Generative`, as in twilio-java's voice enum).",),
    ),
    _E(
        "Play", "Play", "verb", "plays an audio file, or DTMF tones with `digits`",
        attrs=(
            _a("loop", Int(0, 1000), "1", "times to repeat; 0 repeats until hangup (1000 max)"),
            _a("digits", Digits(), doc="DTMF tones to play instead of audio"),
        ),
        text=_URL, rules=(OneOf("#text", "@digits"),),
    ),
    _E(
        "Pause", "Pause", "verb", "waits silently",
        attrs=(_a("length", Int(1), "1", "seconds to wait"),),
    ),
    _E(
        "Gather", "Gather", "verb", "collects DTMF digits or speech while its children play",
        attrs=(
            _a("input", List(Enum("dtmf", "speech")), "dtmf", "what to collect"),
            *_ACTION,
            _a("timeout", Int(1), "5", "seconds of silence that end the input"),
            _a("speechTimeout", Pattern(r"auto|[0-9]{1,6}", "seconds as an integer or `auto`"),
               doc="silence after speech that ends it (default: timeout)"),
            _a("maxSpeechTime", Int(1, 60), "60", "maximum seconds of speech"),
            _a("profanityFilter", Bool(), "true", "mask profanity in speech results"),
            _a("finishOnKey", Keys(1), "#", "key that ends the input; empty for none"),
            _a("numDigits", Int(1), doc="digits to collect before ending (default: unlimited)"),
            _a("partialResultCallback", _URL, doc="URL for interim speech results"),
            _method("partialResultCallbackMethod", "HTTP method for partialResultCallback"),
            _a("language", _LANGUAGE, "en-US", "speech recognition language"),
            _a("hints", Text("comma-separated words and phrases"), doc="speech hints"),
            _a("bargeIn", Bool(), "true", "input stops the nested Say/Play"),
            _a("debug", Bool(), "false", "send debug information"),
            _a("actionOnEmptyResult", Bool(), "false", "request action even without input"),
            _a("speechModel", Text("speech model name"), doc="speech recognition model"),
            _a("enhanced", Bool(), "false", "premium speech model"),
        ),
        children=("Say", "Play", "Pause"),
    ),
    _E(
        "Dial", "Dial", "verb", "connects the caller to another party (the b-leg)",
        attrs=(
            *_ACTION,
            _a("timeout", Int(5, 600), "30", "seconds to ring before no-answer"),
            _a("hangupOnStar", Bool(), "false", "the caller may press * to leave"),
            _a("timeLimit", Int(1, 14400), "14400", "maximum call seconds"),
            _a("callerId", Text("phone number or client identifier", nonempty=True),
               doc="caller ID shown to the called party (default: the caller's)"),
            _a("record", Enum(
                "do-not-record", "record-from-answer", "record-from-ringing",
                "record-from-answer-dual", "record-from-ringing-dual",
            ), "do-not-record", "record the bridged call"),
            _a("trim", _TRIM, "do-not-trim", "trim leading and trailing silence"),
            *_RECORDING_STATUS,
            _a("recordingConfigurationId", Text(), doc="recording configuration SID"),
            _a("answerOnBridge", Bool(), "false", "answer the caller only when the b-leg answers"),
            _a("ringTone", Enum(
                "at", "au", "bg", "br", "be", "ch", "cl", "cn", "cz", "de", "dk", "ee", "es",
                "fi", "fr", "gr", "hu", "il", "in", "it", "lt", "jp", "mx", "my", "nl", "no",
                "nz", "ph", "pl", "pt", "ru", "se", "sg", "th", "uk", "us", "us-old", "tw", "ve",
                "za",
            ), doc="ringback tone country (default: automatic)"),
            _a("recordingTrack", Enum("both", "inbound", "outbound"), "both", "tracks to record"),
            _a("sequential", Bool(), "false", "dial nouns one after another, not in parallel"),
            _a("referUrl", _URL, doc="URL for SIP REFER requests"),
            _method("referMethod", "HTTP method for referUrl"),
            _a("events", Text(), doc="extra events to report"),
            _a("passports", Text(), doc="SHAKEN/STIR passport"),
        ),
        children=(
            "Application", "Client", "Conference", "Number", "Queue", "Sim", "Sip", "WhatsApp",
        ),
        text=_PHONE,
        rules=(
            OneOf("#text", "*"),
            AtMost(10, "Number"),
            AtMost(1, "Conference", "Queue"),
            Apart(("Conference", "Queue"), ("Number",)),
        ),
        notes=("A national number (`(415) 555-1212`) is read as a US number unless the dialer "
               "is configured with another region (Twilio's `<Number>` docs accept "
               "unformatted US numbers).",),
    ),
    _E(
        "Record", "Record", "verb", "records the caller",
        attrs=(
            *_ACTION,
            _a("timeout", Int(1), "5", "seconds of silence that end the recording"),
            _a("finishOnKey", Keys(), "1234567890*#", "keys that end the recording"),
            _a("maxLength", Int(1), "3600", "maximum recording seconds"),
            _a("playBeep", Bool(), "true", "beep before recording"),
            _a("trim", _TRIM, "trim-silence", "trim leading and trailing silence"),
            *_RECORDING_STATUS,
            _a("transcribe", Bool(), "false", "transcribe the recording"),
            _a("transcribeCallback", _URL, doc="URL for the transcription"),
            _a("recordingConfigurationId", Text(), doc="recording configuration SID"),
        ),
    ),
    _E(
        "Redirect", "Redirect", "verb", "continues with the document at a URL",
        attrs=(_method(),), text=_URL,
        notes=("Empty text is the current document (an empty relative URL, RFC 3986), as "
               "in Twilio's Queue guide; the dialer's document limit ends a loop.",),
    ),
    _E("Hangup", "Hangup", "verb", "ends the call", children=_PARAM),
    _E(
        "Reject", "Reject", "verb", "refuses an incoming call without answering it",
        attrs=(_a("reason", Enum("rejected", "busy"), "rejected", "signal sent to the caller"),),
        children=_PARAM,
    ),
    _E("Leave", "Leave", "verb", "takes the caller out of the queue"),
    _E("Echo", "Echo", "verb", "echoes the caller's audio back (testing)"),
    _E(
        "Enqueue", "Enqueue", "verb", "puts the caller in a queue",
        attrs=(
            *_ACTION,
            _a("maxQueueSize", Int(1, 5000), doc="maximum callers in the queue"),
            _a("waitUrl", _URL, doc="TwiML played while waiting"),
            _method("waitUrlMethod", "HTTP method for waitUrl"),
            _a("workflowSid", Text(), doc="TaskRouter workflow SID"),
        ),
        children=("Task",), text=_NAME, rules=(OneOf("#text", "@workflowSid"),),
    ),
    _E(
        "Sms", "Sms", "verb", "sends a text message during the call (legacy)",
        attrs=(
            _a("to", _PHONE, doc="recipient (default: the caller)"),
            _a("from", _PHONE, doc="sender (default: the called number)"),
            *_ACTION,
            _a("statusCallback", _URL, doc="URL for message status"),
        ),
        text=Text("message", nonempty=True), text_required=True,
    ),
    _E(
        "Pay", "Pay", "verb", "collects a payment",
        attrs=(
            _a("input", Enum("dtmf"), "dtmf", "input method"),
            _a("action", _URL, doc="URL requested when the payment ends"),
            _a("bankAccountType", Enum(
                "consumer-checking", "consumer-savings", "commercial-checking",
                "commercial-savings",
            ), "consumer-checking", "ACH account type"),
            _a("statusCallback", _URL, doc="URL for progress"),
            _method("statusCallbackMethod", "HTTP method for statusCallback"),
            _a("timeout", Int(1), "5", "seconds to wait for input"),
            _a("maxAttempts", Int(1, 3), "1", "attempts before failing"),
            _a("securityCode", Bool(), "true", "ask for the card security code"),
            _a("postalCode", Text(), "true", "`true`, `false` or the postal code"),
            _a("minPostalCodeLength", Int(0), doc="minimum postal code length"),
            _a("paymentConnector", Text(), "Default", "payment connector name"),
            _a("paymentMethod", Enum("ach-debit", "credit-card"), "credit-card", "what to pay"),
            _a("tokenType", Enum("one-time", "reusable", "payment-method"), "reusable", "token"),
            _a("chargeAmount", Pattern(r"[0-9]+(\.[0-9]{1,2})?", "decimal amount"), doc="amount"),
            _a("currency", Text(), "usd", "currency code"),
            _a("description", Text(), doc="payment description"),
            _a("validCardTypes", List(Enum(
                "visa", "mastercard", "amex", "maestro", "discover", "optima", "jcb",
                "diners-club", "enroute",
            )), "visa mastercard amex", "accepted cards"),
            _a("language", _LANGUAGE, "en-US", "prompt language"),
        ),
        children=("Parameter", "Prompt"),
    ),
    _E(
        "Prompt", "Prompt", "noun", "customises a prompt of `<Pay>`",
        attrs=(
            _a("for", Enum(
                "payment-card-number", "expiration-date", "security-code", "postal-code",
                "payment-processing", "bank-account-number", "bank-routing-number",
            ), doc="the step the prompt is for"),
            _a("errorType", List(Enum(
                "timeout", "invalid-card-number", "invalid-card-type", "invalid-date",
                "invalid-security-code", "invalid-postal-code", "invalid-bank-routing-number",
                "invalid-bank-account-number", "input-matching-failed",
            )), doc="errors the prompt answers"),
            _a("cardType", List(Enum(
                "visa", "mastercard", "amex", "maestro", "discover", "optima", "jcb",
                "diners-club", "enroute",
            )), doc="cards the prompt is for"),
            _a("attempt", List(Int(1)), doc="attempt numbers the prompt is for"),
            _a("requireMatchingInputs", Bool(), "false", "ask twice and compare"),
        ),
        children=("Say", "Play", "Pause"),
    ),
    _E(
        "Queue", "Queue", "noun", "a queue to dequeue a caller from (in `<Dial>`)",
        attrs=(
            _a("url", _URL_OR_NONE, doc="TwiML run on the dequeued caller; empty for none"),
            _method(),
            _a("reservationSid", Text(), doc="TaskRouter reservation SID"),
            _a("postWorkActivitySid", Text(), doc="TaskRouter activity SID"),
        ),
        text=_NAME, text_required=True,
        notes=("`url=\"\"` means none, as `<Conference waitUrl=\"\">` (twilio-python and "
               "twilio-ruby render it; Twilio's docs are silent).",),
    ),
    _E(
        "Refer", "Refer", "verb", "transfers a SIP call with REFER",
        attrs=_ACTION, children=("ReferSip",), rules=(OneOf("Sip"),),
    ),
    _E("ReferSip", "Sip", "noun", "SIP URI to refer to", text=_SIP_URI, text_required=True),
    _E(
        "Start", "Start", "verb", "starts a background stream, recording or transcription",
        attrs=_ACTION, children=("Recording", "Siprec", "Stream", "Transcription"),
        rules=(OneOf("*"),),
    ),
    _E(
        "Stop", "Stop", "verb", "stops a background stream, SIPREC or transcription",
        children=("Siprec", "StopStream", "Transcription"),
    ),
    _E(
        "Connect", "Connect", "verb", "connects the call to a service",
        attrs=_ACTION,
        children=(
            "AiSession", "Autopilot", "Conversation", "ConversationRelay",
            "ConversationRelaySession", "Room", "Stream", "VirtualAgent",
        ),
        rules=(OneOf("*"), AtMost(1, "*")),
    ),
    # ------------------------------------------------------------------ nouns of Dial
    _E(
        "Number", "Number", "noun", "a phone number to dial (up to ten in parallel)",
        attrs=(
            _a("sendDigits", Digits(), doc="DTMF tones sent when the number answers"),
            *_STATUS,
            _a("byoc", Text(), doc="BYOC trunk SID"),
            *_AMD,
        ),
        text=_PHONE, text_required=True,
    ),
    _E(
        "Client", "Client", "noun", "a client (app) identity to dial",
        attrs=_STATUS, children=("Identity", "Parameter"), text=_NAME,
        rules=(OneOf("#text", "Identity"),),
    ),
    _E("Identity", "Identity", "noun", "the identity of a `<Client>`", text=_NAME,
       text_required=True),
    _E(
        "Sip", "Sip", "noun", "a SIP endpoint to dial",
        attrs=(
            _a("username", Text(), doc="SIP authentication user"),
            _a("password", Text(), doc="SIP authentication password"),
            *_STATUS,
            *_AMD,
        ),
        children=("Headers", "Uri"), text=_SIP_ADDRESS,
        notes=("Text without the `sip:` scheme (`kate@example.com`) is read as `sip:`: "
               "Twilio's own `<Sip>` docs examples write it so.",),
    ),
    _E("Headers", "Headers", "noun", "custom SIP headers", children=("Header",)),
    _E(
        "Header", "Header", "noun", "one custom SIP header",
        attrs=(_req("name", _NAME, "header name"), _req("value", Text(), "header value")),
    ),
    _E(
        "Uri", "Uri", "noun", "one SIP URI of a `<Sip>` with several",
        attrs=(
            _a("priority", Int(0), doc="lower is tried first"),
            _a("weight", Int(1), doc="share among equal priority"),
            _a("username", Text(), doc="SIP authentication user"),
            _a("password", Text(), doc="SIP authentication password"),
        ),
        text=_SIP_ADDRESS, text_required=True,
    ),
    _E("Sim", "Sim", "noun", "a SIM to dial", text=_NAME, text_required=True),
    _E(
        "Application", "Application", "noun", "a TwiML application to dial",
        attrs=(
            *_STATUS,
            _a("customerId", Text(), doc="customer identifier"),
            _a("copyParentTo", Bool(), "false", "copy the parent's To"),
        ),
        children=("ApplicationSid", "Parameter"), text=_NAME,
    ),
    _E("ApplicationSid", "ApplicationSid", "noun", "the SID of an `<Application>`", text=_NAME,
       text_required=True),
    _E(
        "WhatsApp", "WhatsApp", "noun", "a WhatsApp number to dial",
        attrs=_STATUS, text=_PHONE, text_required=True,
    ),
    _E(
        "Conference", "Conference", "noun", "a conference room to join",
        attrs=(
            _a("muted", Bool(), "false", "join muted"),
            _a("beep", Enum("true", "false", "onEnter", "onExit"), "true", "beep on join/leave"),
            _a("startConferenceOnEnter", Bool(), "true", "start when this participant joins"),
            _a("endConferenceOnExit", Bool(), "false", "end when this participant leaves"),
            _a("waitUrl", _URL_OR_NONE, doc="TwiML played while waiting; empty for none"),
            _method("waitMethod", "HTTP method for waitUrl"),
            _a("maxParticipants", Int(2, 250), "250", "maximum participants"),
            _a("record", Enum("do-not-record", "record-from-start"), "do-not-record", "record"),
            _a("recordingConfigurationId", Text(), doc="recording configuration SID"),
            _a("region", Enum("us1", "us2", "ie1", "de1", "sg1", "br1", "au1", "jp1"),
               doc="media region (default: nearest)"),
            _a("coach", Text(), doc="call SID of the participant to coach"),
            _a("trim", _TRIM, "trim-silence", "trim silence from the recording"),
            _a("statusCallbackEvent", List(Enum(
                "start", "end", "join", "leave", "mute", "hold", "modify", "speaker",
                "announcement",
            )), doc="conference events to report"),
            _a("statusCallback", _URL, doc="URL for conference events"),
            _method("statusCallbackMethod", "HTTP method for statusCallback"),
            *_RECORDING_STATUS,
            _a("eventCallbackUrl", _URL, doc="legacy event URL"),
            _a("jitterBufferSize", Enum("off", "small", "medium", "large"), "large", "jitter"),
            _a("participantLabel", Text(), doc="label of this participant"),
        ),
        text=_NAME, text_required=True,
    ),
    _E(
        "Task", "Task", "noun", "a TaskRouter task (JSON attributes) for `<Enqueue>`",
        attrs=(
            _a("priority", Int(0), doc="task priority"),
            _a("timeout", Int(1), doc="task timeout in seconds"),
        ),
        text=Text("JSON task attributes", nonempty=True), text_required=True,
    ),
    _E(
        "Parameter", "Parameter", "noun", "a custom name/value parameter",
        attrs=(_req("name", _NAME, "parameter name"), _a("value", Text(), doc="parameter value")),
    ),
    # ------------------------------------------------------------------ Start / Stop nouns
    _E(
        "Stream", "Stream", "noun", "a media stream to a WebSocket",
        attrs=_STREAM, children=_PARAM, rules=(OneOf("@url", "@connectorName"),),
    ),
    _E(
        "StopStream", "Stream", "noun", "the media stream to stop (by `name`)",
        attrs=_STREAM, children=_PARAM,
    ),
    _E(
        "Siprec", "Siprec", "noun", "a SIPREC recording session",
        attrs=(
            _a("name", _NAME, doc="name used to stop it"),
            _a("connectorName", Text(), doc="SIPREC connector"),
            _a("track", _TRACK, "inbound_track", "tracks to send"),
            _a("statusCallback", _URL, doc="URL for events"),
            _method("statusCallbackMethod", "HTTP method for statusCallback"),
        ),
        children=_PARAM,
    ),
    _E(
        "Transcription", "Transcription", "noun", "a real-time transcription",
        attrs=(
            _a("name", _NAME, doc="name used to stop it"),
            _a("track", _TRACK, "both_tracks", "tracks to transcribe"),
            _a("statusCallbackUrl", _URL, doc="URL for transcription events"),
            _method("statusCallbackMethod", "HTTP method for statusCallbackUrl"),
            _a("inboundTrackLabel", Text(), doc="label of the inbound track"),
            _a("outboundTrackLabel", Text(), doc="label of the outbound track"),
            _a("partialResults", Bool(), "false", "send interim results"),
            _a("languageCode", _LANGUAGE, "en-US", "language"),
            _a("transcriptionEngine", Enum("google", "deepgram"), "google", "engine"),
            _a("profanityFilter", Bool(), "true", "mask profanity"),
            _a("speechModel", Text(), doc="engine speech model"),
            _a("hints", Text(), doc="words and phrases to expect"),
            _a("enableAutomaticPunctuation", Bool(), "true", "punctuate"),
            _a("intelligenceService", Text(), doc="Conversational Intelligence service SID"),
        ),
        children=("Config", "Parameter"),
    ),
    _E(
        "Recording", "Recording", "noun", "a background call recording",
        attrs=(
            *_RECORDING_STATUS,
            _a("trim", _TRIM, "do-not-trim", "trim silence"),
            _a("track", Enum("inbound", "outbound", "both"), "both", "tracks to record"),
            _a("channels", Enum("mono", "dual"), "mono", "channels"),
            _a("recordingConfigurationId", Text(), doc="recording configuration SID"),
        ),
    ),
    _E(
        "Config", "Config", "noun", "a configuration name/value pair",
        attrs=(_req("name", _NAME, "setting name"), _a("value", Text(), doc="setting value")),
    ),
    # ------------------------------------------------------------------ Connect nouns
    _E(
        "ConversationRelay", "ConversationRelay", "noun", "real-time voice AI over a WebSocket",
        attrs=(
            _req("url", Url(("ws", "wss"), relative=False), "WebSocket URL"),
            _a("language", _LANGUAGE, "en-US", "language for speech in and out"),
            _a("ttsLanguage", _LANGUAGE, doc="text-to-speech language"),
            _a("transcriptionLanguage", _LANGUAGE, doc="speech-to-text language"),
            _a("ttsProvider", Text(), doc="text-to-speech provider"),
            _a("voice", Text(), doc="text-to-speech voice"),
            _a("transcriptionProvider", Text(), doc="speech-to-text provider"),
            _a("speechModel", Text(), doc="speech-to-text model"),
            _a("profanityFilter", Bool(), "true", "mask profanity"),
            _a("dtmfDetection", Bool(), "false", "report DTMF"),
            _a("welcomeGreeting", Text(), doc="spoken on connect"),
            _a("partialPrompts", Bool(), "true", "send partial prompts"),
            _a("welcomeGreetingInterruptible", Enum("none", "dtmf", "speech", "any"), "any",
               "what interrupts the greeting"),
            _a("interruptible", Enum("none", "dtmf", "speech", "any"), "any",
               "what interrupts speech"),
            _a("preemptible", Bool(), "false", "new text preempts speech"),
            _a("hints", Text(), doc="words and phrases to expect"),
            _a("intelligenceService", Text(), doc="Conversational Intelligence service SID"),
            _a("reportInputDuringAgentSpeech", Enum("none", "dtmf", "speech", "any"), "none",
               "report input while speaking"),
            _a("elevenlabsTextNormalization", Enum("on", "off", "auto"), "off", "normalisation"),
            _a("interruptSensitivity", Enum("low", "medium", "high"), "high", "sensitivity"),
            _a("debug", Text(), doc="debug channels"),
            _a("backgroundNoiseReduction", Bool(), "false", "reduce noise"),
            _a("speechTimeout", Int(0), doc="ms of silence that ends speech"),
            _a("deepgramSmartFormat", Bool(), "true", "Deepgram smart format"),
            _a("ignoreBackchannel", Bool(), "false", "ignore short acknowledgements"),
            _a("events", Text(), doc="extra events to report"),
            _a("partialPromptOnHangup", Bool(), doc="report the partial transcript on hangup"),
            _a("eagerEotThreshold", Pattern(r"0?\.(?:[3-8][0-9]*|90*)", "decimal 0.3-0.9"),
               doc="eager end-of-turn confidence"),
            _a("asrSmartFormat", Bool(), doc="smart-format transcripts"),
            _a("ttsTextNormalization", _TEXT_NORMALIZATION, doc="text-to-speech normalisation"),
            _a("ttsLanguageTextNormalization", Bool(), doc="language-specific normalisation"),
            _a("elevenlabsLanguageTextNormalization", Bool(),
               doc="legacy name of ttsLanguageTextNormalization"),
            _a("includeInPrompt", Pattern(
                r"(turn-state|prompt-segments)([ ,]+(turn-state|prompt-segments))*",
                "`turn-state` and/or `prompt-segments`",
            ), doc="extra fields in prompt messages"),
            _a("customerName", Text(), doc="customer name (default: the caller ID)"),
            _a("applicationReconnect", Bool(), "false", "reconnect a dropped WebSocket"),
            _a("echoPromptFiltering", Bool(), "false", "drop transcripts of the agent's echo"),
            _a("turnDetection", Bool(), "false", "detect the end of the caller's turn"),
        ),
        children=("Language", "Parameter"),
    ),
    _E(
        "Language", "Language", "noun", "per-language settings of `<ConversationRelay>`",
        attrs=(
            _req("code", _LANGUAGE, "language"),
            _a("ttsProvider", Text(), doc="text-to-speech provider"),
            _a("voice", Text(), doc="text-to-speech voice"),
            _a("transcriptionProvider", Text(), doc="speech-to-text provider"),
            _a("speechModel", Text(), doc="speech-to-text model"),
            _a("hints", Text(), doc="words and phrases to expect"),
            _a("asrSmartFormat", Bool(), doc="smart-format transcripts"),
            _a("ttsTextNormalization", _TEXT_NORMALIZATION, doc="text-to-speech normalisation"),
            _a("ttsLanguageTextNormalization", Bool(), doc="language-specific normalisation"),
        ),
    ),
    _E(
        "ConversationRelaySession", "ConversationRelaySession", "noun",
        "a ConversationRelay session from a connector",
        attrs=(_a("connector", Text(), doc="connector"),
               _a("sessionConfiguration", Text(), doc="session configuration")),
    ),
    _E(
        "AiSession", "AiSession", "noun", "an AI session from a connector",
        attrs=(_a("aiConnector", Text(), doc="connector"),
               _a("aiSessionConfiguration", Text(), doc="session configuration")),
    ),
    _E(
        "Conversation", "Conversation", "noun", "a Conversations service",
        attrs=(
            _a("serviceInstanceSid", Text(), doc="Conversations service SID"),
            _a("inboundAutocreation", Bool(), "false", "create conversations for inbound calls"),
            _a("routingAssignmentTimeout", Int(0), doc="seconds to wait for routing"),
            _a("inboundTimeout", Int(0), doc="seconds to wait for an agent"),
            _a("url", _URL, doc="URL for the call when the conversation ends"),
            _method(),
            _a("record", Enum(
                "do-not-record", "record-from-answer", "record-from-ringing",
                "record-from-answer-dual", "record-from-ringing-dual",
            ), "do-not-record", "record"),
            _a("trim", _TRIM, "do-not-trim", "trim silence"),
            *_RECORDING_STATUS,
            _a("statusCallback", _URL, doc="URL for call events"),
            _method("statusCallbackMethod", "HTTP method for statusCallback"),
            _a("statusCallbackEvent", List(Enum(
                "call-initiated", "call-ringing", "call-answered", "call-completed",
            )), doc="call events to report"),
        ),
    ),
    _E(
        "VirtualAgent", "VirtualAgent", "noun", "a virtual agent (Dialogflow CX)",
        attrs=(
            _a("connectorName", Text(), doc="connector"),
            _a("language", _LANGUAGE, "en-US", "language"),
            _a("sentimentAnalysis", Bool(), "false", "sentiment analysis"),
            _a("statusCallback", _URL, doc="URL for events"),
            _method("statusCallbackMethod", "HTTP method for statusCallback"),
        ),
        children=("Config", "Parameter"),
    ),
    _E("Autopilot", "Autopilot", "noun", "an Autopilot assistant (legacy)", text=_NAME,
       text_required=True),
    _E(
        "Room", "Room", "noun", "a Video room",
        attrs=(_a("participantIdentity", Text(), doc="identity in the room"),),
        text=_NAME, text_required=True,
    ),
    # ------------------------------------------------------------------ SSML inside Say
    _E(
        "break", "break", "ssml", "a pause in speech",
        attrs=(
            _a("strength", Enum("none", "x-weak", "weak", "medium", "strong", "x-strong"),
               "medium", "pause strength"),
            _a("time", Duration(10_000), doc="pause length (up to 10s)"),
        ),
    ),
    _E(
        "emphasis", "emphasis", "ssml", "stressed words",
        attrs=(_a("level", Enum("strong", "moderate", "reduced"), "moderate", "stress"),),
        children=_SSML_INLINE, text=_WORDS, mixed=True,
    ),
    _E(
        "lang", "lang", "ssml", "words in another language",
        attrs=(_req("xml:lang", _LANGUAGE, "language of the words"),),
        children=_SSML_ALL, text=_WORDS, mixed=True,
    ),
    _E("p", "p", "ssml", "a paragraph", children=(*_SSML_INLINE, "s"), text=_WORDS, mixed=True),
    _E(
        "phoneme", "phoneme", "ssml", "a phonetic pronunciation",
        attrs=(
            _a("alphabet", Enum(
                "ipa", "x-sampa", "x-amazon-jyutping", "x-amazon-pinyin", "x-amazon-pron-kana",
                "x-amazon-yomigana",
            ), doc="phonetic alphabet"),
            _req("ph", Text("pronunciation", nonempty=True), "the pronunciation"),
        ),
        text=_WORDS, mixed=True,
    ),
    _E(
        "prosody", "prosody", "ssml", "volume, rate and pitch of words",
        attrs=(
            _a("volume", Pattern(
                r"default|silent|x-soft|soft|medium|loud|x-loud|[+-][0-9]{1,2}(\.[0-9]+)?dB",
                "`default`, `silent`, `x-soft`...`x-loud` or `+ndB`/`-ndB`",
            ), doc="loudness"),
            _a("rate", Pattern(
                r"x-slow|slow|medium|fast|x-fast|[0-9]{1,3}%", "`x-slow`...`x-fast` or `n%`"
            ), doc="speaking rate"),
            _a("pitch", Pattern(
                r"default|x-low|low|medium|high|x-high|[+-][0-9]{1,3}(\.[0-9]+)?%",
                "`default`, `x-low`...`x-high` or `+n%`/`-n%`",
            ), doc="pitch"),
        ),
        children=_SSML_ALL, text=_WORDS, mixed=True,
        rules=(PercentRange("rate", 20, 200),),
        notes=("`volume=\"default\"` and `pitch=\"default\"` are SSML 1.1 values.",),
    ),
    _E("s", "s", "ssml", "a sentence", children=_SSML_INLINE, text=_WORDS, mixed=True),
    _E(
        "say-as", "say-as", "ssml", "how to read words (digits, dates...)",
        attrs=(
            _req("interpret-as", Enum(
                "character", "characters", "spell-out", "cardinal", "number", "ordinal", "digits",
                "fraction", "unit", "date", "time", "address", "expletive", "telephone",
            ), "how to read the words"),
            _a("format", Enum(
                "mdy", "dmy", "ymd", "md", "dm", "ym", "my", "d", "m", "y", "yyyymmdd",
            ), doc="date format"),
        ),
        text=_WORDS, mixed=True,
        notes=("`interpret-as=\"characters\"` is accepted beside `character`: twilio-node "
               "and twilio-java list both.",),
    ),
    _E(
        "sub", "sub", "ssml", "words spoken as an alias",
        attrs=(_req("alias", Text("alias", nonempty=True), "what to say instead"),),
        text=_WORDS, mixed=True,
    ),
    _E(
        "w", "w", "ssml", "a word with a part of speech",
        attrs=(_a("role", Enum(
            "amazon:VB", "amazon:VBD", "amazon:DT", "amazon:IN", "amazon:JJ", "amazon:NN",
            "amazon:SENSE_1",
        ), doc="part of speech"),),
        children=_SSML_WORD, text=_WORDS, mixed=True,
    ),
)
# fmt: on


def _index(table: Sequence[Element]) -> dict[str, Element]:
    by_key = {e.key: e for e in table}
    if len(by_key) != len(table):
        raise RuntimeError("schema: duplicate element key")
    for element in table:
        element.attr_map = {a.name: a for a in element.attrs}
        element.required_attrs = tuple(a for a in element.attrs if a.required)
        children = [by_key[k] for k in element.children]
        element.child_map = {c.name: c for c in children}
        if len(element.attr_map) != len(element.attrs) or len(element.child_map) != len(children):
            raise RuntimeError(f"schema: duplicate attribute or child in {element.key}")
    return by_key


ELEMENTS: Mapping[str, Element] = _index(_TABLE)
"""Every element of the dialect by unique key (the XML tag, or e.g. ``ReferSip``)."""

ROOT: Element = ELEMENTS["Response"]
"""The document root, ``<Response>``."""

TAGS: frozenset[str] = frozenset(e.name for e in _TABLE)
"""Every XML tag the dialect knows, anywhere."""


def _kinds_by_python_name(table: Iterable[Element]) -> dict[str, frozenset[str]]:
    kinds: dict[str, set[str]] = {}
    for element in table:  # one pass: python_name() is a few regex calls
        kinds.setdefault(element.python_name, set()).add(element.kind)
    return {name: frozenset(k) for name, k in kinds.items()}


KIND_BY_PYTHON_NAME: Mapping[str, frozenset[str]] = _kinds_by_python_name(_TABLE)
"""Builder method name -> the kinds of element it can make."""

XML_NAME_BY_PYTHON_NAME: Mapping[str, str] = {e.python_name: e.name for e in _TABLE}
"""Builder method name -> the XML tag it makes."""
