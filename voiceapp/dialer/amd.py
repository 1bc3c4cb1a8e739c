"""Answering-machine detection on the simulated network: what answered, and when it is known.

A call asks for it with ``MachineDetection`` (``Enable``: tell a person from a machine
as soon as possible; ``DetectMessageEnd``: wait for a machine's greeting to end, at its
beep, so a message can be left).  The network says who answered (the callee's
``answered_by``: ``human``, ``machine`` with its ``greeting_seconds`` and ``beep``, or
``fax``; nothing: it cannot tell) and :func:`detect` turns that into Twilio's
``AnsweredBy`` and the detection's length (``MachineDetectionDuration``, in ms):

============  ==========================  ======================================
answered by   Enable                      DetectMessageEnd
============  ==========================  ======================================
human         ``human`` (speech ends)     ``human``
machine       ``machine_start``           ``machine_end_beep`` at the beep,
                                          ``machine_end_silence`` without one,
                                          ``machine_end_other`` past the timeout
fax           ``fax`` (its CNG tone)      ``fax``
(not told)    ``unknown`` at once         ``unknown`` at once
============  ==========================  ======================================

Sync detection holds the call's document until the result is known (it is sent as
``AnsweredBy`` on that fetch); ``AsyncAmd`` runs the document at once and posts the
result to ``AsyncAmdStatusCallback`` (:func:`async_amd_params`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from voiceapp.calls.records import MACHINE_DETECTION_MODES, MachineDetectionTuning
from voiceapp.dialer.network import Leg

#: ``Enable`` and ``DetectMessageEnd`` (the calls core's rule: the API checks them).
MODES: Final = MACHINE_DETECTION_MODES
#: Every value of ``AnsweredBy``.
ANSWERED_BY: Final = (
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
)
#: Seconds of a person's "Hello?"; the silence after it (the tuning's speech end
#: threshold, Twilio's 1.2 s by default) tells it is a person.
HELLO_SECONDS: Final = 0.6
#: A fax's calling tone is heard within this many seconds.
FAX_SECONDS: Final = 1.0
#: Twilio's defaults (MachineDetectionTimeout 30 s, SpeechThreshold 2.4 s,
#: SpeechEndThreshold 1.2 s) and what they give: a person is known after 1.8 s.
DEFAULT_TUNING: Final = MachineDetectionTuning()
END_SILENCE_SECONDS: Final = DEFAULT_TUNING.speech_end_threshold / 1000
HUMAN_SECONDS: Final = HELLO_SECONDS + END_SILENCE_SECONDS
MACHINE_SPEECH_SECONDS: Final = DEFAULT_TUNING.speech_threshold / 1000
TIMEOUT_SECONDS: Final = float(DEFAULT_TUNING.timeout)


@dataclass(frozen=True, slots=True)
class Detection:
    """What machine detection reports, and how long after the answer it knows."""

    answered_by: str
    seconds: float

    @property
    def duration_ms(self) -> int:
        """``MachineDetectionDuration``: milliseconds from the answer to the result."""
        return round(self.seconds * 1000)


def detect(leg: Leg, mode: str, tuning: MachineDetectionTuning = DEFAULT_TUNING) -> Detection:
    """The result of ``mode`` (``Enable``, ``DetectMessageEnd``) on the answered ``leg``,
    as ``tuning`` decides it (Twilio's defaults: 30 s timeout; 2.4 s of speech is a
    machine; 1.2 s of silence ends the speech).  ``Enable`` answers ``unknown`` when its
    result would come after the timeout; ``DetectMessageEnd`` ``machine_end_other``
    when a machine's greeting outlasts it."""
    if mode not in MODES:
        raise ValueError(f"machine detection mode must be one of {', '.join(MODES)}: {mode!r}")
    timeout = float(tuning.timeout)
    speech = tuning.speech_threshold / 1000
    end_silence = tuning.speech_end_threshold / 1000
    who = leg.answered_by
    if who == "fax":
        return Detection("fax", FAX_SECONDS)
    if who not in ("human", "machine"):
        return Detection("unknown", 0.0)
    if who == "human":
        found = Detection("human", HELLO_SECONDS + end_silence)
    elif mode == "Enable":
        found = Detection("machine_start", min(leg.greeting_seconds, speech))
    else:
        greeting = leg.greeting_seconds
        if leg.beep and greeting <= timeout:
            return Detection("machine_end_beep", greeting)
        if greeting + end_silence <= timeout:
            return Detection("machine_end_silence", greeting + end_silence)
        return Detection("machine_end_other", timeout)
    if found.seconds > timeout:
        return Detection("unknown", timeout)
    return found
