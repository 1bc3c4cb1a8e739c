"""The store interface: one contract, implemented by SQLite and Redis.

The store keeps what must survive the request that made it: sessions, the
single-use claims of tokens (with the document served to the claimer, so a
retrying dialer gets the same bytes), small counters (PIN attempts, rate-limit
windows) and idempotency records (the first response to an ``Idempotency-Key``).
Every method is safe to call from several threads and several processes.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Session:
    """A per-call session: which app runs, for whom, with what data."""

    id: str
    app: str
    to: str  # E.164 destination the session is bound to
    variables: dict[str, Any] = field(default_factory=dict)
    language: str = "en"
    created_at: float = 0.0
    expires_at: float = 0.0

    def to_json(self) -> str:
        """The session as the stores keep it: one JSON object of its fields.  Written
        field by field, not with ``dataclasses.asdict``, whose deep copy of ``variables``
        json.dumps does not need (a sixth of ``put_session``)."""
        fields = {
            "id": self.id,
            "app": self.app,
            "to": self.to,
            "variables": self.variables,
            "language": self.language,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Claim:
    """The record of the one fetch that took a single-use key."""

    owner: str  # the claimer's identity, e.g. the CallSid ("" when none was sent)
    body: bytes  # the document served to the claimer
    claimed_at: float  # store clock, seconds since the epoch


@dataclass(frozen=True)
class IdempotencyRecord:
    """What the store knows of an idempotency key: the request that took it and, once
    that request has been answered, its response."""

    fingerprint: str  # of the request that took the key (method, path, canonical body)
    owner: str  # a random token of that request: only it may finish or release the key
    done: bool  # False while the request is in flight
    status: int = 0  # the response, once done
    content_type: str = ""
    body: bytes = b""
    created_at: float = 0.0  # store clock: when the key was taken


class Store(abc.ABC):
    """What voiceapp needs from a store. See ``tests/stores`` for the contract."""

    @abc.abstractmethod
    def put_session(self, session: Session) -> None:
        """Save ``session`` until its ``expires_at``; replaces a session of the same id."""

    @abc.abstractmethod
    def get_session(self, session_id: str) -> Session | None:
        """The session, or None when unknown or expired."""

    @abc.abstractmethod
    def claim(self, key: str, owner: str, body: bytes, ttl: int) -> tuple[bool, Claim]:
        """Atomically take ``key`` for ``owner`` unless somebody already has.

        Returns ``(True, new_claim)`` for the one caller that took it and
        ``(False, existing_claim)`` for everybody else. The record lives ``ttl`` seconds.
        """

    @abc.abstractmethod
    def incr(self, key: str, ttl: int) -> int:
        """Add one to the counter ``key``; the new value.

        A new counter starts at 0 and expires ``ttl`` seconds after its first increment.
        """

    @abc.abstractmethod
    def begin_idempotent(
        self, key: str, fingerprint: str, owner: str, ttl: float
    ) -> IdempotencyRecord | None:
        """Atomically take ``key`` for a request in flight unless somebody has it.

        Returns None for the one caller that took it (the record lives ``ttl``
        seconds unless finished) and the existing record, in flight or done, for
        everybody else.  An expired record counts as absent.
        """

    @abc.abstractmethod
    def finish_idempotent(
        self, key: str, owner: str, status: int, content_type: str, body: bytes, ttl: float
    ) -> bool:
        """Store the response of the request ``owner`` that took ``key``, kept ``ttl``
        seconds from now; False (nothing written) unless ``owner`` holds it in flight."""

    @abc.abstractmethod
    def release_idempotent(self, key: str, owner: str) -> None:
        """Forget ``key`` if ``owner`` holds it in flight (its request failed; a retry runs)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""
