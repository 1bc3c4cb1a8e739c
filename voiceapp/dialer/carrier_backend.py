"""The carrier backend: every call placed through a Twilio-compatible REST API.

``[network] backend = "carrier"`` with a ``[carrier]`` table
(:mod:`voiceapp.settings_tables.carrier`) makes :class:`CarrierNetwork` the dialer's
network.  It is a :class:`~voiceapp.dialer.network.NetworkBackend` that *runs the
documents itself* (``runs_documents``): the carrier (Twilio, SignalWire, Telnyx TeXML,
Somleng, or another voiceapp's ``/2010-04-01`` API) fetches the call's document and
runs it on its phone network, and the dialer only follows the leg's progress.

* :meth:`~CarrierNetwork.place` sends ``POST {base_url}/2010-04-01/Accounts/{sid}/
  Calls.json`` (Basic auth: account sid and auth token) with ``To``, ``From``, ``Url``
  and ``Method`` (the call's own url: an app call's session URL on this server, which
  the carrier fetches as any dialer would, or the user's URL) or ``Twiml``,
  ``SendDigits``, ``Timeout``, ``TimeLimit``, ``StatusCallback`` =
  ``{PUBLIC_URL}/carrier/status/<our sid>`` and ``StatusCallbackEvent`` = ``initiated
  ringing answered completed``.  A refusal (401 bad credentials, 400 a bad number ...)
  or a carrier out of reach fails the leg with a ``carrier-error`` trace row, the call's
  ``error`` (``carrier-auth``, ``carrier-refused``, ``carrier-connect``,
  ``carrier-blocked``).
* the carrier's status callbacks reach :meth:`~CarrierNetwork.report` through the web
  route :mod:`voiceapp.web.carrier` (which checked their ``X-Twilio-Signature``); each
  ``CallStatus`` becomes the leg's :class:`~voiceapp.calls.states.Event` (``ringing`` →
  ring, ``in-progress`` → answer, ``completed`` → hang-up, ``busy``, ``no-answer``,
  ``failed``, ``canceled``), with ``SipResponseCode`` and ``CallDuration`` kept on the
  leg.  The dialer's own path does the rest: the store's status history and the call's
  own status callbacks (the seed's parameters, or Twilio's).
* :meth:`~CarrierNetwork.hang_up` sends ``POST .../Calls/{carrier sid}.json`` with
  ``Status=completed`` (answered) or ``Status=canceled`` (not yet).

Every request goes through :mod:`voiceapp.netguard` (public addresses or
``URL_ALLOWLIST``, checked at connect time).  The auth token is never in a trace row,
a log line or an error.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import requests

from voiceapp.calls.states import Event
from voiceapp.dialer.clock import Clock
from voiceapp.dialer.fetch import USER_AGENT, GuardedAdapter
from voiceapp.dialer.network import Leg, NetworkBackend
from voiceapp.dtmf import Timeline
from voiceapp.errors import OutboundBlocked
from voiceapp.netguard import Guard
from voiceapp.redact import redact_text
from voiceapp.settings_tables.carrier import CarrierConfig

#: The events the carrier is asked to report (all of them).
STATUS_EVENTS: Final = ("initiated", "ringing", "answered", "completed")
#: The path of this server's route receiving the carrier's callbacks (voiceapp.web.carrier).
STATUS_PATH: Final = "/carrier/status/"
#: What each of the carrier's ``CallStatus`` values is for the leg (None: nothing new).
EVENTS: Final[Mapping[str, Event | None]] = {
    "queued": None,
    "initiated": None,
    "ringing": Event.RING,
    "in-progress": Event.ANSWER,
    "answered": Event.ANSWER,
    "completed": Event.HANG_UP,
    "busy": Event.BUSY,
    "no-answer": Event.NO_ANSWER,
    "failed": Event.FAIL,
    "canceled": Event.CANCEL,
}
#: Ended legs whose late callbacks are still taken (and ignored) rather than refused.
RECENT: Final = 1000


@dataclass(eq=False)
class _Placed:
    """One leg placed at the carrier."""

    leg: Leg
    carrier_sid: str | None = None
    hang_up: str | None = None  # completed | canceled, asked before the carrier's sid came


def _code(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


class CarrierNetwork(NetworkBackend):
    """Calls placed through a Twilio-compatible REST API (see the module docstring).

    ``public_url``: this server's base URL as the carrier reaches it (``PUBLIC_URL``),
    for the ``StatusCallback``.  ``session``: a ``requests`` session (guarded adapters
    are mounted on it).
    """

    runs_documents = True

    def __init__(
        self,
        clock: Clock,
        config: CarrierConfig,
        *,
        public_url: str,
        guard: Guard | None = None,
        session: requests.Session | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.clock = clock
        self.config = config
        self.public_url = public_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        adapter = GuardedAdapter(guard or Guard())
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._placed: dict[str, _Placed] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._requests: set[asyncio.Task[None]] = set()  # creates and updates on their way

    @property
    def idle(self) -> bool:
        return not self._requests

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = self.clock.spawn(coro, name)
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    # the carrier's API -------------------------------------------------------------------
    def _post(self, url: str, params: Sequence[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        """One POST to the carrier (in an executor thread); its status and JSON body."""
        response = self.session.post(
            url,
            data=list(params),
            auth=(self.config.account_sid, self.config.auth_token),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=self.timeout,
            allow_redirects=False,
        )
        with response:
            try:
                body = response.json()
            except ValueError:
                body = {}
        return response.status_code, body if isinstance(body, dict) else {}

    async def _request(
        self, leg: Leg, what: str, url: str, params: Sequence[tuple[str, str]]
    ) -> dict[str, Any] | None:
        """POST ``params``; the answer's body, or None after a ``carrier-error`` row."""
        try:
            status, body = await self.clock.run_in_thread(lambda: self._post(url, params))
        except OutboundBlocked as exc:
            leg.note("carrier-error", code="carrier-blocked", what=what, error=str(exc))
            return None
        except requests.RequestException as exc:
            leg.note(
                "carrier-error",
                code="carrier-connect",
                what=what,
                error=f"cannot reach the carrier at {self.config.base_url}: "
                + redact_text(str(exc)),
            )
            return None
        if 200 <= status < 300:
            return body
        message = str(body.get("message") or "no message")[:300]
        code = body.get("code")
        auth = status in (401, 403)
        leg.note(
            "carrier-error",
            code="carrier-auth" if auth else "carrier-refused",
            what=what,
            status=status,
            carrier_code=code,
            error=(
                "the carrier refused the [carrier] account_sid/auth_token"
                if auth
                else "the carrier refused the request"
            )
            + f": HTTP {status}"
            + (f", code {code}" if code is not None else "")
            + f": {message}",
        )
        return None

    # interface ---------------------------------------------------------------------------
    def place(self, leg: Leg) -> None:
        if leg.carried is None:
            raise ValueError(f"leg {leg.sid}: a carrier places a-legs with their document")
        if leg.sid in self._placed or leg.sid in self._ended:
            raise ValueError(f"leg {leg.sid} was already placed")
        placed = _Placed(leg)
        self._placed[leg.sid] = placed
        self._spawn(self._create(placed), f"carrier create {leg.sid}")

    def _create_params(self, leg: Leg) -> list[tuple[str, str]]:
        carried = leg.carried
        assert carried is not None
        params = [("To", leg.to), ("From", leg.from_)]
        if carried.twiml is not None:
            params.append(("Twiml", carried.twiml))
        elif carried.url is not None:
            params += [("Url", carried.url), ("Method", carried.method)]
        if carried.send_digits:
            params.append(("SendDigits", carried.send_digits))
        params += [
            ("Timeout", str(max(1, round(carried.timeout)))),
            ("TimeLimit", str(max(1, round(carried.time_limit)))),
            ("StatusCallback", f"{self.public_url}{STATUS_PATH}{leg.sid}"),
            ("StatusCallbackMethod", "POST"),
        ]
        params += [("StatusCallbackEvent", event) for event in STATUS_EVENTS]
        return params

    async def _create(self, placed: _Placed) -> None:
        leg = placed.leg
        body = await self._request(
            leg, "create", self.config.calls_url + ".json", self._create_params(leg)
        )
        if body is None:
            if not leg.ended:
                self._finish(placed, Event.FAIL)
            return
        sid = body.get("sid")
        placed.carrier_sid = placed.carrier_sid or (sid if isinstance(sid, str) else None)
        leg.note("carrier-call", carrier_sid=placed.carrier_sid, status=body.get("status"))
        if placed.hang_up is not None:  # hung up while the create was on its way
            await self._update(placed, placed.hang_up)

    async def _update(self, placed: _Placed, status: str) -> None:
        if placed.carrier_sid is None:
            placed.hang_up = status  # sent once the create answers
            return
        url = f"{self.config.calls_url}/{placed.carrier_sid}.json"
        if await self._request(placed.leg, status, url, [("Status", status)]) is not None:
            placed.leg.note("carrier-update", status=status)

    def hang_up(self, leg: Leg) -> None:
        placed = self._placed.pop(leg.sid, None)
        leg.ended = True
        if placed is None:
            return
        self._remember(leg.sid)
        status = "completed" if leg.answered_at is not None else "canceled"
        self._spawn(self._update(placed, status), f"carrier {status} {leg.sid}")

    def report(self, call_sid: str, params: Mapping[str, str]) -> bool:
        """A status callback of the carrier for our leg ``call_sid`` (any thread): applied
        on the dialer's loop.  False when no leg of that sid was placed here."""
        if call_sid not in self._placed and call_sid not in self._ended:
            return False
        values = dict(params)
        self.clock.call_soon_threadsafe(lambda: self._status(call_sid, values))
        return True

    def _status(self, call_sid: str, params: Mapping[str, str]) -> None:
        placed = self._placed.get(call_sid)
        status = params.get("CallStatus", "")
        if placed is None or placed.leg.ended:
            return  # we hung it up ourselves: the carrier's completed/canceled confirms it
        leg = placed.leg
        if placed.carrier_sid is None and params.get("CallSid"):
            placed.carrier_sid = params["CallSid"]
        leg.note(
            "carrier-status",
            status=status,
            sip=params.get("SipResponseCode"),
            duration=params.get("CallDuration"),
        )
        if status not in EVENTS:
            leg.note("carrier-error-status", status=status[:40])
            return
        event = EVENTS[status]
        if event is None:
            return
        if event is Event.ANSWER:
            if leg.answered_at is None:
                leg.answered_at = self.clock.now()
                leg.on_event(event)
            return
        if event is Event.RING:
            leg.on_event(event)
            return
        leg.sip_code = _code(params.get("SipResponseCode"))
        if event is Event.HANG_UP:
            leg.duration = _code(params.get("CallDuration"))
            if leg.answered_at is None:  # completed without an answer: it failed
                event = Event.FAIL
        self._finish(placed, event)

    def _finish(self, placed: _Placed, event: Event) -> None:
        leg = placed.leg
        self._placed.pop(leg.sid, None)
        self._remember(leg.sid)
        leg.ended = True
        leg.on_event(event)

    def _remember(self, sid: str) -> None:
        self._ended[sid] = None
        while len(self._ended) > RECENT:
            self._ended.popitem(last=False)

    # the carrier runs the document: the dialer asks none of these of it ------------------
    def _done(self, value: Any = None) -> asyncio.Future[Any]:
        return self.clock.timeout(0.0, value)

    def send_digits(self, leg: Leg, timeline: Timeline) -> asyncio.Future[None]:
        leg.note("unsupported", feature="send-digits", reason="the carrier runs the document")
        return self._done()

    def say(
        self,
        leg: Leg,
        text: str,
        seconds: float,
        *,
        voice: str | None = None,
        language: str | None = None,
    ) -> asyncio.Future[None]:
        leg.note("unsupported", feature="say", reason="the carrier runs the document")
        return self._done()

    def play(self, leg: Leg, url: str, seconds: float) -> asyncio.Future[None]:
        leg.note("unsupported", feature="play", reason="the carrier runs the document")
        return self._done()

    def beep(self, leg: Leg, seconds: float) -> asyncio.Future[None]:
        leg.note("unsupported", feature="beep", reason="the carrier runs the document")
        return self._done()

    def record(self, leg: Leg, *, max_length: float, timeout: float) -> asyncio.Future[float]:
        leg.note("unsupported", feature="record", reason="the carrier runs the document")
        return self._done(0.0)

    def bridge(self, a: Leg, b: Leg) -> None:
        a.note("unsupported", feature="bridge", reason="the carrier bridges its own legs")

    def unbridge(self, a: Leg, b: Leg) -> None:
        return None
