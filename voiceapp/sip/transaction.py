"""Client transactions over UDP (RFC 3261 17.1), with their timers.

:class:`ClientTransaction` sends one request and retransmits it until a response
settles it:

* **INVITE** (17.1.1): timer A retransmits at T1, 2·T1, 4·T1…; timer B gives up
  after 64·T1 (the far end is reported as status 408).  A provisional response
  stops the retransmissions; a 2xx ends the transaction (the dialog ACKs it, end
  to end); a 3xx-6xx is ACKed here, on the INVITE's branch, and timer D (32 s)
  absorbs its retransmissions, each ACKed again.
* **non-INVITE** (17.1.2: BYE, CANCEL, OPTIONS): timer E retransmits at T1
  doubling up to T2 (at T2 once a provisional arrived); timer F gives up after
  64·T1; timer K (T4) absorbs retransmitted finals.

Timers run on the loop's clock (``loop.call_later``): virtual time in the unit
tests, real time with sipp.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from voiceapp.sip.message import Request, Response

T1: Final = 0.5
T2: Final = 4.0
T4: Final = 5.0
TIMER_D: Final = 32.0
#: the status reported when timer B or F fires (RFC 3261 8.1.3.1)
TIMEOUT_STATUS: Final = 408

Send = Callable[[bytes, tuple[str, int]], None]


def ack_for(invite: Request, response: Response) -> Request:
    """The ACK of a non-2xx final response (RFC 3261 17.1.1.3): the INVITE's top Via,
    Request-URI, From, Call-ID, Route, the response's To, CSeq ``n ACK``."""
    ack = Request(method="ACK", uri=invite.uri)
    ack.add("Via", invite.values("Via")[0])
    ack.add("Max-Forwards", "70")
    for name in ("From", "Call-ID"):
        ack.add(name, invite.get(name) or "")
    ack.add("To", response.get("To") or invite.get("To") or "")
    ack.add("CSeq", f"{invite.cseq[0]} ACK")
    for route in invite.values("Route"):
        ack.add("Route", route)
    return ack


class ClientTransaction:
    """One request and its responses; ``on_response`` sees each new one, ``on_timeout``
    fires when no final response came in time.  :meth:`close` stops every timer."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        request: Request,
        destination: tuple[str, int],
        send: Send,
        on_response: Callable[[Response], None],
        on_timeout: Callable[[], None],
        *,
        t1: float = T1,
    ) -> None:
        self.loop = loop
        self.request = request
        self.destination = destination
        self._send = send
        self._on_response = on_response
        self._on_timeout = on_timeout
        self.t1 = t1
        self.invite = request.method == "INVITE"
        self.state = "calling" if self.invite else "trying"
        self.final: Response | None = None
        self.retransmissions = 0
        self._wire = request.encode()
        self._interval = t1
        self._retransmit: asyncio.TimerHandle | None = None
        self._give_up: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._ack: bytes | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.request.branch, self.request.method

    @property
    def done(self) -> bool:
        return self.state in ("completed", "terminated")

    def start(self) -> None:
        self._send(self._wire, self.destination)
        self._retransmit = self.loop.call_later(self._interval, self._again)
        self._give_up = self.loop.call_later(64 * self.t1, self._timed_out)

    def _again(self) -> None:
        if self.done:
            return
        self.retransmissions += 1
        self._send(self._wire, self.destination)
        if self.invite:
            self._interval *= 2
        elif self.state == "proceeding":
            self._interval = T2
        else:
            self._interval = min(self._interval * 2, T2)
        self._retransmit = self.loop.call_later(self._interval, self._again)

    def _timed_out(self) -> None:
        if self.done:
            return
        self.close()
        self._on_timeout()

    def receive(self, response: Response) -> None:
        """A response whose branch and CSeq method match this transaction."""
        if self.state == "completed":
            if self._ack is not None:  # a retransmitted non-2xx final: ACK it again
                self._send(self._ack, self.destination)
            return
        if self.state == "terminated":
            return
        if response.status < 200:
            if self.invite and self._retransmit is not None:
                self._retransmit.cancel()  # 17.1.1.2: no more retransmissions once proceeding
            self.state = "proceeding"
            self._on_response(response)
            return
        self.final = response
        self._cancel_timers()
        if self.invite and response.status < 300:
            self.state = "terminated"
        else:
            self.state = "completed"
            if self.invite:
                self._ack = ack_for(self.request, response).encode()
                self._send(self._ack, self.destination)
            linger = TIMER_D if self.invite else T4
            self._linger = self.loop.call_later(linger, self.close)
        self._on_response(response)

    def _cancel_timers(self) -> None:
        for timer in (self._retransmit, self._give_up):
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        self._cancel_timers()
        if self._linger is not None:
            self._linger.cancel()
        self.state = "terminated"
