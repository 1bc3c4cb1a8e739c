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
    {"trunk", "username", "password", "from_domain", "local_host", "sip_ports", "rtp_ports"}
)
_TRUNK: Final = re.compile(r"sip:(?:[^@;]+@)?([A-Za-z0-9.\-]+)(?::(\d{1,5}))?(;[^?]*)?")
_DOMAIN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class SipConfig:
    trunk: str = "sip:127.0.0.1:5070"
    username: str = ""
    password: str = ""
    from_domain: str = ""
    local_host: str = "127.0.0.1"
    sip_ports: tuple[int, int] = (5080, 5089)
    rtp_ports: tuple[int, int] = (20000, 20999)

    def __repr__(self) -> str:  # the password never shows in a repr, a log or a trace
        return (
            f"SipConfig(trunk={self.trunk!r}, username={self.username!r}, "
            f"password={'***' if self.password else ''!r}, from_domain={self.from_domain!r}, "
            f"local_host={self.local_host!r}, sip_ports={self.sip_ports}, "
            f"rtp_ports={self.rtp_ports})"
        )

    @property
    def domain(self) -> str:
        return self.from_domain or self.local_host

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, key: str = "sip") -> SipConfig:
        where = Key(key, "config-sip")
        table = where.table({} if data is None else data, _KEYS)
        trunk = table.get("trunk", cls.trunk)
        if not isinstance(trunk, str) or _TRUNK.fullmatch(trunk) is None:
            raise (where / "trunk").fail("must be a sip: URI such as 'sip:127.0.0.1:5070'")
        port = _TRUNK.fullmatch(trunk)
        if port is not None and port.group(2) and not 0 < int(port.group(2)) < 65536:
            raise (where / "trunk").fail("port out of range")
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
        host = table.get("local_host", cls.local_host)
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
            sip_ports=_ports(table.get("sip_ports", list(cls.sip_ports)), where / "sip_ports"),
            rtp_ports=_ports(table.get("rtp_ports", list(cls.rtp_ports)), where / "rtp_ports"),
        )


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
