"""One vocabulary for the config tables: value checks, and the key that locates them.

A *check* is a function ``value -> typed value`` that raises :class:`Invalid` with a
message saying what the value should be (``must be a non-empty string``); it knows
nothing of where the value came from.  A :class:`Key` is where a value sits
(``compat.feather.numbers.<uuid>.agents[0]``) together with the error code of its
table; :meth:`Key.check` runs a check and turns its :class:`Invalid` into a
:class:`~voiceapp.errors.ConfigError` naming the key: the one place a location is
added.  :mod:`voiceapp.config` reads its top-level settings with the same checks.

Phone numbers are checked by :mod:`voiceapp.phone`, digit strings by
:mod:`voiceapp.dtmf` and language tags by the schema's own type (the ``language``
of ``<Say>``): none of those rules is restated here.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from voiceapp.dtmf import Timeline, parse_digits
from voiceapp.errors import ConfigError, DigitsError
from voiceapp.phone import is_e164
from voiceapp.schema import ELEMENTS, InvalidValue, ValueType

__all__ = [
    "Invalid",
    "Key",
    "boolean",
    "digits",
    "e164",
    "integer",
    "is_number",
    "language",
    "number",
    "positive_seconds",
    "seconds",
    "text",
    "uuid_text",
]

T = TypeVar("T")


class Invalid(ValueError):
    """Raised by a check: the message says what the value should be."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Key:
    """Where a value sits in the config (``network.numbers."+1...".rings``) and the
    error code of its table (``config-value``, ``config-network``, ``config-retry``)."""

    path: str
    code: str = "config-value"

    def __truediv__(self, name: object) -> Key:
        """The key of ``name`` in this table: ``path.name``."""
        return Key(f"{self.path}.{name}", self.code)

    def __getitem__(self, index: int) -> Key:
        """The key of item ``index`` of this list: ``path[index]``."""
        return Key(f"{self.path}[{index}]", self.code)

    def quoted(self, name: str) -> Key:
        """The key of ``name`` written as TOML quotes it: ``path."name"``."""
        return Key(f'{self.path}."{name}"', self.code)

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {message}", code=self.code, field=self.path)

    def check(self, check: Callable[[Any], T], value: Any) -> T:
        """``check(value)``, its :class:`Invalid` raised as a ``ConfigError`` naming this key."""
        try:
            return check(value)
        except Invalid as exc:
            raise self.fail(exc.message) from None

    def table(self, value: Any, allowed: Collection[str] | None = None) -> Mapping[str, Any]:
        """``value`` as a table of string keys, all in ``allowed`` (any name when None)."""
        if not isinstance(value, Mapping):
            raise self.fail(f"must be a table, got {type(value).__name__}")
        for name in value:
            if not isinstance(name, str):
                raise (self / repr(name)).fail("keys must be strings")
            if allowed is not None and name not in allowed:
                raise (self / name).fail(f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def items(self, value: Any, check: Callable[[Any], T]) -> tuple[T, ...]:
        """A list of values, each checked and located (``path[i]``)."""
        if not isinstance(value, list | tuple):
            raise self.fail("must be a list")
        return tuple(self[i].check(check, item) for i, item in enumerate(value))


# -- the checks -----------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool (TOML's numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def text(value: Any) -> str:
    """A non-empty string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid("must be a non-empty string")
    return value.strip()


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def number(value: Any) -> float:
    if not is_number(value):
        raise Invalid(f"must be a number, got {value!r}")
    return float(value)


def seconds(value: Any) -> float:
    """A number of seconds, 0 or more."""
    if not is_number(value):
        raise Invalid(f"must be a number of seconds, got {value!r}")
    if value < 0:
        raise Invalid(f"must be at least 0, got {value!r}")
    return float(value)


def positive_seconds(value: Any) -> float:
    """A number of seconds greater than 0."""
    if seconds(value) == 0:
        raise Invalid(f"must be greater than 0, got {value!r}")
    return float(value)


def integer(low: int, high: int, *, text: bool = False) -> Callable[[Any], int]:
    """An integer from ``low`` to ``high``; with ``text``, its decimal text too (the
    environment's form)."""

    def check(value: Any) -> int:
        if text and isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise Invalid(f"must be an integer from {low} to {high}") from None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Invalid(f"must be an integer from {low} to {high}, got {value!r}")
        return value

    return check


def e164(value: Any) -> str:
    """A number in the strict E.164 form (:func:`voiceapp.phone.is_e164`), stripped."""
    if not isinstance(value, str) or not is_e164(value.strip()):
        raise Invalid(f"{value!r} is not an E.164 number such as +19499300360")
    return value.strip()


def uuid_text(value: Any) -> str:
    """A UUID in its canonical text (lower case, hyphens)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise Invalid(f"{value!r} is not a UUID") from None


#: A language tag is what ``<Say language>`` accepts: the schema's type, not a copy.
LANGUAGE_TAG: Final[ValueType] = next(a.type for a in ELEMENTS["Say"].attrs if a.name == "language")


def language(value: Any) -> str:
    """A language tag (``en``, ``zh-TW``), stripped: the name of a template folder."""
    if not isinstance(value, str):
        raise Invalid("must be a string")
    tag = value.strip()
    try:
        LANGUAGE_TAG.parse(tag)
    except InvalidValue:
        raise Invalid("must be a language tag such as en or zh-TW") from None
    return tag


def digits(value: Any) -> Timeline:
    """A DTMF digit string, as :func:`voiceapp.dtmf.parse_digits` reads it."""
    if not isinstance(value, str):
        raise Invalid(f"must be a digit string, got {value!r}")
    try:
        return parse_digits(value)
    except DigitsError as exc:
        raise Invalid(f"{exc} in {value!r}") from None
