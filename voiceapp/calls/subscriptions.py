"""Status-callback subscriptions: who wants which events of a call leg.

A :class:`Subscription` is the call's ``statusCallback``, ``statusCallbackEvent`` (a
subset of ``initiated ringing answered completed``; default ``completed``),
``statusCallbackMethod`` (``GET``/``POST``, default ``POST``), ``secretKey`` and
``optional``, validated with the seed's field names.  Delivery is the dialer's
(:mod:`voiceapp.dialer.callbacks`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl

from voiceapp.calls.records import CallSpec
from voiceapp.calls.states import CallbackEvent
from voiceapp.errors import ValidationError
from voiceapp.schema import HTTP_METHODS, HttpMethod

DEFAULT_EVENTS: Final = frozenset({CallbackEvent.COMPLETED})
#: The schema's HTTP method type (kept under its old name here).
Method = HttpMethod

#: Parameter names voiceapp sets itself; ``optional`` may not reuse them.
RESERVED_PARAMS: Final = frozenset(
    {
        "Called",
        "ParentCallSid",
        "CallStatus",
        "Direction",
        "CallSid",
        "callSid",
        "CallbackSource",
        "CallDuration",
        "CallDurartion",
        "RecordingURL",
        "SequenceNumber",
        "Timestamp",
        "From",
        "To",
        "StatusCallbackEvent",
        "apikey",
    }
)


def parse_events(
    value: str | Iterable[str] | None, *, field: str = "statusCallbackEvent"
) -> frozenset[CallbackEvent]:
    """``"initiated ringing"`` (spaces or commas) or a list → the set; empty → default."""
    if value is None:
        return DEFAULT_EVENTS
    words = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    events: set[CallbackEvent] = set()
    for word in words:
        try:
            events.add(CallbackEvent(word.strip().lower() if isinstance(word, str) else word))
        except ValueError:
            allowed = " ".join(e.value for e in CallbackEvent)
            raise ValidationError(
                f"{field}: {word!r} is not an event (allowed: {allowed})",
                code="callback-bad-event",
                field=field,
            ) from None
    return frozenset(events) or DEFAULT_EVENTS


def parse_optional(value: str | None, *, field: str = "optional") -> tuple[tuple[str, str], ...]:
    """``"token=123456&x=1"`` → ``(("token", "123456"), ("x", "1"))``, checked."""
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise ValidationError(
            f"{field} must be a string", code="callback-bad-optional", field=field
        )
    try:
        pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=True, max_num_fields=50)
    except ValueError as exc:
        raise ValidationError(
            f"{field}: {value!r} is not name=value pairs joined by '&' ({exc})",
            code="callback-bad-optional",
            field=field,
        ) from None
    for name, _ in pairs:
        if name in RESERVED_PARAMS:
            raise ValidationError(
                f"{field}: {name!r} is a parameter voiceapp sends itself",
                code="callback-reserved-param",
                field=field,
            )
    return tuple(pairs)


@dataclass(frozen=True, slots=True)
class Subscription:
    """Where a leg's status events go, and which ones."""

    url: str | None = None
    events: frozenset[CallbackEvent] = DEFAULT_EVENTS
    method: Method = "POST"
    secret_key: str | None = None
    optional: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_fields(
        cls,
        *,
        status_callback: str | None = None,
        status_callback_event: str | Iterable[str] | None = None,
        status_callback_method: str | None = None,
        secret_key: str | None = None,
        optional: str | None = None,
    ) -> Subscription:
        """Validate the API's fields (URL checks belong to the web layer's edge)."""
        method = (status_callback_method or "POST").upper()
        if method not in HTTP_METHODS:
            allowed = " or ".join(HTTP_METHODS)
            raise ValidationError(
                f"statusCallbackMethod must be {allowed}, got {status_callback_method!r}",
                code="callback-bad-method",
                field="statusCallbackMethod",
            )
        return cls(
            url=status_callback or None,
            events=parse_events(status_callback_event),
            method=method,
            secret_key=secret_key or None,
            optional=parse_optional(optional),
        )

    @classmethod
    def of(cls, spec: CallSpec) -> Subscription:
        """The a-leg subscription a stored call asked for (its fields, checked again)."""
        return cls.from_fields(
            status_callback=spec.status_callback,
            status_callback_event=spec.status_callback_events,
            status_callback_method=spec.status_callback_method,
            secret_key=spec.secret_key,
            optional=spec.optional,
        )

    def wants(self, event: CallbackEvent | None) -> bool:
        return self.url is not None and event is not None and event in self.events


#: The events a ``recordingStatusCallbackEvent`` may name (Twilio's).
RECORDING_EVENTS: Final = frozenset({"in-progress", "completed", "absent"})
#: What a ``recordingStatusCallback`` gets when no event is named.
DEFAULT_RECORDING_EVENTS: Final = frozenset({"completed"})


def parse_recording_events(value: str | None) -> frozenset[str]:
    """``"in-progress completed"`` (spaces or commas) → the set; ``ValueError`` naming an
    unknown event; empty → :data:`DEFAULT_RECORDING_EVENTS`."""
    words = (value or "").replace(",", " ").split()
    unknown = [w for w in words if w not in RECORDING_EVENTS]
    if unknown:
        raise ValueError(
            f"recordingStatusCallbackEvent {unknown[0]!r} is not one of "
            + ", ".join(sorted(RECORDING_EVENTS))
        )
    return frozenset(words) or DEFAULT_RECORDING_EVENTS
