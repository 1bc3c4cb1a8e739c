"""The outbound address policy (voiceapp.netguard), at creation and at connect time.

Every URL of :data:`REFUSED_URLS` is refused by ``check_url`` (when a call is
created) and by the dialer's ``HttpClient`` (when it connects).  Nothing here
sends a packet anywhere but 127.0.0.1: the URLs that name loopback point at a real
listener that must see no connection, and :func:`loopback_only` makes any attempt
to connect elsewhere fail the test instead of leaving the machine.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from support.net import serving

import voiceapp.dialer.fetch as fetch_module
from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer.callbacks import CallbackRequest, Deliverer
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.fetch import HttpClient
from voiceapp.errors import FetchError, OutboundBlocked, ValidationError
from voiceapp.netguard import Allowlist, Guard, refusal, system_resolve
from voiceapp.web.calls import check_url

PUBLIC = "93.184.215.14"  # a public address: only ever resolved to, never connected to


class Listener:
    """A listening socket on 127.0.0.1 that accepts nothing: a connection would wait in
    its backlog, where :meth:`connections_waiting` sees it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]

    def connections_waiting(self) -> bool:
        readable, _, _ = select.select([self.sock], [], [], 0.1)
        return bool(readable)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    trap = Listener()
    yield trap
    trap.close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Connections the client makes: any to an address that is not loopback fails the
    test before a packet leaves (a safety net; the tests assert the client refuses)."""
    made: list[tuple[str, int]] = []
    real = fetch_module.create_connection

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address
        if host not in ("127.0.0.1", "::1"):
            raise AssertionError(f"the test tried to connect to {host}:{port}")
        made.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(fetch_module, "create_connection", guarded)
    return made


# (URL with {port}, what the refusal says)
REFUSED_URLS = [
    # IPv4 loopback in every spelling the resolver accepts
    ("http://127.0.0.1:{port}/x", "loopback"),
    ("http://2130706433:{port}/x", "loopback"),
    ("http://0x7f000001:{port}/x", "loopback"),
    ("http://0x7f.1:{port}/x", "loopback"),
    ("http://0177.0.0.1:{port}/x", "loopback"),
    ("http://127.1:{port}/x", "loopback"),
    ("http://127.0.0.2:{port}/x", "loopback"),
    ("http://localhost:{port}/x", "loopback"),
    # private and special IPv4 ranges
    ("http://10.0.0.1:{port}/x", "private"),
    ("http://172.16.5.4:{port}/x", "private"),
    ("http://192.168.1.1:{port}/x", "private"),
    ("http://169.254.169.254:{port}/latest/meta-data/", "link-local"),
    ("http://100.64.0.1:{port}/x", "CGNAT"),
    ("http://0.0.0.0:{port}/x", "this network"),
    ("http://192.0.0.9:{port}/x", "IETF protocol assignments"),
    ("http://192.0.2.1:{port}/x", "documentation"),
    ("http://198.51.100.7:{port}/x", "documentation"),
    ("http://203.0.113.7:{port}/x", "documentation"),
    ("http://198.18.0.1:{port}/x", "benchmarking"),
    ("http://224.0.0.1:{port}/x", "multicast"),
    ("http://240.0.0.1:{port}/x", "reserved"),
    ("http://255.255.255.255:{port}/x", "broadcast"),
    # IPv6 loopback, unspecified, ULA, link-local, site-local, multicast, documentation
    ("http://[::1]:{port}/x", "loopback"),
    ("http://[0:0:0:0:0:0:0:1]:{port}/x", "loopback"),
    ("http://[::]:{port}/x", "unspecified"),
    ("http://[fc00::1]:{port}/x", "unique local"),
    ("http://[fd12:3456::1]:{port}/x", "unique local"),
    ("http://[fe80::1]:{port}/x", "link-local"),
    ("http://[fec0::1]:{port}/x", "site-local"),
    ("http://[ff02::1]:{port}/x", "multicast"),
    ("http://[2001:db8::1]:{port}/x", "documentation"),
    ("http://[100::1]:{port}/x", "discard-only"),
    # IPv6 forms that carry an IPv4 address
    ("http://[::ffff:127.0.0.1]:{port}/x", "IPv4-mapped address of 127.0.0.1"),
    ("http://[::ffff:7f00:1]:{port}/x", "IPv4-mapped address of 127.0.0.1"),
    ("http://[::ffff:169.254.169.254]:{port}/x", "IPv4-mapped address of 169.254.169.254"),
    ("http://[::ffff:0:7f00:1]:{port}/x", "IPv4-translated address of 127.0.0.1"),
    ("http://[::127.0.0.1]:{port}/x", "IPv4-compatible address of 127.0.0.1"),
    ("http://[::a00:1]:{port}/x", "IPv4-compatible address of 10.0.0.1"),
    ("http://[64:ff9b::7f00:1]:{port}/x", "NAT64 address of 127.0.0.1"),
    ("http://[64:ff9b::a9fe:a9fe]:{port}/x", "NAT64 address of 169.254.169.254"),
    ("http://[64:ff9b:1::7f00:1]:{port}/x", "local-use NAT64"),
    ("http://[2002:7f00:1::]:{port}/x", "6to4 address of 127.0.0.1"),
    ("http://[2002:c0a8:101::1]:{port}/x", "6to4 address of 192.168.1.1"),
    # Teredo: server 127.0.0.1; client 127.0.0.1 (stored xor 0xffffffff)
    ("http://[2001:0:7f00:1::1]:{port}/x", "Teredo server address of 127.0.0.1"),
    ("http://[2001:0:808:808::80ff:fffe]:{port}/x", "Teredo client address of 127.0.0.1"),
    # https goes through the same check (before any TLS)
    ("https://[64:ff9b::7f00:1]:{port}/x", "NAT64 address of 127.0.0.1"),
    ("https://127.1:{port}/x", "loopback"),
]


@pytest.mark.parametrize(("template", "reason"), REFUSED_URLS)
def test_refused_when_the_call_is_created(template: str, reason: str) -> None:
    url = template.format(port=8000)
    with pytest.raises(ValidationError) as info:
        check_url(url, field="url")
    assert info.value.code == "url-not-public"
    assert info.value.field == "url"
    assert reason in info.value.message


@pytest.mark.parametrize(("template", "reason"), REFUSED_URLS)
def test_refused_when_the_dialer_connects(
    template: str, reason: str, listener: Listener, loopback_only: list[tuple[str, int]]
) -> None:
    url = template.format(port=listener.port)
    with pytest.raises(FetchError) as info:
        HttpClient(connect_retries=0).fetch("POST", url, [("CallSid", "CA1")])
    assert info.value.code == "fetch-blocked"
    assert reason in info.value.message
    assert "/x" not in info.value.message and "meta-data" not in info.value.message
    assert loopback_only == []  # refused before any connection
    assert not listener.connections_waiting()


@pytest.mark.parametrize(("template", "reason"), REFUSED_URLS)
def test_a_callback_to_a_refused_destination_fails_at_once(
    template: str, reason: str, listener: Listener, loopback_only: list[tuple[str, int]]
) -> None:
    clock = VirtualClock()
    deliverer = Deliverer(clock, HttpClient().send_callback)
    sub = Subscription(url=template.format(port=listener.port))
    delivery = deliverer.submit(
        event_id="CA1:completed", key="CA1", subscription=sub, params=[("CallStatus", "busy")]
    )
    clock.run_until_idle()
    assert delivery.state == "failed"
    assert len(delivery.attempts) == 1  # not retried: it would be refused again
    error = delivery.attempts[0].error or ""
    assert error.startswith("fetch-blocked: ") and reason in error
    assert loopback_only == [] and not listener.connections_waiting()


@pytest.mark.parametrize(
    "address",
    [
        PUBLIC,
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",  # IPv4-mapped public
        "64:ff9b::808:808",  # NAT64 of a public address
        "2002:808:808::1",  # 6to4 of a public address
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None


# -- DNS rebinding: public at creation, loopback when dialed -----------------------------------


class Rebinding:
    """A resolver that answers as a rebinding DNS server: ``first``, then ``then``."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [first, then]
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return [self.answers[min(len(self.asked), len(self.answers)) - 1]]


def test_rebinding_name_is_refused_at_connect(
    listener: Listener, loopback_only: list[tuple[str, int]]
) -> None:
    url = f"http://rebind.example:{listener.port}/voice"
    resolve = Rebinding(PUBLIC, "127.0.0.1")
    assert check_url(url, field="url", resolve=resolve) == url  # public at creation
    client = HttpClient(guard=Guard(resolve=resolve), connect_retries=0)
    with pytest.raises(FetchError) as info:
        client.fetch("POST", url, [("CallSid", "CA1")])
    assert info.value.code == "fetch-blocked"
    assert "resolves to 127.0.0.1" in info.value.message
    assert resolve.asked == [("rebind.example", listener.port)] * 2  # once each: no re-resolve
    assert loopback_only == [] and not listener.connections_waiting()


def test_rebinding_callback_is_not_delivered(
    listener: Listener, loopback_only: list[tuple[str, int]]
) -> None:
    url = f"http://rebind.example:{listener.port}/status"
    resolve = Rebinding(PUBLIC, "127.0.0.1")
    check_url(url, field="statusCallback", resolve=resolve)
    client = HttpClient(guard=Guard(resolve=resolve))
    request = CallbackRequest("CA1:completed", "POST", url, (("CallStatus", "completed"),), {})
    with pytest.raises(OutboundBlocked) as info:
        client.send_callback(request)
    assert info.value.code == "fetch-blocked" and info.value.address == "127.0.0.1"
    assert loopback_only == [] and not listener.connections_waiting()


def test_any_refused_address_of_a_name_refuses_it(listener: Listener) -> None:
    # a name with a public and a loopback address: the socket could pick either
    guard = Guard(resolve=lambda host, port: [PUBLIC, "127.0.0.1"])
    with pytest.raises(FetchError) as info:
        HttpClient(guard=guard).fetch("GET", f"http://both.example:{listener.port}/", [])
    assert info.value.code == "fetch-blocked"
    assert not listener.connections_waiting()


# -- what an allow-list entry allows, and pinning ---------------------------------------------


@pytest.fixture
def site() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """An HTTP server on 127.0.0.1 answering 200 ``<Response/>``; the requests' headers."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append(dict(self.headers.items()))
            body = b"<Response/>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as port:
        yield port, seen


def test_an_allowed_name_connects_to_the_address_resolved_for_the_request(
    site: tuple[int, list[dict[str, str]]], loopback_only: list[tuple[str, int]]
) -> None:
    port, seen = site
    resolve = Rebinding("127.0.0.1", "127.0.0.1")
    guard = Guard(Allowlist.parse([f"voice.test:{port}"]), resolve=resolve)
    url = f"http://voice.test:{port}/doc"
    assert HttpClient(guard=guard).fetch("POST", url, []) == b"<Response/>"
    # the socket went to the address the guard resolved (voice.test has no DNS record),
    # and the request still names the URL's host
    assert loopback_only == [("127.0.0.1", port)]
    assert seen[0]["Host"] == f"voice.test:{port}"


@pytest.mark.parametrize(
    ("entries", "url", "allowed"),
    [
        (["127.0.0.1:8000"], "http://127.0.0.1:8000/x", True),
        (["127.0.0.1:8000"], "http://127.0.0.1:8001/x", False),  # another port
        (["127.0.0.1:8000"], "http://2130706433:8000/x", False),  # another spelling
        (["127.0.0.1:8000"], "http://localhost:8000/x", False),  # a name is not its address
        (["localhost:5000"], "http://LOCALHOST:5000/x", True),
        (["[::1]:8000"], "http://[0:0::1]:8000/x", True),  # IPv6 compared as addresses
        (["127.0.0.1:80"], "http://127.0.0.1/x", True),  # the scheme's port
    ],
)
def test_allowlist_entries_match_the_urls_host_and_port(
    entries: list[str], url: str, allowed: bool
) -> None:
    if allowed:
        assert check_url(url, field="url", allowlist=tuple(entries)) == url
    else:
        with pytest.raises(ValidationError) as info:
            check_url(url, field="url", allowlist=tuple(entries))
        assert info.value.code == "url-not-public"


def test_the_system_resolver_normalises_ipv4_forms() -> None:
    forms = ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001"]
    for form in forms:
        assert system_resolve(form, 80) == ["127.0.0.1"], form


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "/relative"])
def test_other_schemes_are_not_requested(url: str, loopback_only: list[tuple[str, int]]) -> None:
    with pytest.raises(FetchError) as info:
        HttpClient().fetch("GET", url, [])
    assert info.value.code == "fetch-blocked"
    assert loopback_only == []


def test_a_proxy_is_never_used(
    listener: Listener, monkeypatch: pytest.MonkeyPatch, loopback_only: list[tuple[str, int]]
) -> None:
    # the environment's proxy is ignored: the request is checked (and refused) as itself
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{listener.port}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{listener.port}")
    guard = Guard(resolve=lambda host, port: ["10.1.2.3"])
    with pytest.raises(FetchError) as info:
        HttpClient(guard=guard).fetch("GET", "http://internal.example/", [])
    assert info.value.code == "fetch-blocked" and "10.1.2.3" in info.value.message
    # and so is a proxy set on the session
    client = HttpClient(guard=guard)
    client.session.proxies = {"http": f"http://127.0.0.1:{listener.port}"}
    with pytest.raises(FetchError) as info:
        client.fetch("GET", "http://internal.example/", [])
    assert info.value.code == "fetch-blocked" and "10.1.2.3" in info.value.message
    assert loopback_only == [] and not listener.connections_waiting()


def test_the_connected_peer_must_be_the_checked_address(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    # something between the dialer and the network (a NAT rule, a hijacked route) lands
    # the socket on 127.0.0.1 although the guard checked a public address: the peer
    # check closes it before a byte is sent
    landed: list[tuple[str, int]] = []
    real = socket.create_connection

    def misrouted(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        assert address == (PUBLIC, listener.port)  # what the guard allowed
        landed.append(address)
        return real(("127.0.0.1", listener.port), timeout=2)

    monkeypatch.setattr(fetch_module, "create_connection", misrouted)
    client = HttpClient(guard=Guard(resolve=lambda host, port: [PUBLIC]), connect_retries=0)
    with pytest.raises(FetchError) as info:
        client.fetch("GET", f"http://pub.test:{listener.port}/", [])
    assert info.value.code == "fetch-blocked"
    assert f"connected to 127.0.0.1, not to the checked {PUBLIC}" in info.value.message
    assert landed == [(PUBLIC, listener.port)]
    conn, _ = listener.sock.accept()
    with conn:
        conn.settimeout(2)
        assert conn.recv(1024) == b""  # closed without a request
