"""Redaction: the one place that decides what of a call may be shown.

Everything voiceapp shows about a call — ``GET /v1/calls/<sid>``, the dialer's
trace, log lines, error messages — goes through these functions:

* :func:`redact_url` — URL userinfo (``ftp://user:SECRET@host`` → ``ftp://***@host``),
  the session or step token of a voice URL (``/voice/<token>``, ``/voice/step/<token>``
  → ``/voice/***``; the route stays readable) and ``apikey`` query values;
* :func:`redact_text` — :func:`redact_url` on every URL inside free text (error
  messages), and voice-URL tokens in bare paths;
* :func:`redact_document` — the values of secret attributes (``<Sip password>``) and
  the URLs of a fetched voice document's text;
* :func:`redact_params` — the value of ``apikey`` (the call's ``secretKey``) in
  status-callback parameters;
* :class:`Redactor` — all of the above on nested data (a trace row, a call record),
  plus the values of the app variables the app marks secret (``App.secret_variables``;
  the PIN of ``pin`` and ``pin-verify``).

Secret variable values are never stored with the call.  The call keeps
:class:`Fingerprints` instead: HMAC-SHA256 digests of each value under a key derived
from ``SECRET_KEYS`` (:func:`voiceapp.keys.derive_key`, purpose ``redact``) and a
per-call salt, so a reader of the call store cannot test PINs without the server's
key.  A :class:`Redactor` finds a value again in text by hashing candidates: every
run of four or more digits (spaces, ``,``, ``.`` or ``-`` between them allowed:
``8 9 7 0``) for a digit value, every word and the whole string otherwise.  The
fingerprints also hold a digest of each digit value's *length* (same key and salt, so
they tell a reader without the key nothing), and only candidates of those lengths are
hashed: a PIN call's trace costs about 30 HMACs instead of 85 (the numbers in it,
``+14155550123``, are runs of 11 and 12 digits, each up to 45 candidates).
Fingerprints stored without them are searched at every length.  When none of the
keys it holds made the fingerprints (a dialer with other ``SECRET_KEYS``) it masks
every run of four or more digits instead.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from voiceapp.keys import derive_key

MASK: Final = "***"
#: Where a call keeps its :class:`Fingerprints` (``CallSpec.extra``; never shown).
EXTRA_KEY: Final = "redact"
#: Parameter and field names whose values are secrets wherever they appear.
SECRET_FIELDS: Final = frozenset({"apikey", "secretKey"})

#: the token after /voice/ or /voice/step/ (tokens hold no ``:``, so a message's
#: ``URL: reason`` keeps its colon)
_TOKEN_PATH = re.compile(r"(/voice/(?:step/)?+)(?!\*\*\*)([^/?#:\s'\"<>]+)")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_DIGIT_RUN = re.compile(r"\d(?:[ ,.\-]?\d)*")
_WORD = re.compile(r"\w+")
#: Digit runs at least this long are masked when the fingerprints cannot be checked, and
#: a digit secret is looked for only in candidates this long (a PIN has 4 to 10 digits).
_FALLBACK_DIGITS: Final = 4
#: Longest digit candidate hashed (a PIN has at most 10 digits).
_MAX_DIGITS: Final = 32


def redact_url(url: str) -> str:
    """``url`` without userinfo, voice-URL token or ``apikey`` value (unchanged otherwise)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return _TOKEN_PATH.sub(rf"\g<1>{MASK}", _strip_userinfo(url))
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    path = _TOKEN_PATH.sub(rf"\g<1>{MASK}", parts.path)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name in SECRET_FIELDS for name, _ in pairs):
            query = urlencode([(n, MASK if n in SECRET_FIELDS else v) for n, v in pairs])
    if (netloc, path, query) == (parts.netloc, parts.path, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, path=path, query=query))


def _strip_userinfo(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = MASK + "@" + authority.rpartition("@")[2]
    return scheme + sep + authority + slash + tail


def redact_text(text: str) -> str:
    """Free text (an error message) with every URL in it redacted by :func:`redact_url`."""
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return _TOKEN_PATH.sub(rf"\g<1>{MASK}", text)


#: Document attributes whose values are secrets (``<Sip password>``).
SECRET_ATTRIBUTES: Final = frozenset({"password"})
_SECRET_ATTRIBUTE = re.compile(
    r"(\b(?:" + "|".join(sorted(SECRET_ATTRIBUTES)) + r")\s*=\s*)(\"[^\"]*\"|'[^']*')"
)


def redact_document(text: str) -> str:
    """A voice document's text (as fetched) with the values of secret attributes
    (:data:`SECRET_ATTRIBUTES`) masked and every URL in it redacted (:func:`redact_text`)."""
    text = _SECRET_ATTRIBUTE.sub(
        lambda m: f"{m.group(1)}{m.group(2)[0]}{MASK}{m.group(2)[0]}", text
    )
    return redact_text(text)


def redact_params(params: Iterable[Sequence[str]]) -> list[tuple[str, str]]:
    """Status-callback parameters with the value of ``apikey`` masked."""
    return [(name, MASK if name in SECRET_FIELDS else value) for name, value in params]


# -- secret app variables --------------------------------------------------------------------


def _normal(value: Any) -> str:
    """What is fingerprinted: digits alone for a digit string, else the casefolded text."""
    text = str(value).strip()
    digits = re.sub(r"[ ,.\-]", "", text)
    return digits if digits.isdigit() else text.casefold()


def _digest(key: bytes, salt: str, value: str) -> str:
    return hmac.new(key, f"{salt}\x00{value}".encode(), hashlib.sha256).hexdigest()


def _length_mark(size: int) -> str:
    """What a digit value's length is fingerprinted as (never a :func:`_normal` value's
    digest: those are kept apart, in ``digests``)."""
    return f"\x01length:{size}"


@dataclass(frozen=True)
class Fingerprints:
    """Salted, keyed digests of a call's secret values (kept in ``CallSpec.extra``)."""

    salt: str
    check: str  # the digest of "" with the same key: tells a Redactor which key it was
    digests: tuple[str, ...]
    words: bool = False  # whether a secret is not all digits (then words are checked too)
    #: digests of the lengths of the digit values (:func:`_length_mark`); None when the
    #: fingerprints were stored without them (then every length is searched)
    lengths: tuple[str, ...] | None = None

    @classmethod
    def make(cls, values: Iterable[Any], secret_key: str) -> Fingerprints:
        key = derive_key(secret_key, "redact").encode("ascii")
        salt = secrets.token_hex(16)
        normal = {_normal(v) for v in values if str(v).strip()}
        return cls(
            salt,
            _digest(key, salt, ""),
            tuple(sorted(_digest(key, salt, v) for v in normal)),
            any(not v.isdigit() for v in normal),
            tuple(
                sorted({_digest(key, salt, _length_mark(len(v))) for v in normal if v.isdigit()})
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "salt": self.salt,
            "check": self.check,
            "digests": list(self.digests),
            "words": self.words,
            **({} if self.lengths is None else {"lengths": list(self.lengths)}),
        }

    @classmethod
    def from_json(cls, data: Any) -> Fingerprints | None:
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                str(data["salt"]),
                str(data["check"]),
                tuple(map(str, data["digests"])),
                bool(data.get("words", True)),
                None if data.get("lengths") is None else tuple(map(str, data["lengths"])),
            )
        except (KeyError, TypeError):
            return None


def mask_variables(variables: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``variables`` with the values of the secret ``names`` replaced by :data:`MASK`."""
    hidden = set(names)
    return {key: MASK if key in hidden else value for key, value in variables.items()}


def hide_secret_variables(
    variables: Mapping[str, Any], names: Iterable[str], secret_key: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``variables`` with the secret ``names`` masked, and the fingerprints of their
    values (for ``CallSpec.extra[EXTRA_KEY]``; None when there is no secret)."""
    hidden = [name for name in names if name in variables]
    if not hidden:
        return dict(variables), None
    masked = mask_variables(variables, hidden)
    prints = Fingerprints.make([variables[name] for name in hidden], secret_key)
    return masked, prints.to_json()


def _unchanged(item: Any) -> bool:
    return item is None or isinstance(item, int | float)


class Redactor:
    """Redacts nested data: URLs, ``apikey``/``secretKey`` values and secret variables.

    ``fingerprints`` are the call's (or None: nothing beyond URLs and fields);
    ``secret_keys`` the ``SECRET_KEYS`` that may have made them.
    """

    def __init__(
        self, fingerprints: Fingerprints | None = None, secret_keys: Sequence[str] = ()
    ) -> None:
        self.fingerprints = fingerprints
        self._key: bytes | None = None
        self._mac: Any = None  # HMAC with the salt fed in: copied per candidate
        self._digests: frozenset[str] = frozenset()
        # Digit strings already searched, with where their secret is: one call's trace
        # rows repeat the same runs (its SID, its numbers), and a run of n digits costs
        # up to (n-3)(n-2)/2 HMACs (bench/bench_calls.py's PIN calls: 140 a call before,
        # about 90 with this).  The redactor lives as long as its call.
        self._found: dict[str, tuple[int, int] | None] = {}
        self._words = False
        self._fallback = False
        # Which digit-value lengths the call's secrets have (None: unknown, try every
        # length), asked of the length digests one size at a time, as runs need them.
        self._length_digests: frozenset[str] | None = None
        self._sizes: dict[int, bool] = {}
        if fingerprints is not None and fingerprints.digests:
            for secret in secret_keys:
                key = derive_key(secret, "redact").encode("ascii")
                if hmac.compare_digest(_digest(key, fingerprints.salt, ""), fingerprints.check):
                    self._key = key
                    salt = f"{fingerprints.salt}\x00".encode()
                    self._mac = hmac.new(key, salt, hashlib.sha256)
                    self._digests = frozenset(fingerprints.digests)
                    self._words = fingerprints.words
                    if fingerprints.lengths is not None:
                        self._length_digests = frozenset(fingerprints.lengths)
                    break
            else:
                self._fallback = True

    @classmethod
    def for_call(cls, extra: Mapping[str, Any], secret_keys: Sequence[str]) -> Redactor:
        """The redactor of a call, from the fingerprints kept in its ``extra``."""
        return cls(Fingerprints.from_json(extra.get(EXTRA_KEY)), secret_keys)

    @property
    def fallback(self) -> bool:
        """Whether no key matched, so every run of 4+ digits is masked."""
        return self._fallback

    def _hash(self, candidate: str) -> str:
        mac = self._mac.copy()
        mac.update(candidate.encode())
        return str(mac.hexdigest())

    def _secret(self, candidate: str) -> bool:
        return self._hash(candidate) in self._digests

    def _size(self, size: int) -> bool:
        """Whether a digit value of the call's secrets may be ``size`` digits long."""
        if self._length_digests is None:
            return True
        known = self._sizes.get(size)
        if known is None:
            known = self._sizes[size] = self._hash(_length_mark(size)) in self._length_digests
        return known

    def _find(self, digits: str) -> tuple[int, int] | None:
        """Where in ``digits`` the longest (then first) secret value is, or None."""
        if digits in self._found:
            return self._found[digits]
        hit: tuple[int, int] | None = None
        if len(digits) <= _MAX_DIGITS:
            for size in range(len(digits), _FALLBACK_DIGITS - 1, -1):
                if not self._size(size):
                    continue
                for start in range(len(digits) - size + 1):
                    if self._secret(digits[start : start + size]):
                        hit = (start, start + size)
                        break
                if hit is not None:
                    break
        self._found[digits] = hit
        return hit

    def _digits(self, text: str) -> str:
        out: list[str] = []
        last = 0
        for match in _DIGIT_RUN.finditer(text):
            run = match.group(0)
            if len(run) < _FALLBACK_DIGITS:
                continue  # fewer characters than a candidate has digits (most runs)
            spots = [i for i, c in enumerate(run) if c.isdigit()]
            digits = "".join(run[i] for i in spots)
            hit: tuple[int, int] | None = None
            if self._fallback:
                if len(digits) >= _FALLBACK_DIGITS:
                    hit = (0, len(digits))
            else:
                hit = self._find(digits)
            if hit is None:
                continue
            begin = match.start() + spots[hit[0]]
            end = match.start() + spots[hit[1] - 1] + 1
            out.append(text[last:begin] + MASK)
            last = end
        out.append(text[last:])
        return "".join(out)

    def _plain(self, text: str) -> bool:
        """Whether :meth:`text` would return ``text`` unchanged without looking further."""
        return (
            self._key is None and not self._fallback and "://" not in text and "/voice/" not in text
        )

    def text(self, text: str) -> str:
        """One string: URLs (:func:`redact_text`), then secret values."""
        if "://" in text or "/voice/" in text:
            text = redact_text(text)
        if self._key is None and not self._fallback:
            return text
        if _DIGIT_RUN.search(text) is not None:
            text = self._digits(text)
        if self._words and text:
            if self._secret(_normal(text)):
                return MASK
            text = _WORD.sub(
                lambda m: MASK if self._secret(_normal(m.group(0))) else m.group(0), text
            )
        return text

    def value(self, data: Any) -> Any:
        """``data`` (JSON-like) with every string redacted; ``apikey``/``secretKey`` masked."""
        if isinstance(data, str):
            return self.text(data)
        if data is None or isinstance(data, int | float):
            return data
        if isinstance(data, dict | Mapping):  # one loop, no call for plain members (hot)
            out: dict[Any, Any] = {}
            for key, item in data.items():
                if key in SECRET_FIELDS:
                    out[key] = None if item is None else MASK
                elif _unchanged(item) or (isinstance(item, str) and self._plain(item)):
                    out[key] = item
                else:
                    out[key] = self.value(item)
            return out
        if isinstance(data, list | tuple):
            if len(data) == 2 and isinstance(data[0], str) and data[0] in SECRET_FIELDS:
                items = [data[0], MASK]  # a (name, value) parameter pair
            else:
                items = [self.value(item) for item in data]
            return tuple(items) if isinstance(data, tuple) else items
        return data

    def heard_digits(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Trace rows (as the API shows them) with the ``digit-heard`` digits of a leg
        masked when, put together, they hold a secret: a PIN keyed in one digit a row
        is no digit run for :meth:`text` to find."""
        out = [dict(row) for row in rows]
        heard: dict[str, list[dict[str, Any]]] = {}
        for row in out:
            if row.get("kind") == "digit-heard":
                heard.setdefault(str(row.get("leg")), []).append(row)
        for leg_rows in heard.values():
            digits = "".join(str((r.get("detail") or {}).get("digit", "")) for r in leg_rows)
            if self.text(digits) != digits:
                for r in leg_rows:
                    r["detail"] = {**(r.get("detail") or {}), "digit": MASK}
        return out

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        redacted: dict[str, Any] = self.value(data)
        return redacted


#: Redacts URLs and secret fields only (no call at hand).
DEFAULT: Final = Redactor()


# -- logs ------------------------------------------------------------------------------------

#: Loggers of the HTTP libraries voiceapp runs with, whose lines show request paths (and
#: so voice tokens): werkzeug's development server, gunicorn's access log, and urllib3
#: (under requests, the dialer's client) at DEBUG.
ACCESS_LOGGERS: Final = ("werkzeug", "gunicorn.access", "urllib3.connectionpool")


class RedactingFilter(logging.Filter):
    """A logging filter passing every record's message through :func:`redact_text`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_log_filter(names: Iterable[str] = ("voiceapp", *ACCESS_LOGGERS)) -> None:
    """Add one :class:`RedactingFilter` to each named logger (once; idempotent).

    A logger's filter sees the records logged on that logger itself, so this covers
    the HTTP libraries' request lines and anything logged on ``voiceapp``; voiceapp's
    own modules redact what they log where they log it.  ``create_app`` and the
    dialer install it.
    """
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
