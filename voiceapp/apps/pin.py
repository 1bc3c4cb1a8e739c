"""PIN apps: say a code to the person it was made for, or ask them to enter it.

``pin``
    ``{"pin": "8970", "repeat": 2}`` → "Your pin is 8 9 7 0", said ``repeat``
    times (1-5, default 2), then ``<Hangup>``.  Template ``pin.xml``.
``pin-verify``
    ``{"pin": "8970"}`` → a ``<Gather numDigits="4">`` whose ``action`` is a step
    token; a wrong entry asks again, at most :data:`MAX_ATTEMPTS` entries in all,
    then locks out.  The attempt number travels inside the signed, single-use step
    token, so the count can be neither reset nor forked by replaying an old URL.
    A session of this app lives at most :data:`VERIFY_TTL` seconds (10 minutes),
    and no step token outlives it.  Templates ``pin_verify.xml`` (the prompt) and
    ``pin_verify_result.xml`` (``success`` or ``locked``).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from voiceapp import checks
from voiceapp.apps.base import App, Context, Example, Variable, pin, read_variables
from voiceapp.errors import ValidationError

#: wrong entries allowed before the lock-out
MAX_ATTEMPTS = 5
#: longest life of a pin-verify session, seconds
VERIFY_TTL = 600


def spaced(pin: str) -> str:
    """``"8970"`` → ``"8 9 7 0"``: text-to-speech reads single digits, not a number."""
    return " ".join(pin)


class PinApp(App):
    name = "pin"
    summary = "Says a PIN digit by digit, `repeat` times, then hangs up."
    templates = ("pin.xml",)
    secret_variables: ClassVar[frozenset[str]] = frozenset({"pin"})

    #: the variables of a pin session
    variables: ClassVar[tuple[Variable, ...]] = (
        Variable("pin", pin, required=True),
        Variable("repeat", checks.integer(1, 5), default=2),
    )

    def validate(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        return read_variables(variables, self.variables)

    def start(self, ctx: Context) -> bytes:
        pin = str(ctx.variables["pin"])
        return ctx.document(
            "pin.xml", pin=pin, digits=spaced(pin), repeat=int(ctx.variables["repeat"])
        )

    def examples(self) -> Iterable[Example]:
        yield Example({"pin": "8970"})
        yield Example({"pin": "0123456789", "repeat": 5})


class PinVerifyApp(App):
    name = "pin-verify"
    summary = "Asks for the PIN with <Gather>; 5 attempts, then lock-out; 10-minute session."
    templates = ("pin_verify.xml", "pin_verify_result.xml")
    max_ttl: ClassVar[int | None] = VERIFY_TTL
    secret_variables: ClassVar[frozenset[str]] = frozenset({"pin"})

    #: the variables of a pin-verify session
    variables: ClassVar[tuple[Variable, ...]] = (Variable("pin", pin, required=True),)

    def validate(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        return read_variables(variables, self.variables)

    def _prompt(self, ctx: Context, attempt: int, reason: str) -> bytes:
        pin = str(ctx.variables["pin"])
        # Gather's action and the no-input Redirect share one token: whichever the
        # dialer follows consumes it, and silence counts as a wrong entry.
        check_url = ctx.step_url("check", {"attempt": attempt})
        return ctx.document(
            "pin_verify.xml",
            length=len(pin),
            action=check_url,
            attempt=attempt,
            attempts_left=MAX_ATTEMPTS - attempt + 1,
            reason=reason,  # "" (first prompt), "wrong" or "silent"
        )

    def start(self, ctx: Context) -> bytes:
        return self._prompt(ctx, 1, "")

    def step(self, ctx: Context, step: str, data: Mapping[str, Any]) -> bytes:
        if step != "check":
            return super().step(ctx, step, data)
        attempt = data.get("attempt")
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValidationError("bad step data", code="unknown-step", field="attempt")
        entered = ctx.params.get("Digits", "")
        pin = str(ctx.variables["pin"])
        if hmac.compare_digest(entered.encode(), pin.encode()):
            return ctx.document("pin_verify_result.xml", result="success", attempt=attempt)
        if attempt >= MAX_ATTEMPTS:
            return ctx.document("pin_verify_result.xml", result="locked", attempt=attempt)
        return self._prompt(ctx, attempt + 1, "wrong" if entered else "silent")

    def examples(self) -> Iterable[Example]:
        yield Example(
            {"pin": "8970"},
            steps=(
                ("check", {"attempt": 1}, {"Digits": "1111"}),
                ("check", {"attempt": 2}, {"Digits": "8970"}),
                ("check", {"attempt": MAX_ATTEMPTS}, {"Digits": ""}),
            ),
        )
