"""<Dial><Conference> on the SIP backend: participants hear each other (sipp callees).

Two callees play in-band DTMF as PCMU (talk.xml, each its own pcap); a third answers
with its media pointed at the test's RTP sink (answer_sink.xml), so what the dialer's
mixer sends it arrives at the sink, where the Goertzel decoder reads the digits.
"""

from __future__ import annotations

import shutil

import pytest
from support.dialer import CALLEE, IVR
from support.siplab import SipLab, tone_frames
from support.sipp import audio_pcap

from voiceapp.dtmf import parse_digits
from voiceapp.dtmf.audio import decode, synthesize
from voiceapp.media.audio import pcm_of, samples_of

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")

LISTENER = "+14155552671"


def tones(digits: str, *, after: float = 0.0) -> bytes:
    """``after`` seconds of silence, then in-band DTMF (120 ms tones, 120 ms apart)."""
    silence = bytes(2 * round(after * 8000))
    return silence + pcm_of(synthesize(parse_digits(digits, tone_ms=120, gap_ms=120)))


def conference(lab: SipLab, path: str, *, seconds: int, **noun: str) -> str:
    attrs = "".join(f" {k}='{v}'" for k, v in {"beep": "false", **noun}.items())
    page = (
        f"<Response><Dial timeLimit='{seconds}'><Conference{attrs}>room</Conference></Dial>"
        "</Response>"
    )
    return lab.site.add(path, page)


def test_participants_hear_each_other(lab: SipLab) -> None:
    audio_pcap(lab.callee_folder(CALLEE) / "talk.pcap", tones("369"))
    audio_pcap(lab.callee_folder(IVR) / "talk.pcap", tones("47", after=1.5))
    sink = lab.sink()
    callees = [
        lab.sipp(CALLEE, "talk"),
        lab.sipp(IVR, "talk"),
        lab.sipp(LISTENER, "answer_sink", keys={"rtp_sink": str(sink.port)}),
    ]
    calls = [
        lab.start(CALLEE, conference(lab, "/a", seconds=5)),
        lab.start(IVR, conference(lab, "/b", seconds=5)),
        lab.start(LISTENER, conference(lab, "/c", seconds=6)),
    ]
    lab.run(*calls)
    assert [c.status.value for c in calls] == ["completed"] * 3
    found = decode(samples_of(sink.pcm()))
    assert "".join(t.digit for t in found) == "36947"
    for tone in found:
        assert 90 <= tone.duration_ms <= 150  # 120 ms tones, through the mix and PCMU
    for callee in callees:
        assert callee.wait() == 0, callee.errors()


def test_a_muted_participant_is_not_heard_and_joins_beep(lab: SipLab) -> None:
    audio_pcap(lab.callee_folder(CALLEE) / "talk.pcap", tones("369"))
    audio_pcap(lab.callee_folder(IVR) / "talk.pcap", tones("47", after=1.0))
    sink = lab.sink()
    callees = [
        lab.sipp(LISTENER, "answer_sink", keys={"rtp_sink": str(sink.port)}),
        lab.sipp(CALLEE, "talk"),
        lab.sipp(IVR, "talk"),
    ]
    listener = lab.start(LISTENER, conference(lab, "/c", seconds=7))
    lab.clock.sleep(1.0)  # the listener is in the room before the others join
    muted = lab.start(CALLEE, conference(lab, "/a", seconds=5, muted="true", beep="true"))
    speaker = lab.start(IVR, conference(lab, "/b", seconds=5))
    lab.run(listener, muted, speaker)
    pcm = sink.pcm()
    assert "".join(t.digit for t in decode(samples_of(pcm))) == "47"  # not 369: muted
    # the muted one's beep="true": a beep (1000 Hz, 0.4 s) when it joined, one when it left
    beeps = tone_frames(pcm, 1000.0)
    assert 30 <= beeps <= 44
    for callee in callees:
        assert callee.wait() == 0, callee.errors()
