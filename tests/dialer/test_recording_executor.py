"""A recording's audio is made and written off the dialer's loop (its executor): the
loop's 20 ms timers go on running while a long recording is built and stored."""

from __future__ import annotations

import asyncio
import random
import threading
from pathlib import Path

from voiceapp.calls.writes import SaveRecording, Write
from voiceapp.dialer.clock import RealClock, VirtualClock
from voiceapp.dialer.recording import Recorder, Sound
from voiceapp.media.audio import pcm_of
from voiceapp.media.track import Captured
from voiceapp.stores.media import FolderMedia


class WatchedMedia(FolderMedia):
    """A folder store that notes the thread each file is written on."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.threads: list[int] = []

    def put(self, name: str, data: bytes) -> None:
        self.threads.append(threading.get_ident())
        super().put(name, data)


def noise(seconds: float) -> bytes:
    rng = random.Random(7)
    return pcm_of([rng.randint(-8000, 8000) for _ in range(round(seconds * 8000))])


def test_a_long_recording_is_built_while_the_loop_ticks(tmp_path: Path) -> None:
    clock = RealClock()
    media = WatchedMedia(tmp_path)
    writes: list[Write] = []
    recorder = Recorder(media, writes.append)
    captured = Captured(noise(60.0), noise(60.0))  # a minute both ways: 1.9 MB of WAV
    ticks: list[float] = []

    def tick() -> None:  # a media pacer's 20 ms tick
        ticks.append(clock.now())
        clock.call_later(0.02, tick)

    async def body() -> tuple[int, int]:
        loop_thread = threading.get_ident()
        clock.call_soon(tick)
        await asyncio.sleep(0.05)
        record = recorder.start("RE" + "1" * 32, "CA" + "1" * 32, "OutboundAPI", at=0.0)
        before = len(ticks)
        done = await recorder.finish(record, 60.0, captured=captured, part="line")
        assert done.status == "completed" and done.duration == 60
        return len(ticks) - before, loop_thread

    try:
        during, loop_thread = clock.run_until(body())
    finally:
        clock.close()
    # the loop's timer fired while the recording was made (on the loop it could not)
    assert during >= 2
    assert media.threads and all(t != loop_thread for t in media.threads)
    (done,) = [w.recording for w in writes if isinstance(w, SaveRecording) and w.recording.media]
    assert done.size == 44 + 60 * 8000 * 2
    assert media.get(done.media or "") is not None


def test_virtual_time_waits_for_the_executor(tmp_path: Path) -> None:
    clock = VirtualClock()
    recorder = Recorder(FolderMedia(tmp_path), lambda write: None)

    async def body() -> float:
        record = recorder.start("RE" + "2" * 32, "CA" + "2" * 32, "RecordVerb", at=0.0)
        start = clock.now()
        done = await recorder.finish(record, 3.0, [Sound(0.0, "talk", seconds=3.0)])
        assert done.status == "completed" and done.duration == 3
        return clock.now() - start

    try:
        elapsed = clock.run_until(body())
    finally:
        clock.close()
    assert elapsed == 0.0  # the file work takes no virtual time
