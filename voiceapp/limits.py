"""Request limits counted in the store: rate limits and idempotency keys.

Both live in the :class:`~voiceapp.stores.Store` (SQLite or Redis), so every
gunicorn worker and every machine on the same ``STORE_URL`` shares them.  Neither
stores an API key: a key is known only by :func:`key_digest` (SHA-256).

**Rate limits** (:class:`RateLimiter`) count in fixed windows: the window of a
:class:`~voiceapp.settings_tables.limits.RateLimit` ``N/period`` is
``floor(now / period)`` on the store clock, its counter is one
:meth:`~voiceapp.stores.Store.incr` (SQLite: one upsert; Redis: ``SET NX EX`` +
``INCR`` in one ``MULTI``), and request ``N + 1`` of a window gets
:class:`~voiceapp.errors.RateLimited` (429) with ``Retry-After`` the seconds left
in the window.  A fixed window lets a burst of up to ``2N`` straddle a window's end;
it costs one write and no read per request.

**Idempotency keys** (:class:`Idempotency`): the first request with a key takes
it (in flight, :data:`IN_FLIGHT_TTL`), and its response is stored for
``IDEMPOTENCY_TTL``; the same key with the same request (its
:func:`fingerprint`) gets that response again, with another request 422
``idempotency-key-reused``, and while the first is in flight 409
``idempotency-in-flight``.  Keys are scoped per API key.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from voiceapp.errors import ConflictError, HeaderError, RateLimited, ValidationError
from voiceapp.settings_tables.limits import RateLimit
from voiceapp.stores.base import Store

#: The request header naming an idempotency key.
HEADER: Final = "Idempotency-Key"
#: The header of a replayed response (``true``).
REPLAYED_HEADER: Final = "Idempotent-Replayed"
#: Seconds a key stays taken by a request that never finishes (its process was killed).
IN_FLIGHT_TTL: Final = 60.0
_KEY = re.compile(r"[A-Za-z0-9_.:~+/=-]{1,255}")


def key_digest(secret: str) -> str:
    """What the store knows of an API key (or any subject of a limit): a SHA-256 prefix."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:32]


# -- rate limits -------------------------------------------------------------------------------


class RateLimiter:
    """Fixed-window request counters in ``store`` (see the module docstring)."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def hit(
        self, limit: RateLimit | None, *, scope: str, subject: str, field: str, what: str
    ) -> None:
        """Count one request of ``subject`` under ``limit`` (None: no limit).

        Raises :class:`RateLimited` (``field`` names the limit; ``what`` says what is
        limited, for the message) once the window holds more than ``limit.count``.
        """
        if limit is None:
            return
        now = self.clock()
        window = math.floor(now / limit.period)
        key = f"rate:{scope}:{key_digest(subject)}:{window}"
        count = self.store.incr(key, math.ceil(limit.period) + 1)
        if count > limit.count:
            left = (window + 1) * limit.period - now
            retry = max(1, math.ceil(left))
            raise RateLimited(
                f"more than {limit.count} {what} in {limit.period:g} s; retry in {retry} s",
                retry_after=retry,
                field=field,
            )


# -- idempotency keys --------------------------------------------------------------------------


def check_key(value: str) -> str:
    """An ``Idempotency-Key`` value: 1-255 of ``A-Z a-z 0-9 _ . : ~ + / = -`` (a UUID fits);
    else :class:`HeaderError` (400) ``idempotency-key-invalid``."""
    if not _KEY.fullmatch(value):
        raise HeaderError(
            f"{HEADER} must be 1 to 255 letters, digits or _ . : ~ + / = - (e.g. a UUID)",
            code="idempotency-key-invalid",
            field=HEADER,
        )
    return value


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The identity of a request for its idempotency key: method, path, canonical body."""
    digest = hashlib.sha256()
    for part in (method.upper().encode("ascii"), path.encode("utf-8"), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class Ticket:
    """The key a request took: it finishes (stores its response) or releases it."""

    name: str  # the store's key
    owner: str


@dataclass(frozen=True)
class Replay:
    """The stored response to send again."""

    status: int
    content_type: str
    body: bytes


class Idempotency:
    """Idempotency keys in ``store``; responses kept ``ttl`` seconds."""

    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl

    def begin(self, api_key: str, key: str, request: str) -> Ticket | Replay:
        """Take ``key`` (checked, scoped to ``api_key``) for the request whose
        :func:`fingerprint` is ``request``; or the stored response to replay.

        Raises :class:`ValidationError` 422 ``idempotency-key-reused`` when the key
        was used for another request, :class:`ConflictError` 409
        ``idempotency-in-flight`` while the request that took it runs.
        """
        name = f"idem:{key_digest(api_key)}:{check_key(key)}"
        owner = secrets.token_hex(8)
        record = self.store.begin_idempotent(name, request, owner, IN_FLIGHT_TTL)
        if record is None:
            return Ticket(name, owner)
        if record.fingerprint != request:
            raise ValidationError(
                f"this {HEADER} was used for another request (method, path or body); "
                "use a new key for a new request",
                code="idempotency-key-reused",
                field=HEADER,
            )
        if not record.done:
            raise ConflictError(
                f"a request with this {HEADER} is still being processed; retry later",
                code="idempotency-in-flight",
                field=HEADER,
            )
        return Replay(record.status, record.content_type, record.body)

    def finish(self, ticket: Ticket, status: int, content_type: str, body: bytes) -> bool:
        """Store the response of the request that holds ``ticket``; False if it lost it."""
        return self.store.finish_idempotent(
            ticket.name, ticket.owner, status, content_type, body, self.ttl
        )

    def release(self, ticket: Ticket) -> None:
        """Forget the key (the request failed on the server's side): a retry runs anew."""
        self.store.release_idempotent(ticket.name, ticket.owner)
