"""Click-to-call: connect the callee to a call-centre number or a named queue.

Variables (``number`` or ``queue``, not both)::

    {"number": "+14155550100",      # E.164 destination of the <Dial>
     "send_digits": "ww101",        # extension, checked by the DTMF parser (number only)
     "queue": "support",            # instead of number: <Dial><Queue>support</Queue>
     "caller_id": "+14155550199",   # <Dial callerId>, optional
     "timeout": 30,                 # seconds to ring: <Dial timeout>, 5-600 (default 30)
     "whisper": "Web lead, connecting"}  # said to the answering agent first, optional

Documents: ``bridge.xml`` (greeting and the ``<Dial>``, whose ``action`` is the
``dialed`` step), ``bridge_whisper.xml`` (the ``<Number url>`` whisper) and
``bridge_after.xml`` (after the dial: hang up when it was answered, else the
no-answer fallback message).  The IVR app reuses :func:`dial_document` and
:func:`after_document` for its bridge options.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from voiceapp.apps.base import (
    App,
    Context,
    Example,
    check_digits,
    check_int,
    check_keys,
    check_number,
    check_text,
)
from voiceapp.errors import ValidationError
from voiceapp.schema import ELEMENTS, Int

_QUEUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
#: the DialCallStatus values a dialer reports to the Dial action
DIAL_STATUSES = ("completed", "answered", "busy", "no-answer", "failed", "canceled")


def _dial_timeout() -> tuple[int, int, int]:
    """(lowest, highest, default) of ``<Dial timeout>``: the rule is the schema's."""
    attr = ELEMENTS["Dial"].attr_map["timeout"]
    kind = attr.type
    assert isinstance(kind, Int) and kind.hi is not None
    return kind.lo, kind.hi, attr.default_value


_TIMEOUT_LOW, _TIMEOUT_HIGH, _TIMEOUT_DEFAULT = _dial_timeout()


def check_bridge(variables: Mapping[str, Any], *, at: str) -> dict[str, Any]:
    """Validated bridge variables (also used for IVR bridge options)."""
    check_keys(
        variables,
        required=(),
        optional=("number", "queue", "send_digits", "caller_id", "timeout", "whisper"),
        at=at,
    )
    has_number, has_queue = "number" in variables, "queue" in variables
    if has_number == has_queue:
        raise ValidationError(
            f"{at} needs exactly one of number or queue", code="missing", field=f"{at}.number"
        )
    out: dict[str, Any] = {
        "timeout": check_int(
            variables.get("timeout"),
            field=f"{at}.timeout",
            low=_TIMEOUT_LOW,
            high=_TIMEOUT_HIGH,
            default=_TIMEOUT_DEFAULT,
        )
    }
    if has_number:
        out["number"] = check_number(variables["number"], field=f"{at}.number")
        if "send_digits" in variables:
            out["send_digits"] = check_digits(variables["send_digits"], field=f"{at}.send_digits")
    else:
        queue = variables["queue"]
        if not isinstance(queue, str) or _QUEUE.fullmatch(queue) is None:
            raise ValidationError(
                f"{at}.queue must be 1-64 letters, digits, spaces, '_', '.' or '-'",
                code="invalid-queue",
                field=f"{at}.queue",
            )
        out["queue"] = queue
        if "send_digits" in variables:
            raise ValidationError(
                f"{at}.send_digits needs a number, not a queue",
                code="invalid-combination",
                field=f"{at}.send_digits",
            )
    if "caller_id" in variables:
        out["caller_id"] = check_number(variables["caller_id"], field=f"{at}.caller_id")
    if "whisper" in variables:
        out["whisper"] = check_text(variables["whisper"], field=f"{at}.whisper", max_length=500)
    return out


def dial_document(ctx: Context, bridge: Mapping[str, Any], after: Mapping[str, Any]) -> bytes:
    """``bridge.xml`` for validated ``bridge`` variables; ``after`` is the dialed step's data."""
    whisper_url = None
    if bridge.get("whisper"):
        whisper_url = ctx.step_url("whisper", {**after, "text": bridge["whisper"]})
    return ctx.document(
        "bridge.xml",
        number=bridge.get("number"),
        queue=bridge.get("queue"),
        send_digits=bridge.get("send_digits"),
        caller_id=bridge.get("caller_id"),
        timeout=bridge["timeout"],
        whisper_url=whisper_url,
        action=ctx.step_url("dialed", after),
    )


def after_document(ctx: Context) -> bytes:
    """``bridge_after.xml`` for the ``DialCallStatus`` the dialer reported."""
    status = ctx.params.get("DialCallStatus", "")
    if status not in DIAL_STATUSES:
        status = "failed"
    return ctx.document("bridge_after.xml", status=status, answered=status in DIAL_STATUSES[:2])


def whisper_document(ctx: Context, data: Mapping[str, Any]) -> bytes:
    return ctx.document("bridge_whisper.xml", text=str(data.get("text", "")))


class BridgeApp(App):
    name = "bridge"
    summary = "Click-to-call: optional whisper, then <Dial> a number (sendDigits) or a queue."
    templates = ("bridge.xml", "bridge_whisper.xml", "bridge_after.xml")

    def validate(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        return check_bridge(variables, at="variables")

    def start(self, ctx: Context) -> bytes:
        return dial_document(ctx, ctx.variables, {})

    def step(self, ctx: Context, step: str, data: Mapping[str, Any]) -> bytes:
        if step == "dialed":
            return after_document(ctx)
        if step == "whisper":
            return whisper_document(ctx, data)
        return super().step(ctx, step, data)

    def examples(self) -> Iterable[Example]:
        yield Example(
            {
                "number": "+14155550100",
                "send_digits": "ww101",
                "caller_id": "+14155550199",
                "whisper": "Call from the web site & <friends>",
            },
            steps=(
                ("whisper", {"text": "Call from the web site"}, {}),
                ("dialed", {}, {"DialCallStatus": "completed"}),
                ("dialed", {}, {"DialCallStatus": "no-answer"}),
                ("dialed", {}, {"DialCallStatus": "busy"}),
            ),
        )
        yield Example({"queue": "support", "timeout": 60})
