"""DTMF digit strings: validated timelines, RFC 4733 events, audio and a decoder.

This layer knows nothing of XML or HTTP; the schema, the REST API and the dialer
all call :func:`parse_digits`.
"""

from __future__ import annotations

from voiceapp.dtmf.timeline import (
    DEFAULT_GAP_MS,
    DEFAULT_MAX_LENGTH,
    DEFAULT_TONE_MS,
    GAP_MS_RANGE,
    TONE_MS_RANGE,
    TONES,
    TWILIO_REST_MAX_LENGTH,
    WAIT_MS,
    Event,
    Timeline,
    Tone,
    Wait,
    parse_digits,
)

__all__ = [
    "DEFAULT_GAP_MS",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_TONE_MS",
    "GAP_MS_RANGE",
    "TONES",
    "TONE_MS_RANGE",
    "TWILIO_REST_MAX_LENGTH",
    "WAIT_MS",
    "Event",
    "Timeline",
    "Tone",
    "Wait",
    "parse_digits",
]
