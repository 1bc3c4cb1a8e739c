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

from voiceapp.calls.records import MACHINE_DETECTION_MODES
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
#: Seconds of a person's "Hello?" plus the silence after it that tells it is a person
#: (Twilio's MachineDetectionSpeechEndThreshold is 1.2 s).
HUMAN_SECONDS: Final = 1.8
#: Seconds of continuous speech after which a greeting is a machine's (Twilio's
#: MachineDetectionSpeechThreshold default, 2.4 s).
MACHINE_SPEECH_SECONDS: Final = 2.4
#: Silence after a greeting without a beep before its end is called (the end threshold).
END_SILENCE_SECONDS: Final = 1.2
#: A fax's calling tone is heard within this many seconds.
FAX_SECONDS: Final = 1.0
#: Twilio's MachineDetectionTimeout default: detection gives up after this long.
TIMEOUT_SECONDS: Final = 30.0


@dataclass(frozen=True, slots=True)
class Detection:
    """What machine detection reports, and how long after the answer it knows."""

    answered_by: str
    seconds: float

    @property
    def duration_ms(self) -> int:
        """``MachineDetectionDuration``: milliseconds from the answer to the result."""
        return round(self.seconds * 1000)


def detect(leg: Leg, mode: str) -> Detection:
    """The result of ``mode`` (``Enable``, ``DetectMessageEnd``) on the answered ``leg``."""
    if mode not in MODES:
        raise ValueError(f"machine detection mode must be one of {', '.join(MODES)}: {mode!r}")
    who = leg.answered_by
    if who == "human":
        return Detection("human", HUMAN_SECONDS)
    if who == "fax":
        return Detection("fax", FAX_SECONDS)
    if who != "machine":
        return Detection("unknown", 0.0)
    greeting = leg.greeting_seconds
    if mode == "Enable":
        return Detection("machine_start", min(greeting, MACHINE_SPEECH_SECONDS))
    if leg.beep and greeting <= TIMEOUT_SECONDS:
        return Detection("machine_end_beep", greeting)
    if greeting + END_SILENCE_SECONDS <= TIMEOUT_SECONDS:
        return Detection("machine_end_silence", greeting + END_SILENCE_SECONDS)
    return Detection("machine_end_other", TIMEOUT_SECONDS)
