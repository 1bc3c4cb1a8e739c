"""The conference mixer's CPU per 20 ms tick for rooms of N members (docs/media.md).

Each tick every member's far end hands the mixer 20 ms of audio (``Mixer.heard``, as
``MediaSession.on_audio`` does) and every member is served its mix once
(``Mixer.frame_for``, as its session's feed is on the shared pacer's tick).  The
members are real :class:`~voiceapp.media.session.MediaSession` s on a virtual-time
loop that is not run, so no packet is sent: the figure is the mixing alone, in CPU
time (``time.process_time``), and as a share of one core at 50 ticks a second.  The
peer is a room of one (no sum, only the frame of silence it is served).

    .venv/bin/python bench/bench_mixer.py --members 3 10 50 --ticks 250
"""

from __future__ import annotations

import argparse
import random
import time

from voiceapp.dialer.clock import VirtualClock
from voiceapp.media.audio import pcm_of
from voiceapp.media.mixer import Mixer
from voiceapp.media.session import MediaSession, Pacer


def per_tick(clock: VirtualClock, members: int, ticks: int, frame: bytes) -> float:
    """CPU seconds per tick for a room of ``members``."""
    pacer = Pacer(clock.loop)

    async def open_all() -> list[MediaSession]:
        return [
            await MediaSession.open("127.0.0.1", (40000, 49999), clock, pacer=pacer)
            for _ in range(members)
        ]

    sessions = clock.run_until(open_all())
    mixer = Mixer()
    for session in sessions:
        mixer.add(session)
    start = time.process_time()
    for _ in range(ticks):
        for session in sessions:
            mixer.heard(session, frame)
        for session in sessions:
            mixer.frame_for(session)
    spent = (time.process_time() - start) / ticks
    for session in sessions:
        mixer.remove(session)
        session.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[3, 10, 50])
    parser.add_argument("--ticks", type=int, default=250)
    args = parser.parse_args()
    rng = random.Random(1)
    frame = pcm_of([rng.randint(-8000, 8000) for _ in range(160)])
    clock = VirtualClock()
    try:
        base = per_tick(clock, 1, args.ticks, frame)
        print(f"{'members':>8} {'ms CPU/tick':>12} {'% of a core':>12} {'x a room of 1':>14}")
        for members in args.members:
            spent = per_tick(clock, members, args.ticks, frame)
            print(
                f"{members:>8} {spent * 1e3:>12.3f} {spent / 0.02 * 100:>12.1f}"
                f" {spent / base:>14.1f}"
            )
    finally:
        clock.close()


if __name__ == "__main__":
    main()
