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


WORKLOADS = {
    # Uniformly random valid strings: 16 tone symbols and 2 waits (1 character in 9).
    "mixed": "0123456789*#ABCDwW",
    # Tones only, the shape of most extension / PIN strings.
    "tones": "0123456789*#ABCD",
}


def make_strings(alphabet: str, length: int, count: int, rng: random.Random) -> list[str]:
    return ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(count)]


def per_call(fn: Callable[[str], object], strings: list[str], number: int) -> float:
    def run() -> None:
        for s in strings:
            fn(s)

    return timeit.timeit(run, number=number) / (number * len(strings))


def compare(strings: list[str], repeat: int) -> tuple[float, float]:
    """Best time per call of each parser; the two alternate so load hits both alike."""
    number = max(1, 100_000 // (len(strings) * len(strings[0])))
    ours, peer = [], []
    for _ in range(repeat):
        ours.append(per_call(lambda s: parse_digits(s, max_length=MAX_LENGTH), strings, number))
        peer.append(per_call(minimal_parse, strings, number))
    return min(ours), min(peer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(4733)
    ratios = []
    print(f"{'workload':>8} {'length':>6}  {'parse_digits':>13}  {'minimal':>11}  {'ratio':>6}")
    for workload, alphabet in WORKLOADS.items():
        for length in (8, 64, 1024):
            strings = make_strings(alphabet, length, 50, rng)
            for s in strings:
                assert parse_digits(s, max_length=MAX_LENGTH) == minimal_parse(s), s
            ours, peer = compare(strings, args.repeat)
            ratios.append(peer / ours)
            print(
                f"{workload:>8} {length:>6}  {ours * 1e6:>10.2f} us  {peer * 1e6:>8.2f} us"
                f"  {peer / ours:>5.2f}x"
            )
    mean = statistics.geometric_mean(ratios)
    print(
        f"ratio = minimal time / parse_digits time (> 1: parse_digits is faster); mean {mean:.2f}x"
    )


if __name__ == "__main__":
    main()
