"""voiceapp.sip.transaction and .agent on virtual time, against a scripted far end.

The agent's socket is a recording transport; the far end's messages are fed to
``datagram_received``.  Timers A/B/E/F run on a VirtualClock, so 32 s of
retransmissions cost no real time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from voiceapp.dialer.clock import VirtualClock
from voiceapp.sip import sdp
from voiceapp.sip.agent import Credentials, OutgoingCall, SipAgent
from voiceapp.sip.message import Address, Request, Response, Uri, parse, response_to

TRUNK = ("127.0.0.1", 5070)
ANSWER_SDP = (
    b"v=0\r\no=far 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)


class Wire:
    """A transport that keeps what the agent sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[Request | Response, tuple[str, int], float]] = []
        self.clock: VirtualClock | None = None

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.clock is not None
        self.sent.append((parse(data), addr, self.clock.now()))

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 5080)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        return None

    def requests(self, method: str) -> list[Request]:
        return [m for m, _, _ in self.sent if isinstance(m, Request) and m.method == method]

    def times(self, method: str) -> list[float]:
        return [t for m, _, t in self.sent if isinstance(m, Request) and m.method == method]


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    c = VirtualClock()
    yield c
    c.close()


@pytest.fixture
def wire(clock: VirtualClock) -> Wire:
    w = Wire()
    w.clock = clock
    return w


@pytest.fixture
def agent(clock: VirtualClock, wire: Wire) -> SipAgent:
    a = SipAgent(clock.loop, "127.0.0.1")
    a.connection_made(wire)  # type: ignore[arg-type]
    return a


class Events:
    def __init__(self, call: OutgoingCall) -> None:
        self.log: list[tuple[str, Any]] = []
        call.on_progress = lambda s: self.log.append(("progress", s))
        call.on_answer = lambda m: self.log.append(("answer", m))
        call.on_final = lambda s: self.log.append(("final", s))
        call.on_hangup = lambda: self.log.append(("hangup", None))
        call.on_media = lambda m: self.log.append(("media", m))


def _call(agent: SipAgent, credentials: Credentials | None = None) -> tuple[OutgoingCall, Events]:
    target = Uri.parse("sip:+15551234@127.0.0.1:5070")
    call = OutgoingCall(
        agent,
        TRUNK,
        target,
        Address.parse("<sip:+15550000@voiceapp.test>"),
        Address(target),
        sdp.offer("127.0.0.1", 20000, 7),
        credentials,
    )
    events = Events(call)
    call.start()
    return call, events


def _reply(agent: SipAgent, request: Request, status: int, **extra: Any) -> Response:
    response = response_to(request, status)
    if status > 100:
        response.set("To", f"{request.get('To')};tag=far1")
    for name, value in extra.get("headers", []):
        response.add(name, value)
    response.body = extra.get("body", b"")
    agent.datagram_received(response.encode(), TRUNK)
    return response


def test_timer_a_doubles_and_timer_b_gives_up_with_408(
    clock: VirtualClock, wire: Wire, agent: SipAgent
) -> None:
    events = _call(agent)[1]
    clock.sleep(40)
    assert wire.times("INVITE") == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert events.log == [("final", 408)]


def test_provisional_stops_retransmissions_and_rings_once(
    clock: VirtualClock, wire: Wire, agent: SipAgent
) -> None:
    _call(agent)
    invite = wire.requests("INVITE")[0]
    clock.sleep(0.1)
    _reply(agent, invite, 100)
    _reply(agent, invite, 180)
    _reply(agent, invite, 183)
    clock.sleep(10)
    assert len(wire.requests("INVITE")) == 1


def test_2xx_is_acked_end_to_end_with_the_route_set(
    clock: VirtualClock, wire: Wire, agent: SipAgent
) -> None:
    call, events = _call(agent)
    invite = wire.requests("INVITE")[0]
    _reply(
        agent,
        invite,
        200,
        headers=[
            ("Contact", "<sip:callee@10.9.9.9:5099>"),
            ("Record-Route", "<sip:p2.example;lr>, <sip:p1.example:5071;lr>"),
            ("Content-Type", "application/sdp"),
        ],
        body=ANSWER_SDP,
    )
    (ack,) = wire.requests("ACK")
    assert ack.uri == "sip:callee@10.9.9.9:5099"
    assert ack.values("Route") == ["<sip:p1.example:5071;lr>", "<sip:p2.example;lr>"]
    assert ack.cseq == (invite.cseq[0], "ACK") and ack.branch != invite.branch
    assert wire.sent[-1][1] == ("p1.example", 5071)
    media = events.log[-1][1]
    assert (media.codec, media.payload_type, media.dtmf_payload_type) == ("PCMA", 8, 101)
    # a retransmitted 200 gets the same ACK again
    again = response_to(invite, 200)
    again.set("To", f"{invite.get('To')};tag=far1")
    agent.datagram_received(again.encode(), TRUNK)
    assert len(wire.requests("ACK")) == 2
    call.bye()
    (bye,) = wire.requests("BYE")
    assert (bye.get("To") or "").endswith("tag=far1")
    assert bye.values("Route") == ack.values("Route") and bye.cseq[1] == "BYE"
    clock.sleep(1.6)
    assert wire.times("BYE") == [0.0, 0.5, 1.5]  # timer E while no answer
    _reply(agent, bye, 200)
    clock.sleep(10)
    assert len(wire.requests("BYE")) == 3 and call.bye_done.result() == 200


def test_non_2xx_is_acked_in_the_transaction(
    clock: VirtualClock, wire: Wire, agent: SipAgent
) -> None:
    events = _call(agent)[1]
    invite = wire.requests("INVITE")[0]
    response = _reply(agent, invite, 486)
    (ack,) = wire.requests("ACK")
    assert ack.branch == invite.branch and ack.uri == invite.uri
    assert ack.get("To") == response.get("To")
    agent.datagram_received(response.encode(), TRUNK)  # a retransmission: ACKed again
    assert len(wire.requests("ACK")) == 2
    assert events.log == [("final", 486)]


def test_cancel_waits_for_a_provisional_then_487(
    clock: VirtualClock, wire: Wire, agent: SipAgent
) -> None:
    call, events = _call(agent)
    invite = wire.requests("INVITE")[0]
    call.cancel()
    assert wire.requests("CANCEL") == []  # RFC 3261 9.1: not before a provisional
    _reply(agent, invite, 180)
    (cancel,) = wire.requests("CANCEL")
    assert cancel.branch == invite.branch and cancel.cseq == (invite.cseq[0], "CANCEL")
    _reply(agent, cancel, 200)
    _reply(agent, invite, 487)
    assert events.log == [("progress", 180), ("final", 487)]


def test_cancel_crossing_200_acks_then_byes(
    clock: VirtualClock, wire: Wire, agent: SipAgent
) -> None:
    call, events = _call(agent)
    invite = wire.requests("INVITE")[0]
    _reply(agent, invite, 180)
    call.cancel()
    _reply(agent, invite, 200, headers=[("Contact", "<sip:callee@127.0.0.1:5070>")])
    assert [type(m).__name__ + getattr(m, "method", "") for m, _, _ in wire.sent][-3:] == [
        "RequestCANCEL",
        "RequestACK",
        "RequestBYE",
    ]
    assert ("answer", None) not in events.log


def test_digest_retry_on_401_and_407(clock: VirtualClock, wire: Wire, agent: SipAgent) -> None:
    call, events = _call(agent, Credentials("alice", "wonderland"))
    invite = wire.requests("INVITE")[0]
    _reply(agent, invite, 407, headers=[("Proxy-Authenticate", 'Digest realm="r", nonce="n1"')])
    second = wire.requests("INVITE")[1]
    assert second.cseq[0] == invite.cseq[0] + 1 and second.call_id == invite.call_id
    assert (second.get("Proxy-Authorization") or "").startswith('Digest username="alice"')
    assert "wonderland" not in repr(call.credentials)
    # refused again with the same (not stale) nonce: the call fails with that status
    _reply(agent, second, 407, headers=[("Proxy-Authenticate", 'Digest realm="r", nonce="n1"')])
    assert events.log == [("final", 407)]


def test_in_dialog_requests(clock: VirtualClock, wire: Wire, agent: SipAgent) -> None:
    call, events = _call(agent)
    invite = wire.requests("INVITE")[0]
    _reply(agent, invite, 200, headers=[("Contact", "<sip:callee@127.0.0.1:5070>")])

    def far(method: str, cseq: int, body: bytes = b"", to_tag: str | None = None) -> None:
        request = Request(method=method, uri=agent.contact)
        request.add("Via", f"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKfar{method}{cseq}")
        request.add("Max-Forwards", "70")
        request.add("From", "<sip:+15551234@127.0.0.1:5070>;tag=far1")
        request.add("To", f"<sip:+15550000@voiceapp.test>;tag={to_tag or call.local.tag}")
        request.add("Call-ID", call.call_id)
        request.add("CSeq", f"{cseq} {method}")
        if body:
            request.add("Content-Type", "application/sdp")
        request.body = body
        agent.datagram_received(request.encode(), TRUNK)

    def last() -> Response:
        message = wire.sent[-1][0]
        assert isinstance(message, Response)
        return message

    far("OPTIONS", 2)
    assert last().status == 200 and "INVITE" in (last().get("Allow") or "")
    far("INVITE", 3, ANSWER_SDP.replace(b"6000", b"6002"))
    assert last().status == 200 and b"m=audio 20000" in last().body
    assert events.log[-1][0] == "media" and events.log[-1][1].port == 6002
    clock.sleep(0.6)
    assert last().status == 200  # retransmitted until the ACK
    far("ACK", 3)
    count = len(wire.sent)
    clock.sleep(5)
    assert len(wire.sent) == count
    far("UPDATE", 4)
    assert last().status == 200
    far("MESSAGE", 5)
    assert last().status == 405
    far("BYE", 6, to_tag="someone-else")
    assert last().status == 481
    far("BYE", 7)
    assert last().status == 200 and events.log[-1] == ("hangup", None)
    far("BYE", 7)  # its retransmission: the same 200 again
    assert last().status == 200 and events.log.count(("hangup", None)) == 1


def test_malformed_datagrams_are_dropped(agent: SipAgent, wire: Wire) -> None:
    for data in (b"\x00\xff garbage", b"INVITE x SIP/2.0\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n"):
        agent.datagram_received(data, TRUNK)
    agent.datagram_received(b"\r\n\r\n", TRUNK)  # a keep-alive: not counted
    assert agent.dropped == 3 and wire.sent == []


def test_garbage_on_the_real_socket_is_dropped_and_the_agent_answers_on() -> None:
    import socket

    from voiceapp.dialer.clock import RealClock

    clock = RealClock()
    try:
        agent = clock.run_until(SipAgent.open(clock.loop, "127.0.0.1", (40000, 40999)))
        options = (
            b"OPTIONS sip:voiceapp@127.0.0.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKo1\r\nMax-Forwards: 70\r\n"
            b"From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:voiceapp@127.0.0.1>\r\n"
            b"Call-ID: probe-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            probe.settimeout(5)
            for junk in (
                b"\xff" * 50,
                b"INVITE\r\n\r\n",
                options[:40],
                options.replace(b"CSeq: 1 OPTIONS", b"CSeq: x"),
            ):
                probe.sendto(junk, ("127.0.0.1", agent.port))
            probe.sendto(options, ("127.0.0.1", agent.port))
            clock.sleep(0.2)
            answer = parse(probe.recv(65535))
        assert isinstance(answer, Response) and answer.status == 200
        assert "OPTIONS" in (answer.get("Allow") or "")
        assert agent.dropped == 4
        agent.close()
        clock.sleep(0.01)
    finally:
        clock.close()
