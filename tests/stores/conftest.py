"""Store fixtures: every store test runs against SQLite and against a real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.stores import Clock

from voiceapp.sessions import Sessions
from voiceapp.stores import open_store
from voiceapp.stores.base import Store
from voiceapp.tokens import Signer


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL of each kind (Redis keys live under a unique prefix)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    redis_url: str = request.getfixturevalue("redis_server")
    return f"{redis_url}?prefix=t{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[..., Store]]:
    """Open (possibly several) stores on ``store_url``; all are closed after the test."""
    opened: list[Store] = []

    def make(clock: Callable[[], float] | None = None) -> Store:
        store = open_store(store_url) if clock is None else open_store(store_url, clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Store], clock: Clock) -> Store:
    """A store on the controlled clock."""
    return make_store(clock)


@pytest.fixture
def sessions(store: Store, clock: Clock) -> Sessions:
    """The session service on the controlled clock, keys rotated ["old", "new"]."""
    return Sessions(store, Signer(["old", "new"], clock=clock), clock=clock)
