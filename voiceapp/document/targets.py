"""Export targets: what one platform takes more narrowly than the dialect, as data.

The schema (:mod:`voiceapp.schema`) accepts what voiceapp's dialer runs and what
Twilio's peers accept (``W`` waits, ``A-D`` tones, a Plivo-style ``@ms`` tone length).
A target lists, in one place, the narrower rules of one platform and how
``voiceapp fmt --target`` rewrites what it can; :func:`voiceapp.document.check` applies
them (``target=...``) in the same located walk as the schema's rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class DigitsRule:
    """A digit attribute of one element, narrowed: the characters the platform takes,
    its length limit (characters, after rewriting) and the rewrites that keep the
    meaning (``W``, a 1 s wait, is ``ww``, two 0.5 s waits)."""

    element: str
    """The schema element's tag (``Number``)."""
    attribute: str
    allowed: str
    """Every character the platform takes in the value."""
    allowed_text: str
    """The same, as the message shows it (``0-9 * # w``)."""
    max_length: int | None
    rewrites: Mapping[str, str]
    source: str
    """Where the rule comes from (shown in messages)."""


@dataclass(frozen=True, slots=True)
class Target:
    """The narrower rules of one platform."""

    name: str
    title: str
    max_bytes: int
    """The largest document the platform takes, in bytes of UTF-8."""
    max_bytes_source: str
    digits: tuple[DigitsRule, ...]

    def digits_rule(self, tag: str) -> DigitsRule | None:
        return next((r for r in self.digits if r.element == tag), None)


_TWILIO_DIGITS: Final = "0123456789*#w"
#: The most digits Twilio sends from one string (``<Number sendDigits>`` here, the REST
#: API's ``SendDigits`` in :mod:`voiceapp.web.twilio_api`).
TWILIO_MAX_DIGITS: Final = 32

TWILIO: Final = Target(
    name="twilio",
    title="Twilio",
    max_bytes=64 * 1024,
    max_bytes_source="Twilio error 11750: a TwiML response body larger than 64 kB",
    digits=(
        DigitsRule(
            element="Number",
            attribute="sendDigits",
            allowed=_TWILIO_DIGITS,
            allowed_text="0-9 * # w",
            max_length=TWILIO_MAX_DIGITS,
            rewrites={"W": "ww"},
            source="Twilio warning 13222",
        ),
        DigitsRule(
            element="Play",
            attribute="digits",
            allowed=_TWILIO_DIGITS,
            allowed_text="0-9 * # w",
            max_length=None,
            rewrites={"W": "ww"},
            source="Twilio's <Play> reference: `ww` waits one second",
        ),
    ),
)

TARGETS: Final[Mapping[str, Target]] = {t.name: t for t in (TWILIO,)}
"""Every export target by name (``voiceapp lint --target NAME``)."""


def rewritten(value: str, rule: DigitsRule) -> str:
    """The value with the rule's rewrites applied (``1W2`` -> ``1ww2``)."""
    for old, new in rule.rewrites.items():
        value = value.replace(old, new)
    return value
