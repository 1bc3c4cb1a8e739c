"""Speech gathers on the simulated network: how long a phrase takes, when the gather
ends after it, and the partial results a ``partialResultCallback`` gets.

Speech is scripted (a callee's ``say``, the testing kit's ``say_speech``), so it is
recognised exactly: the ``SpeechResult`` is the phrase, ``Confidence`` 1.0.  The phrase
is spoken at :data:`SECONDS_PER_WORD`; after its last word a gather waits for
``speechTimeout`` seconds of silence (``auto``: :data:`AUTO_SILENCE`; absent: its
``timeout``) before it ends; a phrase longer than ``maxSpeechTime`` ends the gather then,
with the words said so far (:func:`within`).  While it is spoken, each word adds a
partial result: the words so far as ``UnstableSpeechResult`` and all but the last as
``StableSpeechResult``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

#: Seconds a scripted caller takes per word (as a Say's estimate).
SECONDS_PER_WORD: Final = 0.4
#: The silence ``speechTimeout="auto"`` waits for after speech (Twilio ends at a pause).
AUTO_SILENCE: Final = 1.0


def phrase_seconds(text: str) -> float:
    """How long saying ``text`` takes."""
    return round(max(1, len(text.split())) * SECONDS_PER_WORD, 3)


def within(text: str, max_speech_time: float) -> str:
    """What of ``text`` is said within ``max_speech_time`` seconds (``maxSpeechTime``: the
    gather stops listening then): its first words, at least one."""
    words = text.split()
    keep = max(1, int(max_speech_time / SECONDS_PER_WORD + 1e-9))
    return " ".join(words[:keep])


def silence_after(speech_timeout: str | None, timeout: float) -> float:
    """Seconds of silence after the speech that end the gather (``speechTimeout``)."""
    if speech_timeout is None:
        return float(timeout)
    if speech_timeout == "auto":
        return AUTO_SILENCE
    return float(int(speech_timeout))


@dataclass(frozen=True, slots=True)
class Partial:
    """One interim result: ``at`` seconds after the phrase began."""

    sequence: int
    at: float
    unstable: str
    stable: str


def partials(text: str) -> Iterator[Partial]:
    """The interim results of saying ``text``, one per word as it is heard."""
    words = text.split()
    for index in range(len(words)):
        yield Partial(
            sequence=index,
            at=round((index + 1) * SECONDS_PER_WORD, 3),
            unstable=" ".join(words[: index + 1]),
            stable=" ".join(words[:index]),
        )


def hints(value: str | None) -> tuple[str, ...]:
    """A gather's ``hints``: its comma-separated words and phrases."""
    if not value:
        return ()
    return tuple(hint.strip() for hint in value.split(",") if hint.strip())
