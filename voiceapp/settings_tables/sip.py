"""The ``[sip]`` table of the deployment config: where the SIP backend places calls.

Used when ``[network] backend = "sip"`` (see docs/sip.md)::

    [sip]
    trunk = "sip:127.0.0.1:5070"      # the trunk, PBX or proxy every INVITE goes to
    username = "alice"                # optional digest credentials (401/407)
    password = "..."                  # a secret: never logged or shown
    from_domain = "voiceapp.example"  # host part of the From URI (default: local_host)
    local_host = "127.0.0.1"          # the address SIP and RTP bind and advertise
    sip_ports = [5080, 5089]          # the SIP socket binds the first free one
    rtp_ports = [20000, 20999]        # each call leg's RTP port (even) comes from here
    [sip.routes]                      # optional: numbers sent elsewhere than the trunk
    "+18005797676" = "sip:127.0.0.1:5072"

Every error is a :class:`~voiceapp.errors.ConfigError` ``config-sip`` naming the key.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from voiceapp.settings_tables.key import Key

_KEYS: Final = frozenset(
    {
        "trunk",
        "username",
        "password",
        "from_domain",
        "local_host",
        "sip_ports",
        "rtp_ports",
        "routes",
    }
)
_TRUNK: Final = re.compile(r"sip:(?:[^@;]+@)?([A-Za-z0-9.\-]+)(?::(\d{1,5}))?(;[^?]*)?")
_NUMBER: Final = re.compile(r"\+\d{2,15}")
_DOMAIN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?")


_DEFAULT_TRUNK: Final = "sip:127.0.0.1:5070"
_DEFAULT_HOST: Final = "127.0.0.1"
_DEFAULT_SIP_PORTS: Final = (5080, 5089)
_DEFAULT_RTP_PORTS: Final = (20000, 20999)


@dataclass(frozen=True, slots=True)
class SipConfig:
    trunk: str = _DEFAULT_TRUNK
    username: str = ""
    password: str = ""
    from_domain: str = ""
    local_host: str = _DEFAULT_HOST
    sip_ports: tuple[int, int] = _DEFAULT_SIP_PORTS
    rtp_ports: tuple[int, int] = _DEFAULT_RTP_PORTS
    #: (E.164 number, sip: URI) pairs: where a number goes instead of the trunk
    routes: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # the password never shows in a repr, a log or a trace
        return (
            f"SipConfig(trunk={self.trunk!r}, username={self.username!r}, "
            f"password={'***' if self.password else ''!r}, from_domain={self.from_domain!r}, "
            f"local_host={self.local_host!r}, sip_ports={self.sip_ports}, "
            f"rtp_ports={self.rtp_ports}, routes={self.routes})"
        )

    @property
    def domain(self) -> str:
        return self.from_domain or self.local_host

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, key: str = "sip") -> SipConfig:
        where = Key(key, "config-sip")
        table = where.table({} if data is None else data, _KEYS)
        trunk = _sip_uri(table.get("trunk", _DEFAULT_TRUNK), where / "trunk")
        routes = []
        for number, uri in (where / "routes").table(table.get("routes", {})).items():
            at = (where / "routes").quoted(number)
            if _NUMBER.fullmatch(number) is None:
                raise at.fail("must be '+' and 2 to 15 digits")
            routes.append((number, _sip_uri(uri, at)))
        strings = {}
        for name in ("username", "password", "from_domain"):
            value = table.get(name, "")
            if not isinstance(value, str):
                raise (where / name).fail("must be a string")
            strings[name] = value
        if bool(strings["username"]) != bool(strings["password"]):
            raise (where / "password").fail("username and password go together")
        if strings["from_domain"] and _DOMAIN.fullmatch(strings["from_domain"]) is None:
            raise (where / "from_domain").fail("must be a host name")
        host = table.get("local_host", _DEFAULT_HOST)
        try:
            ipaddress.IPv4Address(host)
        except (ipaddress.AddressValueError, TypeError):
            raise (where / "local_host").fail("must be an IPv4 address") from None
        return cls(
            trunk=trunk,
            username=strings["username"],
            password=strings["password"],
            from_domain=strings["from_domain"],
            local_host=host,
            sip_ports=_ports(table.get("sip_ports", list(_DEFAULT_SIP_PORTS)), where / "sip_ports"),
            rtp_ports=_ports(table.get("rtp_ports", list(_DEFAULT_RTP_PORTS)), where / "rtp_ports"),
            routes=tuple(routes),
        )

    def route(self, number: str) -> str:
        """The URI a call to ``number`` goes to: its route, else the trunk."""
        return dict(self.routes).get(number, self.trunk)


def _sip_uri(value: Any, key: Key) -> str:
    match = _TRUNK.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise key.fail("must be a sip: URI such as 'sip:127.0.0.1:5070'")
    if match.group(2) and not 0 < int(match.group(2)) < 65536:
        raise key.fail("port out of range")
    return str(value)


def _ports(value: Any, key: Key) -> tuple[int, int]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(p, int) and not isinstance(p, bool) for p in value)
    ):
        raise key.fail("must be [first, last], two port numbers")
    first, last = value
    if not 1024 <= first <= last <= 65535:
        raise key.fail("must satisfy 1024 <= first <= last <= 65535")
    return first, last
