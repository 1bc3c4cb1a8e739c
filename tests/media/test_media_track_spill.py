"""A tap keeps a bounded window of each track in memory and the rest in an anonymous
temporary file: long captures stay small, read back the same bytes as the old
all-in-memory tracks (a reference written out below), and leave no file behind."""

from __future__ import annotations

import asyncio
import io
import os
import random
import wave
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.rtp import RtpPeer

from voiceapp.calls.writes import SaveRecording, Write
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.recording import Part, Recorder, wav_header, wav_pieces
from voiceapp.errors import StoreError
from voiceapp.media import g711
from voiceapp.media.audio import pcm_of, samples_of
from voiceapp.media.session import MediaSession
from voiceapp.media.track import (
    CHUNK,
    MAX_JUMP_SECONDS,
    WINDOW_SECONDS,
    Captured,
    LineTap,
    Track,
    trimmed,
)
from voiceapp.stores.media import FolderMedia

RATE = 8000
FRAME = 160


class Now:
    """A loop clock the test moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Reference:
    """The tracks as they were kept before: every sample in memory, each piece summed
    into what is there and clipped, position 0 on."""

    def __init__(self) -> None:
        self.samples: list[int] = []

    def add(self, position: int, pcm: bytes) -> None:
        values = samples_of(pcm)
        if position < 0:
            values, position = values[-position:], 0
        if position >= len(self.samples):  # after the end: nothing to mix with
            self.samples += [0] * (position - len(self.samples)) + list(values)
            return
        end = position + len(values)
        if end > len(self.samples):
            self.samples += [0] * (end - len(self.samples))
        for offset, value in enumerate(values):
            mixed = self.samples[position + offset] + value
            self.samples[position + offset] = max(-32768, min(32767, mixed))

    def pcm(self, samples: int) -> bytes:
        return pcm_of(self.samples[:samples] + [0] * (samples - len(self.samples)))


def frames_pool(seed: int) -> list[bytes]:
    """A few loud 20 ms noise frames to build long audio from cheaply."""
    rng = random.Random(seed)
    return [pcm_of([rng.randint(-9000, 9000) for _ in range(FRAME)]) for _ in range(40)]


def reference_wav(pcm: bytes, channels: int) -> bytes:
    """What the recorder wrote before: the standard library's wave module, whole."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    return buffer.getvalue()


def open_files_in(folder: Path) -> list[str]:
    """This process's open files under ``folder`` (a tap's files have no name there:
    they show as deleted)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


def feed_call(tap: LineTap, now: Now, seconds: float) -> Iterator[tuple[str, int, bytes]]:
    """``seconds`` of a recorded line, packet by packet (yields each piece as it is
    added: track, position, PCM): the far end's 20 ms packets by RTP timestamp with
    arrival jitter, reordering, a gap and a packet 3 s late; what we send, in talkspurts
    on the 20 ms grid, with pieces that overlap; silence at the start and the end."""
    rng = random.Random(11)
    heard_pool, sent_pool = frames_pool(1), frames_pool(2)
    start = now.t
    ts0, ssrc = rng.getrandbits(32), 0x5EED
    packets = round(seconds * 50)
    held: list[tuple[int, float]] = []  # reordered: sent on after the next one
    for n in range(packets):
        tick = start + n * 0.02
        now.t = tick
        if 150 <= n < packets - 150 and not 9000 <= n < 9250:  # 3 s of silence each end
            ts = (ts0 + n * FRAME) % 2**32
            pcm = heard_pool[n % len(heard_pool)]
            if n % 97 == 0:
                held.append((ts, tick))
            else:
                at = tick + rng.uniform(0.0, 0.03)
                position = tap.place(ssrc, ts, at)
                tap.heard.add(position, pcm)
                yield "heard", position, pcm
                for late_ts, _ in held:
                    position = tap.place(ssrc, late_ts, at)
                    late = heard_pool[((late_ts - ts0) % 2**32 // FRAME) % len(heard_pool)]
                    tap.heard.add(position, late)
                    yield "heard", position, late
                held.clear()
            if n % 1000 == 500:  # a packet 3 s late (inside the window): still placed
                late_ts = (ts - 150 * FRAME) % 2**32
                position = tap.place(ssrc, late_ts, tick)
                tap.heard.add(position, heard_pool[3])
                yield "heard", position, heard_pool[3]
        if 200 <= n < packets - 200 and (n // 400) % 3 != 2:  # talkspurts, quiet gaps
            position = tap.position(tick)
            pcm = sent_pool[n % len(sent_pool)]
            tap.sent.add(position, pcm)
            yield "sent", position, pcm
            if n % 250 == 0:  # a tone piece laid over what was sent
                tap.sent.add(position + 80, sent_pool[0] + sent_pool[1])
                yield "sent", position + 80, sent_pool[0] + sent_pool[1]
    now.t = start + packets * 0.02


def test_ten_minutes_stay_bounded_in_memory_and_read_back_the_same(tmp_path: Path) -> None:
    now = Now()
    tap = LineTap(now(), now, spill_dir=tmp_path)
    heard, sent = Reference(), Reference()
    peak = 0
    spilling: list[str] = []
    for track, position, pcm in feed_call(tap, now, 600.0):
        (heard if track == "heard" else sent).add(position, pcm)
        peak = max(peak, tap.buffered)
        if not spilling and len(tap.heard) > 20 * RATE:
            spilling = open_files_in(tmp_path)
    assert len(tap.heard) >= 590 * RATE
    # the window and the second waiting to be written, per track; not ten minutes
    bound = 2 * round((WINDOW_SECONDS + 1.0) * RATE + 2 * FRAME)
    assert peak <= bound < len(tap.heard) // 20
    assert tap.late == 0  # nothing placed by its timestamp fell outside the window
    assert spilling and all(path.endswith("(deleted)") for path in spilling)
    assert list(tmp_path.iterdir()) == []  # no name on disk at any time

    captured = tap.stop()
    samples = captured.samples
    assert samples == max(len(heard.samples), len(sent.samples), 600 * RATE)
    old_heard, old_sent = heard.pcm(samples), sent.pcm(samples)
    assert captured.heard == old_heard and captured.sent == old_sent
    with captured:
        # the recorder's WAVs, piece by piece, as the old code made them whole
        old_mono = pcm_of(
            [a + b for a, b in zip(samples_of(old_heard), samples_of(old_sent), strict=True)]
        )
        both = array("h", bytes(4 * samples))
        both[0::2], both[1::2] = samples_of(old_heard), samples_of(old_sent)
        expected: dict[str, tuple[bytes, int]] = {
            "mono": (old_mono, 1),
            "mono trimmed": (trimmed(old_mono), 1),
            "stereo": (both.tobytes(), 2),
            "far end trimmed": (trimmed(old_heard), 1),
            "far end": (old_heard, 1),
        }
        made = {
            "mono": captured.mono_audio(),
            "mono trimmed": captured.mono_audio(trim=True),
            "stereo": captured.stereo_audio(),
            "far end trimmed": captured.far_end_audio(trim=True),
            "far end": captured.far_end_audio(trim=False),
        }
        for name, audio in made.items():
            pcm, channels = expected[name]
            pieces = list(wav_pieces(audio))
            assert max(len(p) for p in pieces) <= CHUNK * 2 * channels, name
            assert b"".join(pieces) == reference_wav(pcm, channels), name
        assert len(trimmed(old_heard)) < len(old_heard)  # the trim had silence to cut
    assert open_files_in(tmp_path) == []


def test_a_late_piece_inside_the_window_is_mixed_in_one_before_it_is_cut() -> None:
    track = Track(window=2.0)
    loud = pcm_of([1000] * FRAME)
    for n in range(500):  # 10 s
        track.add(n * FRAME, loud)
    assert track.buffered <= 3 * RATE + FRAME and len(track) == 10 * RATE
    end = len(track)
    track.add(end - RATE, pcm_of([5] * FRAME))  # 1 s back: in memory
    assert track.late == 0
    track.add(end - 8 * RATE, pcm_of([7] * FRAME))  # 8 s back: in the file already
    assert track.late == 1
    base = end - track.buffered
    track.add(base - 80, pcm_of([9] * FRAME))  # straddles the window's start: cut there
    assert track.late == 2
    samples = samples_of(track.pcm(end))
    assert samples[end - RATE] == 1005 and samples[end - 8 * RATE] == 1000
    assert samples[base - 1] == 1000 and samples[base] == 1009
    assert samples[base + 79] == 1009 and samples[base + 80] == 1000
    track.discard()


def test_packets_jittered_up_to_the_jump_limit_land_inside_the_window() -> None:
    now = Now()
    tap = LineTap(now(), now)
    pcm = pcm_of([100] * FRAME)
    jump = round(MAX_JUMP_SECONDS * RATE)
    for n in range(3000):  # 60 s by arrival; every 50th arrives as late as placing allows
        now.t = 1000.0 + n * 0.02
        ts = n * FRAME - (jump - FRAME if n % 50 == 49 else 0)
        tap.heard.add(tap.place(1, n * FRAME if n == 0 else ts, now.t), pcm)
    assert tap.late == 0
    tap.discard()


def test_start_earlier_after_spilling_puts_silence_first(tmp_path: Path) -> None:
    track = Track(tmp_path, window=1.0)
    for n in range(200):  # 4 s: most of it spilled
        track.add(n * FRAME, pcm_of([n + 1] * FRAME))
    track.shift(RATE)
    track.add(len(track), pcm_of([-3] * FRAME))
    samples = samples_of(track.pcm(len(track)))
    assert len(samples) == RATE + 200 * FRAME + FRAME
    assert set(samples[:RATE]) == {0}
    assert samples[RATE] == 1 and samples[RATE + 199 * FRAME] == 200 and samples[-1] == -3
    track.discard()
    assert open_files_in(tmp_path) == []


def test_the_wav_header_is_the_wave_modules() -> None:
    for frames, channels in ((0, 1), (1, 1), (8000, 1), (12345, 2)):
        pcm = bytes(frames * channels * 2)
        assert wav_header(frames, channels) + pcm == reference_wav(pcm, channels)


def long_tap(folder: Path, seconds: float) -> LineTap:
    now = Now()
    tap = LineTap(now(), now, spill_dir=folder)
    for _ in feed_call(tap, now, seconds):
        pass
    return tap


def finish(recorder: Recorder, captured: Captured, part: Part, channels: int) -> Write:
    """Store ``captured`` as a recording of ``channels`` on virtual time; the last write."""
    clock = VirtualClock()
    writes: list[Write] = []
    recorder.write = writes.append

    async def body() -> None:
        record = recorder.start(
            "RE" + "3" * 32, "CA" + "3" * 32, "DialVerb", at=0.0, channels=channels
        )
        await recorder.finish(record, captured.seconds, captured=captured, part=part)

    try:
        clock.run_until(body())
    finally:
        clock.close()
    return writes[-1]


def test_the_files_are_gone_once_the_recording_is_written(tmp_path: Path) -> None:
    taps = tmp_path / "taps"
    tap = long_tap(taps, 40.0)
    assert len(open_files_in(taps)) == 2  # both tracks spilled
    captured = tap.stop()
    expected = reference_wav(captured.stereo(), 2)
    recorder = Recorder(FolderMedia(tmp_path / "recordings"), lambda write: None)
    done = finish(recorder, captured, "line", 2)
    assert isinstance(done, SaveRecording) and done.recording.status == "completed"
    assert recorder.media.get(done.recording.media or "") == expected
    assert done.recording.size == len(expected) and done.recording.duration == 40
    assert open_files_in(taps) == [] and list(taps.iterdir()) == []
    assert [p.name for p in (tmp_path / "recordings").iterdir()] == [done.recording.media]


def test_the_files_are_gone_when_the_store_fails(tmp_path: Path) -> None:
    taps = tmp_path / "taps"
    captured = long_tap(taps, 30.0).stop()
    blocked = tmp_path / "not-a-folder"
    blocked.write_bytes(b"")  # the store's folder is a file: it cannot write
    recorder = Recorder(FolderMedia(blocked), lambda write: None)
    with pytest.raises(StoreError) as caught:
        finish(recorder, captured, "far-end", 1)
    assert caught.value.code == "media-unavailable"
    assert open_files_in(taps) == []


def test_a_failed_write_leaves_no_part_file_and_no_tap_file(tmp_path: Path) -> None:
    taps, folder = tmp_path / "taps", tmp_path / "recordings"
    captured = long_tap(taps, 30.0).stop()
    pieces = wav_pieces(captured.mono_audio())  # the header and six pieces of 5 s
    media = FolderMedia(folder)

    def failing() -> Iterator[bytes]:  # the pieces stop coming halfway: a read error
        for n, piece in enumerate(pieces):
            if n == 3:
                raise OSError(5, "Input/output error")
            yield piece

    with captured, pytest.raises(StoreError):
        media.put("RE" + "4" * 32 + ".wav", failing())
    assert list(folder.iterdir()) == []
    assert open_files_in(taps) == []


def test_a_discarded_tap_and_a_short_one_keep_no_file(tmp_path: Path) -> None:
    tap = long_tap(tmp_path, 30.0)
    assert open_files_in(tmp_path)
    tap.discard()
    assert open_files_in(tmp_path) == [] and tap.stopped
    with pytest.raises(RuntimeError):
        tap.stop()
    short = long_tap(tmp_path, 4.0)  # shorter than the window: memory only
    assert open_files_in(tmp_path) == []
    with short.stop() as captured:
        assert captured.samples == 4 * RATE


def test_a_sessions_tap_spills_a_long_call_and_places_every_packet(tmp_path: Path) -> None:
    """Real RTP both ways on 127.0.0.1, on virtual time: 90 s of the far end's audio
    and of ours, a tap on the session with its files in ``tmp_path``."""
    rng = random.Random(5)
    far = pcm_of([rng.randint(-9000, 9000) for _ in range(90 * RATE)])
    ours = pcm_of([rng.randint(-9000, 9000) for _ in range(90 * RATE)])
    clock = VirtualClock()

    async def body() -> tuple[Captured, int, list[str]]:
        session = await MediaSession.open("127.0.0.1", (30000, 39999), clock)
        peer = RtpPeer(clock.loop)
        session.set_remote("127.0.0.1", peer.port, "PCMU", None, None)
        tap = session.tap(spill_dir=tmp_path)
        peak, files = 0, []

        async def watch() -> None:
            nonlocal peak, files
            while True:
                await asyncio.sleep(1.0)
                peak = max(peak, tap.buffered)
                files = files or open_files_in(tmp_path)

        watching = asyncio.ensure_future(watch())
        try:
            sending = session.play(ours)
            await peer.send_audio(("127.0.0.1", session.local_port), far)
            await sending
            return tap.stop(), peak, files
        finally:
            watching.cancel()
            session.close()
            peer.close()

    try:
        captured, peak, files = clock.run_until(body())
    finally:
        clock.close()
    with captured:
        assert captured.seconds >= 90.0 and len(files) == 2
        assert peak <= 2 * round((WINDOW_SECONDS + 1.0) * RATE + 2 * FRAME)
        heard, sent = captured.heard, captured.sent
        for track, expected in (
            (heard, g711.decode(g711.encode(far, "PCMU"), "PCMU")),
            (sent, ours),
        ):
            at = track.find(expected)  # whole, in order, each packet where it belongs
            assert at >= 0 and at % 2 == 0
            assert track[:at] == bytes(at) and not any(track[at + len(expected) :])
    assert open_files_in(tmp_path) == []


def test_an_hour_of_silence_between_two_pieces_costs_no_memory(tmp_path: Path) -> None:
    track = Track(tmp_path)
    track.add(0, pcm_of([1] * FRAME))
    track.add(3600 * RATE, pcm_of([2] * FRAME))  # what we send after an hour quiet
    assert track.buffered <= round(WINDOW_SECONDS * RATE) + FRAME
    kept = track.stop(0)
    try:
        assert kept.samples == 3600 * RATE + FRAME
        assert samples_of(kept.read(0, 2 * FRAME)) == array("h", [1] * FRAME + [0] * FRAME)
        assert set(samples_of(kept.read(1800 * RATE, CHUNK))) == {0}
        assert samples_of(kept.read(3600 * RATE - 1, FRAME + 1))[:2] == array("h", [0, 2])
    finally:
        kept.close()
