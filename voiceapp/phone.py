"""Phone numbers: E.164 normalisation with the ``phonenumbers`` library.

Everything that enters voiceapp as a phone number goes through :func:`normalize`
(the lenient edge: E.164, a national number with an ISO country code, or a
national number in the deployment's default region) or through
:func:`check_e164` (the strict edge some vendor routes document:
``^\\+[1-9]\\d{6,14}$``).  Both return the E.164 string or raise
:class:`~voiceapp.errors.PhoneError` naming the field, with one of these codes:

==================== =====================================================
code                 meaning
==================== =====================================================
``phone-type``       the value is not a string
``phone-empty``      the value is empty or only blanks
``phone-unparseable`` not a phone number at all (letters, too short, ...)
``phone-no-region``  a national number but no country code and no default
``phone-bad-country`` the country code is not an ISO 3166-1 alpha-2 region
                     phonenumbers knows, or the ``+CC`` prefix is unknown
``phone-invalid``    well formed, but not a valid number for its region
``phone-not-e164``   the strict check: not ``+`` and 7 to 15 digits
==================== =====================================================

This module knows nothing of XML or HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException

from voiceapp.errors import PhoneError

__all__ = [
    "E164_PATTERN",
    "check_e164",
    "check_region",
    "is_e164",
    "normalize",
    "region_of",
]

#: The strict E.164 shape: a plus, a non-zero digit, then 6 to 14 more digits.
E164_PATTERN: Final = re.compile(r"\+[1-9]\d{6,14}")

# Characters a human may type in a phone number.  phonenumbers would also accept
# vanity letters ("1-800-FLOWERS") and extensions ("ext. 12", which E.164 cannot
# carry); an API that places calls should not guess, so anything else is refused
# before parsing.
_ALLOWED: Final = re.compile(r"[0-9+\s().\-/]+")
_MAX_LEN: Final = 64
_PARSE_REASONS: Final = {
    NumberParseException.NOT_A_NUMBER: "no phone number in it",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


def is_e164(number: object) -> bool:
    """True when ``number`` is a string in the strict E.164 shape."""
    return isinstance(number, str) and E164_PATTERN.fullmatch(number) is not None


def check_e164(number: object, *, field: str) -> str:
    """Return ``number`` when it matches ``^\\+[1-9]\\d{6,14}$`` exactly, else raise.

    No spaces, no national formats: this is the check for routes whose contract
    documents the pattern itself.
    """
    if not isinstance(number, str):
        raise PhoneError(f"{field} must be a string", code="phone-type", field=field)
    if E164_PATTERN.fullmatch(number) is None:
        raise PhoneError(
            f"{field} must be an E.164 number such as +15555550123 (pattern ^\\+[1-9]\\d{{6,14}}$),"
            f" got {number!r}",
            code="phone-not-e164",
            field=field,
        )
    return number


def check_region(region: object, *, field: str) -> str:
    """Return the upper-cased ISO 3166-1 alpha-2 ``region`` phonenumbers knows, else raise."""
    if not isinstance(region, str) or not region.strip():
        raise PhoneError(
            f"{field} must be an ISO 3166-1 alpha-2 country code such as US or TW",
            code="phone-bad-country",
            field=field,
        )
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise PhoneError(
            f"{field} {region!r} is not a known ISO 3166-1 alpha-2 country code",
            code="phone-bad-country",
            field=field,
        )
    return code


def normalize(
    number: object,
    *,
    field: str,
    country_code: str | None = None,
    default_region: str | None = None,
    known: Collection[str] = (),
) -> str:
    """Return ``number`` as E.164 (``+886912345678``) or raise :class:`PhoneError`.

    - ``+``-prefixed numbers are read as international; ``country_code`` and
      ``default_region`` are not needed (a given ``country_code`` is still checked).
    - Otherwise the number is national: read in ``country_code`` (the caller's ISO
      code for this request) or else in the deployment's ``default_region``; with
      neither, ``phone-no-region``.
    - The result must be a valid number for its region (``phone-invalid``).
    - A number written exactly as one of ``known`` is taken as written: the numbers a
      deployment defines itself (its caller IDs, its simulated network's callees) are
      dialed as configured even where phonenumbers' metadata knows no such range (test
      numbers such as the seeds' ``+0987654321``).  It is still refused when it is no
      string, empty or holds characters no phone number has.

    ``field`` names the request field in every error.  A bad ``default_region`` is
    a deployment problem and is reported against ``default_region``.
    """
    return normalize_parsed(
        number,
        field=field,
        country_code=country_code,
        default_region=default_region,
        known=known,
    )[0]


def normalize_parsed(
    number: object,
    *,
    field: str,
    country_code: str | None = None,
    default_region: str | None = None,
    known: Collection[str] = (),
) -> tuple[str, phonenumbers.PhoneNumber | None]:
    """:func:`normalize`, with the number phonenumbers parsed (None for a ``known``
    number, taken as written), so that a caller checking it further (the destination
    policy) does not parse it again."""
    if not isinstance(number, str):
        raise PhoneError(f"{field} must be a string", code="phone-type", field=field)
    text = number.strip()
    if not text:
        raise PhoneError(f"{field} is empty", code="phone-empty", field=field)
    if len(text) > _MAX_LEN or _ALLOWED.fullmatch(text) is None:
        bad = next((c for c in text if _ALLOWED.fullmatch(c) is None), None)
        reason = f"character {bad!r} is not allowed" if bad else "it is too long"
        raise PhoneError(
            f"{field} {number!r} is not a phone number: {reason}",
            code="phone-unparseable",
            field=field,
        )
    if text in known:
        return text, None
    region: str | None = None
    if country_code is not None:
        region = check_region(country_code, field="country_code")
    elif default_region is not None:
        region = check_region(default_region, field="default_region")
    international = text.startswith("+")
    if not international and region is None:
        raise PhoneError(
            f"{field} {number!r} is not in E.164 form (+<country><number>) and no country_code"
            " was given",
            code="phone-no-region",
            field=field,
        )
    try:
        parsed = phonenumbers.parse(text, None if international else region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            raise PhoneError(
                f"{field} {number!r} starts with an unknown country calling code",
                code="phone-bad-country",
                field=field,
            ) from None
        reason = _PARSE_REASONS.get(exc.error_type, "unreadable")
        raise PhoneError(
            f"{field} {number!r} is not a phone number: {reason}",
            code="phone-unparseable",
            field=field,
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        where = phonenumbers.region_code_for_number(parsed) or region or "any region"
        raise PhoneError(
            f"{field} {number!r} is not a valid phone number for {where}",
            code="phone-invalid",
            field=field,
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), parsed


def region_of(e164: str) -> str | None:
    """The ISO region of an E.164 number (``+886912345678`` → ``TW``), or None."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None
    return phonenumbers.region_code_for_number(parsed)
