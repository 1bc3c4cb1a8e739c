"""The checks behind the routes, fuzzed directly: any decoded JSON value is accepted or
refused with the check's own error, never another exception (a route would answer 5xx).

These reach values the route-level fuzz meets only rarely (an integer of 400 digits in
one declared Feather variable), at thousands of cases a second.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fuzz import EDGES, JSON_VALUES, VARIABLE_NAMES, VARIABLES, declared

from voiceapp.apps import registry
from voiceapp.apps.base import check_variables
from voiceapp.errors import VoiceappError
from voiceapp.web.compat.feather import coerce

KINDS: list[str | tuple[str, ...]] = ["string", "integer", "number", "boolean", ("low", "high")]
VALUES = EDGES | JSON_VALUES | st.integers() | st.floats()


#: what a coerced value is, by declared kind
TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(value=VALUES)
def test_feather_coerce_gives_its_type_or_value_error(
    kind: str | tuple[str, ...], value: Any
) -> None:
    try:
        out = coerce(kind, value)
    except ValueError:
        return
    if isinstance(kind, tuple):
        assert out in kind
    else:
        assert isinstance(out, TYPES[kind]) and not (kind != "boolean" and out is True)


@pytest.mark.parametrize("name", sorted(registry()))
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(variables=VARIABLES | declared(VARIABLE_NAMES))
def test_app_variables_are_valid_or_a_voiceapp_error(name: str, variables: Any) -> None:
    app = registry()[name]
    try:
        app.validate(check_variables(variables))
    except VoiceappError as exc:
        assert exc.status < 500 and exc.field is not None and exc.field.startswith("variables")
