"""Shared pieces for dialer tests: an in-process document site, a callback receiver
and a call runner on the virtual clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer.callbacks import CallbackRequest, Deliverer
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.interpreter import CallHandle, Environment, OutboundCall, place_call
from voiceapp.dialer.network import SimulatedNetwork
from voiceapp.errors import FetchError
from voiceapp.settings_tables.retry import RetryPolicy

CALLER = "+19499300360"  # the seed's caller ID
CALLEE = "+886912345678"
IVR = "+18005797676"  # the seed's b-leg number
APP = "http://app.test"

Page = bytes | Callable[[Mapping[str, str]], bytes]


@dataclass
class Site:
    """The voice application, as the injected ``fetch`` sees it: URL -> XML."""

    pages: dict[str, Page] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __call__(self, method: str, url: str, params: Sequence[tuple[str, str]]) -> bytes:
        data = dict(params)
        self.requests.append((method, url, data))
        page = self.pages.get(url)
        if page is None:
            raise FetchError(f"GET {url}: 404 Not Found", code="fetch-status")
        return page(data) if callable(page) else page

    def add(self, path: str, xml: str | Page) -> str:
        url = APP + path
        self.pages[url] = xml.encode() if isinstance(xml, str) else xml
        return url


@dataclass
class Receiver:
    """The in-process status-callback receiver (a ``Deliverer``'s sender): it answers from
    a script of HTTP statuses or exceptions (then 200) and records every request with the
    clock's time when it was given one."""

    script: list[int | Exception] = field(default_factory=list)
    clock: VirtualClock | None = None
    calls: list[tuple[float, CallbackRequest]] = field(default_factory=list)
    accepted: list[dict[str, str]] = field(default_factory=list)
    accepted_ids: list[str] = field(default_factory=list)

    def __call__(self, request: CallbackRequest) -> int:
        self.calls.append((self.clock.now() if self.clock else 0.0, request))
        outcome = self.script.pop(0) if self.script else 200
        if isinstance(outcome, Exception):
            raise outcome
        if 200 <= outcome < 300:
            self.accepted.append(dict(request.params))
            self.accepted_ids.append(request.event_id)
        return outcome

    @property
    def requests(self) -> list[CallbackRequest]:
        return [request for _, request in self.calls]

    def events(self, sid: str | None = None) -> list[tuple[str, str]]:
        """(StatusCallbackEvent, CallStatus) of accepted callbacks, for one leg if given."""
        return [
            (p["StatusCallbackEvent"], p["CallStatus"])
            for p in self.accepted
            if sid is None or p["CallSid"] == sid
        ]


@dataclass
class Lab:
    clock: VirtualClock
    site: Site
    receiver: Receiver
    network_config: dict[str, Any]
    sids: Iterator[int] = field(default_factory=lambda: count(1))

    def env(self, **options: Any) -> Environment:
        network = SimulatedNetwork(self.clock, self.network_config)
        deliverer = Deliverer(self.clock, self.receiver, RetryPolicy(first_delay=1, factor=2))
        return Environment(
            self.clock,
            network,
            self.site,
            deliverer=deliverer,
            new_sid=lambda prefix: f"{prefix}{next(self.sids):04d}",
            **options,
        )

    def call(
        self,
        url: str | None,
        *,
        to: str = CALLEE,
        events: str = "initiated ringing answered completed",
        env: Environment | None = None,
        **spec: Any,
    ) -> CallHandle:
        sub = Subscription.from_fields(
            status_callback="http://hooks.test/status", status_callback_event=events
        )
        handle = place_call(
            env or self.env(), OutboundCall(from_=CALLER, to=to, url=url, subscription=sub, **spec)
        )
        self.clock.run_until_idle(max_steps=200_000)
        assert handle.task.done()
        if handle.task.exception() is not None:
            raise handle.task.exception()  # type: ignore[misc]
        return handle


def new_lab() -> Lab:
    return Lab(VirtualClock(), Site(), Receiver(), {"ring_seconds": 2.0, "numbers": {}})


def kinds(handle: CallHandle, leg: str | None = None) -> list[str]:
    return [e.kind for e in handle.trace if leg is None or e.leg == leg]
