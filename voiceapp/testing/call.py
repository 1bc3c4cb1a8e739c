"""One test call against a voice app, run on virtual time: :class:`VoiceCall`.

The call is voiceapp's own dialer (:mod:`voiceapp.dialer.interpreter`) on a
:class:`~voiceapp.dialer.clock.VirtualClock` and the
:class:`~voiceapp.dialer.network.SimulatedNetwork`; the test is the phone at the far
end of the a-leg.  Its requests go through the dialer's own
:class:`~voiceapp.dialer.fetch.HttpClient` (the same parameters, encoding and
signatures as in production) to a WSGI app in this process
(:class:`~voiceapp.testing.transport.WsgiTransport`, no socket) or to a base URL.

Nothing runs until the test acts; each action runs the clock only as far as it needs
and never further than a bound (``max_wait`` seconds of call time for :meth:`hears`,
``max_call`` for :meth:`ended_with`), so a ``<Gather>`` that loops for ever ends the
test with a clear error.  Every failure is a :class:`CallAssertion` (an
``AssertionError``) whose message ends with the transcript so far.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urljoin

from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer.callbacks import CallbackRequest, Deliverer
from voiceapp.dialer.clock import VirtualClock, settle
from voiceapp.dialer.fetch import HttpClient
from voiceapp.dialer.interpreter import CallHandle, Environment, OutboundCall, place_call
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.dialer.trace import TraceEntry
from voiceapp.dialer.webhooks import with_query
from voiceapp.dtmf import parse_digits
from voiceapp.errors import FetchError
from voiceapp.netguard import Allowlist, Guard
from voiceapp.settings_tables.retry import RetryPolicy
from voiceapp.testing.transport import WsgiTransport

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

#: The numbers a call uses unless told: Twilio's magic test caller and a US number.
APP_NUMBER: Final = "+15005550006"
PHONE_NUMBER: Final = "+14155550123"
#: Where relative URLs of a call against a WSGI app point (any host reaches the app).
WSGI_BASE: Final = "http://app.test"
#: Virtual seconds an expectation waits for what it expects; a whole call at most.
MAX_WAIT: Final = 60.0
MAX_CALL: Final = 4 * 3600.0
#: The longest transcript a failure shows (its last lines).
TRANSCRIPT_LINES: Final = 80
#: Loop steps one action may take (a document loop that takes no call time ends here).
MAX_STEPS: Final = 1_000_000

Answer = Literal["human", "machine", "busy", "no-answer", "fail"]
_ANSWERS: Final = ("human", "machine", "busy", "no-answer", "fail")


class CallAssertion(AssertionError):
    """An expectation about a test call failed; the message ends with its transcript."""


@dataclass(frozen=True, slots=True)
class Request:
    """One document fetch of the call, as the app received it."""

    method: str
    url: str
    params: dict[str, str]
    status: int | None  # the HTTP status (None: no answer at all)
    body: bytes | None = None  # the document, when it came
    error: str | None = None  # why the fetch failed

    @property
    def path(self) -> str:
        """The URL's path (and query): what a route sees."""
        tail = self.url.split("://", 1)[-1]
        return "/" + tail.split("/", 1)[1] if "/" in tail else "/"


@dataclass(frozen=True, slots=True)
class Callback:
    """One status callback the call sent (each attempt of it)."""

    event_id: str
    method: str
    url: str
    params: dict[str, str]
    status: int | None  # the receiver's HTTP status (None: no answer)

    @property
    def event(self) -> str:
        return self.params.get("StatusCallbackEvent") or self.params.get("CallStatus", "")


@dataclass(frozen=True, slots=True)
class Dialed:
    """A b-leg a ``<Dial>`` placed, and what happened on it."""

    sid: str
    to: str
    from_: str
    status: str
    digits: str  # the DTMF the callee heard (sendDigits, what the caller pressed)
    heard: tuple[str, ...]  # the Says the callee heard (a whisper)
    connected: bool  # an IVR callee heard its extension
    duration: int


@dataclass
class _Utterance:
    entry: TraceEntry
    text: str
    pauses: str


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


_ONES: Final = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS: Final = [
    "_",
    "_",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
]
_SCALES: Final = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_NUMBER: Final = re.compile(r"\d+")


def number_words(n: int) -> str:
    """``n`` (0 or more) in English words: 42 -> "forty-two", 1905 -> "one thousand nine
    hundred five"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    for size, name in _SCALES:
        if n >= size:
            high, rest = divmod(n, size)
            return f"{number_words(high)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError(n)  # pragma: no cover - every n >= 100 has a scale


def _words(text: str) -> str:
    return _NUMBER.sub(lambda m: number_words(int(m.group())), text)


def _same(text: str) -> str:
    return text


def _resolve(base: str, url: str) -> str:
    return urljoin(base.rstrip("/") + "/", url) if "://" not in url else url


@dataclass(eq=False)
class VoiceCall:
    """A call between the test (a phone) and a voice app; see the module doc.

    ``app``: a WSGI app (run in process) or a base URL (``http://127.0.0.1:5000``).
    ``url``: the document the call runs (relative to the app).  ``direction``:
    ``outbound`` (the app calls ``to``, the test's phone; its document runs on
    answer) or ``inbound`` (the test's phone ``from_`` calls the app's number ``to``,
    bound to ``url``).  ``params`` are added to the query of ``url``.

    ``account_sid`` makes it a call of the Twilio-compatible API: every request
    carries Twilio's parameters, signed with ``auth_token`` (``X-Twilio-Signature``);
    ``secret`` signs with ``X-Voiceapp-Signature``.  ``callees`` scripts the numbers
    a ``<Dial>`` reaches (the simulated network's callee tables: ``{"outcome":
    "busy"}``, ``{"outcome": "no-answer"}``, ``{"ivr": {"expect": "101"}}``...).
    ``status_callback`` (relative to the app) receives the status callbacks.
    """

    app: WSGIApplication | str
    url: str = "/"
    to: str = ""  # default: PHONE_NUMBER outbound, APP_NUMBER inbound
    from_: str = ""  # default: APP_NUMBER outbound, PHONE_NUMBER inbound
    params: Mapping[str, str] | None = None
    method: Literal["GET", "POST"] = "POST"
    direction: Literal["outbound", "inbound"] = "outbound"
    account_sid: str | None = None
    auth_token: str | None = None
    secret: str | None = None
    machine_detection: str | None = None
    status_callback: str | None = None
    status_callback_event: str = "initiated ringing answered completed"
    callees: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    ring_seconds: float = 1.0
    max_wait: float = MAX_WAIT
    max_call: float = MAX_CALL

    requests: list[Request] = field(default_factory=list, init=False)
    callbacks: list[Callback] = field(default_factory=list, init=False)
    _answer: Answer = field(default="human", init=False)
    _handle: CallHandle | None = field(default=None, init=False)
    _clock: VirtualClock | None = field(default=None, init=False)
    _network: SimulatedNetwork | None = field(default=None, init=False)
    _client: HttpClient | None = field(default=None, init=False)
    _cursor: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        inbound = self.direction == "inbound"
        if self.direction not in ("outbound", "inbound"):
            raise ValueError(f"direction is outbound or inbound, not {self.direction!r}")
        # outbound: the app calls from its number to the phone; inbound: the reverse
        self.to = self.to or (APP_NUMBER if inbound else PHONE_NUMBER)
        self.from_ = self.from_ or (PHONE_NUMBER if inbound else APP_NUMBER)

    # -- the parts, made when the test first acts -------------------------------------------
    @property
    def base(self) -> str:
        return WSGI_BASE if not isinstance(self.app, str) else self.app.rstrip("/")

    def _http(self) -> HttpClient:
        token = self.auth_token
        twilio = (lambda _account: token) if token else None
        if isinstance(self.app, str):
            host = self.app.split("://", 1)[-1].split("/", 1)[0]
            # the test's own server, on loopback: allowed by name (nothing else is)
            guard = Guard(Allowlist.parse([host]))
            return HttpClient(secret=self.secret, twilio_token=twilio, guard=guard)
        return HttpClient(
            secret=self.secret, twilio_token=twilio, transport=WsgiTransport(self.app)
        )

    def _start(self) -> CallHandle:
        if self._handle is not None:
            return self._handle
        clock = VirtualClock()
        phone = self.to  # the test's phone (outbound) or the app's number (inbound)
        callee: dict[str, Any] = {"rings": 1 if self.direction == "outbound" else 0}
        if self._answer in ("busy", "no-answer", "fail"):
            callee = {"outcome": self._answer}
        else:  # the test knows who answered: machine detection reports it
            callee["answered_by"] = self._answer
        numbers: dict[str, Any] = {k: dict(v) for k, v in self.callees.items()}
        numbers[phone] = callee
        network = SimulatedNetwork(clock, {"ring_seconds": self.ring_seconds, "numbers": numbers})
        client = self._http()
        deliverer = Deliverer(
            clock, self._sender(client), RetryPolicy(attempts=3, first_delay=1, factor=2)
        )
        env = Environment(
            clock,
            network,
            self._fetcher(client),
            deliverer=deliverer,  # every sid is new (CA + 32 hex digits, as Twilio's)
        )
        subscription = Subscription()
        if self.status_callback is not None:
            subscription = Subscription.from_fields(
                status_callback=_resolve(self.base, self.status_callback),
                status_callback_event=self.status_callback_event,
            )
        url = _resolve(self.base, self.url)
        if self.params:
            url = with_query(url, self.params.items())
        spec = OutboundCall(
            from_=self.from_,
            to=self.to,
            url=url,
            method=self.method,
            subscription=subscription,
            account_sid=self.account_sid,
            direction="inbound" if self.direction == "inbound" else "outbound-api",
            machine_detection=self.machine_detection,
        )
        self._clock, self._network, self._client = clock, network, client
        self._handle = place_call(env, spec)
        return self._handle

    def _fetcher(self, client: HttpClient) -> Callable[[str, str, Any], bytes]:
        def fetch(method: str, url: str, params: Any) -> bytes:
            data = dict(params)
            try:
                body = client.fetch(method, url, params)
            except FetchError as exc:
                self.requests.append(Request(method, url, data, exc.http_status, None, str(exc)))
                raise
            self.requests.append(Request(method, url, data, 200, body))
            return body

        return fetch

    def _sender(self, client: HttpClient) -> Callable[[CallbackRequest], int]:
        def send(request: CallbackRequest) -> int:
            params = dict(request.params)
            try:
                status = client.send_callback(request)
            except Exception:
                self.callbacks.append(
                    Callback(request.event_id, request.method, request.url, params, None)
                )
                raise
            self.callbacks.append(
                Callback(request.event_id, request.method, request.url, params, status)
            )
            return status

        return send

    # -- running the clock ----------------------------------------------------------------
    def _run(self, until: Callable[[], bool], seconds: float) -> bool:
        """Run the call until ``until()`` holds, the call ends, or ``seconds`` of call
        time pass; whether ``until()`` holds."""
        handle = self._start()
        clock = self._clock
        assert clock is not None
        if until():
            return True
        if handle.task.done():
            return False
        stop = clock.future()

        def check(_: object = None) -> None:
            if until():
                settle(stop, None)

        handle.trace.listeners.append(check)
        handle.task.add_done_callback(lambda _: settle(stop, None))
        timer = clock.call_later(seconds, lambda: settle(stop, None))
        try:
            clock.run_until(stop, max_steps=MAX_STEPS)
        except RuntimeError as exc:
            raise self._failure(f"the call did not settle: {exc}") from None
        finally:
            timer.cancel()
            handle.trace.listeners.remove(check)
        self._raise_internal_error()
        return until()

    def _raise_internal_error(self) -> None:
        handle = self._handle
        if handle is not None and handle.task.done() and not handle.task.cancelled():
            error = handle.task.exception()
            if error is not None:
                raise self._failure(f"the dialer failed: {error!r}") from error

    def _settle_callbacks(self) -> None:
        """After the call: deliver what is still queued (bounded retries)."""
        if self._clock is not None:
            self._clock.run_until_idle(max_steps=MAX_STEPS)

    @property
    def ended(self) -> bool:
        return self._handle is not None and self._handle.task.done()

    def _live(self, action: str) -> CallHandle:
        """The call, answered (the caller can act only then), or a failure."""
        handle = self._start()
        self._run(lambda: handle.a.answered.done(), self.max_wait)
        if handle.task.done() or not handle.a.answered.done():
            raise self._failure(f"cannot {action}: the call has ended ({handle.status.value})")
        return handle

    # -- what the caller does -------------------------------------------------------------
    def answer_as(self, who: Answer) -> VoiceCall:
        """How the test's phone answers: ``human`` (default), ``machine`` (an
        answering machine: ``AnsweredBy`` with ``machine_detection``), ``busy``,
        ``no-answer`` or ``fail``.  Before the call has started."""
        if who not in _ANSWERS:
            raise ValueError(f"answer_as takes one of {', '.join(_ANSWERS)}, not {who!r}")
        if self._handle is not None:
            raise RuntimeError("answer_as() must come before anything else the call does")
        self._answer = who
        return self

    def press(self, digits: str) -> VoiceCall:
        """Press ``digits`` now (a DTMF string: ``1234#``; ``w`` waits half a second)."""
        timeline = parse_digits(digits)
        handle = self._live(f"press {digits!r}")
        assert self._network is not None
        done = self._network.press(handle.a.leg, timeline)
        self._run(done.done, self.max_wait)
        return self

    def say_speech(self, text: str) -> VoiceCall:
        """Say ``text`` now, as a ``<Gather input="speech">`` hears it (scripted speech:
        the app's action gets it as ``SpeechResult``)."""
        handle = self._live(f"say {text!r}")
        assert self._network is not None
        self._network.speak(handle.a.leg, text)
        self._run(lambda: False, 0.0)
        return self

    def wait(self, seconds: float) -> VoiceCall:
        """Let ``seconds`` of call time pass (less if the call ends first)."""
        self._run(lambda: False, seconds)
        return self

    def hang_up(self) -> VoiceCall:
        """Hang up the test's phone now."""
        handle = self._live("hang up")
        assert self._network is not None
        self._network.remote_hang_up(handle.a.leg, "the test hung up")
        self._run(lambda: False, 0.0)
        return self

    # -- what the caller hears ------------------------------------------------------------
    def _utterances(self) -> list[_Utterance]:
        if self._handle is None:
            return []
        return [
            _Utterance(e, str(e.detail.get("text", "")), str(e.detail.get("pauses", "")))
            for e in self._handle.trace
            if e.kind == "say" and e.leg == "a"
        ]

    @property
    def heard(self) -> list[str]:
        """Every Say the caller has heard so far, as heard ("Your pin is 8 9 7 0")."""
        return [u.text for u in self._utterances()]

    def hears(
        self, text: str, *, within: float | None = None, numbers_as_words: bool = False
    ) -> VoiceCall:
        """Run the call until the caller hears ``text`` (case and spacing aside, a part
        of one Say; with ``[pause 0.5s]`` marks, breaks are matched too), at most
        ``within`` (default ``max_wait``) seconds.  Each match moves on: the next
        :meth:`hears` looks at what comes after it.  ``numbers_as_words``: numbers in
        what was said are read as English words ("42" is "forty-two"), as a speech
        engine reads a cardinal."""
        wanted = _norm(text)
        read: Callable[[str], str] = _words if numbers_as_words else _same
        with_pauses = "[pause" in wanted
        found: list[_Utterance] = []

        def heard() -> bool:
            if found:
                return True
            utterances = self._utterances()
            for index in range(self._cursor, len(utterances)):
                utterance = utterances[index]
                said = utterance.pauses or utterance.text if with_pauses else utterance.text
                if wanted in _norm(read(said)):
                    self._cursor = index + 1
                    found.append(utterance)
                    return True
            return False

        limit = self.max_wait if within is None else within
        if not self._run(heard, limit):
            since = [u.text for u in self._utterances()[self._cursor :]]
            distinct = list(dict.fromkeys(since))
            what = ", ".join(f"{t!r}" for t in distinct) if since else "nothing"
            if len(since) > len(distinct):
                what += f" ({len(since)} Says in all, some again and again)"
            why = "the call ended" if self.ended else f"{limit:g} s passed"
            raise self._failure(f"expected to hear {text!r}, but {why}; heard instead: {what}")
        # the caller has heard it when it has been said to the end
        row = found[0].entry
        seconds = float(row.detail.get("seconds") or 0)
        self._run(lambda: False, max(0.0, row.ms / 1000 + seconds - self._now()))
        return self

    def _now(self) -> float:
        return 0.0 if self._clock is None else self._clock.now()

    # -- how it ends, and what went over the wire -------------------------------------------
    def ended_with(self, status: str, *, within: float | None = None) -> VoiceCall:
        """Run the call to its end (at most ``within``, default ``max_call``, seconds)
        and check its final status (``completed``, ``busy``, ``no-answer``...)."""
        limit = self.max_call if within is None else within
        if not self._run(lambda: self.ended, limit):
            raise self._failure(f"expected the call to end {status!r}, but it still runs")
        self._settle_callbacks()
        assert self._handle is not None
        actual = self._handle.status.value
        if actual != status:
            raise self._failure(f"expected the call to end {status!r}, but it ended {actual!r}")
        return self

    @property
    def status(self) -> str:
        return "queued" if self._handle is None else self._handle.status.value

    @property
    def sid(self) -> str:
        return self._start().sid

    @property
    def dialed(self) -> list[Dialed]:
        """The b-legs ``<Dial>`` placed, in order."""
        if self._handle is None:
            return []
        network = self._network
        assert network is not None
        return [
            Dialed(
                sid=run.sid,
                to=run.leg.to,
                from_=run.leg.from_,
                status=run.status.value,
                digits=run.leg.digits_heard(),
                heard=tuple(run.leg.said()),
                connected=network.connected(run.leg),
                duration=run.duration,
            )
            for run in self._handle.legs
            if run.direction == "outbound-dial"
        ]

    @property
    def trace(self) -> list[TraceEntry]:
        """The dialer's trace of the call (redacted as every trace is)."""
        return [] if self._handle is None else list(self._handle.trace)

    def transcript(self) -> str:
        """The call so far as a readable timeline (one line per event)."""
        if self._handle is None:
            return "(the call has not started)"
        lines = list(_lines(self._handle.trace))
        if len(lines) > TRANSCRIPT_LINES:
            cut = len(lines) - TRANSCRIPT_LINES
            lines = [f"   ... ({cut} earlier lines)", *lines[cut:]]
        return "\n".join(lines)

    def _failure(self, message: str) -> CallAssertion:
        return CallAssertion(f"{message}\n\ntranscript so far:\n{self.transcript()}")

    # -- the end ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the call's clock and close its HTTP client."""
        if self._client is not None:
            self._client.close()
        if self._clock is not None:
            self._clock.close()

    def __enter__(self) -> VoiceCall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the transcript ---------------------------------------------------------------------------

#: Fetch parameters worth a transcript line (the app's answer to the caller).
_SHOWN_PARAMS: Final = (
    "Digits",
    "SpeechResult",
    "DialCallStatus",
    "RecordingDuration",
    "AnsweredBy",
    "ErrorCode",
)


def _describe(entry: TraceEntry) -> str | None:
    d = entry.detail
    kind = entry.kind
    if kind == "say":
        loop = d.get("loop")
        again = f" (x{loop})" if loop and loop != 1 else ""
        return f"hears {d.get('pauses') or d.get('text')!r}{again}"
    if kind == "announce":
        return None  # the Say row that follows shows it
    if kind == "status":
        return f"call {d.get('status')}"
    if kind == "fetch":
        params = d.get("params") or {}
        shown = ", ".join(f"{k}={params[k]}" for k in _SHOWN_PARAMS if k in params)
        return f"app <- {d.get('method')} {d.get('url')}" + (f" ({shown})" if shown else "")
    if kind == "document":
        return "app -> " + (", ".join(d.get("verbs") or []) or "(empty document)")
    if kind == "callee-pressed":
        return f"presses {d.get('digit')}"
    if kind == "callee-said":
        return f"says {d.get('text')!r}"
    if kind == "gather":
        return f"gather (input {' '.join(d.get('input') or [])}, timeout {d.get('timeout')}s)"
    if kind == "gathered":
        return f"gathered {d.get('digits')!r} ({d.get('reason')})"
    if kind == "pause":
        return f"silence {d.get('seconds')}s"
    if kind == "play":
        return f"hears audio {d.get('url')}"
    if kind == "hangup":
        return "hangup" + (f" ({d['reason']})" if d.get("reason") else "")
    if kind == "redirect":
        return f"redirect to {d.get('url')}"
    if kind == "dial":
        return f"dials {', '.join(d.get('numbers') or [])}"
    if kind == "dial-result":
        return f"dial ended {d.get('DialCallStatus')}"
    if kind in ("digit-heard", "callback"):
        return None  # the presses show them; callbacks are in call.callbacks
    return f"{kind} {json.dumps(d, ensure_ascii=False, sort_keys=True, default=str)}"


def _lines(entries: Iterator[TraceEntry] | Any) -> Iterator[str]:
    pressed: list[str] = []
    last: TraceEntry | None = None
    for entry in entries:
        if entry.kind == "callee-pressed":
            if not pressed:
                last = entry
            pressed.append(str(entry.detail.get("digit")))
            continue
        if pressed and last is not None:
            yield f"{last.ms / 1000:8.3f}s  {last.leg:<3} presses {''.join(pressed)}"
            pressed = []
        text = _describe(entry)
        if text is not None:
            yield f"{entry.ms / 1000:8.3f}s  {entry.leg:<3} {text}"
    if pressed and last is not None:
        yield f"{last.ms / 1000:8.3f}s  {last.leg:<3} presses {''.join(pressed)}"
