"""The greeting app: an agent that greets the callee by name and reads out the call's data.

``greeting``
    ``{"customerName": "John Doe", "orderId": "12345", ...}`` → "Hello John Doe.",
    "We are calling about your order 12345.", then one sentence per other variable
    (``"priority: high."``, in key order), then ``<Hangup>``.  Template ``greeting.xml``.

It is the app behind the vendor-compatible routes' agents (``docs/compat.md``): their
dynamic variables, context variables and metadata arrive here as session variables.

Declared variables (all optional):

=================  ==========================================================
``customerName``   text, at most 200 characters: who is greeted
``orderId``        text, at most 64 characters: the order the call is about
any other key      a name of letters, digits and ``_`` (at most 64, starting
                   with a letter) whose value is text (at most 1000
                   characters), an integer, a number or a boolean
=================  ==========================================================

At most :data:`MAX_VARIABLES` variables.  Nested objects and lists are refused
(``invalid-type``), like every other bad value, naming ``variables.<key>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from voiceapp.apps.base import App, Context, Example
from voiceapp.errors import ValidationError

#: The variables the app knows by name: name → (kind, longest text).
DECLARED: Mapping[str, tuple[str, int]] = {"customerName": ("text", 200), "orderId": ("text", 64)}
MAX_VARIABLES = 64
MAX_TEXT = 1000
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def _text(value: Any, *, field: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(
            f"{field} must be text of at most {limit} characters",
            code="invalid-type" if not isinstance(value, str) else "too-long",
            field=field,
        )
    return value.strip()


def _scalar(value: Any, *, field: str) -> str | int | float | bool:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(
                f"{field} must be a finite number", code="invalid-type", field=field
            )
        return value
    if isinstance(value, str):
        return _text(value, field=field, limit=MAX_TEXT)
    raise ValidationError(
        f"{field} must be text, a number or a boolean (not {type(value).__name__})",
        code="invalid-type",
        field=field,
    )


def spoken(value: str | int | float | bool) -> str:
    """How a variable's value is said: booleans as yes/no, numbers as written."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


class GreetingApp(App):
    name = "greeting"
    summary = "Greets customerName, names orderId, reads out any other variables, hangs up."
    templates = ("greeting.xml",)

    def validate(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(variables, Mapping):
            raise ValidationError(
                "variables must be an object", code="invalid-type", field="variables"
            )
        if len(variables) > MAX_VARIABLES:
            raise ValidationError(
                f"variables has {len(variables)} keys; at most {MAX_VARIABLES}",
                code="too-many",
                field="variables",
            )
        cleaned: dict[str, Any] = {}
        for key, value in variables.items():
            if not isinstance(key, str) or _KEY.fullmatch(key) is None:
                raise ValidationError(
                    f"variables key {key!r} must be a letter then letters, digits or _ (≤ 64)",
                    code="invalid-name",
                    field=f"variables.{key}",
                )
            field = f"variables.{key}"
            declared = DECLARED.get(key)
            if declared is not None:
                cleaned[key] = _text(value, field=field, limit=declared[1])
            else:
                cleaned[key] = _scalar(value, field=field)
        return cleaned

    def start(self, ctx: Context) -> bytes:
        variables = ctx.variables
        details = [
            (key, spoken(value))
            for key, value in sorted(variables.items())
            if key not in DECLARED and spoken(value) != ""
        ]
        return ctx.document(
            "greeting.xml",
            customer=str(variables.get("customerName", "")),
            order_id=str(variables.get("orderId", "")),
            details=details,
        )

    def examples(self) -> Iterable[Example]:
        yield Example({})
        yield Example({"customerName": "John Doe", "orderId": "12345"})
        yield Example({"customerName": "王小明", "items": 3, "vip": True, "score": 4.5})
