"""A call as asked (:class:`CallSpec`) and as stored (:class:`CallRecord` with its legs,
status history and status-callback events with their delivery attempts).

Plain frozen data: no JSON here (the API's shape is :mod:`voiceapp.calls.api_json`), no
I/O.  Statuses are the values of :class:`voiceapp.calls.states.CallStatus`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from voiceapp.calls.states import QUEUED
from voiceapp.errors import ValidationError
from voiceapp.schema import ELEMENTS, Int

#: The callback parameter that carries a call's ``secretKey`` (masked when shown).
SECRET_PARAM: Final = "apikey"
#: The ``kind`` of the last trace row of a call whose trace reached its limit.
TRUNCATED: Final = "truncated"

#: A call's ring timeout and its call-wide limit when the request names none (seconds).
DEFAULT_RING_TIMEOUT: Final = 60
DEFAULT_TIME_LIMIT: Final = 14400

_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


#: What a call's recording (``record``) may be: Twilio's ``RecordingChannels``,
#: ``RecordingTrack`` and ``Trim`` of the Calls API (the first value is the default).
RECORDING_CHANNELS: Final = ("mono", "dual")
RECORDING_TRACKS: Final = ("both", "inbound", "outbound")
RECORDING_TRIMS: Final = ("trim-silence", "do-not-trim")

#: ``machineDetection`` / Twilio's ``MachineDetection``: what a call may ask for.
MACHINE_DETECTION_MODES: Final = ("Enable", "DetectMessageEnd")

#: The tuning of machine detection, by the name of the ``/v1`` field (Twilio's parameter
#: is the same name capitalised: ``MachineDetectionTimeout``) → the field of
#: :class:`MachineDetectionTuning`.  The ranges and defaults are the schema's
#: ``<Number machineDetection…>`` attributes (the one rule; Twilio documents the same
#: ones for the Calls API): seconds for the timeout, milliseconds for the rest.
MACHINE_DETECTION_TUNING: Final[Mapping[str, str]] = {
    "machineDetectionTimeout": "timeout",
    "machineDetectionSpeechThreshold": "speech_threshold",
    "machineDetectionSpeechEndThreshold": "speech_end_threshold",
    "machineDetectionSilenceTimeout": "silence_timeout",
}


def tuning_range(name: str) -> tuple[int, int, int]:
    """(lowest, highest, default) of a tuning field of :data:`MACHINE_DETECTION_TUNING`."""
    attr = ELEMENTS["Number"].attr_map[name]
    kind = attr.type
    assert isinstance(kind, Int) and kind.hi is not None and attr.default is not None
    return kind.lo, kind.hi, int(attr.default)


@dataclass(frozen=True, slots=True)
class MachineDetectionTuning:
    """How machine detection decides (Twilio's four knobs, its defaults)."""

    timeout: int = tuning_range("machineDetectionTimeout")[2]  # s before it gives up
    speech_threshold: int = tuning_range("machineDetectionSpeechThreshold")[2]  # ms: machine
    speech_end_threshold: int = tuning_range("machineDetectionSpeechEndThreshold")[2]  # ms
    silence_timeout: int = tuning_range("machineDetectionSilenceTimeout")[2]  # ms: unknown


def check_sid(value: str, field: str = "sid") -> str:
    if not isinstance(value, str) or not _SID.match(value):
        raise ValidationError(
            f"{field} must be 1-64 letters, digits, '_' or '-', got {value!r}",
            code="call-bad-sid",
            field=field,
        )
    return value


def check_spec(spec: CallSpec) -> None:
    """What the store itself relies on (the API validates the rest at the edge)."""
    check_sid(spec.sid)
    for name, value in (("to", spec.to), ("from", spec.from_)):
        if not isinstance(value, str) or not value:
            raise ValidationError(f"the {name} number is missing", code="missing", field=name)


@dataclass(frozen=True)
class CallSpec:
    """A call as ``POST /v1/calls`` validated it (the seed's fields, typed)."""

    sid: str
    from_: str
    to: str  # E.164; at most one queued or active call per number
    url: str | None = None
    method: str = "POST"  # of the document fetch
    app: str | None = None  # a call made from an app ("app": "pin") ...
    session_id: str | None = None  # ... and the session the server created for it
    variables: Mapping[str, Any] = field(default_factory=dict)
    send_digits: str | None = None
    status_callback: str | None = None
    status_callback_events: tuple[str, ...] = ("completed",)
    status_callback_method: str = "POST"
    secret_key: str | None = None
    optional: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # anything else the dialer needs
    #: set by the Twilio-compatible API: the dialer's fetches and callbacks then carry
    #: Twilio's parameter set (else the seed's)
    account_sid: str | None = None
    twiml: str | None = None  # an inline document, run instead of fetching ``url``
    fallback_url: str | None = None  # fetched once when the document fetch fails
    fallback_method: str = "POST"
    timeout: int = DEFAULT_RING_TIMEOUT  # seconds the a-leg rings before no-answer
    time_limit: int = DEFAULT_TIME_LIMIT  # seconds the whole call may last
    direction: str = "outbound-api"  # inbound for inbound calls
    record: bool = False  # record the whole call from the answer (a WAV file)
    #: that recording as Twilio's ``RecordingChannels``, ``RecordingTrack`` and ``Trim``
    #: take it (their defaults too)
    recording_channels: str = "mono"  # one of RECORDING_CHANNELS
    recording_track: str = "both"  # one of RECORDING_TRACKS
    recording_trim: str = "trim-silence"  # one of RECORDING_TRIMS
    machine_detection: str | None = None  # Enable / DetectMessageEnd (voiceapp.dialer.amd)
    async_amd: bool = False  # detect without holding the document; post the result to:
    async_amd_status_callback: str | None = None
    async_amd_status_callback_method: str = "POST"
    amd_tuning: MachineDetectionTuning = MachineDetectionTuning()  # with machine_detection
    #: where the events of the call's recording (``record``) go, their method and events
    recording_callback: str | None = None
    recording_callback_method: str = "POST"
    recording_callback_events: tuple[str, ...] = ("completed",)


#: What :class:`CallChange` ``status`` may be: hang up (any unfinished call) or cancel
#: (before it is answered).
CHANGE_STATUSES: Final = ("completed", "canceled")


@dataclass(frozen=True)
class CallChange:
    """A change to a live call (``POST /v1/calls/<sid>``, Twilio's call update): run a new
    document (``url`` with ``method``, or inline ``twiml``) at once, interrupting the
    current verb, or end the call (``status``).  Exactly one of the three is given."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    status: str | None = None  # completed | canceled

    def check(self) -> None:
        """What the store relies on (the routes validate the values at the edge)."""
        given = [name for name in ("url", "twiml", "status") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValidationError(
                "a call change gives exactly one of url, twiml or status"
                + (f" (got {', '.join(given)})" if given else ""),
                code="invalid-combination",
                field=given[-1] if given else "url",
            )
        if self.status is not None and self.status not in CHANGE_STATUSES:
            raise ValidationError(
                f"status must be completed or canceled, not {self.status!r}",
                code="invalid-choice",
                field="status",
            )
        if self.method not in ("GET", "POST"):
            raise ValidationError(
                f"method must be GET or POST, not {self.method!r}",
                code="invalid-choice",
                field="method",
            )

    def applied_to(self, spec: CallSpec) -> CallSpec:
        """``spec`` running this change's document (a call not yet taken from the queue)."""
        if self.twiml is not None:
            return replace(spec, url=None, twiml=self.twiml)
        if self.url is not None:
            return replace(spec, url=self.url, method=self.method, twiml=None)
        return spec

    def as_dict(self) -> dict[str, Any]:
        """The stored form (JSON); :meth:`of` reads it back."""
        return {"url": self.url, "method": self.method, "twiml": self.twiml, "status": self.status}

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> CallChange:
        return cls(
            url=data.get("url"),
            method=data.get("method") or "POST",
            twiml=data.get("twiml"),
            status=data.get("status"),
        )


@dataclass(frozen=True)
class StatusChange:
    status: str
    at: float  # store clock, seconds since the epoch


@dataclass(frozen=True)
class LegRecord:
    """One leg: the a-leg (``sid`` is the CallSid) or a ``<Dial>`` b-leg."""

    sid: str
    parent_sid: str | None
    from_: str
    to: str
    direction: str  # outbound-api (a-leg) | outbound-dial (b-legs)
    status: str
    created_at: float
    ended_at: float | None = None
    duration: int | None = None
    history: tuple[StatusChange, ...] = ()


@dataclass(frozen=True)
class AttemptRecord:
    """One try at delivering a status callback."""

    number: int  # 1-based
    at: float
    ok: bool
    status: int | None = None  # HTTP status, when there was a response
    error: str | None = None  # why there was none


@dataclass(frozen=True)
class EventRecord:
    """One status-callback event, stored before any delivery is tried."""

    event_id: str  # stable: ``<CallSid>:<event>`` (CallSid of the leg)
    call_sid: str
    leg_sid: str
    sequence: int  # the leg's SequenceNumber
    name: str  # initiated | ringing | answered | completed
    url: str
    method: str
    params: tuple[tuple[str, str], ...]
    created_at: float
    state: str = "pending"  # pending | delivered | failed
    attempts: tuple[AttemptRecord, ...] = ()

    @property
    def delivered(self) -> bool:
        return self.state == "delivered"


@dataclass(frozen=True)
class CallRecord:
    """A call as stored: what was asked, where it is, and what happened to it."""

    spec: CallSpec
    status: str
    created_at: float
    updated_at: float
    ended_at: float | None = None
    duration: int | None = None
    lease_owner: str | None = None  # the worker holding the call
    lease_until: float | None = None
    takes: int = 0  # how many times a worker took (or reclaimed) it
    cancel_requested_at: float | None = None
    legs: tuple[LegRecord, ...] = ()  # the a-leg first
    events: tuple[EventRecord, ...] = ()  # in the order they were stored
    heartbeat_at: float | None = None  # the holder's last lease renewal (its time)
    recovered: bool = False  # ended by lease recovery: its worker died
    #: the dialer's trace rows (``{"ms", "leg", "kind", "detail"}``), as far as written;
    #: read by :meth:`CallStore.get` (records of ``take_many`` and listings have none)
    trace: tuple[dict[str, Any], ...] = ()
    #: why the call's document failed (``{"code", "message", ...}``), else None
    error: Mapping[str, Any] | None = None

    @property
    def sid(self) -> str:
        return self.spec.sid

    @property
    def to(self) -> str:
        return self.spec.to

    @property
    def timestamps(self) -> dict[str, float]:
        """When the a-leg first reached each status it went through."""
        out: dict[str, float] = {}
        for leg in self.legs[:1]:
            for change in leg.history:
                out.setdefault(change.status, change.at)
        return out


def answered_by(record: CallRecord) -> str | None:
    """What the call's machine detection found (its ``amd`` trace row), None before it
    has a result or when the call did not ask for it."""
    for row in reversed(record.trace):
        if row.get("kind") == "amd" and row.get("leg") == "a":
            value = (row.get("detail") or {}).get("answered_by")
            return value if isinstance(value, str) else None
    return None


def new_record(spec: CallSpec, now: float) -> CallRecord:
    """The record :meth:`CallStore.create` returns: ``queued``, with its a-leg."""
    a_leg = LegRecord(
        spec.sid, None, spec.from_, spec.to, spec.direction, QUEUED, now, None, None,
        (StatusChange(QUEUED, now),),
    )  # fmt: skip
    return CallRecord(spec, QUEUED, now, now, legs=(a_leg,))


@dataclass(frozen=True)
class CallQuery:
    """What a store's listing reads: the filters of :meth:`CallStore.list_calls`, at most
    ``limit`` records, the ones that sort after ``after`` (``(created_at, sid)``)."""

    status: str | None
    to: str | None
    from_: str | None
    created_after: float | None
    created_before: float | None
    limit: int
    after: tuple[float, str] | None
    account_sid: str | None = None  # only the calls of this Twilio account


@dataclass(frozen=True)
class CallPage:
    """One page of :meth:`CallStore.list_calls`: newest first; ``next`` is the
    ``(created_at, sid)`` of the last call when more may follow, else None."""

    calls: tuple[CallRecord, ...]
    next: tuple[float, str] | None = None


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def trace_json(value: Mapping[str, Any]) -> str:
    """A trace row or an error as the compact JSON text :class:`AppendTrace` carries."""
    return _ENCODE(value)


def truncated_row(entries: Sequence[str], limit: int) -> str:
    """The ``truncated`` row that ends a full trace (timed as the last row offered)."""
    ms = 0
    if entries:
        try:
            ms = int(json.loads(entries[-1]).get("ms", 0))
        except (ValueError, AttributeError, TypeError):
            ms = 0
    detail = {"limit": limit, "note": f"trace truncated: at most {limit} rows are kept"}
    return trace_json({"ms": ms, "leg": "a", "kind": TRUNCATED, "detail": detail})


#: What a recording may be (Twilio's ``RecordingStatus``): being made, made, or nothing
#: heard (``absent``: no file).
RECORDING_STATUSES: Final = frozenset({"in-progress", "completed", "absent"})
#: Where a recording comes from (Twilio's ``RecordingSource``).
RECORDING_SOURCES: Final = frozenset({"RecordVerb", "OutboundAPI", "DialVerb"})


@dataclass(frozen=True, slots=True)
class RecordingRecord:
    """One recording of a call as the store keeps it (its audio is a media file, named
    ``media``, in the media store: :mod:`voiceapp.stores.media`)."""

    sid: str
    call_sid: str
    status: str  # one of RECORDING_STATUSES
    source: str  # one of RECORDING_SOURCES
    started_at: float  # seconds since the epoch
    duration: int = 0  # whole seconds of audio (0 while in progress)
    channels: int = 1
    media: str | None = None  # the media file's name; None while in progress or absent
    size: int = 0  # bytes of the media file
    sample_rate: int = 8000

    def check(self) -> None:
        """``ValueError`` for a value the store cannot keep (a caller's bug)."""
        check_sid(self.sid, "recording_sid")
        check_sid(self.call_sid, "call_sid")
        if self.status not in RECORDING_STATUSES:
            raise ValueError(f"a recording status is one of {sorted(RECORDING_STATUSES)}")
        if self.source not in RECORDING_SOURCES:
            raise ValueError(f"a recording source is one of {sorted(RECORDING_SOURCES)}")
        if self.duration < 0 or self.channels not in (1, 2):
            raise ValueError("a recording has a duration >= 0 and 1 or 2 channels")

    def to_json(self) -> str:
        """The record as JSON text (what both stores keep)."""
        return json.dumps(
            {f: getattr(self, f) for f in self.__slots__}, separators=(",", ":"), sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> RecordingRecord:
        data = json.loads(text)
        return cls(**{f: data[f] for f in cls.__slots__ if f in data})
