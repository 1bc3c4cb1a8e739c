"""The SIP backend: call legs placed through a SIP trunk, media over RTP.

:class:`SipNetwork` is a :class:`~voiceapp.dialer.network.NetworkBackend` chosen
by ``[network] backend = "sip"``; the ``[sip]`` table
(:class:`~voiceapp.settings_tables.sip.SipConfig`) names the trunk every INVITE
goes to, the optional digest credentials, the From domain, the local address and
the port ranges.  Signalling is :mod:`voiceapp.sip` on the dialer's loop; each
leg's media is one :class:`~voiceapp.media.session.MediaSession` (RTP, G.711,
RFC 4733).  What the trunk answers becomes the leg's events (docs/sip.md)::

    INVITE sent            (the dialer's initiated)
    first 180 / 183        ring
    2xx                    answer (the document is fetched)
    486, 600               busy
    408 (timer B), 487     no-answer
    other 4xx / 5xx / 6xx  fail
    BYE from the far end   hang-up (completed)

The final response code is kept on the leg (``Leg.sip_code``): the Twilio set's
``SipResponseCode``.  ``hang_up`` sends CANCEL to a ringing leg and BYE to an
answered one.  A beep (before a ``<Record>``, a conference's join and leave) is a
1000 Hz tone sent on the leg's media.  Audio for ``<Play>`` is fetched with the
dialer's own HTTP client (the same netguard checks as documents); ``<Say>`` speech is
cached under the media folder.  Recordings keep the real audio of the line
(:meth:`SipNetwork.capture`, a :class:`~voiceapp.media.track.LineTap` on the leg's
session); the dialer's recorder makes the WAV.  The legs of one ``<Dial><Conference>``
room hear each other through one :class:`~voiceapp.media.mixer.Mixer` per room
(:meth:`SipNetwork.in_room`): who speaks and who hears is read from the room at every
20 ms round (muted, hold, started).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from voiceapp.calls.states import Event
from voiceapp.dialer.clock import Clock
from voiceapp.dialer.conference import Room
from voiceapp.dialer.network import Leg, Mixer, NetworkBackend
from voiceapp.dtmf import Timeline
from voiceapp.errors import VoiceappError
from voiceapp.media.audio import beep, load_audio
from voiceapp.media.mixer import Mixer as AudioMixer
from voiceapp.media.session import MediaSession, Pacer
from voiceapp.media.speech import Speech
from voiceapp.media.track import LineTap
from voiceapp.netguard import Guard
from voiceapp.settings_tables.sip import SipConfig
from voiceapp.sip import sdp
from voiceapp.sip.agent import Credentials, OutgoingCall, SipAgent
from voiceapp.sip.message import Address, Uri

log = logging.getLogger("voiceapp.sip")

#: what each final response of an unanswered INVITE ends the leg with
BUSY_CODES: Final = frozenset({486, 600})
NO_ANSWER_CODES: Final = frozenset({408, 487})
#: the code a leg ends with when it was answered (BYE either way)
ANSWERED_CODE: Final = 200


def event_for(status: int) -> Event:
    """The leg event of an INVITE's non-2xx final response (the table above)."""
    if status in BUSY_CODES:
        return Event.BUSY
    if status in NO_ANSWER_CODES:
        return Event.NO_ANSWER
    return Event.FAIL


@dataclass(eq=False)
class _SipLine:
    leg: Leg
    call: OutgoingCall | None = None
    media: MediaSession | None = None
    rang: bool = False
    setup: asyncio.Task[None] | None = None
    recordings: list[Path] = field(default_factory=list)


class SipNetwork(NetworkBackend):
    """Call legs through the ``[sip]`` trunk (see the module doc)."""

    def __init__(
        self,
        clock: Clock,
        config: SipConfig,
        *,
        guard: Guard | None = None,
        fetch_audio: Callable[[str], bytes] | None = None,
        media_folder: Path | None = None,
    ) -> None:
        self.clock = clock
        self.config = config
        self.guard = guard
        self.fetch_audio = fetch_audio
        self.media_folder = media_folder or Path("instance") / "media"
        self.speech = Speech(self.media_folder / "speech")
        #: one 20 ms tick for the media of every leg on this loop
        self.pacer = Pacer(clock.loop)
        self.credentials = (
            Credentials(config.username, config.password) if config.username else None
        )
        #: hosts media may go to though not public: the trunk's and the routes' (the
        #: deployment named them); any other address in an SDP must pass the guard
        self.media_hosts = frozenset(
            Uri.parse(uri).host for uri in (config.trunk, *(u for _, u in config.routes))
        )
        self._agent: asyncio.Future[SipAgent] | None = None
        self._lines: dict[str, _SipLine] = {}
        #: the audio of each conference room that has a leg of ours
        self._mixers: dict[Mixer, AudioMixer] = {}
        #: the recordings' taps while their calls hold them (discarded on close)
        self._taps: weakref.WeakSet[LineTap] = weakref.WeakSet()

    # -- the agent ----------------------------------------------------------------------------
    async def agent(self) -> SipAgent:
        """The SIP socket, bound on first use on the dialer's loop."""
        if self._agent is None:
            self._agent = self.clock.spawn(
                SipAgent.open(
                    self.clock.loop,
                    self.config.local_host,
                    self.config.sip_ports,
                ),
                "sip agent",
            )
        return await self._agent

    def close(self) -> None:
        """Hang up nothing (the dialer did), close every media socket and the SIP one;
        the taps of recordings still running are discarded (their files removed)."""
        for line in list(self._lines.values()):
            self._release(line)
        for tap in list(self._taps):  # recordings nobody will finish now
            if not tap.stopped:
                tap.discard()
        agent = self._agent
        if agent is not None and agent.done() and not agent.cancelled() and not agent.exception():
            agent.result().close()

    # -- placing ------------------------------------------------------------------------------
    def place(self, leg: Leg) -> None:
        if leg.sid in self._lines:
            raise ValueError(f"leg {leg.sid} was already placed")
        line = _SipLine(leg)
        self._lines[leg.sid] = line
        line.setup = self.clock.spawn(self._dial(line), f"sip invite {leg.sid}")

    def _uri(self, number: str, host: str, port: int | None) -> Uri:
        return Uri(host=host, port=port, user=number)

    async def _dial(self, line: _SipLine) -> None:
        leg = line.leg
        try:
            agent = await self.agent()
            media = await MediaSession.open(
                self.config.local_host,
                self.config.rtp_ports,
                self.clock,
                speech=self.speech,
                pacer=self.pacer,
            )
        except OSError as exc:
            leg.note("sip-error", error=str(exc))
            self._final(line, 503)
            return
        if leg.ended:
            media.close()
            return
        line.media = media
        route = Uri.parse(self.config.route(leg.to))
        target = self._uri(leg.to, route.host, route.port)
        call = OutgoingCall(
            agent,
            route.address,
            target,
            Address(self._uri(leg.from_, self.config.domain, None)),
            Address(target),
            sdp.offer(self.config.local_host, media.local_port, secrets.randbelow(2**31)),
            self.credentials,
        )
        call.on_progress = lambda status: self._progress(line, status)
        call.on_answer = lambda remote: self._answered(line, remote)
        call.on_final = lambda status: self._final(line, status)
        call.on_hangup = lambda: self._remote_bye(line)
        call.on_media = lambda remote: self._media_changed(line, remote)
        line.call = call
        call.start()
        leg.note("sip-invite", to=str(target), call_id=call.call_id, rtp_port=media.local_port)

    def _progress(self, line: _SipLine, status: int) -> None:
        line.leg.note("sip-progress", status=status)
        if status in (180, 183) and not line.rang and not line.leg.ended:
            line.rang = True
            line.leg.on_event(Event.RING)

    def _answered(self, line: _SipLine, remote: sdp.Media | None) -> None:
        leg = line.leg
        leg.sip_code = ANSWERED_CODE
        leg.note("sip-answered", codec=None if remote is None else remote.codec)
        if leg.ended:
            return
        try:
            self._set_media(line, remote)
        except VoiceappError as exc:  # the SDP names a media address we may not send to
            leg.note("sip-media-refused", error=exc.message)
            if line.call is not None:
                line.call.bye()
            self._release(line)
            leg.ended = True
            leg.on_event(Event.FAIL)
            return
        if line.media is not None:
            line.media.on_digit = lambda digit: self._digit(line, digit)
        leg.answered_at = self.clock.now()
        leg.on_event(Event.ANSWER)

    def _set_media(self, line: _SipLine, remote: sdp.Media | None) -> None:
        """Point the leg's RTP at ``remote`` once its address is allowed: a host of the
        trunk or a route, else a public address (netguard, checked now)."""
        if remote is None or line.media is None:
            return
        if remote.host not in self.media_hosts:
            (self.guard or Guard()).addresses(remote.host, remote.port)
        line.media.set_remote(
            remote.host,
            remote.port,
            codec=remote.codec,
            payload_type=remote.payload_type,
            dtmf_payload_type=remote.dtmf_payload_type,
        )

    def _media_changed(self, line: _SipLine, remote: sdp.Media | None) -> None:
        if remote is not None:
            line.leg.note("sip-media-update", host=remote.host, port=remote.port)
        try:
            self._set_media(line, remote)
        except VoiceappError as exc:  # a re-INVITE toward a refused address: keep the old
            line.leg.note("sip-media-refused", error=exc.message)

    def _digit(self, line: _SipLine, digit: str) -> None:
        leg = line.leg
        if leg.ended:
            return
        leg.note("callee-pressed", digit=digit)
        if leg.on_digit is not None:
            leg.on_digit(digit)

    def _final(self, line: _SipLine, status: int) -> None:
        leg = line.leg
        leg.sip_code = status
        leg.note("sip-final", status=status)
        self._release(line)
        if not leg.ended:
            leg.ended = True
            leg.on_event(event_for(status))

    def _remote_bye(self, line: _SipLine) -> None:
        leg = line.leg
        leg.note("callee-hangup", reason="BYE")
        self._release(line)
        if not leg.ended:
            leg.ended = True
            leg.on_event(Event.HANG_UP)

    def _release(self, line: _SipLine) -> None:
        self._lines.pop(line.leg.sid, None)
        if line.media is not None:
            self._leave_mixers(line.media, keep=None)
            line.media.close()
        if line.leg.bridged_to is not None:
            self.unbridge(line.leg, line.leg.bridged_to)

    def hang_up(self, leg: Leg) -> None:
        line = self._lines.get(leg.sid)
        leg.ended = True
        if line is None:
            return
        if line.call is None:
            if line.setup is not None:
                line.setup.cancel()
        else:
            if line.call.state != "confirmed":
                leg.sip_code = 487
            line.call.cancel()  # CANCEL while ringing, BYE once answered
        self._release(line)

    # -- media --------------------------------------------------------------------------------
    def _media(self, leg: Leg) -> MediaSession | None:
        line = self._lines.get(leg.sid)
        return None if line is None else line.media

    def _done(self) -> asyncio.Future[None]:
        return self.clock.timeout(0.0)

    def send_digits(self, leg: Leg, timeline: Timeline) -> asyncio.Future[None]:
        media = self._media(leg)
        if media is None:
            return self._done()
        return media.send_dtmf(timeline)

    def say(
        self,
        leg: Leg,
        text: str,
        seconds: float,
        *,
        voice: str | None = None,
        language: str | None = None,
    ) -> asyncio.Future[None]:
        media = self._media(leg)
        if media is None:
            return self._done()
        return media.say(text, voice or "man", language or "en-US")

    def play(self, leg: Leg, url: str, seconds: float) -> asyncio.Future[None]:
        media = self._media(leg)
        if media is None or self.fetch_audio is None:
            leg.note("play-skipped", reason="no media or no audio fetcher")
            return self.clock.timeout(seconds)
        fetch = self.fetch_audio
        return self.clock.spawn(self._play(leg, media, fetch, url), f"play {leg.sid}")

    async def _play(
        self, leg: Leg, media: MediaSession, fetch: Callable[[str], bytes], url: str
    ) -> None:
        try:
            data = await self.clock.run_in_thread(lambda: fetch(url))
            pcm = load_audio(data)
        except Exception as exc:  # a failed fetch or a bad file: the call goes on
            leg.note("play-error", error=f"{type(exc).__name__}: {exc}")
            return
        await media.play(pcm)

    def beep(self, leg: Leg, seconds: float) -> asyncio.Future[None]:
        """A 1000 Hz tone queued on the leg's media (after what plays already); done
        after its last packet."""
        media = self._media(leg)
        if media is None or media.announced is None:  # no media, or an answer without SDP
            leg.note("beep-skipped", reason="no media")
            return self.clock.timeout(seconds)
        return media.play(beep(seconds))

    def record(self, leg: Leg, *, max_length: float, timeout: float) -> asyncio.Future[float]:
        media = self._media(leg)
        if media is None:
            return self.clock.timeout(0.0, 0.0)
        # the limits and the length only: the audio is the recording's capture
        return media.record(None, max_length, timeout)

    def stop_recording(self, leg: Leg) -> None:
        media = self._media(leg)
        if media is not None:
            media.stop_recording()

    def capture(self, leg: Leg) -> LineTap | None:
        """A tap on the leg's media; its older audio waits in ``<media_folder>/taps``
        (anonymous files, gone when the recording is written or the tap discarded)."""
        media = self._media(leg)
        if media is None:
            return None
        tap = media.tap(spill_dir=self.media_folder / "taps")
        self._taps.add(tap)
        return tap

    # -- conferences --------------------------------------------------------------------------
    def in_room(self, leg: Leg) -> None:
        media = self._media(leg)
        room = leg.room
        if media is None:
            return
        self._leave_mixers(media, keep=room)
        if room is None:
            return
        mixer = self._mixers.get(room)
        if mixer is None:
            mixer = self._mixers[room] = AudioMixer()
            mixer.refresh = lambda: self._refresh(room, mixer)
        mixer.add(media)
        self._refresh(room, mixer)

    def _leave_mixers(self, media: MediaSession, keep: Mixer | None) -> None:
        for room, mixer in list(self._mixers.items()):
            if room is not keep and media in mixer:
                mixer.remove(media)
            if not len(mixer):
                del self._mixers[room]

    def _refresh(self, room: Mixer, mixer: AudioMixer) -> None:
        """Who of ``room`` speaks and hears now: everyone once it started, but a muted
        participant is not heard and one on hold neither speaks nor hears."""
        if not isinstance(room, Room):
            return
        running = room.running
        for participant in room.participants:
            media = self._media(participant.leg)
            if media is not None and media in mixer:
                hears = running and not participant.hold
                mixer.set_part(media, speaks=hears and not participant.muted, hears=hears)

    def bridge(self, a: Leg, b: Leg) -> None:
        a.bridged_to, b.bridged_to = b, a
        media_a, media_b = self._media(a), self._media(b)
        if media_a is not None and media_b is not None:
            media_a.bridge(media_b)

    def unbridge(self, a: Leg, b: Leg) -> None:
        if a.bridged_to is b:
            a.bridged_to = None
        if b.bridged_to is a:
            b.bridged_to = None
        for leg in (a, b):
            media = self._media(leg)
            if media is not None:
                media.unbridge()
