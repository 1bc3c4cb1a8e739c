"""Field tables: the fields a route accepts, written once.

A route's table (``CALL_FIELDS``, ``SESSION_FIELDS``, ``LIST_FIELDS``, the vendor
routes' ``FIELDS``) is a mapping ``name -> Field``: the route's validation reads it
(which names are known: :func:`refuse_unknown`; which are required: :func:`required`)
and :mod:`voiceapp.web.openapi` turns it into the OpenAPI document's request schema or
query parameters.  A ``Field`` carries the JSON Schema of its value (what the validation
accepts, as far as a schema can say it) and a sentence for people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from voiceapp.errors import ValidationError


@dataclass(frozen=True)
class Field:
    """One field of a request body or query: its name, JSON Schema and meaning."""

    name: str
    schema: Mapping[str, Any]
    doc: str
    required: bool = False
    #: the schema in a form body (``application/x-www-form-urlencoded``), when it differs
    form_schema: Mapping[str, Any] | None = field(default=None)


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


#: Schemas used by several tables.
STRING: Mapping[str, Any] = {"type": "string"}
URL: Mapping[str, Any] = {"type": "string", "format": "uri", "maxLength": 2048}
OBJECT: Mapping[str, Any] = {"type": "object"}
