"""Helpers for the store tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import socket
from typing import Any

from clocks import Clock

from voiceapp.stores.base import Session


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
