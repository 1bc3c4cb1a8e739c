"""Value checks outside XML: small functions that convert a value and say why they refuse.

A check is ``value -> typed value``; it raises :class:`~voiceapp.errors.InvalidValue`
with a message saying what the value should be (``must be an integer from 1 to 5``)
and a stable code, and knows nothing of where the value came from.  The caller adds
the location, once: the config tables with :class:`voiceapp.settings_tables.key.Key`
(a ``ConfigError`` naming the key), the apps and the request fields with :func:`located` (a
``ValidationError`` naming the field).

Phone numbers are checked by :mod:`voiceapp.phone`, digit strings by
:mod:`voiceapp.dtmf` and language tags by the schema's own type (the ``language``
of ``<Say>``): none of those rules is restated here.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any, Final, TypeVar

from voiceapp.dtmf import Timeline, parse_digits
from voiceapp.errors import DigitsError, InvalidValue, ValidationError
from voiceapp.phone import is_e164
from voiceapp.schema import ELEMENTS, ValueType

T = TypeVar("T")


def located(check: Callable[[Any], T], value: Any, *, field: str) -> T:
    """``check(value)``, its :class:`~voiceapp.errors.InvalidValue` raised as a
    ``ValidationError`` (422) naming ``field``: ``variables.repeat must be an integer
    from 1 to 5``."""
    try:
        return check(value)
    except InvalidValue as exc:
        raise ValidationError(f"{field} {exc.message}", code=exc.code, field=field) from None


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool (TOML's numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def text(value: Any) -> str:
    """A non-empty string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("must be a non-empty string", "invalid-text")
    return value.strip()


def short_text(max_length: int) -> Callable[[Any], str]:
    """A non-empty string of at most ``max_length`` characters, stripped."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            raise InvalidValue(
                f"must be a non-empty string of at most {max_length} characters", "invalid-text"
            )
        return value.strip()

    return check


def string(max_length: int | None = None) -> Callable[[Any], str]:
    """A request's string field, stripped (the engine has already set blanks aside):
    ``must be a string``, or ``is longer than N characters``."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidValue("must be a string", "invalid-type")
        if max_length is not None and len(value) > max_length:
            raise InvalidValue(f"is longer than {max_length} characters", "too-long")
        return value.strip()

    return check


def choice(
    check: Callable[[Any], str], allowed: tuple[str, ...], *, exact: bool = False
) -> Callable[[Any], str]:
    """``check``'s value in upper case, one of ``allowed`` (``GET``/``POST`` in any case);
    ``exact``: as it is, case included (Twilio's words such as ``DetectMessageEnd``)."""

    def choose(value: Any) -> str:
        word = check(value) if exact else check(value).upper()
        if word not in allowed:
            raise InvalidValue(f"must be {' or '.join(allowed)}", "invalid-choice")
        return word

    return choose


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue("must be true or false", "invalid-type")
    return value


def number(value: Any) -> float:
    if not is_number(value):
        raise InvalidValue(f"must be a number, got {value!r}", "invalid-type")
    return float(value)


def seconds(value: Any) -> float:
    """A number of seconds, 0 or more."""
    if not is_number(value):
        raise InvalidValue(f"must be a number of seconds, got {value!r}", "invalid-type")
    if value < 0:
        raise InvalidValue(f"must be at least 0, got {value!r}", "invalid-range")
    return float(value)


def positive_seconds(value: Any) -> float:
    """A number of seconds greater than 0."""
    if seconds(value) == 0:
        raise InvalidValue(f"must be greater than 0, got {value!r}", "invalid-range")
    return float(value)


def integer(low: int, high: int, *, text: bool = False) -> Callable[[Any], int]:
    """An integer from ``low`` to ``high``; with ``text``, its decimal text too (the
    environment's form)."""

    def check(value: Any) -> int:
        if text and isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise InvalidValue(
                    f"must be an integer from {low} to {high}", "invalid-range"
                ) from None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidValue(f"must be an integer from {low} to {high}", "invalid-range")
        return value

    return check


def e164(value: Any) -> str:
    """A number in the strict E.164 form (:func:`voiceapp.phone.is_e164`), stripped."""
    if not isinstance(value, str) or not is_e164(value.strip()):
        raise InvalidValue(
            f"{value!r} is not an E.164 number such as +19499300360", "phone-not-e164"
        )
    return value.strip()


def uuid_text(value: Any) -> str:
    """A UUID in its canonical text (lower case, hyphens)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidValue(f"{value!r} is not a UUID", "invalid-uuid") from None


#: A language tag is what ``<Say language>`` accepts: the schema's type, not a copy.
LANGUAGE_TAG: Final[ValueType] = next(a.type for a in ELEMENTS["Say"].attrs if a.name == "language")


def language(value: Any) -> str:
    """A language tag (``en``, ``zh-TW``), stripped: the name of a template folder."""
    if not isinstance(value, str):
        raise InvalidValue("must be a string", "invalid-type")
    tag = value.strip()
    try:
        LANGUAGE_TAG.parse(tag)
    except InvalidValue:
        raise InvalidValue(
            "must be a language tag such as en or zh-TW", "invalid-language"
        ) from None
    return tag


def digits(value: Any) -> Timeline:
    """A DTMF digit string, as :func:`voiceapp.dtmf.parse_digits` reads it."""
    if not isinstance(value, str):
        raise InvalidValue(f"must be a digit string, got {value!r}", "invalid-type")
    try:
        return parse_digits(value)
    except DigitsError as exc:
        raise InvalidValue(f"{exc} in {value!r}", exc.code) from None
