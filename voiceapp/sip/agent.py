"""The user agent: one UDP socket, the calls it places, the dialogs it answers in.

:class:`SipAgent` is an :class:`asyncio.DatagramProtocol`.  Every datagram is
parsed strictly; a malformed one is logged (source and reason, never its
content) and dropped.  Responses go to their client transaction (by top-Via
branch and CSeq method); requests go to their dialog (by Call-ID and tags):

* ``BYE`` → 200, the call is over (``on_hangup``);
* re-``INVITE`` → 200 with this side's SDP (new version), the remote media
  updated (``on_media``); its 200 is retransmitted until the ACK arrives;
* ``UPDATE`` → 200 (with SDP when it carried one); ``OPTIONS`` → 200 with
  ``Allow`` (in or out of a dialog); ``INFO`` → 200;
* a request for no dialog → 481; an unknown method → 405.

Retransmitted requests get the same response again (a small cache per
branch).  :class:`OutgoingCall` is one placed call: INVITE, digest auth on
401/407, CANCEL (held until a provisional response arrived, as RFC 3261 9.1
says), the CANCEL-vs-200 race (ACK, then BYE), the route set from
Record-Route, ACK for 2xx (retransmitted for each retransmitted 2xx), BYE.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

from voiceapp.errors import SipError
from voiceapp.sip import digest, sdp
from voiceapp.sip.message import (
    Address,
    Request,
    Response,
    Uri,
    Via,
    new_branch,
    new_tag,
    parse,
    response_to,
)
from voiceapp.sip.transaction import T1, T2, TIMEOUT_STATUS, ClientTransaction

log = logging.getLogger("voiceapp.sip")

ALLOW: Final = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"
USER_AGENT: Final = "voiceapp"
#: how long a response to a request stays ready for its retransmissions (64·T1)
_SERVER_LINGER: Final = 32.0


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # the password is a secret: never in a repr or a log
        return f"Credentials(username={self.username!r}, password='***')"


def _noop_int(_status: int) -> None:
    return None


def _noop_media(_media: sdp.Media | None) -> None:
    return None


def _noop() -> None:
    return None


class OutgoingCall:
    """One call placed by the agent: its INVITE transaction, then its dialog.

    What happens arrives on the callbacks: ``on_progress(status)`` for each new
    provisional response (100 excluded), ``on_answer(media)`` on the 2xx,
    ``on_final(status)`` when it ends unanswered (487 after a CANCEL, 408 on
    timer B), ``on_hangup()`` when the far end sends BYE, ``on_media(media)``
    when a re-INVITE/UPDATE changes the far end's media.
    """

    def __init__(
        self,
        agent: SipAgent,
        next_hop: tuple[str, int],
        target: Uri,
        from_: Address,
        to: Address,
        sdp_offer: bytes,
        credentials: Credentials | None = None,
    ) -> None:
        self.agent = agent
        self.next_hop = next_hop
        self.target = target
        self.local = from_.with_tag(new_tag())
        self.remote = to
        self.call_id = f"{secrets.token_hex(12)}@{agent.host}"
        self.cseq = 0
        self.offer = sdp_offer
        self.credentials = credentials
        self.state = "idle"  # idle, calling, early, confirmed, terminated
        self.status: int | None = None  # the INVITE's final status
        self.provisional = False
        self.cancel_wanted = False
        self.canceled = False
        self.remote_target: Uri = target
        self.route_set: list[str] = []
        self.media: sdp.Media | None = None
        self.invite: ClientTransaction | None = None
        self._ack: tuple[bytes, tuple[str, int]] | None = None
        self._auth_tries = 0
        self._version = 1
        self.on_progress: Callable[[int], None] = _noop_int
        self.on_answer: Callable[[sdp.Media | None], None] = _noop_media
        self.on_final: Callable[[int], None] = _noop_int
        self.on_hangup: Callable[[], None] = _noop
        self.on_media: Callable[[sdp.Media | None], None] = _noop_media
        self.bye_done: asyncio.Future[int] = agent.loop.create_future()

    # -- placing --------------------------------------------------------------------------
    def start(self) -> None:
        self.state = "calling"
        self.agent.calls[self.call_id] = self
        self._send_invite(None)

    def _base(self, method: str, uri: str, cseq: int, *, branch: str | None = None) -> Request:
        request = Request(method=method, uri=uri)
        request.add("Via", self.agent.via(branch or new_branch()))
        request.add("Max-Forwards", "70")
        request.add("From", str(self.local))
        request.add("To", str(self.remote))
        request.add("Call-ID", self.call_id)
        request.add("CSeq", f"{cseq} {method}")
        return request

    def _send_invite(self, auth: tuple[str, str] | None) -> None:
        self.cseq += 1
        invite = self._base("INVITE", str(self.target), self.cseq)
        invite.add("Contact", f"<{self.agent.contact}>")
        invite.add("Allow", ALLOW)
        invite.add("User-Agent", USER_AGENT)
        if auth is not None:
            invite.add(*auth)
        invite.add("Content-Type", "application/sdp")
        invite.body = self.offer
        self.invite = self.agent.transact(
            invite, self.next_hop, self._invite_response, self._invite_timeout
        )

    def _invite_timeout(self) -> None:
        self._ended(TIMEOUT_STATUS)

    def _invite_response(self, response: Response) -> None:
        status = response.status
        if status < 200:
            if status > 100 or not self.provisional:
                first = not self.provisional
                self.provisional = True
                if self.state == "calling":
                    self.state = "early"
                if self.cancel_wanted and first:
                    self._send_cancel()
                if status > 100:
                    self.on_progress(status)
            return
        if status < 300:
            self.answered(response)
            return
        if status in (401, 407) and self._retry_auth(response):
            return
        self._ended(status)

    def _retry_auth(self, response: Response) -> bool:
        if self.credentials is None or self.canceled or self._auth_tries >= 2:
            return False
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        value = response.get(header)
        if value is None:
            return False
        try:
            challenge = digest.parse_challenge(value)
        except SipError as exc:
            log.warning("sip %s: unusable %s challenge: %s", self.call_id, header, exc.message)
            return False
        if self._auth_tries and not challenge.stale:
            return False  # the credentials were refused
        self._auth_tries += 1
        answer = digest.authorization(
            challenge,
            username=self.credentials.username,
            password=self.credentials.password,
            method="INVITE",
            uri=str(self.target),
        )
        name = "Authorization" if response.status == 401 else "Proxy-Authorization"
        self.provisional = False
        self._send_invite((name, answer))
        return True

    def answered(self, response: Response) -> None:
        if self.state == "confirmed":
            if self._ack is not None:  # a retransmitted 2xx: ACK it again (13.2.2.4)
                self.agent.send(*self._ack)
            return
        to = response.get("To") or ""
        self.remote = Address.parse(to)
        contact = response.values("Contact")
        if contact:
            self.remote_target = Address.parse(contact[0]).uri
        self.route_set = list(reversed(response.values("Record-Route")))
        self.state = "confirmed"
        self.status = response.status
        ack = self._in_dialog("ACK", cseq=self.cseq)
        self._ack = (ack[0].encode(), ack[1])
        self.agent.send(*self._ack)
        if self.canceled:
            # the CANCEL crossed the 200 (RFC 3261 9.1): the call is up, end it at once
            self.bye()
            return
        self.media = self._read_sdp(response.body)
        self.on_answer(self.media)

    def _read_sdp(self, body: bytes) -> sdp.Media | None:
        if not body:
            return None
        try:
            return sdp.parse(body)
        except SipError as exc:
            log.warning("sip %s: unusable SDP: %s", self.call_id, exc.message)
            return None

    def _ended(self, status: int) -> None:
        if self.state == "terminated":
            return
        self.state = "terminated"
        self.status = status
        self.agent.calls.pop(self.call_id, None)
        self.on_final(status)

    # -- in the dialog --------------------------------------------------------------------
    def _in_dialog(self, method: str, cseq: int | None = None) -> tuple[Request, tuple[str, int]]:
        """A request inside the dialog and where it goes (RFC 3261 12.2.1.1)."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        routes = list(self.route_set)
        uri = str(self.remote_target)
        if routes and Address.parse(routes[0]).uri.param("lr") is None:
            # strict routing: the first route becomes the Request-URI
            uri = str(Address.parse(routes[0]).uri)
            routes = [*routes[1:], f"<{self.remote_target}>"]
        request = self._base(method, uri, cseq)
        for route in routes:
            request.add("Route", route)
        if not self.route_set:
            return request, self.remote_target.address
        first_hop = Address.parse(self.route_set[0]).uri
        return request, first_hop.address

    def cancel(self) -> None:
        """Withdraw the call: CANCEL while it rings, BYE once answered."""
        if self.state in ("terminated",) or self.canceled:
            return
        self.canceled = True
        if self.state == "confirmed":
            self.bye()
            return
        self.cancel_wanted = True
        if self.provisional:
            self._send_cancel()

    def _send_cancel(self) -> None:
        invite = self.invite
        if invite is None or invite.done:
            return
        cancel = Request(method="CANCEL", uri=invite.request.uri)
        cancel.add("Via", invite.request.values("Via")[0])
        cancel.add("Max-Forwards", "70")
        for name in ("From", "To", "Call-ID"):
            cancel.add(name, invite.request.get(name) or "")
        cancel.add("CSeq", f"{invite.request.cseq[0]} CANCEL")
        for route in invite.request.values("Route"):
            cancel.add("Route", route)
        self.agent.transact(cancel, invite.destination, _ignore_response, _noop)

    def bye(self) -> None:
        """End the answered call from this side (BYE, retransmitted until answered)."""
        if self.state != "confirmed":
            return
        self.state = "terminated"
        self.agent.calls.pop(self.call_id, None)
        request, hop = self._in_dialog("BYE")

        def done(response: Response) -> None:
            if response.status >= 200 and not self.bye_done.done():
                self.bye_done.set_result(response.status)

        def timeout() -> None:
            if not self.bye_done.done():
                self.bye_done.set_result(TIMEOUT_STATUS)

        self.agent.transact(request, hop, done, timeout)

    def receive(self, request: Request, source: tuple[str, int]) -> None:
        """A request from the far end inside this dialog."""
        method = request.method
        if method == "ACK":
            self.agent.acked(request)
            return
        if method == "BYE":
            self.agent.respond(request, 200, source)
            if self.state != "terminated":
                self.state = "terminated"
                self.agent.calls.pop(self.call_id, None)
                self.on_hangup()
            return
        if method in ("INVITE", "UPDATE"):
            media = self._read_sdp(request.body) if request.body else None
            if request.body and media is None:
                self.agent.respond(request, 488, source)
                return
            response = response_to(request, 200)
            response.set("To", str(self.local))
            response.add("Contact", f"<{self.agent.contact}>")
            response.add("Allow", ALLOW)
            if media is not None or method == "INVITE":
                self._version += 1
                response.add("Content-Type", "application/sdp")
                response.body = self.agent.reoffer(self.offer, self._version)
            self.agent.send_response(request, response, source, reliable=method == "INVITE")
            if media is not None:
                self.media = media
                self.on_media(media)
            return
        if method in ("OPTIONS", "INFO"):
            self.agent.respond(request, 200, source)
            return
        self.agent.respond(request, 405, source)


def _same(agent: SipAgent) -> SipAgent:
    return agent


def _ignore_response(_response: Response) -> None:
    return None


class SipAgent(asyncio.DatagramProtocol):
    """The stack on one UDP socket of the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str):
        self.loop = loop
        self.host = host
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.transactions: dict[tuple[str, str], ClientTransaction] = {}
        self.calls: dict[str, OutgoingCall] = {}
        self._responses: dict[tuple[str, str], tuple[bytes, asyncio.TimerHandle]] = {}
        self._reliable: dict[str, asyncio.TimerHandle] = {}
        self.dropped = 0

    @classmethod
    async def open(
        cls,
        loop: asyncio.AbstractEventLoop,
        host: str,
        ports: tuple[int, int],
    ) -> SipAgent:
        """Bind the first free port of ``ports`` (inclusive) on ``host``."""
        last: OSError | None = None
        for port in range(ports[0], ports[1] + 1):
            agent = cls(loop, host)
            try:
                await loop.create_datagram_endpoint(
                    functools.partial(_same, agent), local_addr=(host, port)
                )
            except OSError as exc:
                last = exc
                continue
            return agent
        raise OSError(f"no free SIP port in {ports[0]}-{ports[1]} on {host}") from last

    # asyncio ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = self.transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip():
            return  # a keep-alive (RFC 5626 CRLF)
        try:
            message = parse(data)
            if isinstance(message, Response):
                self._response(message)
            else:
                self._request(message, addr)
        except SipError as exc:
            self.dropped += 1
            log.warning("sip: dropped a malformed message from %s:%s: %s", *addr[:2], exc.message)
        except Exception:  # a bug handling a good message: logged, the socket keeps going
            log.exception("sip: failed to handle a message from %s:%s", *addr[:2])

    def error_received(self, exc: Exception) -> None:
        log.info("sip: socket error %s", exc)

    def close(self) -> None:
        for transaction in list(self.transactions.values()):
            transaction.close()
        for _wire, timer in self._responses.values():
            timer.cancel()
        for timer in self._reliable.values():
            timer.cancel()
        if self.transport is not None:
            self.transport.close()

    # sending ------------------------------------------------------------------------------
    @property
    def contact(self) -> str:
        return f"sip:voiceapp@{self.host}:{self.port}"

    def via(self, branch: str) -> str:
        return f"SIP/2.0/UDP {self.host}:{self.port};rport;branch={branch}"

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def transact(
        self,
        request: Request,
        destination: tuple[str, int],
        on_response: Callable[[Response], None],
        on_timeout: Callable[[], None],
    ) -> ClientTransaction:
        transaction = ClientTransaction(
            self.loop, request, destination, self.send, on_response, on_timeout
        )
        self.transactions[transaction.key] = transaction

        def forget() -> None:
            self.transactions.pop(transaction.key, None)
            on_timeout()

        transaction._on_timeout = forget
        transaction.start()
        self.loop.call_later(64 * T1 + 32.0, self.transactions.pop, transaction.key, None)
        return transaction

    def reoffer(self, offer: bytes, version: int) -> bytes:
        """``offer`` again with its origin version raised (a re-INVITE's answer)."""
        lines = offer.decode("ascii").split("\r\n")
        for i, line in enumerate(lines):
            if line.startswith("o="):
                parts = line.split(" ")
                parts[2] = str(version)
                lines[i] = " ".join(parts)
        return "\r\n".join(lines).encode("ascii")

    def respond(self, request: Request, status: int, source: tuple[str, int]) -> None:
        response = response_to(request, status)
        if request.method == "OPTIONS":
            response.add("Allow", ALLOW)
            response.add("Accept", "application/sdp")
        self.send_response(request, response, source)

    def send_response(
        self,
        request: Request,
        response: Response,
        source: tuple[str, int],
        *,
        reliable: bool = False,
    ) -> None:
        """Send, and keep for the request's retransmissions; ``reliable``: a 2xx to an
        INVITE, retransmitted at T1 doubling to T2 until its ACK (RFC 3261 13.3.1.4)."""
        wire = response.encode()
        destination = self._response_address(request, source)
        self.send(wire, destination)
        key = (request.branch, request.method)
        old = self._responses.pop(key, None)
        if old is not None:
            old[1].cancel()
        self._responses[key] = (
            wire,
            self.loop.call_later(_SERVER_LINGER, self._responses.pop, key),
        )
        if reliable:
            key2xx = f"{request.call_id} {request.cseq[0]}"
            self._retransmit_2xx(key2xx, wire, destination, T1, 0.0)

    def _retransmit_2xx(
        self, key: str, wire: bytes, destination: tuple[str, int], interval: float, spent: float
    ) -> None:
        if spent >= 64 * T1:
            self._reliable.pop(key, None)
            return

        def again() -> None:
            self.send(wire, destination)
            self._retransmit_2xx(key, wire, destination, min(interval * 2, T2), spent + interval)

        self._reliable[key] = self.loop.call_later(interval, again)

    def acked(self, ack: Request) -> None:
        number, _method = ack.cseq
        timer = self._reliable.pop(f"{ack.call_id} {number}", None)
        if timer is not None:
            timer.cancel()

    @staticmethod
    def _response_address(request: Request, source: tuple[str, int]) -> tuple[str, int]:
        """Where a response goes (RFC 3261 18.2.2 and RFC 3581): the source when the
        top Via asks for rport or names another host, else the Via's host:port."""
        via = Via.parse(request.values("Via")[0])
        if "rport" in via.params or via.params.get("received"):
            return source
        return via.host, via.port or 5060

    # dispatch -----------------------------------------------------------------------------
    def _response(self, response: Response) -> None:
        _number, method = response.cseq
        transaction = self.transactions.get((response.branch, method))
        if transaction is not None and transaction.state != "terminated":
            transaction.receive(response)
            return
        call = self.calls.get(response.call_id)
        if call is not None and method == "INVITE" and 200 <= response.status < 300:
            call.answered(response)  # a 2xx retransmitted after its transaction ended
            return
        log.debug("sip: a response for no transaction (%s %s)", response.status, method)

    def _request(self, request: Request, source: tuple[str, int]) -> None:
        cached = self._responses.get((request.branch, request.method))
        if cached is not None:
            self.send(cached[0], self._response_address(request, source))
            return
        call = self.calls.get(request.call_id)
        to_tag = Address.parse(request.get("To") or "").tag
        if call is not None and to_tag == call.local.tag:
            call.receive(request, source)
            return
        if request.method == "ACK":
            return  # an ACK for nothing we hold: absorbed
        if request.method == "OPTIONS" and to_tag is None:
            self.respond(request, 200, source)
            return
        if request.method not in ALLOW.replace(" ", "").split(","):
            self.respond(request, 405, source)
            return
        self.respond(request, 481, source)
