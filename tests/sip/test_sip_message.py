"""voiceapp.sip.message: strict parsing, every refusal located; serializing round trips."""

from __future__ import annotations

import contextlib
import random

import pytest

from voiceapp.errors import SipError
from voiceapp.sip.message import Address, Request, Response, Uri, Via, parse, split_list

INVITE = (
    b"INVITE sip:+15551234@127.0.0.1:5070 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 127.0.0.1:5080;rport;branch=z9hG4bKabc\r\n"
    b"Via: SIP/2.0/UDP proxy.example:5060;branch=z9hG4bKp1, "
    b"SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n"
    b"Max-Forwards: 70\r\n"
    b'f: "Alice, A." <sip:+15550000@voiceapp.test>;tag=1928\r\n'
    b"t: <sip:+15551234@127.0.0.1:5070>\r\n"
    b"i: a84b4c76e66710@127.0.0.1\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Subject: a long\r\n  folded line\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 3\r\n"
    b"\r\n"
    b"v=0\r\nextra"
)


def test_parses_compact_folded_and_lists() -> None:
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    assert (msg.method, msg.uri) == ("INVITE", "sip:+15551234@127.0.0.1:5070")
    assert msg.call_id == "a84b4c76e66710@127.0.0.1"
    assert msg.cseq == (314159, "INVITE")
    assert msg.get("subject") == "a long folded line"
    assert len(msg.values("Via")) == 3
    assert msg.branch == "z9hG4bKabc"
    assert msg.body == b"v=0"  # Content-Length wins over the datagram's tail
    sender = Address.parse(msg.get("From") or "")
    assert (sender.display, sender.tag, sender.uri.user) == ('"Alice, A."', "1928", "+15550000")


def test_round_trip() -> None:
    msg = parse(INVITE)
    again = parse(msg.encode())
    assert isinstance(again, Request)
    assert again.headers == msg.headers
    assert again.body == msg.body == b"v=0"


def test_response_status_line() -> None:
    data = (
        b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
        b"To: <sip:b@h>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    msg = parse(data)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (486, "Busy Here")


def _without(header: bytes) -> bytes:
    return b"\r\n".join(line for line in INVITE.split(b"\r\n") if not line.startswith(header))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", None),
        (b"garbage without blank line", None),
        (b"\r\n\r\n", None),
        (b"INVITE sip:a@h SIP/3.0\r\n\r\n", "start-line"),
        (b"INVITE  sip:a@h SIP/2.0\r\n\r\n", "start-line"),
        (b"SIP/2.0 99 Too Small\r\n\r\n", "start-line"),
        (b"SIP/2.0 700 Too Big\r\n\r\n", "start-line"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards 70"), None),
        (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), "CSeq"),
        (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: many INVITE"), "CSeq"),
        (INVITE.replace(b"l: 3", b"l: 400"), "Content-Length"),
        (INVITE.replace(b"l: 3", b"l: -1"), "Content-Length"),
        (INVITE.replace(b"v: SIP/2.0/UDP", b"v: HTTP/1.1"), "Via"),
        (INVITE.replace(b"t: <sip:", b"t: <mailto:"), "uri"),
        (INVITE.replace(b"INVITE sip:+15551234@127.0.0.1:5070", b"INVITE sip:a@h:99999"), "uri"),
        (_without(b"i:"), "Call-ID"),
        (_without(b"Max-Forwards"), "Max-Forwards"),
        (_without(b"CSeq"), "CSeq"),
        (b" continuation\r\n" + INVITE, "start-line"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max\xff: 70"), None),
        (INVITE.replace(b"Max-Forwards: 70", b"Bad Name: 70"), None),
    ],
)
def test_malformed_is_refused_with_a_location(data: bytes, field: str | None) -> None:
    with pytest.raises(SipError) as info:
        parse(data)
    assert info.value.code == "sip-malformed"
    if field is not None:
        assert info.value.field == field


def test_random_bytes_never_raise_anything_else() -> None:
    rng = random.Random(14)
    for _ in range(2000):
        cut = rng.randrange(len(INVITE))
        noisy = bytearray(INVITE)
        for _ in range(rng.randrange(4)):
            noisy[rng.randrange(len(noisy))] = rng.randrange(256)
        for data in (INVITE[:cut], bytes(noisy)):
            with contextlib.suppress(SipError):
                parse(data)


def test_addresses_uris_vias() -> None:
    uri = Uri.parse("sip:alice@[::1]:5062;transport=udp;lr")
    assert uri.address == ("::1", 5062) and uri.param("lr") == ""
    assert str(Uri.parse("sip:proxy.example;lr")) == "sip:proxy.example;lr"
    assert Uri.parse("sip:h").address == ("h", 5060)
    via = Via.parse("SIP/2.0/UDP 10.0.0.1:5080;rport;branch=z9hG4bKx;received=1.2.3.4")
    assert (via.transport, via.port, via.params["branch"]) == ("UDP", 5080, "z9hG4bKx")
    assert "rport" in via.params
    assert split_list('"a, b" <sip:x>, <sip:y;p=1,2>, z') == [
        '"a, b" <sip:x>',
        "<sip:y;p=1,2>",
        "z",
    ]
    addr = Address.parse("sip:bob@h;tag=9")  # addr-spec: the tag is the header's parameter
    assert addr.tag == "9" and addr.uri.params == ()
    assert str(addr.with_tag("7")) == "<sip:bob@h>;tag=7"
