"""A call recording's tap: memory held and CPU per recorded second, the tap that keeps a
window in memory and the rest in a temporary file against the tap that held
everything in memory (docs/media.md, "Taps").

Both taps get the same line, packet by packet, by their own API on a hand-moved
clock (no sockets): the far end's 20 ms packets by RTP timestamp with arrival jitter,
and ours on the 20 ms grid, loud noise both ways.  Then each makes the recording's
WAV as the dialer's recorder does (mono, both ways; stereo; the far end trimmed) and
stores it in a folder.  The figures: the peak of audio bytes the tap held in memory,
the CPU (``time.process_time``) of feeding it and of making and storing each WAV per
recorded second, and the peak of Python allocations while a WAV is made
(``tracemalloc``, a separate pass: it slows the code it watches).

The in-memory tap is the ``voiceapp/media/track.py`` of another tree (``--before``, a
folder or a git revision of this repository, default ``main``), loaded beside this
one; its WAV was written whole with :mod:`wave`, as its recorder did.

    .venv/bin/python bench/bench_tap.py --seconds 300 --rounds 2 [--before main]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
import wave
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from voiceapp.dialer.recording import wav_pieces
from voiceapp.media import track
from voiceapp.media.audio import pcm_of
from voiceapp.stores.media import FolderMedia

RATE = 8000
FRAME = 160


class Now:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def old_track(before: str) -> ModuleType:
    """The in-memory ``track`` module of ``before`` (a folder, or a git revision)."""
    folder = Path(before)
    if folder.is_dir():
        source = (folder / "voiceapp" / "media" / "track.py").read_text()
    else:
        root = Path(__file__).resolve().parent.parent
        source = subprocess.run(
            ["git", "-C", str(root), "show", f"{before}:voiceapp/media/track.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    path = Path(tempfile.mkdtemp(prefix="bench-tap-")) / "track_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("track_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["track_before"] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def feed(tap: Any, now: Now, seconds: float, frames: list[bytes]) -> int:
    """Put ``seconds`` of a line through ``tap``; the peak of bytes it held."""
    rng = random.Random(3)
    peak = 0
    for n in range(round(seconds * 50)):
        tick = 1000.0 + n * 0.02
        now.t = tick
        at = tick + rng.uniform(0.0, 0.03)
        tap.heard.add(tap.place(0xABC, n * FRAME, at), frames[n % len(frames)])
        tap.sent.add(tap.position(tick), frames[(n + 7) % len(frames)])
        if n % 50 == 0:
            peak = max(peak, held(tap))
    now.t = 1000.0 + seconds
    return max(peak, held(tap))


def held(tap: Any) -> int:
    """Bytes of audio ``tap`` holds in memory."""
    if isinstance(tap, track.LineTap):
        return tap.buffered * 2
    return len(tap.heard._pcm) + len(tap.sent._pcm)


def whole_wav(pcm: bytes, channels: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    return buffer.getvalue()


def old_wavs(captured: Any, media: FolderMedia) -> dict[str, Callable[[], None]]:
    trimmed = track.trimmed
    return {
        "mono": lambda: media.put("RE1.wav", whole_wav(captured.mono(), 1)),
        "stereo": lambda: media.put("RE2.wav", whole_wav(captured.stereo(), 2)),
        "far end trimmed": lambda: media.put("RE3.wav", whole_wav(trimmed(captured.heard), 1)),
    }


def new_wavs(captured: track.Captured, media: FolderMedia) -> dict[str, Callable[[], None]]:
    return {
        "mono": lambda: media.put("RE1.wav", wav_pieces(captured.mono_audio())),
        "stereo": lambda: media.put("RE2.wav", wav_pieces(captured.stereo_audio())),
        "far end trimmed": lambda: media.put(
            "RE3.wav", wav_pieces(captured.far_end_audio(trim=True))
        ),
    }


def one_round(kind: str, make_tap: Callable[[Now], Any], seconds: float) -> dict[str, float]:
    rng = random.Random(1)
    frames = [pcm_of([rng.randint(-8000, 8000) for _ in range(FRAME)]) for _ in range(50)]
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-tap-") as folder:
        media = FolderMedia(Path(folder) / "recordings")
        for watched in (False, True):
            now = Now()
            tap = make_tap(now)
            start = time.process_time()
            peak = feed(tap, now, seconds, frames)
            if not watched:
                figures["held KB"] = peak / 1024
                figures["feed ms/s"] = (time.process_time() - start) / seconds * 1000
            captured = tap.stop()
            wavs = old_wavs(captured, media) if kind == "before" else new_wavs(captured, media)
            for name, write in wavs.items():
                if watched:
                    tracemalloc.start()
                    write()
                    figures[f"{name} peak MB"] = tracemalloc.get_traced_memory()[1] / 2**20
                    tracemalloc.stop()
                else:
                    start = time.process_time()
                    write()
                    figures[f"{name} ms/s"] = (time.process_time() - start) / seconds * 1000
            if isinstance(captured, track.Captured):
                captured.close()
            del captured, tap
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", default="main")
    args = parser.parse_args()
    before = old_track(args.before)
    spill = tempfile.mkdtemp(prefix="bench-tap-spill-")
    makers: dict[str, Callable[[Now], Any]] = {
        "before": lambda now: before.LineTap(now(), now),
        "spill": lambda now: track.LineTap(now(), now, spill_dir=spill),
    }
    rows: dict[str, list[dict[str, float]]] = {kind: [] for kind in makers}
    for _ in range(args.rounds):
        for kind, make in makers.items():  # alternated, so load changes hit both
            rows[kind].append(one_round(kind, make, args.seconds))
    print(f"{args.seconds:.0f} s recorded, {args.rounds} rounds (python {sys.version.split()[0]})")
    for name in rows["spill"][0]:
        old = [r[name] for r in rows["before"]]
        new = [r[name] for r in rows["spill"]]
        ratio = [n / o for n, o in zip(new, old, strict=True) if o]
        print(
            f"  {name:24} before {min(old):10.2f}-{max(old):<10.2f}"
            f" spill {min(new):10.2f}-{max(new):<10.2f}"
            f" spill/before {min(ratio):.2f}-{max(ratio):.2f}x"
        )


if __name__ == "__main__":
    main()
