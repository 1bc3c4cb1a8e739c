"""Benchmark: voiceapp.dtmf.parse_digits against a minimal regex-and-loop parser.

Both parsers run in this process on the same strings and build the same result
(a ``Timeline`` of ``Tone`` / ``Wait`` events); the minimal one is checked to agree
before timing.  Ratios > 1 mean parse_digits is faster.

    .venv/bin/python bench/bench_dtmf.py [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import timeit
from collections.abc import Callable

from voiceapp.dtmf import DEFAULT_GAP_MS, DEFAULT_TONE_MS, Timeline, Tone, Wait, parse_digits
from voiceapp.dtmf.timeline import Event

_MINIMAL_RE = re.compile(r"[0-9A-D*#wW]+")
MAX_LENGTH = 4096


def minimal_parse(
    text: str, tone_ms: int = DEFAULT_TONE_MS, gap_ms: int = DEFAULT_GAP_MS
) -> Timeline:
    """The obvious implementation: one regex for validity, one loop over characters."""
    if len(text) > MAX_LENGTH or not _MINIMAL_RE.fullmatch(text):
        raise ValueError("bad digits")
    events: list[Event] = []
    t = 0
    wait = 0
    previous_tone = False
    for char in text:
        if char == "w" or char == "W":
            wait += 500 if char == "w" else 1000
            continue
        if wait:
            events.append(Wait(t, wait))
            t += wait
            wait = 0
        elif previous_tone:
            t += gap_ms
        events.append(Tone(char, t, tone_ms))
        t += tone_ms
        previous_tone = True
    if wait:
        events.append(Wait(t, wait))
        t += wait
    return Timeline(text, tuple(events), t, tone_ms, gap_ms)


def make_strings(length: int, count: int, rng: random.Random) -> list[str]:
    """Realistic mixes: mostly digits, some wait runs (about one character in eight)."""
    alphabet = "0123456789*#ABCD" * 7 + "wW"
    return ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(count)]


def best_per_call(fn: Callable[[str], object], strings: list[str], repeat: int) -> float:
    def run() -> None:
        for s in strings:
            fn(s)

    number = max(1, 20000 // (len(strings) * len(strings[0])))
    times = timeit.repeat(run, number=number, repeat=repeat)
    return min(times) / (number * len(strings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(4733)
    print(f"{'length':>6}  {'parse_digits':>14}  {'minimal':>14}  {'ratio':>6}")
    ratios = []
    for length in (8, 64, 1024):
        strings = make_strings(length, 50, rng)
        for s in strings:
            assert parse_digits(s, max_length=MAX_LENGTH) == minimal_parse(s), s
        ours = best_per_call(lambda s: parse_digits(s, max_length=MAX_LENGTH), strings, args.repeat)
        peer = best_per_call(minimal_parse, strings, args.repeat)
        ratios.append(peer / ours)
        print(f"{length:>6}  {ours * 1e6:>11.2f} us  {peer * 1e6:>11.2f} us  {peer / ours:>5.2f}x")
    print(
        f"geometric mean ratio (minimal / parse_digits): {statistics.geometric_mean(ratios):.2f}x"
    )


if __name__ == "__main__":
    main()
