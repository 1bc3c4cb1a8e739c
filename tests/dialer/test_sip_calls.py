"""Calls over the SIP backend, with sipp as the callee (real sockets on 127.0.0.1).

Each test starts its sipp callees on free ports with a scenario of
tests/sip/scenarios, runs one call on a RealClock through SipNetwork, and checks
the statuses, every callback (with SipResponseCode) and what sipp saw.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import math
import shutil
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.dialer import CALLEE, CALLER, IVR, Receiver, Site
from support.sipp import Sipp, audio_pcap, dtmf_pcap, free_udp_port, start_sipp

from voiceapp.calls.subscriptions import Subscription
from voiceapp.calls.writes import SaveRecording, Write
from voiceapp.dialer.callbacks import Deliverer
from voiceapp.dialer.clock import RealClock
from voiceapp.dialer.interpreter import CallHandle, Environment, OutboundCall, place_call
from voiceapp.dialer.recording import Recorder
from voiceapp.dialer.sip_backend import SipNetwork
from voiceapp.media import g711
from voiceapp.media.audio import rms
from voiceapp.settings_tables.retry import RetryPolicy
from voiceapp.settings_tables.sip import SipConfig
from voiceapp.stores.media import FolderMedia

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")

ACCOUNT = "AC" + "0" * 32
EVERY = "initiated ringing answered completed"


@pytest.fixture
def clock() -> Iterator[RealClock]:
    c = RealClock()
    yield c
    c.close()


class Lab:
    def __init__(self, clock: RealClock, folder: Path) -> None:
        self.clock = clock
        self.folder = folder
        self.site = Site()
        self.receiver = Receiver()
        self.sipps: list[Sipp] = []
        self.network: SipNetwork | None = None
        self.audio: dict[str, bytes] = {}  # <Play> URLs -> file bytes
        self.media = FolderMedia(folder / "recordings")
        self.writes: list[Write] = []  # what the recorder stored

    def sipp(self, scenario: str, **options: Any) -> Sipp:
        sipp = start_sipp(scenario, self.folder, **options)
        self.sipps.append(sipp)
        return sipp

    def call(
        self,
        trunk: Sipp,
        url: str | None,
        *,
        to: str = CALLEE,
        routes: dict[str, Sipp] | None = None,
        credentials: tuple[str, str] = ("", ""),
        cancel_after: float | None = None,
        **spec: Any,
    ) -> CallHandle:
        sip_port = free_udp_port()
        rtp = free_udp_port(count=8, step=1)
        config = SipConfig(
            trunk=trunk.uri,
            username=credentials[0],
            password=credentials[1],
            from_domain="voiceapp.test",
            local_host="127.0.0.1",
            sip_ports=(sip_port, sip_port),
            rtp_ports=(rtp, rtp + 7),
            routes=tuple((number, s.uri) for number, s in (routes or {}).items()),
        )
        self.network = SipNetwork(
            self.clock, config, media_folder=self.folder / "media", fetch_audio=self.audio.get
        )
        env = Environment(
            self.clock,
            self.network,
            self.site,
            deliverer=Deliverer(self.clock, self.receiver, RetryPolicy(first_delay=1)),
            recorder=Recorder(self.media, self.writes.append),
        )
        sub = Subscription.from_fields(
            status_callback="http://hooks.test/status", status_callback_event=EVERY
        )
        spec.setdefault("account_sid", ACCOUNT)
        handle = place_call(
            env, OutboundCall(from_=CALLER, to=to, url=url, subscription=sub, **spec)
        )
        if cancel_after is not None:
            self.clock.call_later(cancel_after, handle.cancel)
        self.clock.run_until(handle.task)
        self.clock.sleep(0.3)  # the last BYE/ACK leaves, the deliverer settles
        return handle

    def close(self) -> None:
        if self.network is not None:
            self.network.close()
            self.clock.sleep(0.05)  # the sockets close on the loop
        for sipp in self.sipps:
            sipp.stop()


@pytest.fixture
def lab(clock: RealClock, tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(clock, tmp_path)
    yield lab
    lab.close()


def callbacks(lab: Lab, sid: str) -> list[dict[str, str]]:
    return [p for p in lab.receiver.accepted if p["CallSid"] == sid]


HANGUP = "<Response><Say>Goodbye</Say><Hangup/></Response>"


@pytest.mark.parametrize(
    ("scenario", "code", "statuses"),
    [
        ("busy", "486", ["initiated", "ringing", "busy"]),
        ("decline", "603", ["initiated", "ringing", "failed"]),
        ("fail", "503", ["initiated", "failed"]),
    ],
)
def test_unanswered_outcomes(lab: Lab, scenario: str, code: str, statuses: list[str]) -> None:
    callee = lab.sipp(scenario)
    handle = lab.call(callee, lab.site.add("/hangup", HANGUP))
    assert handle.status.value == statuses[-1]
    sent = callbacks(lab, handle.sid)
    assert [p["CallStatus"] for p in sent] == statuses
    assert sent[-1]["SipResponseCode"] == code
    assert callee.wait() == 0, callee.errors()
    assert lab.site.requests == []  # never answered: no document


def test_no_answer_cancels_and_gets_487(lab: Lab) -> None:
    callee = lab.sipp("noanswer")
    handle = lab.call(callee, lab.site.add("/hangup", HANGUP), timeout=1.0)
    assert handle.status.value == "no-answer"
    last = callbacks(lab, handle.sid)[-1]
    assert (last["CallStatus"], last["SipResponseCode"]) == ("no-answer", "487")
    assert callee.wait() == 0, callee.errors()  # sipp saw CANCEL, sent 487, got its ACK


def test_callee_hangs_up_after_n_ms(lab: Lab) -> None:
    callee = lab.sipp("hangup", duration_ms=600)
    page = "<Response><Pause length='10'/><Say>never heard</Say></Response>"
    handle = lab.call(callee, lab.site.add("/long", page))
    assert handle.status.value == "completed"
    sent = callbacks(lab, handle.sid)
    assert [p["CallStatus"] for p in sent] == ["initiated", "ringing", "in-progress", "completed"]
    assert sent[-1]["SipResponseCode"] == "200"
    assert "callee-hangup" in [e.kind for e in handle.trace]
    assert callee.wait() == 0, callee.errors()


def test_digest_auth(lab: Lab) -> None:
    callee = lab.sipp("auth")
    handle = lab.call(callee, lab.site.add("/hangup", HANGUP), credentials=("alice", "wonderland"))
    assert handle.status.value == "completed"
    assert callee.wait() == 0, callee.errors()
    assert "wonderland" not in repr(lab.network.config if lab.network else "")
    assert all("wonderland" not in str(e) for e in handle.trace)


def test_wrong_password_fails_with_403(lab: Lab) -> None:
    callee = lab.sipp("auth")
    handle = lab.call(callee, lab.site.add("/hangup", HANGUP), credentials=("alice", "nope"))
    assert handle.status.value == "failed"
    assert callbacks(lab, handle.sid)[-1]["SipResponseCode"] == "403"


# -- media: DTMF to a sink, digits from sipp, a bridge ------------------------------------


class RtpSink(asyncio.DatagramProtocol):
    """A UDP socket on the loop that keeps every RTP packet with its arrival time."""

    def __init__(self, clock: RealClock) -> None:
        self.clock = clock
        self.packets: list[tuple[float, bytes]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append((self.clock.now(), data))

    def events(self) -> list[tuple[float, str, bool, int, bool]]:
        """(arrival, digit, marker, duration, end) of each RFC 4733 packet (PT 101)."""
        out = []
        for at, data in self.packets:
            if len(data) >= 16 and data[1] & 0x7F == 101:
                event, flags, duration = struct.unpack("!BBH", data[12:16])
                out.append(
                    (at, "0123456789*#"[event], bool(data[1] & 0x80), duration, bool(flags & 0x80))
                )
        return out

    def digits(self) -> str:
        return "".join(d for _, d, marker, _, _ in self.events() if marker)


@pytest.fixture
def sink(clock: RealClock) -> Iterator[tuple[RtpSink, int]]:
    port = free_udp_port()
    protocol = RtpSink(clock)
    clock.run_until(
        clock.loop.create_datagram_endpoint(lambda: protocol, local_addr=("127.0.0.1", port))
    )
    yield protocol, port
    if protocol.transport is not None:
        protocol.transport.close()
        clock.sleep(0.01)


def test_pin_call_sends_rfc4733_digits_with_every_callback(
    lab: Lab, sink: tuple[RtpSink, int]
) -> None:
    protocol, port = sink
    callee = lab.sipp("answer_sink", keys={"rtp_sink": str(port)})
    page = "<Response><Say>Your code is</Say><Play digits='w1234'/><Hangup/></Response>"
    handle = lab.call(callee, lab.site.add("/pin", page))
    assert handle.status.value == "completed"
    sent = callbacks(lab, handle.sid)
    assert [p["CallStatus"] for p in sent] == ["initiated", "ringing", "in-progress", "completed"]
    assert sent[-1]["SipResponseCode"] == "200"
    assert lab.site.requests[0][2]["CallStatus"] == "in-progress"
    assert protocol.digits() == "1234"
    for digit in "1234":
        ends = [e for e in protocol.events() if e[1] == digit and e[4]]
        assert len(ends) == 3  # the end packet three times
        durations = [e[3] for e in protocol.events() if e[1] == digit and not e[4]]
        assert durations == sorted(durations)  # growing duration
    assert callee.wait() == 0, callee.errors()


def test_ivr_walk_gathers_digits_sipp_sends(lab: Lab) -> None:
    dtmf_pcap(lab.folder / "digits.pcap", "101")
    callee = lab.sipp("press")
    got = lab.site.add("/got", "<Response><Hangup/></Response>")
    page = (
        f"<Response><Gather numDigits='3' timeout='6' action='{got}'>"
        "<Say>Enter the extension</Say></Gather></Response>"
    )
    handle = lab.call(callee, lab.site.add("/ivr", page))
    assert handle.status.value == "completed"
    gathered = [r for r in lab.site.requests if r[1] == got]
    assert gathered and gathered[0][2]["Digits"] == "101"
    assert [e.detail["digit"] for e in handle.trace if e.kind == "digit-heard"] == list("101")
    assert callee.wait() == 0, callee.errors()


def test_click_to_call_bridge_b_leg_hears_101(lab: Lab, sink: tuple[RtpSink, int]) -> None:
    protocol, port = sink
    a_callee = lab.sipp("answer")
    b_callee = lab.sipp("hangup_sink", keys={"rtp_sink": str(port)}, duration_ms=2500)
    page = f"<Response><Dial><Number sendDigits='w101'>{IVR}</Number></Dial></Response>"
    handle = lab.call(a_callee, lab.site.add("/bridge", page), routes={IVR: b_callee})
    assert handle.status.value == "completed"
    assert len(handle.legs) == 2
    b = handle.legs[1]
    assert b.status.value == "completed"
    b_sent = callbacks(lab, b.sid)
    assert [p["CallStatus"] for p in b_sent][-1] == "completed"
    assert b_sent[-1]["ParentCallSid"] == handle.sid
    assert protocol.digits() == "101"
    assert a_callee.wait() == 0, a_callee.errors()
    assert b_callee.wait() == 0, b_callee.errors()


def _tone_wav(seconds: float, hz: float = 440.0) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        frames = int(seconds * 8000)
        wav.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / 8000)))
                for i in range(frames)
            )
        )
    return buffer.getvalue()


def test_say_and_play_send_audio(lab: Lab, sink: tuple[RtpSink, int]) -> None:
    protocol, port = sink
    lab.audio["http://media.test/tone.wav"] = _tone_wav(1.0)
    callee = lab.sipp("answer_sink", keys={"rtp_sink": str(port)})
    page = (
        "<Response><Say voice='woman' language='en-GB'>Hello, this is a test of real speech.</Say>"
        "<Pause length='1'/><Play>http://media.test/tone.wav</Play><Hangup/></Response>"
    )
    handle = lab.call(callee, lab.site.add("/media", page))
    assert handle.status.value == "completed"
    audio = [(at, data) for at, data in protocol.packets if data[1] & 0x7F == 0]
    pcm = [g711.decode(data[12:], "PCMU") for _, data in audio]
    loud = [at for (at, _), frame in zip(audio, pcm, strict=True) if rms(frame) > 500]
    assert len(loud) > 50  # speech, then one second of tone: 50 loud 20 ms packets at least
    tone = pcm[-50:]
    assert all(rms(frame) > 3000 for frame in tone[5:-5])  # the file's samples (0.7 of 8000)
    gaps = [b - a for a, b in itertools.pairwise(loud)]
    assert max(gaps) > 0.8  # the Pause between the speech and the tone
    assert lab.network is not None  # the speech was rendered in the Say's voice and language
    cached = lab.network.speech.cache_path(
        "Hello, this is a test of real speech.", "woman", "en-GB"
    )
    assert cached is not None and cached.exists()
    assert callee.wait() == 0, callee.errors()


def test_record_writes_what_the_callee_says(lab: Lab) -> None:
    tone = _tone_wav(2.0, hz=300.0)
    audio_pcap(lab.folder / "talk.pcap", tone[44:])  # the WAV's samples
    callee = lab.sipp("talk")
    done = lab.site.add("/done", "<Response><Hangup/></Response>")
    page = (
        f"<Response><Record maxLength='4' timeout='3' playBeep='false' action='{done}'/></Response>"
    )
    handle = lab.call(callee, lab.site.add("/record", page))
    assert handle.status.value == "completed"
    (done_record,) = [
        w.recording for w in lab.writes if isinstance(w, SaveRecording) and w.recording.media
    ]
    data = lab.media.get(done_record.media or "")
    assert data is not None
    with wave.open(io.BytesIO(data), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        frames = wav.readframes(wav.getnframes())
    assert rms(frames) > 2000  # the callee's tone, decoded from PCMU
    (posted,) = [r[2] for r in lab.site.requests if r[1] == done]
    assert 1 <= int(posted["RecordingDuration"]) <= 4
    assert callee.wait() == 0, callee.errors()


def test_the_callee_re_invites_asks_options_updates_and_hangs_up(lab: Lab) -> None:
    callee = lab.sipp("reinvite")
    page = "<Response><Pause length='10'/></Response>"
    handle = lab.call(callee, lab.site.add("/wait", page))
    assert handle.status.value == "completed"
    moved = [e.detail for e in handle.trace if e.kind == "sip-media-update"]
    assert moved == [{"host": "127.0.0.1", "port": callee.media_port + 2}]
    assert "callee-hangup" in [e.kind for e in handle.trace]
    assert callee.wait() == 0, callee.errors()  # each request of sipp got its 200


def test_canceling_a_ringing_call_sends_cancel(lab: Lab) -> None:
    callee = lab.sipp("noanswer")
    handle = lab.call(callee, lab.site.add("/hangup", HANGUP), cancel_after=0.8)
    assert handle.status.value == "canceled"
    last = callbacks(lab, handle.sid)[-1]
    assert (last["CallStatus"], last["SipResponseCode"]) == ("canceled", "487")
    assert callee.wait() == 0, callee.errors()  # CANCEL 200, INVITE 487, ACK


def test_dial_relays_the_a_legs_audio_to_the_b_leg(lab: Lab, sink: tuple[RtpSink, int]) -> None:
    protocol, port = sink
    audio_pcap(lab.folder / "talk.pcap", _tone_wav(2.0, hz=500.0)[44:])
    a_callee = lab.sipp("talk")  # the customer talks 1.5 s after answering
    b_callee = lab.sipp("hangup_sink", keys={"rtp_sink": str(port)}, duration_ms=4000)
    page = f"<Response><Dial><Number>{IVR}</Number></Dial></Response>"
    handle = lab.call(a_callee, lab.site.add("/bridge", page), routes={IVR: b_callee})
    assert handle.status.value == "completed"
    relayed = [g711.decode(d[12:], "PCMU") for _, d in protocol.packets if d[1] & 0x7F == 0]
    loud = [frame for frame in relayed if rms(frame) > 2000]
    assert len(loud) >= 50  # at least a second of the customer's tone reached the b-leg
    assert a_callee.wait() == 0, a_callee.errors()
    assert b_callee.wait() == 0, b_callee.errors()
