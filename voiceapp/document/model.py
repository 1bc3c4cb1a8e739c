"""The document model: one :class:`Node` class for every element, and the builder.

A node holds its schema :class:`~voiceapp.schema.Element`, its attributes as XML text
(a dict in schema order) and its children: nodes and text strings, in document order.
It holds nothing else: serializing reads ``attrs`` and ``children`` as they are now.
Typed values come from the schema on access (:meth:`Node.get`), with its defaults.

Building goes through one checked :meth:`Node.add`; ``node.say(...)``,
``node.gather(...)``, ``node.say_as(...)`` are plain shortcuts to it, one per element
of the schema, named after its XML name (``say-as`` -> ``say_as``; a test keeps the
two lists equal).  A problem fails the call that introduces it with a
:class:`~voiceapp.errors.DocumentError` naming the element path and the attribute;
what can only be checked once children are added (a ``<Dial>`` with nothing to dial)
fails :meth:`Node.to_xml`.

Parsed documents are built lazily: the linter checks the whole tree up front, and a
node makes its children from the (hardened, already checked) lxml element the first
time they are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from voiceapp import schema
from voiceapp.document.serialize import Check
from voiceapp.document.serialize import serialize as _serialize
from voiceapp.errors import DocumentError, InvalidValue
from voiceapp.schema import Attr, Element, Rule

if TYPE_CHECKING:
    from lxml import etree


_MISSING: Any = object()
_new_node = object.__new__
_XML_NS = "{http://www.w3.org/XML/1998/namespace}"

# ---------------------------------------------------------------------- tables
# Derived once from the schema when this module is imported; plain data, never
# written to afterwards.


def _names(elements: list[Element]) -> dict[str, Element]:
    """Elements by XML name and by Python name (``say-as`` and ``say_as``)."""
    return {**{e.name: e for e in elements}, **{e.python_name: e for e in elements}}


_CHILDREN: Mapping[Element, Mapping[str, Element]] = {
    e: _names([schema.ELEMENTS[k] for k in e.children]) for e in schema.ELEMENTS.values()
}
"""The children an element takes, by XML or Python name."""

_ATTRS: Mapping[Element, Mapping[str, Attr]] = {
    e: {**{a.python_name: a for a in e.attrs}, **e.attr_map} for e in schema.ELEMENTS.values()
}
"""The attributes of an element, by Python or XML name."""

ATTR_ORDER: Mapping[Element, Mapping[str, int]] = {
    e: {a.name: i for i, a in enumerate(e.attrs)} for e in schema.ELEMENTS.values()
}
"""The position of each attribute (XML name) in its element: the canonical order."""

_NO_QUICK_TEST = frozenset[str]().__contains__  # always false: parse() decides
_Keyword = tuple[int, str, schema.ValueType, Callable[[str], object], int | None, int]


_INT_MAX = 10**18 - 1


def quick_tests(type_: schema.ValueType) -> tuple[Callable[[str], object], int | None, int]:
    """What the builder and the linter ask before ``parse()``: the type's quick test
    (always false when it has none) and, for an integer, the range (lo, hi) a value is
    checked against inline (lo None otherwise).  An open range stops at 18 digits,
    what :meth:`~voiceapp.schema.Int.parse` reads as plain digits."""
    accepts = type_.accepts or _NO_QUICK_TEST
    if isinstance(type_, schema.Int):
        return accepts, type_.lo, _INT_MAX if type_.hi is None else type_.hi
    return accepts, None, 0


def _keyword(element: Element, attr: Attr) -> _Keyword:
    accepts, lo, hi = quick_tests(attr.type)
    return (ATTR_ORDER[element][attr.name], attr.name, attr.type, accepts, lo, hi)


_KEYWORDS: Mapping[Element, Mapping[str, _Keyword]] = {
    e: {name: _keyword(e, a) for name, a in _ATTRS[e].items()} for e in schema.ELEMENTS.values()
}
"""What the builder reads of a keyword attribute: (position, XML name, value type, its
quick test, and for an integer its range, which an int value is checked against
inline)."""


def _goes_up_table() -> dict[str, frozenset[Element]]:
    """For each XML and Python name, the elements from which ``add(name)`` goes to the
    parent: those whose children are all of other kinds than the elements called
    ``name``.  (One pass over the elements per distinct set of kinds.)"""
    child_kinds = {
        e: frozenset(schema.ELEMENTS[k].kind for k in e.children) for e in schema.ELEMENTS.values()
    }
    by_kinds: dict[frozenset[str], frozenset[Element]] = {}
    table: dict[str, frozenset[Element]] = {}
    for element in schema.ELEMENTS.values():
        kinds = schema.KIND_BY_PYTHON_NAME[element.python_name]
        if kinds not in by_kinds:
            by_kinds[kinds] = frozenset(e for e, ck in child_kinds.items() if kinds.isdisjoint(ck))
        table[element.name] = table[element.python_name] = by_kinds[kinds]
    return table


_GOES_UP: Mapping[str, frozenset[Element]] = _goes_up_table()

ERROR_RULES: Mapping[Element, tuple[Rule, ...]] = {
    e: tuple(r for r in e.rules if r.severity == "error") for e in schema.ELEMENTS.values()
}
"""The rules of severity ``error`` of each element (what :meth:`Node.to_xml` checks)."""

ONE_CHILD_OK: Mapping[Element, frozenset[str]] = {
    e: frozenset(tag for tag in e.child_map if all(r.kept_by_one_child(tag) for r in e.rules))
    for e in schema.ELEMENTS.values()
}
"""The tags of a lone child element that keeps every rule of its parent, whatever else
(a ``<Dial>`` with one ``<Number>``): such elements need no rule checked."""

_ONE_CHILD_ERROR_OK: Mapping[Element, frozenset[str]] = {
    e: frozenset(
        tag for tag in e.child_map if all(r.kept_by_one_child(tag) for r in ERROR_RULES[e])
    )
    for e in schema.ELEMENTS.values()
}

LEAF_RULES: Mapping[Element, tuple[Rule, ...]] = {
    e: tuple(r for r in e.rules if not r.kept_by_text()) for e in schema.ELEMENTS.values()
}
"""The rules still to check on an element with non-blank text and no child elements
(``<Say>hello</Say>`` has text: its ``NeedsText`` needs no check)."""

_LEAF_ERROR_RULES: Mapping[Element, tuple[Rule, ...]] = {
    e: tuple(r for r in rules if not r.kept_by_text()) for e, rules in ERROR_RULES.items()
}


class Node:
    """One element of a voice document."""

    __slots__ = ("_children", "_source", "attrs", "element", "parent")

    element: Element
    attrs: dict[str, str]
    parent: Node | None
    _children: list[Node | str] | None  # None: not yet read from _source
    _source: etree._Element | None

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
        attr = _ATTRS[self.element].get(name)
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

    def __str__(self) -> str:
        """The canonical document as text (``str(response)`` is the XML, as in
        twilio-python, so a view may ``return str(response)``)."""
        return self.to_xml().decode("utf-8")

    # ------------------------------------------------------------------ writing

    def to_xml(self) -> bytes:
        """The canonical document: UTF-8 bytes with the XML declaration.  Raises
        :class:`DocumentError` when an element is incomplete (the schema's rules of
        severity error: a ``<Dial>`` with nothing to dial...); warnings do not stop it."""
        return _serialize(self, _COMPLETE_CHECKS)

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
        return _add(self, name, text, attrs)

    def add_text(self, text: str) -> Node:
        """Append text (after the children added so far) and return this node."""
        checked = _checked_text(self, self.element, text, self.text)
        children = self.children
        if children and isinstance(children[-1], str):
            children[-1] += checked
        else:
            children.append(checked)
        return self

    def set(self, name: str, value: Any) -> Node:
        """Set an attribute (XML or Python name), checked like the builder's; None
        removes it.  Returns this node."""
        attr = _ATTRS[self.element].get(name)
        given: dict[str, Any] = {
            k: v for k, v in self.attrs.items() if attr is None or k != attr.name
        }
        given[name if attr is None else attr.name] = value
        self.attrs = _checked_attrs(self.parent or self, self.element, given)
        return self

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    # ------------------------------------------------------------------ shortcuts
    # One per element of the schema (a test keeps the lists equal); each is add().

    # verbs ----------------------------------------------------------------------------

    def say(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Say>`` (see :meth:`add`)."""
        return _add(self, "Say", text, attrs)

    def play(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Play>`` (see :meth:`add`)."""
        return _add(self, "Play", text, attrs)

    def pause(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Pause>`` (see :meth:`add`)."""
        return _add(self, "Pause", text, attrs)

    def gather(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Gather>`` (see :meth:`add`)."""
        return _add(self, "Gather", text, attrs)

    def dial(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Dial>`` (see :meth:`add`)."""
        return _add(self, "Dial", text, attrs)

    def record(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Record>`` (see :meth:`add`)."""
        return _add(self, "Record", text, attrs)

    def redirect(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Redirect>`` (see :meth:`add`)."""
        return _add(self, "Redirect", text, attrs)

    def hangup(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Hangup>`` (see :meth:`add`)."""
        return _add(self, "Hangup", text, attrs)

    def reject(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Reject>`` (see :meth:`add`)."""
        return _add(self, "Reject", text, attrs)

    def leave(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Leave>`` (see :meth:`add`)."""
        return _add(self, "Leave", text, attrs)

    def echo(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Echo>`` (see :meth:`add`)."""
        return _add(self, "Echo", text, attrs)

    def enqueue(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Enqueue>`` (see :meth:`add`)."""
        return _add(self, "Enqueue", text, attrs)

    def sms(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Sms>`` (see :meth:`add`)."""
        return _add(self, "Sms", text, attrs)

    def pay(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Pay>`` (see :meth:`add`)."""
        return _add(self, "Pay", text, attrs)

    def refer(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Refer>`` (see :meth:`add`)."""
        return _add(self, "Refer", text, attrs)

    def start(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Start>`` (see :meth:`add`)."""
        return _add(self, "Start", text, attrs)

    def stop(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Stop>`` (see :meth:`add`)."""
        return _add(self, "Stop", text, attrs)

    def connect(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Connect>`` (see :meth:`add`)."""
        return _add(self, "Connect", text, attrs)

    # nouns (inside verbs) -------------------------------------------------------------

    def prompt(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Prompt>`` (see :meth:`add`)."""
        return _add(self, "Prompt", text, attrs)

    def queue(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Queue>`` (see :meth:`add`)."""
        return _add(self, "Queue", text, attrs)

    def sip(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Sip>`` (see :meth:`add`)."""
        return _add(self, "Sip", text, attrs)

    def number(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Number>`` (see :meth:`add`)."""
        return _add(self, "Number", text, attrs)

    def client(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Client>`` (see :meth:`add`)."""
        return _add(self, "Client", text, attrs)

    def identity(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Identity>`` (see :meth:`add`)."""
        return _add(self, "Identity", text, attrs)

    def headers(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Headers>`` (see :meth:`add`)."""
        return _add(self, "Headers", text, attrs)

    def header(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Header>`` (see :meth:`add`)."""
        return _add(self, "Header", text, attrs)

    def uri(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Uri>`` (see :meth:`add`)."""
        return _add(self, "Uri", text, attrs)

    def sim(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Sim>`` (see :meth:`add`)."""
        return _add(self, "Sim", text, attrs)

    def application(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Application>`` (see :meth:`add`)."""
        return _add(self, "Application", text, attrs)

    def application_sid(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<ApplicationSid>`` (see :meth:`add`)."""
        return _add(self, "ApplicationSid", text, attrs)

    def whats_app(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<WhatsApp>`` (see :meth:`add`)."""
        return _add(self, "WhatsApp", text, attrs)

    def conference(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Conference>`` (see :meth:`add`)."""
        return _add(self, "Conference", text, attrs)

    def task(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Task>`` (see :meth:`add`)."""
        return _add(self, "Task", text, attrs)

    def parameter(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Parameter>`` (see :meth:`add`)."""
        return _add(self, "Parameter", text, attrs)

    def stream(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Stream>`` (see :meth:`add`)."""
        return _add(self, "Stream", text, attrs)

    def siprec(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Siprec>`` (see :meth:`add`)."""
        return _add(self, "Siprec", text, attrs)

    def transcription(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Transcription>`` (see :meth:`add`)."""
        return _add(self, "Transcription", text, attrs)

    def recording(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Recording>`` (see :meth:`add`)."""
        return _add(self, "Recording", text, attrs)

    def config(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Config>`` (see :meth:`add`)."""
        return _add(self, "Config", text, attrs)

    def conversation_relay(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<ConversationRelay>`` (see :meth:`add`)."""
        return _add(self, "ConversationRelay", text, attrs)

    def language(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Language>`` (see :meth:`add`)."""
        return _add(self, "Language", text, attrs)

    def conversation_relay_session(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<ConversationRelaySession>`` (see :meth:`add`)."""
        return _add(self, "ConversationRelaySession", text, attrs)

    def ai_session(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<AiSession>`` (see :meth:`add`)."""
        return _add(self, "AiSession", text, attrs)

    def conversation(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Conversation>`` (see :meth:`add`)."""
        return _add(self, "Conversation", text, attrs)

    def virtual_agent(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<VirtualAgent>`` (see :meth:`add`)."""
        return _add(self, "VirtualAgent", text, attrs)

    def autopilot(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Autopilot>`` (see :meth:`add`)."""
        return _add(self, "Autopilot", text, attrs)

    def room(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<Room>`` (see :meth:`add`)."""
        return _add(self, "Room", text, attrs)

    # SSML (inside <Say>) --------------------------------------------------------------

    def break_(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<break>`` (see :meth:`add`)."""
        return _add(self, "break", text, attrs)

    def emphasis(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<emphasis>`` (see :meth:`add`)."""
        return _add(self, "emphasis", text, attrs)

    def lang(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<lang>`` (see :meth:`add`)."""
        return _add(self, "lang", text, attrs)

    def p(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<p>`` (see :meth:`add`)."""
        return _add(self, "p", text, attrs)

    def phoneme(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<phoneme>`` (see :meth:`add`)."""
        return _add(self, "phoneme", text, attrs)

    def prosody(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<prosody>`` (see :meth:`add`)."""
        return _add(self, "prosody", text, attrs)

    def s(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<s>`` (see :meth:`add`)."""
        return _add(self, "s", text, attrs)

    def say_as(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<say-as>`` (see :meth:`add`)."""
        return _add(self, "say-as", text, attrs)

    def sub(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<sub>`` (see :meth:`add`)."""
        return _add(self, "sub", text, attrs)

    def w(self, text: Any = None, /, **attrs: Any) -> Node:
        """Append a ``<w>`` (see :meth:`add`)."""
        return _add(self, "w", text, attrs)


class Response(Node):
    """The root of a voice document: ``Response().say("Hello").hangup()``."""

    __slots__ = ()

    def __init__(self) -> None:  # Node.__init__ inline: one call less per document
        self.element = schema.ROOT
        self.attrs = {}
        self._children = []
        self.parent = None
        self._source = None

    def __enter__(self) -> Response:
        return self


# ---------------------------------------------------------------------- heard text

#: ``<say-as interpret-as>`` values read one character at a time ("8970" -> "8 9 7 0").
_SPELLED: Final = frozenset({"digits", "character", "characters", "spell-out", "telephone"})
#: ``<break strength>`` in milliseconds, when it has no ``time``.
BREAK_STRENGTH_MS: Final = {
    "none": 0,
    "x-weak": 100,
    "weak": 250,
    "medium": 500,
    "strong": 1000,
    "x-strong": 2000,
}


def break_ms(node: Node) -> int:
    """How long a ``<break>`` is silent, in milliseconds (``time``, else ``strength``)."""
    time_ms = node.get("time")
    if time_ms is not None:
        return int(time_ms)
    return BREAK_STRENGTH_MS.get(node.get("strength"), 0)


def heard_text(node: Node, *, pauses: bool = False) -> str:
    """The words a caller hears from ``node`` (a ``<Say>`` and its SSML), whitespace
    collapsed: ``<say-as interpret-as="digits">8970</say-as>`` is heard "8 9 7 0"
    (characters, spell-out and telephone numbers are read one character at a time
    too), a ``<sub alias>`` is heard as its alias, and with ``pauses`` a ``<break>``
    is shown as ``[pause 0.5s]`` (else it is a word boundary)."""
    parts: list[str] = []

    def walk(n: Node) -> None:
        for child in n.children:
            if isinstance(child, str):
                parts.append(child)
                continue
            parts.append(" ")
            if child.tag == "say-as" and child.get("interpret-as") in _SPELLED:
                parts.append(" ".join("".join(child.text.split())))
            elif child.tag == "sub":
                parts.append(child.get("alias"))
            elif child.tag == "break":
                if pauses:
                    parts.append(f"[pause {break_ms(child) / 1000:g}s]")
            else:
                walk(child)
            parts.append(" ")

    walk(node)
    return " ".join("".join(parts).split())


# ---------------------------------------------------------------------- the checked add


def _add(node: Node, name: str, text: Any, given: dict[str, Any]) -> Node:
    """The one checked way to append a child named ``name`` (see :meth:`Node.add`)."""
    element = _CHILDREN[node.element].get(name)
    while element is None:
        if node.parent is None or node.element not in _GOES_UP.get(name, ()):
            raise _refused(node, name)
        node = node.parent
        element = _CHILDREN[node.element].get(name)
    attrs = _checked_attrs(node, element, given) if given or element.required_attrs else {}
    if text is None or text == "":
        if element.text_required:
            raise _missing_text(node, element)
        children: list[Node | str] = []
    elif element.mixed and text.__class__ is str and text.isascii() and text.isprintable():
        children = [text]  # free text (a <Say>) with no character to check
    else:
        children = [_checked_text(node, element, text, "", element.name)]
    # Node() without its __init__ call (the tree of bench/bench_document.py's 3
    # documents: 147K -> 140K instructions, valgrind)
    child = _new_node(Node)
    child.element = element
    child.attrs = attrs
    child._children = children
    child.parent = node
    child._source = None
    siblings = node._children
    if siblings is None:
        siblings = node.children
    siblings.append(child)
    return child


def _checked_attrs(parent: Node, element: Element, given: dict[str, Any]) -> dict[str, str]:
    """Keyword attributes checked against the schema: XML name -> XML text, in schema
    order; None values are left out.  ``parent`` locates the error."""
    keywords = _KEYWORDS[element]
    out: dict[str, str] = {}
    last = -1
    ordered = True
    for name, value in given.items():
        if value is None:
            continue
        known = keywords.get(name)
        if known is None:
            raise _refused_attrs(parent, element, given)
        position, xml_name, type_, accepts, lo, hi = known
        # the quick tests first, inline (no parse() call for most values): with the
        # Response() below, building bench/bench_document.py's 3 documents went from
        # 163K to 149K instructions (valgrind, steady state)
        if value.__class__ is str and accepts(value) and value.isascii() and value.isprintable():
            text = value
        elif value.__class__ is int and lo is not None and lo <= value <= hi:
            text = str(value)
        else:
            try:
                text = type_.format(value)
                if not (text.isascii() and text.isprintable()):
                    schema.check_chars(text)
            except InvalidValue:
                raise _refused_attrs(parent, element, given) from None
        out[xml_name] = text
        ordered = ordered and position > last
        last = position
    if not ordered:
        given_order = out
        out = {}
        for name in sorted(given_order, key=ATTR_ORDER[element].__getitem__):
            out[name] = given_order[name]
    for attr in element.required_attrs:
        if attr.name not in out:
            raise _error(
                parent,
                element.name,
                f"<{element.name}> needs the attribute {attr.name} ({attr.type.describe()})",
                "missing-attribute",
                attr.name,
            )
    return out


def _refused_attrs(parent: Node, element: Element, given: dict[str, Any]) -> DocumentError:
    """The error for attributes :func:`_checked_attrs` refused: an unknown name first
    (in the order given), else the first bad value in schema order."""
    names = _ATTRS[element]
    chosen: list[tuple[Attr, Any]] = []
    for name, value in given.items():
        attr = names.get(name)
        if attr is None and value is not None:
            message = f"<{element.name}> has no attribute {name!r}"
            return _error(parent, element.name, message, "unknown-attribute", name)
        if attr is not None and value is not None:
            chosen.append((attr, value))
    order = ATTR_ORDER[element]
    for attr, value in sorted(chosen, key=lambda pair: order[pair[0].name]):
        try:
            schema.check_chars(attr.type.format(value))
        except InvalidValue as exc:
            return _error(parent, element.name, f"{attr.name}: {exc.message}", exc.code, attr.name)
    raise AssertionError("_refused_attrs() called on attributes that are fine")


def _checked_text(
    node: Node, element: Element, value: Any, before: str, child: str | None = None
) -> str:
    """``value`` as text of an ``element`` (whose text so far is ``before``), checked;
    the error is located at ``node``, or at its ``child`` when given."""
    text_type = element.text
    if text_type is None:
        raise _error(node, child, f"<{element.name}> takes no text", "text-not-allowed")
    try:
        text = value if value.__class__ is str else text_type.format(value)
        if not (text.isascii() and text.isprintable()):
            schema.check_chars(text)
        if not element.mixed:
            text_type.parse((before + text).strip())
    except InvalidValue as exc:
        raise _error(node, child, f"text: {exc.message}", exc.code) from None
    return text


def _missing_text(node: Node, element: Element) -> DocumentError:
    assert element.text is not None  # an element that needs text takes text
    message = f"<{element.name}> needs text ({element.text.describe()})"
    return _error(node, element.name, message, "missing-text")


def _refused(node: Node, name: str) -> DocumentError:
    """The error for a child ``name`` that neither ``node`` nor its parents take."""
    py = name if name in schema.KIND_BY_PYTHON_NAME else schema.python_name(name)
    xml_name = schema.XML_NAME_BY_PYTHON_NAME.get(py, name)
    if py not in schema.KIND_BY_PYTHON_NAME:
        message = f"<{xml_name}> is not an element of the dialect"
        return _error(node, xml_name, message, "unknown-element")
    message = f"<{xml_name}> is not allowed inside <{node.tag}>"
    return _error(node, xml_name, message, "child-not-allowed")


def _error(
    node: Node, child: str | None, message: str, code: str, attr: str | None = None
) -> DocumentError:
    path = node.path + (f"/{child}" if child else "")
    return DocumentError(message, code=code, path=path, attribute=attr)


# ---------------------------------------------------------------------- complete elements


def _check_complete(node: Node, children: list[Node | str]) -> None:
    """Apply the schema's error rules to ``node`` (what can only be checked once its
    children are added: at least one of, at most N, not mixed).  :meth:`Node.to_xml`
    runs it in the serializer's walk (one walk less; with the cheaper escape tests,
    to_xml() of bench/bench_document.py's 3 documents went from 111K to 100K
    instructions, valgrind)."""
    element = node.element
    rules = ERROR_RULES[element]
    if len(children) == 1:
        only = children[0]
        if only.__class__ is str:
            if only.strip():
                rules = _LEAF_ERROR_RULES[element]  # a leaf with text
        elif only.element.name in _ONE_CHILD_ERROR_OK[element]:  # type: ignore[union-attr]
            return
    if not rules:
        return
    tags = [c.element.name for c in children if isinstance(c, Node)]
    if element.mixed:
        text = _all_text(children)
    else:
        text = "".join(c for c in children if isinstance(c, str))
    for rule in rules:
        message = rule.check(element, node.attrs, tags, text.strip())
        if message is not None:
            attribute = rule.attribute if rule.attribute in node.attrs else None
            raise _error(node, None, message, rule.code, attribute)


def _all_text(children: list[Node | str]) -> str:
    return "".join(c if isinstance(c, str) else _all_text(c.children) for c in children)


_COMPLETE_CHECKS: Mapping[Element, Check] = {
    e: _check_complete for e, rules in ERROR_RULES.items() if rules
}
"""The elements :meth:`Node.to_xml` checks, in document order, as it writes them."""


# ---------------------------------------------------------------------- parsed nodes


def from_source(root: etree._Element) -> Response:
    """The lazy document over a hardened, already validated lxml tree."""
    doc = _new_node(Response)  # without __init__, as in _add()
    doc.element = schema.ROOT
    doc.attrs = {}
    doc._children = None  # read from the source when asked for
    doc.parent = None
    doc._source = root
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
            attrs = {(k if k[0] != "{" else "xml:" + k[len(_XML_NS) :]): v for k, v in c.items()}
            if len(attrs) > 1:
                order = ATTR_ORDER[element]
                attrs = dict(sorted(attrs.items(), key=lambda kv: order[kv[0]]))
            child = Node(element, attrs, None, node)
            child._children = None  # read from the source when asked for
            child._source = c
            children.append(child)
        tail = c.tail
        if tail:
            if children and isinstance(children[-1], str):
                children[-1] += tail
            else:
                children.append(tail)
    return children
