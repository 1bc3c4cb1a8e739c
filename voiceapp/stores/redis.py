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
    an idempotency record, ``PX`` its ttl: a line ``F <owner>`` (in flight) or
    ``D <owner>`` (done), a JSON line of the request (fingerprint, created_at), a JSON
    line of the response (status, content type), then the response body.  Begin,
    finish and release are one Lua script each (atomic: the holder's check and the write).

Expiry is done by Redis itself (real time).  Reads of sessions also compare
``expires_at`` with the store clock, so a controlled clock in tests is obeyed.

The two commands of a voice fetch (``GET`` of the session, then the claim's ``SET``)
cannot share one round trip: the document is rendered from the session between
them, and the claim stores that document.  So each is made as cheap as redis-py
allows: every thread keeps one connection of the client's pool (given back when the
thread ends or the store closes; a forked child takes its own) and sends the command
on it directly, with the client's retry policy, skipping the client's per-command
dispatch (pool round trip, instrumentation), which cost more CPU than the command.
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
from dataclasses import asdict
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.connection import Connection, ConnectionPool

from voiceapp.errors import ConfigError, StoreError
from voiceapp.stores.base import Claim, IdempotencyRecord, Session, Store

__all__ = ["RedisStore"]

# KEYS: the record; ARGV: the in-flight value, its ttl (ms).  The old value, or nil if set.
_BEGIN_IDEMPOTENT = """
local old = redis.call('GET', KEYS[1])
if old then return old end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
# KEYS: the record; ARGV: the owner, the response line and body, their ttl (ms).  1 if
# written: the owner's in-flight record becomes done, its request line kept.
_FINISH_IDEMPOTENT = """
local old = redis.call('GET', KEYS[1])
local head = 'F '..ARGV[1]..'\\n'
if not old or string.sub(old, 1, #head) ~= head then return 0 end
local stop = string.find(old, '\\n', #head + 1, true)
local request = string.sub(old, #head + 1, stop)
redis.call('SET', KEYS[1], 'D '..ARGV[1]..'\\n'..request..ARGV[2], 'PX', ARGV[3])
return 1
"""
# KEYS: the record; ARGV: 'F <owner>\n'.
_RELEASE_IDEMPOTENT = """
local old = redis.call('GET', KEYS[1])
if old and string.sub(old, 1, #ARGV[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


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
        self._set_nx_get = True
        self._local = threading.local()
        self._generation = 0
        self._idempotent = {
            "begin": client.register_script(_BEGIN_IDEMPOTENT),
            "finish": client.register_script(_FINISH_IDEMPOTENT),
            "release": client.register_script(_RELEASE_IDEMPOTENT),
        }

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
        self._generation += 1  # threads give their connection back on next use
        self.client.close()

    # -- the fast path -------------------------------------------------------------------

    def _connection(self) -> Connection:
        """This thread's connection (see the module docstring)."""
        local = self._local
        conn: Connection | None = getattr(local, "conn", None)
        if conn is not None and conn.pid == os.getpid() and local.generation == self._generation:
            return conn
        pool = self.client.connection_pool
        if conn is not None and conn.pid == os.getpid():
            pool.release(conn)
        try:
            conn = pool.get_connection()
        except TypeError:  # redis-py < 5.3 wants a command name (later ones warn about it)
            conn = pool.get_connection("GET")  # type: ignore[call-arg,unused-ignore]
        local.conn = conn
        local.generation = self._generation
        finalizer = weakref.finalize(threading.current_thread(), _give_back, pool, conn)
        finalizer.atexit = False
        return conn

    def _command(self, *args: Any) -> Any:
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
            data = json.dumps(asdict(session), separators=(",", ":"), ensure_ascii=False)
            client.set(key, data.encode("utf-8"), ex=ttl)

    def get_session(self, session_id: str) -> Session | None:
        with self._errors("get_session"):
            raw = cast("bytes | None", self._command("GET", f"{self.prefix}session:{session_id}"))
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
                        reply = self._command("SET", name, value, "NX", "EX", ex, "GET")
                    except redis.ResponseError:
                        self._set_nx_get = False  # Redis < 7 refuses NX with GET
                    else:
                        old = cast("bytes | None", reply)
                        if old is None:
                            return True, Claim(owner=owner, body=body, claimed_at=now)
                        return False, _parse_claim(old)
                if self._command("SET", name, value, "NX", "EX", ex) is not None:
                    return True, Claim(owner=owner, body=body, claimed_at=now)
                raw = cast("bytes | None", self._command("GET", name))
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
        request_line = json.dumps({"fp": fingerprint, "at": self.clock()}, separators=(",", ":"))
        value = f"F {owner}\n{request_line}\n" + '{"status":0,"ct":""}\n'
        with self._errors("begin_idempotent") as client:
            old = self._idempotent["begin"](
                keys=[f"{self.prefix}idem:{key}"],
                args=[value.encode("utf-8"), max(1, math.ceil(ttl * 1000))],
                client=client,
            )
        return None if old is None else _parse_idempotent(cast("bytes", old))

    def finish_idempotent(
        self, key: str, owner: str, status: int, content_type: str, body: bytes, ttl: float
    ) -> bool:
        response = json.dumps({"status": status, "ct": content_type}, separators=(",", ":"))
        with self._errors("finish_idempotent") as client:
            done = self._idempotent["finish"](
                keys=[f"{self.prefix}idem:{key}"],
                args=[
                    owner,
                    response.encode("utf-8") + b"\n" + body,
                    max(1, math.ceil(ttl * 1000)),
                ],
                client=client,
            )
        return bool(done)

    def release_idempotent(self, key: str, owner: str) -> None:
        with self._errors("release_idempotent") as client:
            self._idempotent["release"](
                keys=[f"{self.prefix}idem:{key}"], args=[f"F {owner}\n"], client=client
            )


def _parse_idempotent(raw: bytes) -> IdempotencyRecord:
    first, _, rest = raw.partition(b"\n")
    request_line, _, rest = rest.partition(b"\n")
    response_line, _, body = rest.partition(b"\n")
    state, _, owner = first.decode("utf-8").partition(" ")
    asked, answered = json.loads(request_line), json.loads(response_line)
    return IdempotencyRecord(
        fingerprint=str(asked["fp"]),
        owner=owner,
        done=state == "D",
        status=int(answered["status"]),
        content_type=str(answered["ct"]),
        body=body,
        created_at=float(asked["at"]),
    )


def _give_back(pool: ConnectionPool, conn: Connection) -> None:
    """Return a finished thread's connection to the pool (in the process that took it)."""
    if conn.pid == os.getpid():
        pool.release(conn)


def _parse_claim(raw: bytes) -> Claim:
    header, _, body = raw.partition(b"\n")
    fields = json.loads(header)
    return Claim(owner=str(fields["owner"]), body=body, claimed_at=float(fields["claimed_at"]))
