"""Helpers for the store tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from typing import Any

from support.clocks import Clock
from voiceapp.stores.base import Session


def make_session(clock: Clock, sid: str = "s1", ttl: float = 600, **extra: Any) -> Session:
    return Session(
        id=sid,
        app="pin",
        to="+14155550123",
        variables=extra.pop("variables", {"pin": "8970"}),
        language=extra.pop("language", "en"),
        created_at=clock.now,
        expires_at=clock.now + ttl,
    )
