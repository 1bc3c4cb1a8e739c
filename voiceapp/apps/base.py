"""What every voice app is: variable validation, a first document, continuation steps.

An app is a small object with no HTTP in it.  The web layer gives it a
:class:`Context` per fetch: the session, the templates, and a ``step_url``
callable that turns ``(step, data)`` into the absolute URL of a signed,
single-use step token.  The app returns document bytes (already validated, see
:meth:`Context.document`).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from voiceapp import checks
from voiceapp.apps.templates import Templates
from voiceapp.checks import located
from voiceapp.errors import DigitsError, InvalidValue, PhoneError, ValidationError
from voiceapp.stores.base import Session

#: The deepest nesting of objects and lists in an app's variables (an IVR tree of
#: five menus with a bridge option is 16 deep) and the most values in all of them.
MAX_VARIABLES_DEPTH = 20
MAX_VARIABLES_ITEMS = 2000


class StepUrl(Protocol):
    """``step_url(step, data, ttl=None)``: the absolute URL of a new step token.

    The web layer makes one per fetch: it signs a single-use token for
    ``(session, step, data)`` valid ``ttl`` seconds (``STEP_TTL`` when None, never
    past the session) and returns ``<base>/voice/step/<token>``.
    """

    def __call__(self, step: str, data: Mapping[str, Any], *, ttl: int | None = None) -> str: ...


@dataclass(frozen=True)
class Context:
    """Everything an app may use while making one document."""

    session: Session
    templates: Templates
    step_url: StepUrl
    now: float
    params: Mapping[str, str] = field(default_factory=dict)  # CallSid, Digits, DialCallStatus...

    @property
    def language(self) -> str:
        return self.session.language

    @property
    def variables(self) -> Mapping[str, Any]:
        return self.session.variables

    def document(self, name: str, **context: Any) -> bytes:
        """Template ``<language>/<name>`` rendered with ``context``, validated, as bytes."""
        return self.templates.document(self.language, name, context)


@dataclass(frozen=True)
class Example:
    """Sample data that exercises an app's templates at boot.

    ``steps`` are ``(step, data, params)`` continuations run after the first document.
    """

    variables: Mapping[str, Any]
    steps: Sequence[tuple[str, Mapping[str, Any], Mapping[str, str]]] = ()


class App(abc.ABC):
    """A voice application: a function from session data to documents."""

    #: the name clients use in ``{"app": ...}``
    name: ClassVar[str]
    #: one line for the docs
    summary: ClassVar[str]
    #: the template names (in every language folder) the app renders
    templates: ClassVar[tuple[str, ...]]
    #: the longest session ttl the app accepts (None: the deployment's limit)
    max_ttl: ClassVar[int | None] = None
    #: variables flagged secret: never returned by the API, traced or logged (only the
    #: session holds them; the call keeps fingerprints, see ``voiceapp.redact``)
    secret_variables: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def validate(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The cleaned variables, or :class:`ValidationError` naming ``variables.<field>``."""

    @abc.abstractmethod
    def start(self, ctx: Context) -> bytes:
        """The document served at the session's voice URL."""

    def step(self, ctx: Context, step: str, data: Mapping[str, Any]) -> bytes:
        """The document of continuation ``step`` (``ctx.params`` holds the request's values)."""
        raise ValidationError(
            f"app {self.name} has no step {step!r}", code="unknown-step", field="step"
        )

    @abc.abstractmethod
    def examples(self) -> Iterable[Example]:
        """Sample sessions (and steps) that render every template of the app."""


# -- variable checks shared by the apps ---------------------------------------------------


def check_keys(
    variables: Mapping[str, Any], *, required: Iterable[str], optional: Iterable[str], at: str
) -> None:
    """Refuse a non-object, missing required keys and unknown keys."""
    if not isinstance(variables, Mapping):
        raise ValidationError(f"{at} must be an object", code="invalid-type", field=at)
    required = tuple(required)
    allowed = set(required) | set(optional)
    for key in required:
        if key not in variables:
            raise ValidationError(f"{at}.{key} is required", code="missing", field=f"{at}.{key}")
    for key in variables:
        if key not in allowed:
            raise ValidationError(
                f"{at}.{key} is not a known variable (known: {', '.join(sorted(allowed))})",
                code="unknown-field",
                field=f"{at}.{key}",
            )


def check_variables(variables: Any, *, at: str = "variables") -> Mapping[str, Any]:
    """``variables`` if it is an object within :data:`MAX_VARIABLES_DEPTH` and
    :data:`MAX_VARIABLES_ITEMS`; else ``ValidationError`` naming the field path
    (``invalid-type``, ``too-deep`` with e.g. ``variables.options.1.menu``, ``too-large``).

    It walks without recursion, so no nesting can exhaust the stack.
    """
    if not isinstance(variables, Mapping):
        raise ValidationError(f"{at} must be an object", code="invalid-type", field=at)
    stack: list[tuple[Any, str, int]] = [(variables, at, 1)]
    items = 0
    while stack:
        value, where, depth = stack.pop()
        items += 1
        if items > MAX_VARIABLES_ITEMS:
            raise ValidationError(
                f"{at} holds more than {MAX_VARIABLES_ITEMS} values",
                code="too-large",
                field=at,
            )
        if isinstance(value, Mapping):
            children = [(v, f"{where}.{k}") for k, v in value.items()]
        elif isinstance(value, list | tuple):
            children = [(v, f"{where}.{i}") for i, v in enumerate(value)]
        else:
            continue
        if depth > MAX_VARIABLES_DEPTH:
            raise ValidationError(
                f"{where}: variables nest at most {MAX_VARIABLES_DEPTH} objects and lists deep",
                code="too-deep",
                field=where,
            )
        stack.extend((child, path, depth + 1) for child, path in reversed(children))
    return variables


@dataclass(frozen=True)
class Variable:
    """One variable an app accepts: its check (a :mod:`voiceapp.checks` check: value →
    clean value, or :class:`~voiceapp.errors.InvalidValue`), whether it is required, and the
    default taken when it is absent or null (None: no default, the variable is left out)."""

    name: str
    check: Callable[[Any], Any]
    required: bool = False
    default: Any = None


def read_variables(
    variables: Mapping[str, Any], table: Sequence[Variable], *, at: str = "variables"
) -> dict[str, Any]:
    """The variables of ``table`` checked, in table order: unknown and missing names are
    refused (:func:`check_keys`), each value is checked and located (``variables.repeat``)."""
    check_keys(
        variables,
        required=(v.name for v in table if v.required),
        optional=(v.name for v in table if not v.required),
        at=at,
    )
    out: dict[str, Any] = {}
    for var in table:
        value = variables.get(var.name)
        if value is None and var.default is not None:
            out[var.name] = var.default
        elif var.name in variables:
            out[var.name] = located(var.check, value, field=f"{at}.{var.name}")
    return out


_PIN = re.compile(r"[0-9]{4,10}")


def pin(value: Any) -> str:
    """A PIN: a string of 4 to 10 digits (a string keeps leading zeros)."""
    if not isinstance(value, str) or _PIN.fullmatch(value) is None:
        raise InvalidValue('must be a string of 4 to 10 digits, such as "8970"', "invalid-pin")
    return value


def check_int(value: Any, *, field: str, low: int, high: int, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    return located(checks.integer(low, high), value, field=field)


def check_text(value: Any, *, field: str, max_length: int = 1000) -> str:
    return located(checks.short_text(max_length), value, field=field)


def check_number(value: Any, *, field: str) -> str:
    """An E.164 phone number (the strict form: the session is made by a program)."""
    from voiceapp.phone import normalize

    try:
        return normalize(value, field=field)
    except PhoneError:
        raise
    except ValueError as exc:  # defensive: phonenumbers surprises
        raise PhoneError(str(exc), field=field) from None


def check_digits(value: Any, *, field: str) -> str:
    """A ``sendDigits`` string, checked by the DTMF parser (error index kept)."""
    from voiceapp.dtmf import parse_digits

    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", code="invalid-type", field=field)
    try:
        parse_digits(value)
    except DigitsError as exc:
        raise DigitsError(
            f"{field}: {exc.message}", code=exc.code, index=exc.index, field=field
        ) from None
    return value
