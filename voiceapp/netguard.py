"""Where outbound requests may go: one address policy for the web and the dialer.

Everything that leaves the server (a document fetch, a redirect, an action, a
status callback) goes to a destination this module allows.  The web layer asks
at the edge (``voiceapp.web.calls.check_url``, when a call is created); the
dialer's HTTP client (``voiceapp.dialer.fetch``) asks again when it connects,
for every request, about the very address it connects to.

* :func:`refusal` — why an IP address is not a public destination, or ``None``.
  IPv6 addresses that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
  IPv4-translated ``::ffff:0:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
  ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo ``2001::/32`` with its server and
  client addresses) are refused when the IPv4 address inside is.  Refused: every
  range that is not globally routable unicast (loopback, private, shared
  100.64/10, link-local, unique local, site-local, multicast, reserved,
  unspecified, broadcast, benchmarking, documentation, discard-only,
  local-use NAT64 ``64:ff9b:1::/48``, ...), as :data:`REFUSED` lists them, and
  anything else :attr:`ipaddress.IPv4Address.is_global` says is not global.
* :class:`Allowlist` — the deployment's exceptions (``URL_ALLOWLIST``): an entry
  ``host:port`` allows a URL whose host is ``host`` (a name or an address,
  compared as written in the URL, case-insensitive) and whose port is ``port``.
  An allowed name may resolve to any address; the connection still goes only to
  the addresses resolved (and checked) for that request.
* :class:`Guard` — resolves a host once (:func:`system_resolve`, or an injected
  resolver) and returns the addresses a request may connect to, or raises
  :class:`~voiceapp.errors.OutboundBlocked` (``fetch-blocked``).

IPv4 forms such as ``2130706433``, ``0x7f.1``, ``0177.0.0.1`` or ``127.1`` are
names to :mod:`ipaddress`; the resolver (``getaddrinfo``, as the socket would)
turns them into the normalised address, and that address is what is checked.

No Flask, no HTTP: plain data and ``socket.getaddrinfo``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from voiceapp.errors import OutboundBlocked

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: ``resolver(host, port) -> addresses`` (text, normalised); empty when the name
#: does not resolve.
Resolver = Callable[[str, int], list[str]]


def _nets(
    *pairs: tuple[str, str],
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in pairs)


#: Ranges refused by name (the reason is part of the error message; the first
#: match names it, so a range comes before any range containing it); anything else
#: that is not ``is_global`` is refused too.
REFUSED: Final = _nets(
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6)"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the name of the form."""
    out: list[tuple[str, ipaddress.IPv4Address]] = []
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _MAPPED:
        out.append(("IPv4-mapped", low))
    elif ip in _TRANSLATED:
        out.append(("IPv4-translated", low))
    elif ip in _COMPATIBLE:
        out.append(("IPv4-compatible", low))
    elif ip in _NAT64:
        out.append(("NAT64", low))
    elif ip in _SIXTOFOUR:
        assert ip.sixtofour is not None
        out.append(("6to4", ip.sixtofour))
    elif ip in _TEREDO:
        assert ip.teredo is not None
        server, client = ip.teredo
        out += [("Teredo server", server), ("Teredo client", client)]
    return out


def _parse(address: str) -> IPAddress:
    return ipaddress.ip_address(address.split("%", 1)[0].strip("[]"))


def _reason(ip: IPAddress) -> str | None:
    for net, why in REFUSED:
        if ip.version == net.version and ip in net:
            return why
    if not ip.is_global or ip.is_multicast:
        return "not globally routable"
    return None


def refusal(address: str) -> str | None:
    """Why ``address`` (an IP address as text) is not a public destination; None if it is.

    Raises ``ValueError`` when ``address`` is not an IP address.
    """
    ip = _parse(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip == ipaddress.IPv6Address("::"):
            return "unspecified"
        if ip == ipaddress.IPv6Address("::1"):
            return "loopback"
        for form, inner in embedded_ipv4(ip):
            why = _reason(inner)
            if why is not None:
                return f"{form} address of {inner}, {why}"
    return _reason(ip)


def normalise_host(host: str) -> str:
    """A URL host as compared with allow-list entries: lower case, no brackets, and an
    IPv6 address in its compressed form (an IPv4 address is kept as written)."""
    host = host.strip().lower().strip("[]").rstrip(".")
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host.split("%", 1)[0]))
        except ValueError:
            return host
    return host


@dataclass(frozen=True)
class Allowlist:
    """``host:port`` entries (the ``URL_ALLOWLIST`` setting's form) a URL may use though
    its host is not public."""

    entries: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        out = set()
        for entry in entries:
            host, sep, port = entry.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{entry!r} is not host:port (e.g. 127.0.0.1:8000)")
            out.add((normalise_host(host), int(port)))
        return cls(frozenset(out))

    def allows(self, host: str, port: int) -> bool:
        """Whether a URL naming ``host`` (as written) and ``port`` is allowed."""
        return (normalise_host(host), port) in self.entries

    def __bool__(self) -> bool:
        return bool(self.entries)


def system_resolve(host: str, port: int) -> list[str]:
    """``host``'s addresses as the socket would connect to them (``getaddrinfo``, TCP),
    normalised and in the resolver's order; empty when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    out: list[str] = []
    for info in infos:
        address = str(_parse(str(info[4][0])))
        if info[0] == socket.AF_INET6 and len(info[4]) >= 4 and info[4][3]:
            address += f"%{info[4][3]}"  # the scope of a link-local address
        if address not in out:
            out.append(address)
    return out


@dataclass(frozen=True)
class Guard:
    """The connect-time check: resolve once, check every address, say where to connect.

    ``allowlist``: the deployment's exceptions; ``resolve``: the resolver (tests
    inject one that answers as a rebinding DNS server would).
    """

    allowlist: Allowlist = field(default_factory=Allowlist)
    resolve: Resolver = system_resolve

    def allowed(self, host: str, port: int) -> bool:
        return self.allowlist.allows(host, port)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses a request to ``host:port`` may connect to (at least one).

        Raises :class:`OutboundBlocked` when one of them is not public and the
        host is not allowed; returns ``[]`` when the name does not resolve.
        """
        addresses = self.resolve(host.strip("[]"), port)
        if self.allowed(host, port):
            return addresses
        for address in addresses:
            self.check_address(host, port, address)
        return addresses

    def check_address(self, host: str, port: int, address: str) -> None:
        """Raise :class:`OutboundBlocked` unless ``address`` is public or the host is
        allowed (also used on the socket's peer address once connected)."""
        if self.allowed(host, port):
            return
        try:
            why = refusal(address)
        except ValueError:
            why = "not an IP address"
        if why is not None:
            raise OutboundBlocked(
                f"{_show(host)}:{port} resolves to {address}, which is not a public address"
                f" ({why}); a deployment may allow it in URL_ALLOWLIST",
                host=host,
                port=port,
                address=address,
            )


def _show(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
