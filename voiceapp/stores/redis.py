"""The shared store: Redis, for several worker processes or machines.

Keys (all under a prefix, ``voiceapp:`` by default, set with ``?prefix=`` in the URL):

``<prefix>session:<id>``
    the session as JSON, ``SET ... EX`` until it expires;
``<prefix>claim:<key>``
    a claim record, written by exactly one ``SET key value NX EX ttl``: a JSON header
    line (owner, claimed_at), a newline, then the document bytes.  With Redis 7 the
    SET also carries ``GET``, so a loser reads the winner's record in the same round
    trip; older servers get a second command (``GET``);
``<prefix>count:<key>``
    a counter: ``SET key 0 NX EX ttl`` then ``INCR`` in one MULTI/EXEC;
``<prefix>idem:<key>``
    an idempotency record, ``PX`` its ttl: a hash of ``state`` (``F`` in flight, ``D``
    done), ``owner``, ``fp`` (the request's fingerprint), ``at`` (created_at), and the
    response's ``status``, ``ct`` (content type) and ``body``.  Begin, finish and release
    are commands of one Lua script, ``idempotency.lua`` (atomic: the holder's check and
    the write).

Expiry is done by Redis itself (real time).  Reads of sessions also compare
``expires_at`` with the store clock, so a controlled clock in tests is obeyed.

Every command goes through the client (its connection pool, its retry policy), but for
the two of a voice fetch (``GET`` of the session, then the claim's ``SET``): they cannot
share one round trip (the document is rendered from the session between them, and the
claim stores that document), so each is made as cheap as redis-py allows, on a
connection the thread keeps (:class:`_Pinned`, with its figure).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.connection import Connection, ConnectionPool

from voiceapp.errors import ConfigError, StoreError
from voiceapp.stores.base import Claim, IdempotencyRecord, Session, Store

_IDEMPOTENCY = resources.files(__package__).joinpath("idempotency.lua").read_text(encoding="utf-8")


class RedisStore(Store):
    """Sessions, claims and counters in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        clock: Callable[[], float] = time.time,
        prefix: str = "voiceapp:",
    ) -> None:
        self.client = client
        self.clock = clock
        self.prefix = prefix
        #: False once the server refused ``SET ... NX GET`` (Redis < 7): two commands then
        self._set_nx_get = True
        self._idempotency = client.register_script(_IDEMPOTENCY)
        self._pinned = _Pinned(client.connection_pool)

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], float] = time.time) -> RedisStore:
        """``redis://[:password@]host:port/db[?prefix=name:]`` (also ``rediss://``, ``unix://``)."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefix = "voiceapp:"
        rest = []
        for name, value in query:
            if name == "prefix":
                prefix = value
            else:
                rest.append((name, value))
        plain = urlunsplit(parts._replace(query=urlencode(rest)))
        try:
            client = redis.Redis.from_url(
                plain, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"STORE_URL {url!r} is not a usable Redis URL: {exc}",
                code="config-store-url",
                field="STORE_URL",
            ) from exc
        return cls(client, clock=clock, prefix=prefix)

    def __repr__(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return f"RedisStore({where}/{kwargs.get('db', 0)}, prefix={self.prefix!r})"

    @contextmanager
    def _errors(self, what: str) -> Iterator[redis.Redis]:
        try:
            yield self.client
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {what} failed: {exc}", code="store-unavailable") from exc

    def close(self) -> None:
        self._pinned.close()
        self.client.close()

    def ping(self) -> bool:
        with self._errors("ping") as client:
            return bool(client.ping())

    # -- the Store contract --------------------------------------------------------------

    def put_session(self, session: Session) -> None:
        key = f"{self.prefix}session:{session.id}"
        ttl = math.ceil(session.expires_at - self.clock())
        with self._errors("put_session") as client:
            if ttl <= 0:
                client.delete(key)
                return
            data = session.to_json()
            client.set(key, data.encode("utf-8"), ex=ttl)

    def get_session(self, session_id: str) -> Session | None:
        with self._errors("get_session"):
            raw = cast(
                "bytes | None", self._pinned.command("GET", f"{self.prefix}session:{session_id}")
            )
        if raw is None:
            return None
        fields: dict[str, Any] = json.loads(raw)
        session = Session(**fields)
        if self.clock() >= session.expires_at:
            return None
        return session

    def claim(self, key: str, owner: str, body: bytes, ttl: int) -> tuple[bool, Claim]:
        name = f"{self.prefix}claim:{key}"
        with self._errors("claim"):
            # Bounded: another round only if the winner's record expired between our
            # SET NX and our GET (old Redis, without SET ... NX GET).
            for _ in range(3):
                now = self.clock()
                header = json.dumps({"owner": owner, "claimed_at": now}, separators=(",", ":"))
                value = header.encode("utf-8") + b"\n" + body
                ex = max(1, int(ttl))
                if self._set_nx_get:
                    # Redis >= 7: one round trip; the old value comes back, nil if we set it.
                    try:
                        reply = self._pinned.command("SET", name, value, "NX", "EX", ex, "GET")
                    except redis.ResponseError:
                        self._set_nx_get = False  # Redis < 7 refuses NX with GET
                    else:
                        old = cast("bytes | None", reply)
                        if old is None:
                            return True, Claim(owner=owner, body=body, claimed_at=now)
                        return False, _parse_claim(old)
                if self._pinned.command("SET", name, value, "NX", "EX", ex) is not None:
                    return True, Claim(owner=owner, body=body, claimed_at=now)
                raw = cast("bytes | None", self._pinned.command("GET", name))
                if raw is not None:
                    return False, _parse_claim(raw)
        raise StoreError(f"claim of {key!r} did not settle", code="store-claim-unsettled")

    def incr(self, key: str, ttl: int) -> int:
        name = f"{self.prefix}count:{key}"
        with self._errors("incr") as client:
            pipe = client.pipeline(transaction=True)
            pipe.set(name, 0, nx=True, ex=max(1, int(ttl)))  # a new counter starts at 0
            pipe.incr(name)  # INCR keeps the key's expiry
            _, value = pipe.execute()
        return int(value)

    # -- idempotency records -------------------------------------------------------------

    def begin_idempotent(
        self, key: str, fingerprint: str, owner: str, ttl: float
    ) -> IdempotencyRecord | None:
        args: list[str | int | bytes] = ["begin", owner, fingerprint, repr(self.clock()), _ms(ttl)]
        with self._errors("begin_idempotent") as client:
            old = self._idempotency(keys=[self._idem(key)], args=args, client=client)
        if old is None:
            return None
        fields = dict(zip(old[::2], old[1::2], strict=True))
        return IdempotencyRecord(
            fingerprint=fields[b"fp"].decode("utf-8"),
            owner=fields[b"owner"].decode("utf-8"),
            done=fields[b"state"] == b"D",
            status=int(fields[b"status"]),
            content_type=fields[b"ct"].decode("utf-8"),
            body=fields[b"body"],
            created_at=float(fields[b"at"]),
        )

    def finish_idempotent(
        self, key: str, owner: str, status: int, content_type: str, body: bytes, ttl: float
    ) -> bool:
        args: list[str | int | bytes] = ["finish", owner, status, content_type, body, _ms(ttl)]
        with self._errors("finish_idempotent") as client:
            done = self._idempotency(keys=[self._idem(key)], args=args, client=client)
        return bool(done)

    def release_idempotent(self, key: str, owner: str) -> None:
        with self._errors("release_idempotent") as client:
            self._idempotency(keys=[self._idem(key)], args=["release", owner], client=client)

    def _idem(self, key: str) -> str:
        return f"{self.prefix}idem:{key}"


def _ms(seconds: float) -> int:
    """A ttl in whole milliseconds, at least one."""
    return max(1, math.ceil(seconds * 1000))


class _Pinned:
    """The hand-rolled path of the voice fetch's two commands: the session's ``GET`` and
    the claim's ``SET ... NX EX ... GET`` (see the module docstring).

    Each thread keeps one connection of the client's pool (given back when the thread
    ends or the store closes; a forked child takes its own) and sends the command on it
    with the client's retry policy, skipping redis-py's per-command dispatch (a pool round
    trip, its event hooks).  Kept because that dispatch cost more CPU than the command:
    ``bench/bench_redis_commands.py`` measured ``client.get`` 101 µs of CPU against 83 µs for
    the whole ``get_session`` (JSON and dataclass included), ``client.set(..., nx=True,
    get=True)`` 117 µs against 86 µs for the whole ``claim`` (the shared 2-core machine,
    redis-py 8.1).  Every other command goes through the client.
    """

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self._local = threading.local()
        self._generation = 0

    def close(self) -> None:
        self._generation += 1  # threads give their connection back on next use

    def command(self, *args: Any) -> Any:
        """Send one command on this thread's connection; the raw reply.

        Connection errors and timeouts are retried as the client would (its ``retry``
        policy, reconnecting); error replies raise ``redis.ResponseError``.
        """
        conn = self._connection()

        def send() -> Any:
            conn.send_command(*args)  # type: ignore[no-untyped-call]
            return conn.read_response()

        return conn.retry.call_with_retry(
            send,
            lambda error: conn.disconnect(),  # type: ignore[no-untyped-call]
        )

    def _connection(self) -> Connection:
        local = self._local
        conn: Connection | None = getattr(local, "conn", None)
        if conn is not None and conn.pid == os.getpid() and local.generation == self._generation:
            return conn
        if conn is not None and conn.pid == os.getpid():
            self.pool.release(conn)
        try:
            conn = self.pool.get_connection()
        except TypeError:  # redis-py < 5.3 wants a command name (later ones warn about it)
            conn = self.pool.get_connection("GET")  # type: ignore[call-arg,unused-ignore]
        local.conn = conn
        local.generation = self._generation
        finalizer = weakref.finalize(threading.current_thread(), _give_back, self.pool, conn)
        finalizer.atexit = False
        return conn


def _give_back(pool: ConnectionPool, conn: Connection) -> None:
    """Return a finished thread's connection to the pool (in the process that took it)."""
    if conn.pid == os.getpid():
        pool.release(conn)


def _parse_claim(raw: bytes) -> Claim:
    header, _, body = raw.partition(b"\n")
    fields = json.loads(header)
    return Claim(owner=str(fields["owner"]), body=body, claimed_at=float(fields["claimed_at"]))
