"""SDP offer/answer (RFC 4566, RFC 3264) for one audio stream.

:func:`offer` writes what the dialer offers: PCMU (0), PCMA (8) and
telephone-event on a dynamic payload type (101).  :func:`parse` reads the far
end's answer (or offer, in a re-INVITE) into :class:`Media`: its address and
port, the first codec both sides know and the telephone-event type, if any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from voiceapp.errors import SipError

#: static payload types of the codecs this stack speaks (RFC 3551)
CODECS: Final[dict[int, str]] = {0: "PCMU", 8: "PCMA"}
TELEPHONE_EVENT_PT: Final = 101


@dataclass(frozen=True, slots=True)
class Media:
    host: str
    port: int
    codec: str  # "PCMU" | "PCMA"
    payload_type: int
    dtmf_payload_type: int | None
    direction: str = "sendrecv"

    @property
    def on_hold(self) -> bool:
        return self.host == "0.0.0.0" or self.direction in ("sendonly", "inactive")


def offer(host: str, port: int, session_id: int, version: int = 1) -> bytes:
    """An offer (or answer) of one audio stream at ``host:port``."""
    lines = [
        "v=0",
        f"o=voiceapp {session_id} {version} IN IP4 {host}",
        "s=voiceapp",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP 0 8 {TELEPHONE_EVENT_PT}",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        f"a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000",
        f"a=fmtp:{TELEPHONE_EVENT_PT} 0-15",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def parse(body: bytes) -> Media:
    """The audio stream of an SDP body, or :class:`SipError` naming what is missing."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SipError("SDP is not UTF-8", field="sdp") from None
    session_host: str | None = None
    media_host: str | None = None
    port: int | None = None
    formats: list[int] = []
    rtpmap: dict[int, str] = {}
    direction = "sendrecv"
    in_audio = False
    seen_audio = False
    for line in text.splitlines():
        if len(line) < 2 or line[1] != "=":
            if line.strip():
                raise SipError(f"SDP line is not 'x=...': {line[:40]!r}", field="sdp")
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            in_audio = False
            match = re.fullmatch(r"audio (\d{1,5})(?:/\d+)? RTP/AVP((?: \d{1,3})+)", value)
            if match is not None and not seen_audio:
                in_audio = seen_audio = True
                port = int(match.group(1))
                formats = [int(f) for f in match.group(2).split()]
        elif kind == "c":
            match = re.fullmatch(r"IN IP4 (\d{1,3}(?:\.\d{1,3}){3})(?:/\d+)?", value)
            if match is None:
                raise SipError(f"unsupported connection line {value[:40]!r}", field="sdp")
            if in_audio:
                media_host = match.group(1)
            elif not seen_audio:
                session_host = match.group(1)
        elif kind == "a" and in_audio:
            name, _, rest = value.partition(":")
            if name == "rtpmap":
                match = re.fullmatch(r"(\d{1,3}) ([A-Za-z0-9\-]+)/(\d+)(?:/\d+)?", rest)
                if match is not None:
                    rtpmap[int(match.group(1))] = f"{match.group(2)}/{match.group(3)}".lower()
            elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                direction = name
    host = media_host or session_host
    if port is None or host is None:
        raise SipError("SDP has no audio stream with an address", field="sdp")
    codec_pt = next((pt for pt in formats if _codec(pt, rtpmap) is not None), None)
    if codec_pt is None:
        raise SipError("SDP offers neither PCMU nor PCMA", field="sdp")
    dtmf = next((pt for pt in formats if rtpmap.get(pt) == "telephone-event/8000"), None)
    return Media(host, port, _codec(codec_pt, rtpmap) or "PCMU", codec_pt, dtmf, direction)


def _codec(pt: int, rtpmap: dict[int, str]) -> str | None:
    mapped = rtpmap.get(pt)
    if mapped is not None:
        return {"pcmu/8000": "PCMU", "pcma/8000": "PCMA"}.get(mapped)
    return CODECS.get(pt)
