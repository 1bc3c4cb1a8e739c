"""Recordings of SIP calls hold the real RTP audio (sipp callees on 127.0.0.1).

Each callee plays a pcap: in-band DTMF tones as PCMU audio (talk.xml) or RFC 4733
events (press.xml).  The recordings the dialer's recorder stores are decoded with the
Goertzel decoder of voiceapp.dtmf.audio: the digits are there, in order, in the right
channel, with durations and recordingStatusCallback events as the simulated network's.
A callee whose SDP points at the test's RTP sink (talk_sink.xml) shows the beep the
dialer sends before a ``<Record>``.
"""

from __future__ import annotations

import shutil
from array import array
from typing import Any

import pytest
from support.dialer import CALLEE, IVR
from support.siplab import SipLab, tone_frames
from support.sipp import audio_pcap, dtmf_pcap

from voiceapp.dtmf import parse_digits
from voiceapp.dtmf.audio import decode, synthesize
from voiceapp.media.audio import pcm_of

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")

REC_HOOK = "http://hooks.test/recording"


def tones(digits: str) -> bytes:
    """In-band DTMF as PCM: 120 ms tones, 120 ms apart."""
    return pcm_of(synthesize(parse_digits(digits, tone_ms=120, gap_ms=120)))


def digits_in(samples: array[int]) -> str:
    return "".join(t.digit for t in decode(samples))


def recording_events(lab: SipLab) -> list[dict[str, str]]:
    return [p for p in lab.receiver.accepted if "RecordingStatus" in p]


def test_record_verb_keeps_the_callees_audio(lab: SipLab) -> None:
    audio_pcap(lab.callee_folder(CALLEE) / "talk.pcap", tones("147"))
    callee = lab.sipp(CALLEE, "talk")  # plays 1.5 s after the answer
    done = lab.site.add("/done", "<Response><Hangup/></Response>")
    page = (
        f"<Response><Record maxLength='8' timeout='2' playBeep='false' action='{done}'"
        f" recordingStatusCallback='{REC_HOOK}'"
        " recordingStatusCallbackEvent='in-progress completed'/></Response>"
    )
    handle = lab.start(CALLEE, lab.site.add("/record", page))
    lab.run(handle)
    assert handle.status.value == "completed"
    (record,) = lab.recordings()
    assert record.status == "completed" and record.source == "RecordVerb"
    channels, (samples,) = lab.wav(record)
    assert channels == 1
    assert digits_in(samples) == "147"
    # trim-silence: the 1.5 s before the callee spoke is gone; the tones last 0.6 s
    assert 0.5 <= len(samples) / 8000 <= 1.0
    assert record.duration == 1
    (posted,) = [r[2] for r in lab.site.requests if r[1] == done]
    assert posted["RecordingSid"] == record.sid
    assert posted["RecordingDuration"] == "1"
    assert posted["RecordingUrl"].endswith(f"/Recordings/{record.sid}")
    events = recording_events(lab)
    assert [e["RecordingStatus"] for e in events] == ["in-progress", "completed"]
    assert events[-1]["RecordingSid"] == record.sid
    assert events[-1]["RecordingUrl"] == posted["RecordingUrl"]
    assert events[-1]["RecordingDuration"] == "1"
    assert callee.wait() == 0, callee.errors()


def test_record_beeps_to_the_callee_before_it_records(lab: SipLab) -> None:
    audio_pcap(lab.callee_folder(CALLEE) / "talk.pcap", tones("5"))
    sink = lab.sink()  # what the dialer sends the callee, until the callee talks
    callee = lab.sipp(CALLEE, "talk_sink", keys={"rtp_sink": str(sink.port)})
    page = "<Response><Record maxLength='6' timeout='2'/><Hangup/></Response>"
    # Record=true on the call too: the line both ways, beside the verb's far end only
    handle = lab.start(CALLEE, lab.site.add("/record", page), record=True)
    lab.run(handle)
    assert handle.status.value == "completed"
    (beep,) = handle.trace.of("beep")
    (start,) = handle.trace.of("record-start")
    assert start.ms - beep.ms >= 500  # the verb waited until the beep had been sent
    window = handle.trace.origin + start.ms / 1000
    beeped = tone_frames(sink.pcm(before=window), 1000.0)
    assert 24 <= beeped <= 25  # 0.5 s of 1 kHz: 25 packets of 20 ms, before the window
    assert tone_frames(sink.pcm(), 1000.0) == beeped  # and none after it
    verb, call = sorted(lab.recordings(), key=lambda r: r.source != "RecordVerb")
    assert (verb.source, call.source) == ("RecordVerb", "OutboundAPI")
    _, (samples,) = lab.wav(verb)
    assert digits_in(samples) == "5"  # the callee's audio, without the beep
    assert tone_frames(pcm_of(samples), 1000.0) == 0
    _, (line,) = lab.wav(call)
    assert 24 <= tone_frames(pcm_of(line), 1000.0) <= 25  # the line carried it
    assert digits_in(line) == "5"
    assert callee.wait() == 0, callee.errors()


def test_record_play_beep_false_sends_no_tone(lab: SipLab) -> None:
    audio_pcap(lab.callee_folder(CALLEE) / "talk.pcap", tones("5"))
    sink = lab.sink()
    callee = lab.sipp(CALLEE, "talk_sink", keys={"rtp_sink": str(sink.port)})
    page = "<Response><Record maxLength='6' timeout='2' playBeep='false'/><Hangup/></Response>"
    handle = lab.start(CALLEE, lab.site.add("/record", page))
    lab.run(handle)
    assert handle.status.value == "completed"
    assert handle.trace.of("beep") == []
    assert tone_frames(sink.pcm(), 1000.0) == 0
    (record,) = lab.recordings()
    _, (samples,) = lab.wav(record)
    assert digits_in(samples) == "5"
    assert callee.wait() == 0, callee.errors()


def test_record_do_not_trim_keeps_the_silence(lab: SipLab) -> None:
    audio_pcap(lab.callee_folder(CALLEE) / "talk.pcap", tones("9"))
    callee = lab.sipp(CALLEE, "talk")
    page = (
        "<Response><Record maxLength='8' timeout='2' playBeep='false' trim='do-not-trim'/>"
        "<Hangup/></Response>"
    )
    handle = lab.start(CALLEE, lab.site.add("/record", page))
    lab.run(handle)
    (record,) = lab.recordings()
    _, (samples,) = lab.wav(record)
    assert digits_in(samples) == "9"
    (tone,) = decode(samples)
    assert 1.3 <= tone.start_ms / 1000 <= 2.0  # the callee spoke 1.5 s after the answer
    assert len(samples) / 8000 >= tone.end_ms / 1000 + 1.5  # and the silence after it
    assert callee.wait() == 0, callee.errors()


def test_record_keeps_rfc4733_digits_as_tones(lab: SipLab) -> None:
    dtmf_pcap(lab.callee_folder(CALLEE) / "digits.pcap", "58", gap_ms=300)
    callee = lab.sipp(CALLEE, "press")
    page = (
        "<Response><Record maxLength='3' timeout='5' finishOnKey='#' playBeep='false'"
        " trim='do-not-trim'/><Hangup/></Response>"
    )
    handle = lab.start(CALLEE, lab.site.add("/record", page))
    lab.run(handle)
    (record,) = lab.recordings()
    _, (samples,) = lab.wav(record)
    found = decode(samples)
    assert "".join(t.digit for t in found) == "58"
    for tone in found:  # each event lasts 100 ms (800 samples)
        assert 80 <= tone.duration_ms <= 120
    assert 250 <= found[1].start_ms - found[0].start_ms <= 350
    assert callee.wait() == 0, callee.errors()


@pytest.mark.parametrize("trim", ["do-not-trim", "trim-silence"])
def test_a_finish_on_key_digit_stops_the_media_recording(lab: SipLab, trim: str) -> None:
    dtmf_pcap(lab.callee_folder(CALLEE) / "digits.pcap", "58", gap_ms=300)
    callee = lab.sipp(CALLEE, "press")
    # the action records again: the media's first recording must have been stopped
    again = "<Response><Record maxLength='1' timeout='1' playBeep='false'/></Response>"
    done = lab.site.add("/done", again)
    page = (
        "<Response><Record maxLength='8' timeout='6' finishOnKey='8' playBeep='false'"
        f" trim='{trim}' action='{done}'/><Pause length='1'/></Response>"
    )
    handle = lab.start(CALLEE, lab.site.add("/record", page))
    lab.run(handle)
    record = lab.recordings()[0]
    _, (samples,) = lab.wav(record)
    assert digits_in(samples).startswith("5")  # the 8 ended it
    assert record.duration < 8
    action = [p for _, url, p in lab.site.requests if url == done]
    assert action[0]["Digits"] == "8"
    assert len(handle.trace.of("record")) == 2 and not handle.trace.of("internal-error")
    assert callee.wait() == 0, callee.errors()


@pytest.mark.parametrize(
    ("spec", "heard", "low", "high"),
    [
        ({"recording_trim": False}, "936", 3.0, 5.0),  # the whole call from the answer
        ({}, "936", 1.0, 2.5),  # Twilio's default, trim-silence: from the 9 to the 6
        ({"recording_track": "inbound", "recording_trim": False}, "36", 3.0, 5.0),
        ({"recording_track": "outbound", "recording_trim": False}, "9", 3.0, 5.0),
    ],
)
def test_call_record_true_mixes_both_directions(
    lab: SipLab, spec: dict[str, Any], heard: str, low: float, high: float
) -> None:
    audio_pcap(lab.callee_folder(CALLEE) / "talk.pcap", tones("36"))
    callee = lab.sipp(CALLEE, "talk")
    # we press 9 (RFC 4733) 0.5 s in; the callee plays 3 and 6 from 1.5 s on
    page = "<Response><Play digits='w9'/><Pause length='3'/><Hangup/></Response>"
    handle = lab.start(CALLEE, lab.site.add("/call", page), record=True, **spec)
    lab.run(handle)
    assert handle.status.value == "completed"
    (record,) = lab.recordings()
    assert record.source == "OutboundAPI"
    channels, (samples,) = lab.wav(record)
    assert channels == 1
    assert digits_in(samples) == heard
    assert low <= len(samples) / 8000 <= high
    assert callee.wait() == 0, callee.errors()


def test_call_record_true_dual_puts_each_direction_on_its_channel(lab: SipLab) -> None:
    audio_pcap(lab.callee_folder(CALLEE) / "talk.pcap", tones("36"))
    callee = lab.sipp(CALLEE, "talk")
    page = "<Response><Play digits='w9'/><Pause length='3'/><Hangup/></Response>"
    handle = lab.start(CALLEE, lab.site.add("/call", page), record=True, recording_channels=2)
    lab.run(handle)
    (record,) = lab.recordings()
    assert record.channels == 2
    channels, (far_end, ours) = lab.wav(record)
    assert channels == 2
    assert (digits_in(far_end), digits_in(ours)) == ("36", "9")
    assert callee.wait() == 0, callee.errors()


def test_dial_record_dual_puts_each_party_on_its_channel(lab: SipLab) -> None:
    audio_pcap(lab.callee_folder(CALLEE) / "talk.pcap", tones("12"))
    audio_pcap(lab.callee_folder(IVR) / "talk.pcap", tones("34"))
    a_callee = lab.sipp(CALLEE, "talk")
    b_callee = lab.sipp(IVR, "talk")
    page = (
        f"<Response><Dial record='record-from-answer-dual' timeLimit='4'"
        f" recordingStatusCallback='{REC_HOOK}'><Number>{IVR}</Number></Dial></Response>"
    )
    handle = lab.start(CALLEE, lab.site.add("/dial", page))
    lab.run(handle)
    (record,) = lab.recordings()
    assert (record.source, record.channels) == ("DialVerb", 2)
    channels, (left, right) = lab.wav(record)
    assert channels == 2
    # each callee plays 1.5 s after its answer, both within the bridge: the a-leg's
    # callee (the parent call) on the left, the b-leg's (relayed to the a-leg) on the right
    assert digits_in(left) == "12"
    assert digits_in(right) == "34"
    assert 3.5 <= len(left) / 8000 <= 5.0
    (event,) = recording_events(lab)  # the default events: completed
    assert (event["RecordingChannels"], event["RecordingSource"]) == ("2", "DialVerb")
    assert a_callee.wait() == 0, a_callee.errors()
    assert b_callee.wait() == 0, b_callee.errors()
