"""``<Say>`` as audio: espeak-ng renders the text, resampled to 8 kHz, cached on disk.

espeak-ng (the Debian package ``espeak-ng``) runs as a subprocess with the text on
its standard input and its WAV on standard output (22050 Hz); the voice is chosen
from the ``language`` (``en-US`` → espeak's ``en-us``, falling back to the primary
subtag ``en``, then to ``en``) and the ``voice`` (``man`` → a male variant,
``woman`` / ``alice`` → a female one; Polly and Google voice names keep the
language's default voice).

The cache is one file per (text, voice, language) under ``cache_dir``, named by the
SHA-256 of the three: raw 8 kHz PCM, written to a temporary name and renamed into
place, so concurrent renderers never see half a file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from voiceapp.errors import MediaError
from voiceapp.media.audio import SAMPLE_RATE, pcm_of, read_wav, resample

PROGRAM = "espeak-ng"
#: Longest time one rendering may take, in seconds.
RENDER_TIMEOUT = 30.0
_VARIANTS = {"man": "+m3", "woman": "+f3", "alice": "+f3"}
_FALLBACK = "en"


def espeak_voices(voice: str, language: str) -> list[str]:
    """The espeak-ng ``-v`` values to try, best first."""
    lang = (language or _FALLBACK).strip().lower().replace("_", "-")
    variant = _VARIANTS.get(voice.strip().lower(), "")
    names = [lang, lang.split("-")[0], _FALLBACK]
    out: list[str] = []
    for name in names:
        if name and name + variant not in out:
            out.append(name + variant)
    return out


class Speech:
    """Renders text to 8 kHz 16-bit mono PCM; ``cache_dir=None`` renders every time."""

    def __init__(self, cache_dir: Path | None = None, *, program: str = PROGRAM) -> None:
        self.cache_dir = cache_dir
        self.program = program

    def cache_path(self, text: str, voice: str, language: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256("\0".join((text, voice, language)).encode()).hexdigest()
        return self.cache_dir / f"{key}.pcm"

    def render(self, text: str, voice: str, language: str) -> bytes:
        """The speech (blocking: run it in a thread)."""
        path = self.cache_path(text, voice, language)
        if path is not None and path.exists():
            return path.read_bytes()
        pcm = self._espeak(text, voice, language)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(pcm)
            os.replace(tmp, path)
        return pcm

    def _espeak(self, text: str, voice: str, language: str) -> bytes:
        last = ""
        for name in espeak_voices(voice, language):
            try:
                done = subprocess.run(
                    [self.program, "-v", name, "--stdout"],
                    input=text.encode("utf-8"),
                    capture_output=True,
                    timeout=RENDER_TIMEOUT,
                    check=False,
                )
            except FileNotFoundError:
                raise MediaError(
                    f"{self.program} is not installed (Debian package espeak-ng)",
                    code="media-speech",
                    field="voice",
                ) from None
            except subprocess.TimeoutExpired:
                raise MediaError(
                    f"{self.program} took longer than {RENDER_TIMEOUT:g} s",
                    code="media-speech",
                    field="voice",
                ) from None
            if done.returncode == 0 and done.stdout:
                samples, rate = read_wav(done.stdout)
                return pcm_of(resample(samples, rate, SAMPLE_RATE))
            last = done.stderr.decode("utf-8", "replace").strip()
        raise MediaError(
            f"{self.program} could not render language {language!r}: {last}",
            code="media-speech",
            field="language",
        )
