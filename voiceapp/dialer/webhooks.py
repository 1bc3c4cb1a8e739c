"""What the dialer's requests carry: the two parameter sets, and Twilio's error codes.

A call has one of two parameter sets, chosen by its spec's ``account_sid``
(docs/webhooks.md shows both side by side):

* **seed** (no ``account_sid``: ``POST /v1/calls``, the vendor routes) — the
  seed's names as voiceapp has always sent them: documents get ``CallSid``,
  ``From``, ``To``, ``Direction``, ``CallStatus`` (``ParentCallSid`` on b-legs);
  callbacks add ``callSid``, ``StatusCallbackEvent``, ``Called``,
  ``CallbackSource=call-progress-event``, ``SequenceNumber``, ``Timestamp``,
  ``CallDuration`` and ``CallDurartion`` (the seed's spelling) and
  ``RecordingURL`` on ``completed``, ``apikey``, and the ``optional`` pairs, which
  are also appended to the callback URL (for ``POST`` too, as the seed says);
* **twilio** (the Twilio-compatible API's calls) — Twilio's: ``CallSid``,
  ``AccountSid``, ``From``, ``To``, ``Called``, ``Caller``, ``CallStatus``,
  ``ApiVersion=2010-04-01``, ``Direction`` (``outbound-api``, ``outbound-dial``,
  ``inbound``), ``ForwardedFrom``, ``ParentCallSid`` (b-legs); callbacks add
  ``Timestamp``, ``SequenceNumber``, ``CallbackSource=call-progress-events``
  and, on ``completed``, ``CallDuration``, ``Duration`` (minutes, rounded up),
  ``SipResponseCode`` and ``RecordingUrl``; Gather actions add ``Digits`` and
  ``FinishedOnKey``.

A call that asked for machine detection (``MachineDetection``, both sets) gets
``AnsweredBy`` (:mod:`voiceapp.dialer.amd`) on the a-leg's requests once the result is
known: on the document fetch with sync detection; with ``AsyncAmd``, the result goes
to ``AsyncAmdStatusCallback`` (:func:`async_amd_params`: ``CallSid``, ``AccountSid``,
``AnsweredBy``, ``MachineDetectionDuration``) and on the requests after it.

:class:`Party` is what both sets are built from; :func:`document_params`,
:func:`callback_params`, :func:`callback_url`, :func:`gather_params` and
:func:`async_amd_params` are the one place each set is written.  :func:`error_code`
maps the dialer's fetch and document error codes to Twilio's (``ErrorCode`` of a
fallback request).
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from voiceapp.calls.states import CallbackEvent, CallStatus
from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer.speech import Partial

API_VERSION: Final = "2010-04-01"
#: ``CallbackSource`` of the seed (``call-progress-event``) and of Twilio (``...-events``).
SEED_CALLBACK_SOURCE: Final = "call-progress-event"
TWILIO_CALLBACK_SOURCE: Final = "call-progress-events"

Direction = Literal["outbound-api", "outbound-dial", "inbound"]
Params = list[tuple[str, str]]

#: The SIP final response a leg's end corresponds to (Twilio's ``SipResponseCode``).
SIP_RESPONSE: Final[dict[CallStatus, int]] = {
    CallStatus.COMPLETED: 200,
    CallStatus.BUSY: 486,
    CallStatus.NO_ANSWER: 487,
    CallStatus.CANCELED: 487,
    CallStatus.FAILED: 500,
}

#: Twilio's error code for each of the dialer's fetch failures (docs/webhooks.md).
TWILIO_ERROR_CODES: Final[dict[str, int]] = {
    "fetch-status": 11200,  # HTTP retrieval failure (a non-2xx answer)
    "fetch-redirect": 11200,
    "fetch-connect": 11205,  # HTTP connection failure
    "fetch-timeout": 11205,
    "fetch-blocked": 11205,  # the address is not allowed (private, say)
    "fetch-dns": 11210,  # HTTP bad host name
    "fetch-override": 11100,  # the URL's connection overrides are not valid
    "fetch-too-large": 11750,  # TwiML response body too large
}
#: The ``ErrorCode`` of an ``absent`` recording: Twilio's "silent" (16102; 16101 is "too
#: short").  A recording is absent when it heard no sound at all.
SILENT_RECORDING: Final = 16102
#: Any document error (not XML, not valid against the schema): document parse failure.
DOCUMENT_PARSE_FAILURE: Final = 12100
#: A failure of another kind (an injected fetch raising something else).
RETRIEVAL_FAILURE: Final = 11200


def error_code(code: str, *, document: bool = False) -> int:
    """Twilio's ``ErrorCode`` for a dialer error ``code`` (``document``: a parse error)."""
    if document:
        return DOCUMENT_PARSE_FAILURE
    return TWILIO_ERROR_CODES.get(code, RETRIEVAL_FAILURE)


@dataclass(frozen=True, slots=True)
class Party:
    """One leg as its requests describe it."""

    call_sid: str
    from_: str
    to: str
    direction: Direction
    status: CallStatus
    parent_call_sid: str | None = None
    #: set for calls of the Twilio-compatible API: they carry Twilio's parameters
    account_sid: str | None = None
    forwarded_from: str | None = None
    #: Twilio's ``AnsweredBy``, sent when the call asked for machine detection
    answered_by: str | None = None
    #: the SIP final response the network reported (else one derived from the status)
    sip_code: int | None = None

    @property
    def twilio(self) -> bool:
        return self.account_sid is not None


def document_params(party: Party) -> Params:
    """The parameters of a document fetch (the call's ``url``, an action, a redirect)."""
    if not party.twilio:
        params: Params = [
            ("CallSid", party.call_sid),
            ("From", party.from_),
            ("To", party.to),
            ("Direction", party.direction),
            ("CallStatus", party.status.value),
        ]
        if party.parent_call_sid is not None:
            params.append(("ParentCallSid", party.parent_call_sid))
        if party.answered_by is not None:
            params.append(("AnsweredBy", party.answered_by))
        return params
    assert party.account_sid is not None
    params = [
        ("CallSid", party.call_sid),
        ("AccountSid", party.account_sid),
        ("From", party.from_),
        ("To", party.to),
        ("Called", party.to),
        ("Caller", party.from_),
        ("CallStatus", party.status.value),
        ("ApiVersion", API_VERSION),
        ("Direction", party.direction),
        ("ForwardedFrom", party.forwarded_from or ""),
    ]
    if party.parent_call_sid is not None:
        params.append(("ParentCallSid", party.parent_call_sid))
    if party.answered_by is not None:
        params.append(("AnsweredBy", party.answered_by))
    return params


def callback_params(
    party: Party,
    *,
    event: CallbackEvent,
    sequence: int,
    timestamp: datetime,
    duration: int | None = None,
    recording_url: str | None = None,
    subscription: Subscription | None = None,
) -> Params:
    """The parameters of one status callback, in a stable order.

    ``CallStatus`` is the leg's status after the event (``in-progress`` for
    ``answered``; ``busy``, ``no-answer``, ``failed`` or ``canceled`` for a
    ``completed`` that never answered).
    """
    stamp = email.utils.format_datetime(timestamp)
    completed = event is CallbackEvent.COMPLETED
    if party.twilio:
        params = document_params(party)
        params += [
            ("Timestamp", stamp),
            ("SequenceNumber", str(sequence)),
            ("CallbackSource", TWILIO_CALLBACK_SOURCE),
        ]
        if completed:
            seconds = duration or 0
            params += [
                ("CallDuration", str(seconds)),
                ("Duration", str(math.ceil(seconds / 60))),
                ("SipResponseCode", str(party.sip_code or SIP_RESPONSE.get(party.status, 200))),
            ]
            if recording_url is not None:
                params.append(("RecordingUrl", recording_url))
        return params
    params = [
        ("CallSid", party.call_sid),
        ("callSid", party.call_sid),
        ("CallStatus", party.status.value),
        ("StatusCallbackEvent", event.value),
        ("Called", party.to),
        ("To", party.to),
        ("From", party.from_),
        ("Direction", party.direction),
        ("CallbackSource", SEED_CALLBACK_SOURCE),
        ("SequenceNumber", str(sequence)),
        ("Timestamp", stamp),
    ]
    if party.parent_call_sid is not None:
        params.append(("ParentCallSid", party.parent_call_sid))
    if party.answered_by is not None:
        params.append(("AnsweredBy", party.answered_by))
    if completed:
        params.append(("CallDuration", str(duration or 0)))
        params.append(("CallDurartion", str(duration or 0)))
        if recording_url is not None:
            params.append(("RecordingURL", recording_url))
    if subscription is not None:
        if subscription.secret_key is not None:
            params.append(("apikey", subscription.secret_key))
        params.extend(subscription.optional)
    return params


def async_amd_params(party: Party, duration_ms: int) -> Params:
    """What ``AsyncAmdStatusCallback`` receives once machine detection has a result
    (Twilio's names, for both sets; ``AccountSid`` for calls of the Twilio API)."""
    params: Params = [("CallSid", party.call_sid)]
    if party.account_sid is not None:
        params.append(("AccountSid", party.account_sid))
    params += [
        ("AnsweredBy", party.answered_by or "unknown"),
        ("MachineDetectionDuration", str(duration_ms)),
    ]
    return params


def partial_result_params(party: Party, partial: Partial, *, language: str) -> Params:
    """What a ``<Gather partialResultCallback>`` receives for one interim speech result
    (Twilio's names, for both sets; ``AccountSid`` for calls of the Twilio API)."""
    params: Params = [("CallSid", party.call_sid)]
    if party.account_sid is not None:
        params += [("AccountSid", party.account_sid), ("ApiVersion", API_VERSION)]
    params += [
        ("SequenceNumber", str(partial.sequence)),
        ("UnstableSpeechResult", partial.unstable),
        ("StableSpeechResult", partial.stable),
        ("Stability", "1.0"),
        ("LanguageCode", language),
    ]
    return params


def callback_url(subscription: Subscription) -> str:
    """Where a callback goes: the seed's ``optional`` pairs are appended to the URL of a
    ``POST`` too (a ``GET`` has every parameter in its query already; a call of the
    Twilio API has no ``optional``)."""
    url = subscription.url or ""
    if subscription.method == "GET":
        return url
    return with_query(url, subscription.optional)


def gather_params(
    digits: str, finished_on_key: str | None, *, twilio: bool, speech: str | None = None
) -> Params:
    """A ``<Gather>`` action's own parameters (``FinishedOnKey`` is Twilio's); what the
    caller said, when speech ended it: ``SpeechResult`` and ``Confidence`` (scripted
    speech is exact: 1.0) instead."""
    if speech is not None:
        return [("SpeechResult", speech), ("Confidence", "1.0")]
    params: Params = [("Digits", digits)]
    if twilio:
        params.append(("FinishedOnKey", finished_on_key or ""))
    return params


def with_query(url: str, params: Iterable[tuple[str, str]]) -> str:
    """``url`` with ``params`` appended to its query (the fragment, if any, kept last)."""
    pairs = list(params)
    if not pairs:
        return url
    parts = urlsplit(url)
    query = urlencode(pairs)
    merged = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit(parts._replace(query=merged))


# -- queues and conferences (the same names in both sets: Twilio's) ---------------------------


def queue_wait_params(
    *, queue_sid: str, position: int, waited: int, average: int, size: int, max_size: int
) -> Params:
    """What an ``<Enqueue waitUrl>`` document fetch adds to the call's parameters."""
    return [
        ("QueueSid", queue_sid),
        ("QueuePosition", str(position)),
        ("QueueTime", str(waited)),
        ("AvgQueueTime", str(average)),
        ("CurrentQueueSize", str(size)),
        ("MaxQueueSize", str(max_size)),
    ]


def queue_action_params(*, result: str, queue_sid: str | None, waited: int) -> Params:
    """An ``<Enqueue action>``'s parameters: ``QueueResult`` (``bridged``, ``hangup``,
    ``leave``, ``queue-full``, ``error``, ...), ``QueueSid``, ``QueueTime``."""
    params: Params = [("QueueResult", result)]
    if queue_sid is not None:
        params.append(("QueueSid", queue_sid))
    params.append(("QueueTime", str(waited)))
    return params


def queue_whisper_params(*, queue_sid: str, waited: int, dequeuing_sid: str) -> Params:
    """A ``<Queue url>`` document's parameters (it runs on the dequeued caller)."""
    return [
        ("QueueSid", queue_sid),
        ("QueueTime", str(waited)),
        ("DequeingCallSid", dequeuing_sid),
    ]


def dial_queue_params(*, queue_sid: str | None, member_sid: str | None, waited: int) -> Params:
    """What a ``<Dial>`` action adds after a ``<Queue>``: the queue and the caller taken."""
    params: Params = []
    if queue_sid is not None:
        params.append(("QueueSid", queue_sid))
    if member_sid is not None:
        params += [("DequeuedCallSid", member_sid), ("DequeuedCallQueueTime", str(waited))]
    return params


@dataclass(frozen=True, slots=True)
class ConferenceEvent:
    """One conference status callback's facts (see :func:`conference_params`)."""

    conference_sid: str
    friendly_name: str
    event: str  # conference-start, participant-join, ...
    sequence: int
    timestamp: datetime
    account_sid: str | None = None
    call_sid: str | None = None  # participant events
    muted: bool = False
    hold: bool = False
    start_on_enter: bool = True
    end_on_exit: bool = False
    extra: tuple[tuple[str, str], ...] = ()  # ReasonConferenceEnded, CallSidEndingConference


def conference_params(event: ConferenceEvent) -> Params:
    """A conference ``statusCallback``'s parameters, as Twilio sends them: participant
    events carry the participant's ``CallSid``, ``Muted``, ``Hold``, ``Coaching``,
    ``EndConferenceOnExit``, ``StartConferenceOnEnter``; ``conference-end`` its
    ``ReasonConferenceEnded`` and ``CallSidEndingConference``."""
    params: Params = [("ConferenceSid", event.conference_sid)]
    if event.account_sid is not None:
        params.append(("AccountSid", event.account_sid))
    params += [
        ("FriendlyName", event.friendly_name),
        ("StatusCallbackEvent", event.event),
        ("SequenceNumber", str(event.sequence)),
        ("Timestamp", email.utils.format_datetime(event.timestamp)),
    ]
    if event.event.startswith("participant-") and event.call_sid is not None:
        params += [
            ("CallSid", event.call_sid),
            ("Muted", _bool(event.muted)),
            ("Hold", _bool(event.hold)),
            ("Coaching", "false"),
            ("EndConferenceOnExit", _bool(event.end_on_exit)),
            ("StartConferenceOnEnter", _bool(event.start_on_enter)),
        ]
    params.extend(event.extra)
    return params


def _bool(value: bool) -> str:
    return "true" if value else "false"


def record_action_params(url: str, sid: str, duration: int, *, digits: str = "") -> Params:
    """A ``<Record>`` action's own parameters (both sets): the recording's address, sid
    and whole seconds, and the key that ended it (``hangup`` when the caller hung up)."""
    params: Params = [
        ("RecordingUrl", url),
        ("RecordingSid", sid),
        ("RecordingDuration", str(duration)),
    ]
    if digits:
        params.append(("Digits", digits))
    return params


def recording_params(
    party: Party,
    *,
    sid: str,
    url: str,
    status: str,
    duration: int,
    channels: int,
    source: str,
    started: datetime,
    track: str = "both",
) -> Params:
    """A ``recordingStatusCallback`` event's parameters: Twilio's names in both sets
    (``AccountSid`` for calls of the Twilio API; ``RecordingUrl`` is empty when the
    recording is ``absent``), and the seed's ``RecordingURL`` too in the seed's set."""
    params: Params = []
    if party.twilio:
        params.append(("AccountSid", party.account_sid or ""))
    shown_url = url if status == "completed" else ""
    params += [
        ("CallSid", party.call_sid),
        ("RecordingSid", sid),
        ("RecordingUrl", shown_url),
        ("RecordingStatus", status),
        ("RecordingDuration", str(duration)),
        ("RecordingChannels", str(channels)),
        ("RecordingStartTime", email.utils.format_datetime(started)),
        ("RecordingSource", source),
        ("RecordingTrack", track),
    ]
    if status == "absent":
        params.append(("ErrorCode", str(SILENT_RECORDING)))
    if not party.twilio:
        params.append(("RecordingURL", shown_url))
    return params
