"""A recorded SIP call hangs up (BYE) without waiting for its WAV to be written; the
recording is still stored, and reported, before the call's ``completed`` status."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from support.dialer import CALLEE
from support.siplab import SipLab

from voiceapp.cli.sipp import Sipp
from voiceapp.dialer.recording import RecordingCallback
from voiceapp.stores.media import FolderMedia

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")

REC_HOOK = "http://hooks.test/recording"


class HeldMedia(FolderMedia):
    """A folder store whose writes wait (at most 10 s) until the callee's sipp has
    ended, that is, until it got our BYE and answered it."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.callee: Sipp | None = None
        self.callee_gone_first: list[bool] = []

    def put(self, name: str, data: bytes | Iterable[bytes]) -> None:
        assert self.callee is not None
        deadline = time.monotonic() + 10.0
        while self.callee.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        self.callee_gone_first.append(self.callee.process.poll() is not None)
        super().put(name, data)


def test_the_bye_leaves_before_the_wav_is_written(lab: SipLab) -> None:
    media = HeldMedia(lab.folder / "recordings")
    lab.media = media
    media.callee = lab.sipp(CALLEE, "answer")
    page = "<Response><Play digits='w9'/><Pause length='1'/><Hangup/></Response>"
    handle = lab.start(
        CALLEE,
        lab.site.add("/call", page),
        record=True,
        recording_callback=RecordingCallback(REC_HOOK, events=frozenset({"completed"})),
    )
    started = time.monotonic()
    lab.run(handle)
    assert time.monotonic() - started < 8.0  # the write did not wait its 10 s out
    assert media.callee_gone_first == [True]  # the BYE was answered before the write
    assert handle.status.value == "completed"
    (record,) = lab.recordings()
    assert record.status == "completed" and media.exists(record.media or "")
    # the recording's event first, then the call's completed, with its duration
    kinds = [
        "recording" if "RecordingStatus" in p else p.get("CallStatus")
        for p in lab.receiver.accepted
    ]
    assert kinds == ["recording", "completed"]
    status = lab.receiver.accepted[1]
    assert status["CallDuration"] in ("1", "2")
    assert media.callee.wait() == 0, media.callee.errors()
