"""A real HTTP site on 127.0.0.1 for the worker tests: voice documents and a
status-callback receiver, counting what arrives and checking signatures."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from voiceapp.dialer.callbacks import EVENT_ID_HEADER
from voiceapp.errors import TokenInvalid
from voiceapp.signatures import HEADER, ReplayCache, verify_request

PIN_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Say>Your pin is 8 9 7 0</Say></Response>'
)


@dataclass
class Site:
    """What the site serves and what it saw (all access under ``lock``)."""

    secret: str  # signs document fetches
    callback_secret: str = ""  # signs callbacks (v2: the event id is signed)
    documents: dict[str, bytes] = field(default_factory=dict)  # path -> XML
    fail_first: int = 0  # each callback event's first N tries get a 500
    fetches: Counter[str] = field(default_factory=Counter)  # CallSid -> document fetches
    bad_signatures: list[str] = field(default_factory=list)
    fetch_params: list[dict[str, str]] = field(default_factory=list)
    callbacks: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # every try
    accepted: defaultdict[str, list[dict[str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # event id -> accepted deliveries
    tries: Counter[str] = field(default_factory=Counter)  # event id -> tries
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""
    on_fetch: Callable[[dict[str, str]], None] | None = None
    seen: ReplayCache = field(default_factory=ReplayCache)  # the receiver's replay guard

    def url(self, path: str) -> str:
        return self.base + path

    def accepted_events(self, sid: str) -> list[str]:
        with self.lock:
            return sorted(
                p["StatusCallbackEvent"]
                for d in self.accepted.values()
                for p in d
                if p["CallSid"] == sid
            )

    def wait(self, predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate():
                    return True
            time.sleep(0.02)
        with self.lock:
            return predicate()


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _answer(self, status: int, body: bytes = b"", ctype: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            params.update(parse_qsl(body.decode("ascii"), keep_blank_values=True))
            full = site.base + self.path
            callback = parts.path == "/cb"
            try:
                verify_request(
                    [site.callback_secret if callback else site.secret],
                    self.headers.get(HEADER),
                    self.command,
                    full,
                    body,
                    now=time.time(),
                    event_id=self.headers.get(EVENT_ID_HEADER) if callback else None,
                    seen=site.seen if callback else None,
                )
                signed = True
            except TokenInvalid:
                signed = False
            prefix = next((p for p in ("/doc/", "/voice/") if parts.path.startswith(p)), None)
            if prefix is not None:  # a document (/voice/<token>: as the server's session URLs)
                with site.lock:
                    site.fetches[params.get("CallSid", "")] += 1
                    site.fetch_params.append(params)
                    if not signed:
                        site.bad_signatures.append(self.path)
                    xml = site.documents.get(parts.path[len(prefix) :])
                if site.on_fetch is not None:
                    site.on_fetch(params)
                if xml is None:
                    self._answer(404, b"no such document")
                else:
                    self._answer(200, xml, "application/xml")
                return
            if parts.path == "/cb":
                event_id = self.headers.get(EVENT_ID_HEADER, "")
                with site.lock:
                    site.tries[event_id] += 1
                    site.callbacks.append((event_id, params))
                    if not signed:
                        site.bad_signatures.append(self.path)
                    ok = site.tries[event_id] > site.fail_first
                    if ok:
                        site.accepted[event_id].append(params)
                self._answer(204 if ok else 500)
                return
            self._answer(404)

        do_GET = _handle
        do_POST = _handle

    return Handler


@contextmanager
def serve_site(secret: str, callback_secret: str, **kwargs: object) -> Iterator[Site]:
    """A :class:`Site` listening on a free 127.0.0.1 port, stopped afterwards."""
    site = Site(secret=secret, callback_secret=callback_secret, **kwargs)  # type: ignore[arg-type]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
