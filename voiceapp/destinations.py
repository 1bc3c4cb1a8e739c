"""The destination policy: which valid phone numbers voiceapp may call (toll fraud).

A number that :mod:`voiceapp.phone` accepted is valid; this module decides whether
the deployment calls it.  One :class:`DestinationPolicy`, built from the settings
(:meth:`voiceapp.config.Settings.destination_policy`), guards every door a callee number comes
through: ``POST /v1/calls``, ``POST /v1/sessions``, the vendor routes (all three
through :func:`voiceapp.web.api.destination`) and the dialer's ``<Dial><Number>``.
The rules, in order:

1. **exact numbers** (``DESTINATION_ALLOWLIST``, plus the deployment's own numbers:
   the simulated network's ``[network.numbers]`` and ``OUTBOUND_NUMBERS``) are
   called whatever their type or country;
2. **blocked calling codes** (``BLOCKED_COUNTRY_CODES``: satellite 870, 881, 882,
   883 and the international premium rate 979) →
   :class:`~voiceapp.errors.DestinationBlocked` ``destination-blocked``;
3. **blocked number types** (``BLOCKED_NUMBER_TYPES``: phonenumbers'
   ``PhoneNumberType`` names, by default premium rate, shared cost, personal
   number, UAN, voicemail-only and pager) → ``destination-blocked``;
4. **geo permissions**: the number's country calling code must be in the allowed
   set, ``ALLOWED_COUNTRY_CODES`` plus the code of ``DEFAULT_REGION`` (``*`` allows
   every country; with no ``DEFAULT_REGION`` and no list every country is allowed,
   and rules 2 and 3 still apply) →
   :class:`~voiceapp.errors.DestinationNotPermitted` ``destination-not-permitted``.

Both errors are 403, name the request field and say the type or the calling code;
nothing else.  This module knows nothing of HTTP or of the dialer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from voiceapp.errors import DestinationBlocked, DestinationNotPermitted

#: phonenumbers' ``PhoneNumberType`` names a deployment may block, and how a message
#: names a number of that type.
NUMBER_TYPES: Final[dict[str, tuple[int, str]]] = {
    "FIXED_LINE": (PhoneNumberType.FIXED_LINE, "fixed-line"),
    "MOBILE": (PhoneNumberType.MOBILE, "mobile"),
    "FIXED_LINE_OR_MOBILE": (PhoneNumberType.FIXED_LINE_OR_MOBILE, "fixed-line or mobile"),
    "TOLL_FREE": (PhoneNumberType.TOLL_FREE, "toll-free"),
    "PREMIUM_RATE": (PhoneNumberType.PREMIUM_RATE, "premium-rate"),
    "SHARED_COST": (PhoneNumberType.SHARED_COST, "shared-cost"),
    "VOIP": (PhoneNumberType.VOIP, "VoIP"),
    "PERSONAL_NUMBER": (PhoneNumberType.PERSONAL_NUMBER, "personal"),
    "PAGER": (PhoneNumberType.PAGER, "pager"),
    "UAN": (PhoneNumberType.UAN, "UAN (universal access)"),
    "VOICEMAIL": (PhoneNumberType.VOICEMAIL, "voicemail-only"),
    "UNKNOWN": (PhoneNumberType.UNKNOWN, "unknown-type"),
}
_BY_VALUE: Final = {value: name for name, (value, _) in NUMBER_TYPES.items()}

#: Blocked unless a deployment says otherwise (``BLOCKED_NUMBER_TYPES``).
DEFAULT_BLOCKED_TYPES: Final = (
    "PREMIUM_RATE",
    "SHARED_COST",
    "PERSONAL_NUMBER",
    "UAN",
    "VOICEMAIL",
    "PAGER",
)
#: Calling codes blocked whatever the type: phonenumbers types satellite numbers as
#: mobile or VoIP, so they are blocked by code (``BLOCKED_COUNTRY_CODES``).
BLOCKED_CODE_NAMES: Final[dict[int, str]] = {
    870: "Inmarsat satellite",
    881: "satellite (Global Mobile Satellite System)",
    882: "international networks (satellite)",
    883: "international networks (satellite)",
    979: "international premium-rate",
}
DEFAULT_BLOCKED_CODES: Final = tuple(str(code) for code in BLOCKED_CODE_NAMES)
#: The ``ALLOWED_COUNTRY_CODES`` entry that allows every country.
ALL_COUNTRIES: Final = "*"


def number_type_name(value: object) -> str:
    """The ``PhoneNumberType`` name of a setting entry (any case, ``-`` or ``_``), or raise
    ``ValueError`` listing the names."""
    text = str(value).strip().upper().replace("-", "_").replace(" ", "_")
    if text not in NUMBER_TYPES:
        raise ValueError(f"{value!r} is not a phonenumbers number type ({', '.join(NUMBER_TYPES)})")
    return text


def calling_code(value: object) -> int:
    """A country calling code (``44``, ``"+44"``) phonenumbers knows, or raise ``ValueError``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a country calling code")
    text = str(value).strip().removeprefix("+")
    if not text.isdigit() or not 1 <= len(text) <= 3:
        raise ValueError(f"{value!r} is not a country calling code such as 44 or 886")
    code = int(text)
    if code not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        raise ValueError(f"{value!r} is not a country calling code phonenumbers knows")
    return code


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """Which valid numbers may be called (see the module docstring for the rules).

    ``allowed_codes`` of ``None`` permits every country calling code.
    """

    blocked_types: frozenset[int] = frozenset(
        NUMBER_TYPES[name][0] for name in DEFAULT_BLOCKED_TYPES
    )
    blocked_codes: frozenset[int] = frozenset(BLOCKED_CODE_NAMES)
    allowed_codes: frozenset[int] | None = None
    allowlist: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        blocked_types: Iterable[str] = DEFAULT_BLOCKED_TYPES,
        blocked_codes: Iterable[str | int] = DEFAULT_BLOCKED_CODES,
        allowed_codes: Iterable[str | int] = (),
        default_region: str | None = None,
        allowlist: Iterable[str] = (),
    ) -> DestinationPolicy:
        """The policy of setting values; ``ValueError`` for an unknown type or code.

        Allowed codes are ``allowed_codes`` plus the code of ``default_region``; ``*``
        among them, or neither a region nor a list, permits every country.
        """
        allowed_list = [str(entry).strip() for entry in allowed_codes]
        allowed: frozenset[int] | None
        if ALL_COUNTRIES in allowed_list:
            allowed = None
        else:
            codes = {calling_code(entry) for entry in allowed_list}
            region_code = phonenumbers.country_code_for_region(default_region or "")
            if region_code:
                codes.add(region_code)
            allowed = frozenset(codes) if codes else None
        return cls(
            blocked_types=frozenset(NUMBER_TYPES[number_type_name(t)][0] for t in blocked_types),
            blocked_codes=frozenset(calling_code(code) for code in blocked_codes),
            allowed_codes=allowed,
            allowlist=frozenset(allowlist),
        )

    def allowing(self, numbers: Iterable[str]) -> DestinationPolicy:
        """This policy with ``numbers`` added to the exact allowed numbers."""
        return dataclasses.replace(self, allowlist=self.allowlist | frozenset(numbers))

    def check(
        self, number: str, *, field: str, parsed: phonenumbers.PhoneNumber | None = None
    ) -> str:
        """``number`` (E.164, as :func:`voiceapp.phone.normalize` made it) when it may be
        called; else :class:`DestinationBlocked` or :class:`DestinationNotPermitted`.
        ``parsed`` is ``number`` as :func:`voiceapp.phone.normalize_parsed` parsed it
        (then it is not parsed again)."""
        if number in self.allowlist:
            return number
        if parsed is None:
            try:
                parsed = phonenumbers.parse(number, None)
            except NumberParseException:
                raise DestinationNotPermitted(
                    f"{field} {number} has no country calling code this deployment calls",
                    field=field,
                ) from None
        code = parsed.country_code or 0
        if code in self.blocked_codes:
            kind = BLOCKED_CODE_NAMES.get(code, f"+{code}")
            raise DestinationBlocked(
                f"{field} {number} is a {kind} number (+{code}); this deployment does not call"
                f" +{code}",
                field=field,
            )
        number_type = phonenumbers.number_type(parsed)
        if number_type in self.blocked_types:
            label = NUMBER_TYPES[_BY_VALUE[number_type]][1]
            article = "an" if label.startswith("unknown") else "a"
            raise DestinationBlocked(
                f"{field} {number} is {article} {label} number; this deployment does not call"
                f" {label} numbers",
                field=field,
            )
        if self.allowed_codes is not None and code not in self.allowed_codes:
            region = phonenumbers.region_code_for_country_code(code)
            where = f" ({region})" if region not in ("ZZ", "001") else ""
            raise DestinationNotPermitted(
                f"{field} {number} is in country calling code +{code}{where}, which this"
                " deployment is not permitted to call (ALLOWED_COUNTRY_CODES)",
                field=field,
            )
        return number
