"""SIP messages (RFC 3261 section 7): strict parsing and serializing.

:func:`parse` turns one UDP datagram into a :class:`Request` or a :class:`Response`
or raises :class:`~voiceapp.errors.SipError` saying what is wrong: a bad start
line, a header line without a colon, a missing mandatory header (``Via``,
``From``, ``To``, ``Call-ID``, ``CSeq``; ``Max-Forwards`` too on a request), a
``CSeq`` whose method differs from the request's, a ``Content-Length`` larger
than the datagram.  Compact header names (``v``, ``f``, ``t``, ``i``, ``m``,
``l``, ``c``, ``k``, ``s``, ``e``) are expanded; folded lines are joined.
Headers keep their order; :meth:`Message.get` and :meth:`Message.values` read
them (``values`` splits comma lists outside quotes and angle brackets).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Final

from voiceapp.errors import SipError

VERSION: Final = "SIP/2.0"
#: RFC 3261's magic cookie: every branch this stack makes starts with it.
BRANCH_COOKIE: Final = "z9hG4bK"
MAX_DATAGRAM: Final = 65_535

COMPACT: Final[dict[str, str]] = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
}
#: canonical spellings of the headers whose usual capitalisation is not Title-Case
_SPELLING: Final[dict[str, str]] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
}
MANDATORY: Final = ("Via", "From", "To", "Call-ID", "CSeq")
_TOKEN: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_REQUEST_LINE: Final = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP/2\.0")
_STATUS_LINE: Final = re.compile(r"SIP/2\.0 ([1-6]\d\d) ?(.*)")
_CSEQ: Final = re.compile(r"(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)")


def canonical(name: str) -> str:
    """A header name as this module writes it (compact forms expanded)."""
    low = name.lower()
    if low in COMPACT:
        return COMPACT[low]
    return _SPELLING.get(low) or "-".join(part.capitalize() for part in low.split("-"))


def split_list(value: str) -> list[str]:
    """``a, "b,c" <sip:x>, d`` -> the comma-separated items outside quotes and ``<>``."""
    items: list[str] = []
    depth, quoted, start = 0, False, 0
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(value[start:i].strip())
            start = i + 1
        i += 1
    items.append(value[start:].strip())
    return [item for item in items if item]


@dataclass(eq=False)
class Message:
    """What requests and responses share: headers in order and a body."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (any spelling), or None."""
        want = canonical(name)
        for key, value in self.headers:
            if key == want:
                return value
        return None

    def values(self, name: str) -> list[str]:
        """Every value of ``name``, comma lists split, in order."""
        want = canonical(name)
        out: list[str] = []
        for key, value in self.headers:
            if key == want:
                out.extend(split_list(value) if want in _LIST_HEADERS else [value])
        return out

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` header by one with ``value``."""
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        want = canonical(name)
        self.headers = [(k, v) for k, v in self.headers if k != want]

    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        match = _CSEQ.fullmatch((self.get("CSeq") or "").strip())
        if match is None:
            raise SipError("CSeq is not 'number METHOD'", field="CSeq")
        return int(match.group(1)), match.group(2)

    @property
    def branch(self) -> str:
        """The ``branch`` of the top Via (the transaction's key)."""
        vias = self.values("Via")
        return Via.parse(vias[0]).params.get("branch", "") if vias else ""

    def _head(self) -> str:
        raise NotImplementedError

    def encode(self) -> bytes:
        """The wire form; ``Content-Length`` is written from the body."""
        lines = [self._head()]
        lines += [f"{k}: {v}" for k, v in self.headers if k != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


_LIST_HEADERS: Final = frozenset(
    {"Via", "Route", "Record-Route", "Contact", "Allow", "Supported", "Require"}
)


@dataclass(eq=False)
class Request(Message):
    method: str = "OPTIONS"
    uri: str = ""

    def _head(self) -> str:
        return f"{self.method} {self.uri} {VERSION}"


@dataclass(eq=False)
class Response(Message):
    status: int = 200
    reason: str = "OK"

    def _head(self) -> str:
        return f"{VERSION} {self.status} {self.reason}"


# -- addresses --------------------------------------------------------------------------


def _params(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, value = part.partition("=")
        out[name.strip().lower()] = value.strip()
    return out


def _format_params(params: dict[str, str]) -> str:
    return "".join(f";{k}={v}" if v else f";{k}" for k, v in params.items())


@dataclass(frozen=True, slots=True)
class Uri:
    """A ``sip:`` URI: user, host, port and parameters (``sip:alice@host:5060;lr``)."""

    host: str
    port: int | None = None
    user: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    scheme: str = "sip"

    @classmethod
    def parse(cls, text: str) -> Uri:
        match = re.fullmatch(
            r"(sips?):(?:([^@;:]+)(?::[^@]*)?@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)"
            r"(?::(\d{1,5}))?((?:;[^?]*)?)(?:\?.*)?",
            text.strip(),
        )
        if match is None:
            raise SipError(f"not a SIP URI: {text[:80]!r}", field="uri")
        scheme, user, host, port, params = match.groups()
        if port is not None and not 0 < int(port) < 65536:
            raise SipError(f"port out of range in {text[:80]!r}", field="uri")
        return cls(
            host=host,
            port=int(port) if port else None,
            user=user,
            params=tuple(_params(params).items()),
            scheme=scheme.lower(),
        )

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)

    @property
    def address(self) -> tuple[str, int]:
        """Where a request to this URI goes over UDP (default port 5060)."""
        return self.host.strip("[]"), self.port or 5060

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}:{user}{self.host}{port}{_format_params(dict(self.params))}"


@dataclass(frozen=True, slots=True)
class Address:
    """A name-addr or addr-spec with header parameters (``From``, ``To``, ``Contact``...)."""

    uri: Uri
    display: str = ""
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Address:
        text = text.strip()
        match = re.fullmatch(r'((?:"(?:[^"\\]|\\.)*")|[^<"]*)\s*<([^>]*)>(.*)', text)
        if match is not None:
            display, uri, rest = match.groups()
            return cls(Uri.parse(uri), display.strip(), tuple(_params(rest).items()))
        uri, _, rest = text.partition(";")  # addr-spec: parameters belong to the header
        return cls(Uri.parse(uri), "", tuple(_params(rest).items()))

    @property
    def tag(self) -> str | None:
        return dict(self.params).get("tag")

    def with_tag(self, tag: str) -> Address:
        params = dict(self.params) | {"tag": tag}
        return Address(self.uri, self.display, tuple(params.items()))

    def __str__(self) -> str:
        display = f"{self.display} " if self.display else ""
        return f"{display}<{self.uri}>{_format_params(dict(self.params))}"


@dataclass(frozen=True, slots=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Via:
        match = re.fullmatch(
            r"SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)"
            r"(?::(\d{1,5}))?\s*(;.*)?",
            text.strip(),
        )
        if match is None:
            raise SipError(f"malformed Via: {text[:80]!r}", field="Via")
        transport, host, port, params = match.groups()
        return cls(transport.upper(), host, int(port) if port else None, _params(params or ""))


def new_branch() -> str:
    return BRANCH_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


# -- parsing ----------------------------------------------------------------------------


def parse(data: bytes) -> Request | Response:
    """One datagram as a message, or :class:`SipError` naming what is wrong."""
    if len(data) > MAX_DATAGRAM:
        raise SipError("datagram too large")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipError("no blank line after the headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipError(f"headers are not UTF-8 (byte {exc.start})") from None
    lines = text.split("\r\n")
    while lines and not lines[0]:
        lines.pop(0)  # RFC 3261 7.5: empty lines before the start line are ignored
    if not lines:
        raise SipError("empty message")
    start = lines[0]
    message: Request | Response
    if start.startswith("SIP/"):
        status = _STATUS_LINE.fullmatch(start)
        if status is None:
            raise SipError(f"bad status line: {start[:80]!r}", field="start-line")
        message = Response(status=int(status.group(1)), reason=status.group(2))
    else:
        request = _REQUEST_LINE.fullmatch(start)
        if request is None:
            raise SipError(f"bad request line: {start[:80]!r}", field="start-line")
        message = Request(method=request.group(1), uri=request.group(2))
        if message.uri.lower().startswith("sip"):
            Uri.parse(message.uri)
    _read_headers(message, lines[1:])
    _check(message, body)
    return message


def _read_headers(message: Message, lines: list[str]) -> None:
    for number, line in enumerate(lines, start=2):
        if line[:1] in (" ", "\t"):
            if not message.headers:
                raise SipError(f"line {number}: continuation before any header")
            name, value = message.headers[-1]
            message.headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or _TOKEN.fullmatch(name) is None:
            raise SipError(f"line {number}: not a header line: {line[:80]!r}")
        message.headers.append((canonical(name), value.strip()))


def _check(message: Request | Response, body: bytes) -> None:
    for name in MANDATORY:
        if message.get(name) is None:
            raise SipError(f"missing mandatory header {name}", field=name)
    if isinstance(message, Request) and message.get("Max-Forwards") is None:
        raise SipError("missing mandatory header Max-Forwards", field="Max-Forwards")
    _number, method = message.cseq
    if isinstance(message, Request) and method != message.method:
        raise SipError(
            f"CSeq method {method} differs from the request's {message.method}", field="CSeq"
        )
    for via in message.values("Via"):
        Via.parse(via)
    for name in ("From", "To"):
        Address.parse(message.get(name) or "")
    length = message.get("Content-Length")
    if length is None:
        message.body = body  # RFC 3261 18.3: optional over UDP, the body runs to the end
        return
    if not length.isdigit():
        raise SipError(f"Content-Length is not a number: {length[:20]!r}", field="Content-Length")
    if int(length) > len(body):
        raise SipError(
            f"Content-Length {length} but only {len(body)} body bytes", field="Content-Length"
        )
    message.body = body[: int(length)]


REASONS: Final[dict[int, str]] = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    415: "Unsupported Media Type",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
}


def response_to(request: Request, status: int, reason: str | None = None) -> Response:
    """A response to ``request`` (RFC 3261 8.2.6): its Via, From, To, Call-ID, CSeq."""
    response = Response(status=status, reason=reason or REASONS.get(status, "Unknown"))
    for name, value in request.headers:
        if name in ("Via", "From", "To", "Call-ID", "CSeq", "Record-Route"):
            response.headers.append((name, value))
    return response
