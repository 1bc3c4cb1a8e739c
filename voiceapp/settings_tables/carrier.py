"""The ``[carrier]`` table of the deployment config: a Twilio-compatible carrier.

``[network] backend = "carrier"`` places every call through the carrier's REST API
(:mod:`voiceapp.dialer.carrier_backend`); this table says where that API is and which
account places the calls::

    [carrier]
    base_url = "https://api.twilio.com"     # or SignalWire's, Telnyx TeXML's, Somleng's
    account_sid = "AC0123..."
    auth_token = "..."                      # a secret: never shown or logged

Plain data in, typed and checked data out; errors are
:class:`~voiceapp.errors.ConfigError` ``config-carrier`` naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from voiceapp.settings_tables.key import Key

_KEYS: Final = frozenset({"base_url", "account_sid", "auth_token"})
#: An account sid as the Twilio-compatible carriers write it: letters, digits, ``-``, ``_``
#: (Twilio's ``AC`` + 32 hex; SignalWire's and Telnyx's are UUIDs).
_ACCOUNT: Final = re.compile(r"[A-Za-z0-9_-]{2,64}")


@dataclass(frozen=True, slots=True)
class CarrierConfig:
    """Where the carrier's API is, and the account placing calls through it."""

    base_url: str
    account_sid: str
    auth_token: str = field(repr=False)  # a secret: not in any repr

    @property
    def calls_url(self) -> str:
        """``{base_url}/2010-04-01/Accounts/{account_sid}/Calls``."""
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Calls"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, key: str = "carrier") -> CarrierConfig:
        """Validate plain data (from TOML); errors name the offending ``key`` path."""
        where = Key(key, "config-carrier")
        table = where.table(data, _KEYS)
        for name in sorted(_KEYS):
            if name not in table:
                raise (where / name).fail("is required")
            if not isinstance(table[name], str) or not table[name].strip():
                raise (where / name).fail("must be a non-empty string")
        base = table["base_url"].strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise (where / "base_url").fail(
                "must be an absolute http(s) URL such as https://api.twilio.com"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise (where / "base_url").fail("must not have a query, fragment or user info")
        account = table["account_sid"].strip()
        if _ACCOUNT.fullmatch(account) is None:
            raise (where / "account_sid").fail(
                "must be 2-64 letters, digits, '-' or '_' (the carrier's account sid)"
            )
        return cls(base_url=base, account_sid=account, auth_token=table["auth_token"])
