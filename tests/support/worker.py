"""The dialer worker tests' deployment: its numbers, secrets, simulated network and
the settings, specs and dialers built from them (test_worker, test_worker_trace)."""

from __future__ import annotations

from typing import Any

from support.sites import Site
from voiceapp.calls.records import CallSpec
from voiceapp.config import Settings, load_settings
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.worker import Dialer
from voiceapp.stores.calls.base import CallStore

SECRETS = ["old-token-key-0001", "new-token-key-0002"]  # tokens only: they sign no request
FETCH_SECRETS = ["old-fetch-key-0001", "new-fetch-key-0002"]
CALLBACK_SECRETS = ["old-callback-key-0001", "new-callback-key-0002"]
CALLER = "+19499300360"
PIN_CALLEE = "+886912345678"
BUSY = "+886223456789"
SILENT = "+886223456788"
BROKEN = "+886223456787"
SLOW = "+886223456786"
ALL_EVENTS = ("initiated", "ringing", "answered", "completed")
NETWORK = {
    "numbers": {
        PIN_CALLEE: {"rings": 2},
        BUSY: {"outcome": "busy", "rings": 1},
        SILENT: {"outcome": "no-answer"},
        BROKEN: {"outcome": "fail"},
        SLOW: {"rings": 10},
        CALLER: {"rings": 1, "hangup_after": 5},
    }
}


def make_settings(allow: Site | None = None, **extra: Any) -> Settings:
    """The worker's settings; ``allow``: a site whose 127.0.0.1 port the dialer may use."""
    overrides: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEYS": SECRETS,
        "SIGNATURE_SECRETS": FETCH_SECRETS,
        "CALLBACK_SECRETS": CALLBACK_SECRETS,
        "NETWORK": NETWORK,
        "CALLBACK_RETRY": {"attempts": 5, "first_delay": 1.0, "factor": 2.0, "max_delay": 10.0},
        "DIALER_LEASE": 5,
    }
    if allow is not None:
        overrides["URL_ALLOWLIST"] = [allow.base.removeprefix("http://")]
    overrides.update(extra)
    settings, _ = load_settings(environ={}, overrides=overrides)
    return settings


def spec(sid: str, to: str, site: Site, *, url: str | None = "/doc/pin", **kw: Any) -> CallSpec:
    fields: dict[str, Any] = {
        "status_callback": site.url("/cb"),
        "status_callback_events": ALL_EVENTS,
        "secret_key": "k-123",
        "optional": "token=123456",
    }
    fields.update(kw)
    return CallSpec(
        sid=sid, from_=CALLER, to=to, url=None if url is None else site.url(url), **fields
    )


def new_dialer(store: CallStore, site: Site, **extra: Any) -> Dialer:
    return Dialer(make_settings(site, **extra), store, clock=VirtualClock(), worker_id="w-test")


def history(store: CallStore, sid: str, leg: str | None = None) -> list[str]:
    record = store.require(sid)
    legs = {leg_.sid: leg_ for leg_ in record.legs}
    return [c.status for c in legs[leg or sid].history]
