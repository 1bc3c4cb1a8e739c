"""Field tables: the fields a route accepts, written once.

A route's table (``CALL_FIELDS``, ``SESSION_FIELDS``, ``LIST_FIELDS``, the vendor
routes' ``FIELDS``) is a mapping ``name -> Field``: the route's validation reads it
(which names are known: :func:`refuse_unknown`; which are required: :func:`required`)
and :mod:`voiceapp.web.openapi` turns it into the OpenAPI document's request schema or
query parameters.  A ``Field`` carries the JSON Schema of its value (what the validation
accepts, as far as a schema can say it) and a sentence for people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from voiceapp.checks import located
from voiceapp.errors import MissingField, ValidationError


@dataclass(frozen=True)
class Field:
    """One field of a request body or query: its name, JSON Schema and meaning."""

    name: str
    schema: Mapping[str, Any]
    doc: str
    required: bool = False
    #: the schema in a form body (``application/x-www-form-urlencoded``), when it differs
    form_schema: Mapping[str, Any] | None = field(default=None)
    #: the value's check (:mod:`voiceapp.checks`): what :func:`read` runs on a given value
    check: Callable[[Any], Any] | None = field(default=None)


#: ``name -> Field``, in the order the fields are documented.
FieldTable = Mapping[str, Field]


def table(*fields: Field) -> dict[str, Field]:
    """A field table (names are unique)."""
    out: dict[str, Field] = {}
    for item in fields:
        if item.name in out:
            raise ValueError(f"field {item.name!r} is in the table twice")
        out[item.name] = item
    return out


def required(fields: FieldTable) -> tuple[str, ...]:
    """The names of the required fields, in table order."""
    return tuple(name for name, item in fields.items() if item.required)


def refuse_unknown(
    fields: FieldTable, names: Iterable[object], *, what: tuple[str, str] = ("field", "fields")
) -> None:
    """Refuse the first of ``names`` the table does not know: 422 ``unknown-field``
    naming it (``what``: the singular and plural of what the names are)."""
    for name in names:
        if name not in fields:
            raise ValidationError(
                f"unknown {what[0]} {name!r} ({what[1]}: {', '.join(fields)})",
                code="unknown-field",
                field=str(name),
            )


def read(fields: FieldTable, data: Mapping[str, Any]) -> dict[str, Any]:
    """The given fields' checked values, in table order: the one engine of the routes.

    A field that is absent, ``null`` or, for a string field, blank is left out; a
    required one is 400 ``missing``; a value its check refuses is 422 naming the field
    (:func:`voiceapp.checks.located`).  Names the table does not know are the caller's
    to refuse first (:func:`refuse_unknown`)."""
    values: dict[str, Any] = {}
    for name, item in fields.items():
        value = data.get(name)
        blank = item.schema.get("type") == "string" and isinstance(value, str) and not value.strip()
        if value is None or blank:
            if item.required:
                raise MissingField(f"{name} is required", field=name)
            continue
        values[name] = located(item.check, value, field=name) if item.check else value
    return values


#: Schemas used by several tables.
STRING: Mapping[str, Any] = {"type": "string"}
URL: Mapping[str, Any] = {"type": "string", "format": "uri", "maxLength": 2048}
OBJECT: Mapping[str, Any] = {"type": "object"}
