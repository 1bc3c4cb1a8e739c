"""Call records and the call queue in Redis, for several dialer processes or machines.

Every write is one Lua script (atomic on the server).  Keys, under the store's
prefix (``voiceapp:`` by default):

``call:<sid>``
    hash: ``spec`` (JSON), ``status``, ``created_at``, ``updated_at``, ``ended_at``,
    ``duration``, ``waiting``, ``lease_owner``, ``lease_until``, ``takes``,
    ``cancel_requested_at``, ``heartbeat_at`` (set by each renewal), ``recovered``
    (``1`` once lease recovery ended the call), and per leg ``leg:<legsid>:info`` (JSON),
    ``leg:<legsid>:status``, ``leg:<legsid>:ended_at``, ``leg:<legsid>:duration``;
``call:<sid>:history``
    list of status changes (JSON ``{"leg", "status", "at"}``), oldest first;
``call:<sid>:events``
    hash: ``<event_id>`` (JSON), ``<event_id>|state``, ``<event_id>|n`` (order),
    ``<event_id>|a<number>`` (one JSON attempt each);
``calls:to:<number>``
    the per-number lock: the sid of the number's unfinished call;
``calls:queue``
    list of waiting sids (RPUSH on create, LPOP in ``take``);
``calls:leases``
    sorted set sid → lease deadline;
``calls:cancels``
    set of sids whose cancel was requested while dialing;
``calls:undelivered``
    sorted set of ``"<call_sid> <event_id>"`` by storage order; ``calls:eventseq``
    is that order's counter;
``dialers``
    sorted set worker id → time of its last heartbeat.

Calls by status (:meth:`RedisCallStore.stats`, for metrics) are counted with a
``SCAN`` of the ``call:*`` hashes at scrape time: O(calls kept), which the retention bounds.
``call:<sid>:trace``
    list of the dialer's trace rows, one JSON array per write (``trace_n`` in the
    call's hash counts the rows, at most the write's limit); the call's ``error``
    (JSON) is a field of its hash;
``calls:created``
    sorted set sid → created time, for listing (members whose call expired are
    dropped when a listing meets them).

Unfinished calls have no expiry.  When a call ends, its three keys get
``retention`` seconds (default two hours).  Numbers are written by Python
(``repr`` of floats, exact); the scripts only compare strings, so no float ever
passes through Lua's number formatting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import redis

from voiceapp.errors import StoreError, ValidationError
from voiceapp.stores.calls.base import (
    HEARTBEAT_KEEP,
    QUEUED,
    SKIPPED,
    TERMINAL,
    AddEvent,
    AddLeg,
    AppendTrace,
    AttemptRecord,
    CallRecord,
    CallSpec,
    CallStore,
    EventRecord,
    LegRecord,
    RecordAttempt,
    Renew,
    SetStatus,
    StatusChange,
    StoreStats,
    Write,
    check_write,
    event_not_found,
    expected,
    leg_not_found,
    not_cancelable,
    not_found,
    sid_exists,
    status_conflict,
    to_busy,
    truncated_row,
)

__all__ = ["RedisCallStore"]

# The shared part of the scripts: end a call (its a-leg reached a terminal status).
# ARGV layout used by finish(): p = prefix, sid, status, at, duration, retention, entry
_FINISH = """
local function expire_all(p, sid, retention)
  if retention ~= '' then
    local ms = tonumber(retention)
    redis.call('PEXPIRE', p..'call:'..sid, ms)
    redis.call('PEXPIRE', p..'call:'..sid..':history', ms)
    redis.call('PEXPIRE', p..'call:'..sid..':events', ms)
    redis.call('PEXPIRE', p..'call:'..sid..':trace', ms)
  end
end
local function set_leg(p, sid, leg, status, at, duration, terminal, entry)
  local call = p..'call:'..sid
  redis.call('HSET', call, 'leg:'..leg..':status', status, 'updated_at', at)
  if terminal then
    redis.call('HSET', call, 'leg:'..leg..':ended_at', at)
    if duration ~= '' then redis.call('HSET', call, 'leg:'..leg..':duration', duration) end
  end
  redis.call('RPUSH', p..'call:'..sid..':history', entry)
  if leg ~= sid then return end
  redis.call('HSET', call, 'status', status)
  if redis.call('HGET', call, 'waiting') == '1' then
    redis.call('HSET', call, 'waiting', '0')
    redis.call('LREM', p..'calls:queue', 0, sid)
  end
  if terminal then
    redis.call('HSET', call, 'ended_at', at)
    if duration ~= '' then redis.call('HSET', call, 'duration', duration) end
    redis.call('HDEL', call, 'lease_owner', 'lease_until')
    local lock = p..'calls:to:'..redis.call('HGET', call, 'to')
    if redis.call('GET', lock) == sid then redis.call('DEL', lock) end
    redis.call('ZREM', p..'calls:leases', sid)
    redis.call('SREM', p..'calls:cancels', sid)
  end
end
"""

# ARGV: prefix, sid, to, spec, now, leg_info, entry
_CREATE = """
local p, sid, to = ARGV[1], ARGV[2], ARGV[3]
local call = p..'call:'..sid
if redis.call('EXISTS', call) == 1 then return {'exists'} end
local lock = p..'calls:to:'..to
local holder = redis.call('GET', lock)
if holder then
  local other = p..'call:'..holder
  if redis.call('EXISTS', other) == 1 and not redis.call('HGET', other, 'ended_at') then
    return {'busy', holder}
  end
end
redis.call('SET', lock, sid)
redis.call('HSET', call, 'spec', ARGV[4], 'to', to, 'status', 'queued', 'created_at', ARGV[5],
  'updated_at', ARGV[5], 'waiting', '1', 'takes', '0',
  'leg:'..sid..':info', ARGV[6], 'leg:'..sid..':status', 'queued', 'legs', sid)
redis.call('RPUSH', call..':history', ARGV[7])
redis.call('RPUSH', p..'calls:queue', sid)
redis.call('ZADD', p..'calls:created', ARGV[5], sid)
return {'ok'}
"""

# The shared part of take and take_many: pop the queue's head and lease it to the worker
# when it still waits.  Returns its sid and whether it was leased (false: the queue is empty).
_POP_LEASE = """
local function pop_lease(p, worker, deadline, now)
  local sid = redis.call('LPOP', p..'calls:queue')
  if not sid then return false, false end
  local call = p..'call:'..sid
  if redis.call('HGET', call, 'waiting') ~= '1' then return sid, false end
  redis.call('HSET', call, 'waiting', '0', 'lease_owner', worker, 'lease_until', deadline,
    'updated_at', now)
  redis.call('HINCRBY', call, 'takes', 1)
  redis.call('ZADD', p..'calls:leases', deadline, sid)
  return sid, true
end
"""

# ARGV: prefix, worker, until, now
_TAKE = (
    _POP_LEASE
    + """
for i = 1, 1000 do
  local sid, leased = pop_lease(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
  if not sid then return false end
  if leased then return sid end
end
return false
"""
)

# ARGV: prefix, sid, worker, until, now
_RECLAIM = """
local p, sid = ARGV[1], ARGV[2]
local score = redis.call('ZSCORE', p..'calls:leases', sid)
if not score or tonumber(score) > tonumber(ARGV[5]) then return 0 end
local call = p..'call:'..sid
if redis.call('HGET', call, 'ended_at') then return 0 end
redis.call('HSET', call, 'lease_owner', ARGV[3], 'lease_until', ARGV[4], 'updated_at', ARGV[5])
redis.call('HINCRBY', call, 'takes', 1)
redis.call('ZADD', p..'calls:leases', ARGV[4], sid)
return 1
"""

# ARGV: prefix, sid, now, entry, retention
_CANCEL = (
    _FINISH
    + """
local p, sid = ARGV[1], ARGV[2]
local call = p..'call:'..sid
local status = redis.call('HGET', call, 'status')
if not status then return {'missing'} end
if status == 'queued' then
  set_leg(p, sid, sid, 'canceled', ARGV[3], '0', true, ARGV[4])
  expire_all(p, sid, ARGV[5])
  return {'canceled'}
end
if status == 'initiated' or status == 'ringing' then
  redis.call('HSETNX', call, 'cancel_requested_at', ARGV[3])
  redis.call('HSET', call, 'updated_at', ARGV[3])
  redis.call('SADD', p..'calls:cancels', sid)
  return {'requested'}
end
return {'refused', status}
"""
)

# The writes CallStore.apply groups, as functions: one script each, and all of them in
# _APPLY.  set_status returns {'ok', previous} or {'missing'} / {'no-leg'} /
# {'conflict', current}; add_leg and add_event 1 (new), 0 (known) or -1 (no call);
# attempt 1 or -1 (no event); renew 1 or 0 (lost).
_OPS = (
    _FINISH
    + """
local function op_set_status(p, sid, leg, status, expect, at, duration, terminal, retention,
                             entry, recovered)
  local call = p..'call:'..sid
  if redis.call('EXISTS', call) == 0 then return {'missing'} end
  local current = redis.call('HGET', call, 'leg:'..leg..':status')
  if not current then return {'no-leg'} end
  if redis.call('HEXISTS', call, 'leg:'..leg..':ended_at') == 1 then
    return {'conflict', current}
  end
  if expect ~= '' then
    local ok = false
    for s in string.gmatch(expect, '%S+') do
      if s == current then ok = true end
    end
    if not ok then return {'conflict', current} end
  end
  local term = terminal == '1'
  set_leg(p, sid, leg, status, at, duration, term, entry)
  if term and leg == sid then
    if recovered == '1' then redis.call('HSET', call, 'recovered', '1') end
    expire_all(p, sid, retention)
  end
  return {'ok', current}
end
local function op_add_leg(p, sid, leg, info, now, entry)
  local call = p..'call:'..sid
  if redis.call('EXISTS', call) == 0 then return -1 end
  if redis.call('HEXISTS', call, 'leg:'..leg..':status') == 1 then return 0 end
  local legs = redis.call('HGET', call, 'legs')
  redis.call('HSET', call, 'leg:'..leg..':info', info, 'leg:'..leg..':status', 'queued',
    'legs', legs..' '..leg)
  redis.call('RPUSH', call..':history', entry)
  local ttl = redis.call('PTTL', call)
  if ttl > 0 then redis.call('PEXPIRE', call..':history', ttl) end
  return 1
end
local function op_add_event(p, sid, eid, data)
  local call = p..'call:'..sid
  if redis.call('EXISTS', call) == 0 then return -1 end
  local events = call..':events'
  if redis.call('HEXISTS', events, eid) == 1 then return 0 end
  local n = redis.call('INCR', p..'calls:eventseq')
  redis.call('HSET', events, eid, data, eid..'|state', 'pending', eid..'|n', n)
  redis.call('ZADD', p..'calls:undelivered', n, sid..' '..eid)
  local ttl = redis.call('PTTL', call)
  if ttl > 0 then redis.call('PEXPIRE', events, ttl) end
  return 1
end
local function op_attempt(p, sid, eid, number, data, state)
  local events = p..'call:'..sid..':events'
  local current = redis.call('HGET', events, eid..'|state')
  if not current then return -1 end
  redis.call('HSETNX', events, eid..'|a'..number, data)
  if current ~= 'delivered' then
    redis.call('HSET', events, eid..'|state', state)
    current = state
  end
  if current ~= 'pending' then redis.call('ZREM', p..'calls:undelivered', sid..' '..eid) end
  return 1
end
local function op_trace(p, sid, limit, err, mark, ...)
  local call = p..'call:'..sid
  if redis.call('EXISTS', call) == 0 then return -1 end
  if err ~= '' then redis.call('HSETNX', call, 'error', err) end
  local key = call..':trace'
  local n, max = tonumber(redis.call('HGET', call, 'trace_n') or '0'), tonumber(limit)
  local given = {...}
  local count = #given
  local room = max - 1 - n
  if room < 0 then room = 0 end
  local rows = {}
  for i = 1, math.min(count, room) do rows[#rows + 1] = given[i] end
  if count > room and n < max then rows[#rows + 1] = mark end
  if #rows > 0 then
    redis.call('RPUSH', key, '['..table.concat(rows, ',')..']')
    redis.call('HSET', call, 'trace_n', n + #rows)
    local ttl = redis.call('PTTL', call)
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  end
  return n + #rows
end
local function op_renew(p, sid, worker, deadline, heartbeat)
  local call = p..'call:'..sid
  if redis.call('HGET', call, 'lease_owner') ~= worker then return 0 end
  if redis.call('HGET', call, 'ended_at') then return 0 end
  redis.call('HSET', call, 'lease_until', deadline, 'heartbeat_at', heartbeat)
  redis.call('ZADD', p..'calls:leases', deadline, sid)
  return 1
end
"""
)

# ARGV: prefix, sid, leg, status, expect (space separated), at, duration, terminal, retention,
# entry, recovered
_SET_STATUS = _OPS + "return op_set_status(unpack(ARGV))"
# ARGV: prefix, sid, leg, info, now, entry
_ADD_LEG = _OPS + "return op_add_leg(unpack(ARGV))"
# ARGV: prefix, sid, event_id, event JSON
_ADD_EVENT = _OPS + "return op_add_event(unpack(ARGV))"
# ARGV: prefix, sid, event_id, number, attempt JSON, state
_ATTEMPT = _OPS + "return op_attempt(unpack(ARGV))"
# ARGV: prefix, sid, worker, until, heartbeat
_RENEW = _OPS + "return op_renew(unpack(ARGV))"
# ARGV: prefix, sid, limit, error JSON (or ''), truncated row, row JSON ...
_TRACE = _OPS + "return op_trace(unpack(ARGV))"

# ARGV: prefix, then one argument per write: its name and its arguments (as for its own
# script, without the prefix) joined by the unit separator \x1f (one argument per write,
# not ten: redis-py's packing of arguments cost more than the script).  In order; a
# write of a call one of whose writes failed earlier is 'skipped'.  One reply per write.
_APPLY = (
    _OPS
    + """
local p = ARGV[1]
local ops = {set_status = op_set_status, add_leg = op_add_leg, add_event = op_add_event,
  attempt = op_attempt, renew = op_renew, trace = op_trace}
local function split(s)
  local t, start = {}, 1
  while true do
    local i = string.find(s, '\\31', start, true)
    if not i then
      t[#t + 1] = string.sub(s, start)
      return t
    end
    t[#t + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end
local failed = {}
local out = {}
for i = 2, #ARGV do
  local args = split(ARGV[i])
  local name, sid = args[1], args[2]
  local r = 'skipped'
  if not failed[sid] then
    r = ops[name](p, unpack(args, 2))
    if name == 'set_status' then
      if r[1] ~= 'ok' then failed[sid] = true end
    elseif r == -1 then
      failed[sid] = true
    end
  end
  out[#out + 1] = r
end
return out
"""
)

# ARGV: prefix, worker, until, now, limit.  Returns {sid, call hash, history, events hash}
# of each call taken (hashes as flat lists).
_TAKE_MANY = (
    _POP_LEASE
    + """
local p, limit = ARGV[1], tonumber(ARGV[5])
local out = {}
for i = 1, limit * 2 + 1000 do
  if #out >= limit then break end
  local sid, leased = pop_lease(p, ARGV[2], ARGV[3], ARGV[4])
  if not sid then break end
  if leased then
    local call = p..'call:'..sid
    out[#out + 1] = {sid, redis.call('HGETALL', call),
      redis.call('LRANGE', call..':history', 0, -1), redis.call('HGETALL', call..':events')}
  end
end
return out
"""
)


_SEP = "\x1f"  # between the arguments of one write in _APPLY (JSON escapes it in strings)
_SCRIPT_OF: dict[type, str] = {
    SetStatus: "set_status",
    AddLeg: "add_leg",
    AddEvent: "add_event",
    RecordAttempt: "attempt",
    Renew: "renew",
    AppendTrace: "trace",
}


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A hash from a script's flat ``HGETALL`` list."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _s(value: bytes | str | None) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _f(value: bytes | str | None) -> float | None:
    return None if value is None or value in (b"", "") else float(value)


def _i(value: bytes | str | None) -> int | None:
    return None if value is None or value in (b"", "") else int(value)


class RedisCallStore(CallStore):
    """Calls, legs, events and the queue in Redis (each write one Lua script)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        clock: Callable[[], float] = time.time,
        prefix: str = "voiceapp:",
        retention: float | None = 7200.0,
    ) -> None:
        self.client = client
        self.clock = clock
        self.prefix = prefix
        self.retention = retention
        self._scripts = {
            name: client.register_script(source)
            for name, source in {
                "create": _CREATE,
                "take": _TAKE,
                "renew": _RENEW,
                "reclaim": _RECLAIM,
                "cancel": _CANCEL,
                "set_status": _SET_STATUS,
                "add_leg": _ADD_LEG,
                "add_event": _ADD_EVENT,
                "attempt": _ATTEMPT,
                "trace": _TRACE,
                "apply": _APPLY,
                "take_many": _TAKE_MANY,
            }.items()
        }

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        retention: float | None = 7200.0,
    ) -> RedisCallStore:
        """The same URLs as :class:`~voiceapp.stores.redis.RedisStore` (``?prefix=``)."""
        from voiceapp.stores.redis import RedisStore

        store = RedisStore.from_url(url, clock=clock)
        return cls(store.client, clock=clock, prefix=store.prefix, retention=retention)

    def __repr__(self) -> str:
        return f"RedisCallStore(prefix={self.prefix!r})"

    def close(self) -> None:
        self.client.close()

    @contextmanager
    def _errors(self, what: str) -> Iterator[redis.Redis]:
        try:
            yield self.client
        except redis.RedisError as exc:
            raise StoreError(
                f"Redis call store {what} failed: {exc}", code="store-unavailable"
            ) from exc

    def _run(self, name: str, *args: Any) -> Any:
        with self._errors(name):
            return self._scripts[name](keys=[], args=[self.prefix, *args])

    # -- operations ------------------------------------------------------------------------

    def ping(self) -> None:
        with self._errors("ping") as client:
            client.ping()

    def beat(self, worker: str, at: float) -> None:
        key = f"{self.prefix}dialers"
        with self._errors("beat") as client:
            pipe = client.pipeline(transaction=False)
            pipe.zadd(key, {worker: at})
            pipe.zremrangebyscore(key, "-inf", f"({at - HEARTBEAT_KEEP!r}")
            pipe.execute()

    def heartbeats(self) -> dict[str, float]:
        with self._errors("heartbeats") as client:
            rows = cast(
                "list[tuple[bytes, float]]",
                client.zrange(f"{self.prefix}dialers", 0, -1, withscores=True),
            )
        return {_s(worker) or "": float(at) for worker, at in rows}

    def stats(self) -> StoreStats:
        calls = f"{self.prefix}call:"
        skip = len(calls.encode("utf-8"))
        counts: dict[str, int] = {}
        with self._errors("stats") as client:
            keys = [
                key
                for key in client.scan_iter(match=calls + "*", count=1000)
                if b":" not in key[skip:]  # call:<sid>, not its :history / :events
            ]
            for start in range(0, len(keys), 1000):
                pipe = client.pipeline(transaction=False)
                for key in keys[start : start + 1000]:
                    pipe.hget(key, "status")
                for status in pipe.execute():
                    if status is not None:
                        counts[_s(status) or ""] = counts.get(_s(status) or "", 0) + 1
            pipe = client.pipeline(transaction=False)
            pipe.llen(f"{self.prefix}calls:queue")
            pipe.lindex(f"{self.prefix}calls:queue", 0)
            waiting, head = pipe.execute()
            oldest = None
            if head is not None:
                oldest = _f(client.hget(f"{calls}{_s(head)}", "created_at"))
        return StoreStats(counts, int(waiting), oldest)

    def _retention_ms(self) -> str:
        return "" if self.retention is None else str(max(1, round(self.retention * 1000)))

    # -- calls and the queue ---------------------------------------------------------------

    def _insert(self, spec: CallSpec, now: float) -> None:
        info: dict[str, Any] = {"parent": None, "from": spec.from_, "to": spec.to}
        info.update(direction="outbound-api", created_at=now)
        entry = _dump({"leg": spec.sid, "status": QUEUED, "at": now})
        reply = self._run(
            "create", spec.sid, spec.to, _dump(spec.to_json()), repr(now), _dump(info), entry
        )
        kind = _s(reply[0])
        if kind == "exists":
            raise sid_exists(spec.sid)
        if kind == "busy":
            raise to_busy(spec.to, _s(reply[1]))

    def get(self, sid: str) -> CallRecord | None:
        key = f"{self.prefix}call:{sid}"
        with self._errors("get") as client:
            pipe = client.pipeline(transaction=True)
            pipe.hgetall(key)
            pipe.lrange(f"{key}:history", 0, -1)
            pipe.hgetall(f"{key}:events")
            pipe.lrange(f"{key}:trace", 0, -1)
            fields, history, events, trace = pipe.execute()
        if not fields:
            return None
        return _record(fields, history, events, trace)

    def _list(
        self,
        *,
        status: str | None,
        to: str | None,
        from_: str | None,
        created_after: float | None,
        created_before: float | None,
        limit: int,
        after: tuple[float, str] | None,
    ) -> list[CallRecord]:
        """Walk ``calls:created`` newest first in bounded chunks, filtering in Python."""
        key = f"{self.prefix}calls:created"
        high: str = "+inf"
        if created_before is not None:
            high = f"({created_before!r}"
        if after is not None and (created_before is None or after[0] < created_before):
            high = repr(after[0])
        low = "-inf" if created_after is None else repr(created_after)
        out: list[CallRecord] = []
        offset = 0
        chunk = max(50, limit * 2)
        with self._errors("list_calls") as client:
            for _ in range(10_000):  # bounded: each turn reads the next chunk
                members = cast(
                    "list[tuple[bytes, float]]",
                    client.zrevrangebyscore(
                        key, high, low, start=offset, num=chunk, withscores=True
                    ),
                )
                if not members:
                    break
                offset += len(members)
                sids = []
                for raw, score in members:
                    sid = _s(raw) or ""
                    if after is not None and score == after[0] and sid >= after[1]:
                        continue
                    sids.append(sid)
                pipe = client.pipeline(transaction=False)
                for sid in sids:
                    call = f"{self.prefix}call:{sid}"
                    pipe.hgetall(call)
                    pipe.lrange(f"{call}:history", 0, -1)
                    pipe.hgetall(f"{call}:events")
                replies = pipe.execute()
                gone = []
                for index, sid in enumerate(sids):
                    fields, history, events = replies[3 * index : 3 * index + 3]
                    if not fields:
                        gone.append(sid)  # expired with its retention
                        continue
                    record = _record(fields, history, events, [])
                    if status is not None and record.status != status:
                        continue
                    if to is not None and record.spec.to != to:
                        continue
                    if from_ is not None and record.spec.from_ != from_:
                        continue
                    out.append(record)
                    if len(out) >= limit:
                        break
                if gone:
                    client.zrem(key, *gone)
                    offset -= len(gone)
                if len(out) >= limit or len(members) < chunk:
                    break
        out.sort(key=lambda r: (r.created_at, r.sid), reverse=True)
        return out[:limit]

    def _take(self, worker: str, until: float, now: float) -> str | None:
        sid = self._run("take", worker, repr(until), repr(now))
        return _s(sid) if sid else None

    def take_many(self, worker: str, lease: float, limit: int) -> list[CallRecord]:
        """One script takes up to ``limit`` calls and returns them (one round trip)."""
        if limit <= 0:
            return []
        now = self.clock()
        replies = self._run("take_many", worker, repr(now + lease), repr(now), str(int(limit)))
        return [
            _record(_pairs(fields), history, _pairs(events), [])
            for _sid, fields, history, events in replies
        ]

    def expired_leases(self, limit: int = 100) -> list[str]:
        with self._errors("expired_leases") as client:
            sids = client.zrangebyscore(
                f"{self.prefix}calls:leases", "-inf", repr(self.clock()), start=0, num=limit
            )
        return [_s(s) or "" for s in cast("list[bytes]", sids)]

    def _reclaim(self, sid: str, worker: str, until: float, now: float) -> bool:
        return bool(self._run("reclaim", sid, worker, repr(until), repr(now)))

    def cancel_requests(self, worker: str) -> list[str]:
        with self._errors("cancel_requests") as client:
            sids = sorted(_s(s) or "" for s in cast("set[bytes]", client.smembers(
                f"{self.prefix}calls:cancels"
            )))  # fmt: skip
            if not sids:
                return []
            pipe = client.pipeline(transaction=False)
            for sid in sids:
                pipe.hget(f"{self.prefix}call:{sid}", "lease_owner")
            owners = pipe.execute()
        return [sid for sid, owner in zip(sids, owners, strict=True) if _s(owner) == worker]

    def _cancel(self, sid: str, now: float) -> None:
        entry = _dump({"leg": sid, "status": "canceled", "at": now})
        reply = self._run("cancel", sid, repr(now), entry, self._retention_ms())
        kind = _s(reply[0])
        if kind == "missing":
            raise not_found(sid)
        if kind == "refused":
            raise not_cancelable(sid, _s(reply[1]) or "")

    # -- writes ---------------------------------------------------------------------------

    def _apply_one(self, write: Write) -> object:
        """One write, its own script (one round trip)."""
        return self._result(write, self._run(_SCRIPT_OF[type(write)], *self._args(write)))

    # -- several writes in one round trip --------------------------------------------------

    def apply(self, writes: Sequence[Write]) -> list[object]:
        """All of ``writes`` in one Lua script (one round trip, atomic as a whole)."""
        results: list[object] = [SKIPPED] * len(writes)
        failed: set[str] = set()
        sent: list[int] = []
        args: list[str] = []
        for index, write in enumerate(writes):
            if write.call_sid in failed:
                continue
            try:
                check_write(write)
                encoded = self._args(write)
                packed = _SEP.join([_SCRIPT_OF[type(write)], *encoded])
                if packed.count(_SEP) != len(encoded):
                    raise ValidationError(
                        "a call store value contains the character \\x1f",
                        code="call-bad-value",
                        field="value",
                    )
            except Exception as exc:  # refused before it was sent: later ones of the call too
                failed.add(write.call_sid)
                results[index] = exc
                continue
            args.append(packed)
            sent.append(index)
        if not sent:
            return results
        replies = self._run("apply", *args)
        for index, reply in zip(sent, replies, strict=True):
            if reply == b"skipped":
                continue
            try:
                results[index] = self._result(writes[index], reply)
            except Exception as exc:
                results[index] = exc
        return results

    def _args(self, write: Write) -> list[str]:
        """The script arguments of a checked ``write`` (after the prefix)."""
        if isinstance(write, SetStatus):
            allowed = expected(write.expect)
            leg = write.leg_sid or write.call_sid
            now = self._stamp(write.at)
            return [
                write.call_sid,
                leg,
                write.status,
                " ".join(allowed),
                repr(now),
                "" if write.duration is None else str(int(write.duration)),
                "1" if write.status in TERMINAL else "0",
                self._retention_ms(),
                _dump({"leg": leg, "status": write.status, "at": now}),
                "1" if write.recovered else "0",
            ]
        if isinstance(write, AddLeg):
            now = self._stamp(write.at)
            info: dict[str, Any] = {"parent": write.parent_sid, "from": write.from_}
            info.update(to=write.to, direction=write.direction, created_at=now)
            entry = _dump({"leg": write.leg_sid, "status": QUEUED, "at": now})
            return [write.call_sid, write.leg_sid, _dump(info), repr(now), entry]
        if isinstance(write, AddEvent):
            now = self._stamp(write.at)
            data = {
                "call": write.call_sid,
                "leg": write.leg_sid,
                "seq": int(write.sequence),
                "name": write.name,
                "url": write.url,
                "method": write.method,
                "params": [list(p) for p in write.params],
                "at": now,
            }
            return [write.call_sid, write.event_id, _dump(data)]
        if isinstance(write, RecordAttempt):
            number = str(write.attempt.number)
            attempt = _dump(write.attempt.to_dict())
            return [write.call_sid, write.event_id, number, attempt, write.state]
        if isinstance(write, AppendTrace):
            mark = truncated_row(write.entries, write.limit)
            head = [write.call_sid, str(write.limit), write.error or "", mark]
            return [*head, *write.entries]
        now = self.clock()
        heartbeat = now if write.at is None else write.at
        return [write.call_sid, write.worker, repr(now + write.lease), repr(heartbeat)]

    def _result(self, write: Write, reply: Any) -> object:
        """The method's result for a script's ``reply``, or its error raised."""
        if isinstance(write, SetStatus):
            kind = _s(reply[0])
            leg = write.leg_sid or write.call_sid
            if kind == "missing":
                raise not_found(write.call_sid)
            if kind == "no-leg":
                raise leg_not_found(leg)
            if kind == "conflict":
                raise status_conflict(leg, _s(reply[1]) or "", write.status)
            return _s(reply[1]) or ""
        done = int(reply)
        if isinstance(write, Renew):
            return done == 1
        if isinstance(write, AppendTrace):
            if done < 0:
                raise not_found(write.call_sid)
            return done
        if done < 0:
            if isinstance(write, RecordAttempt):
                raise event_not_found(write.event_id)
            raise not_found(write.call_sid)
        return None if isinstance(write, RecordAttempt) else done == 1

    def undelivered(self, limit: int = 1000) -> list[EventRecord]:
        key = f"{self.prefix}calls:undelivered"
        with self._errors("undelivered") as client:
            members = [
                _s(m) or "" for m in cast("list[bytes]", client.zrange(key, 0, max(0, limit - 1)))
            ]
            if limit <= 0 or not members:
                return []
            wanted: dict[str, list[str]] = {}
            for member in members:
                call_sid, _, event_id = member.partition(" ")
                wanted.setdefault(call_sid, []).append(event_id)
            pipe = client.pipeline(transaction=False)
            for call_sid in wanted:
                pipe.hgetall(f"{self.prefix}call:{call_sid}:events")
            replies = pipe.execute()
            found: dict[str, EventRecord] = {}
            gone: list[str] = []
            for (call_sid, ids), fields in zip(wanted.items(), replies, strict=True):
                events = {e.event_id: e for e in _events(fields)}
                for event_id in ids:
                    event = events.get(event_id)
                    if event is None:  # its call expired (retention): forget it
                        gone.append(f"{call_sid} {event_id}")
                    elif event.state == "pending":
                        found[f"{call_sid} {event_id}"] = event
            if gone:
                client.zrem(key, *gone)
        return [found[m] for m in members if m in found]


def _events(fields: dict[bytes, bytes]) -> list[EventRecord]:
    """The events of one call from its ``:events`` hash, in storage order."""
    heads: dict[str, dict[str, Any]] = {}
    extra: dict[str, dict[str, str]] = {}
    attempts: dict[str, list[AttemptRecord]] = {}
    for raw_name, raw_value in fields.items():
        name, value = raw_name.decode("utf-8"), raw_value.decode("utf-8")
        event_id, bar, tail = name.rpartition("|")
        if not bar:
            heads[name] = json.loads(value)
        elif tail.startswith("a"):
            a = json.loads(value)
            attempts.setdefault(event_id, []).append(
                AttemptRecord(int(a["number"]), a["at"], bool(a["ok"]), a["status"], a["error"])
            )
        else:
            extra.setdefault(event_id, {})[tail] = value
    out = []
    for event_id, head in heads.items():
        more = extra.get(event_id, {})
        out.append(
            (
                int(more.get("n", "0")),
                EventRecord(
                    event_id=event_id,
                    call_sid=head["call"],
                    leg_sid=head["leg"],
                    sequence=head["seq"],
                    name=head["name"],
                    url=head["url"],
                    method=head["method"],
                    params=tuple((str(k), str(v)) for k, v in head["params"]),
                    created_at=head["at"],
                    state=more.get("state", "pending"),
                    attempts=tuple(sorted(attempts.get(event_id, ()), key=lambda a: a.number)),
                ),
            )
        )
    out.sort(key=lambda pair: pair[0])
    return [event for _, event in out]


def _record(
    fields: dict[bytes, bytes],
    history: list[bytes],
    events: dict[bytes, bytes],
    trace: list[bytes],
) -> CallRecord:
    f = {k.decode("utf-8"): v for k, v in fields.items()}
    changes: dict[str, list[StatusChange]] = {}
    for raw in history:
        entry = json.loads(raw)
        changes.setdefault(entry["leg"], []).append(StatusChange(entry["status"], entry["at"]))
    legs = []
    for leg_sid in (_s(f["legs"]) or "").split():
        info = json.loads(f[f"leg:{leg_sid}:info"])
        legs.append(
            LegRecord(
                sid=leg_sid,
                parent_sid=info["parent"],
                from_=info["from"],
                to=info["to"],
                direction=info["direction"],
                status=_s(f[f"leg:{leg_sid}:status"]) or "",
                created_at=info["created_at"],
                ended_at=_f(f.get(f"leg:{leg_sid}:ended_at")),
                duration=_i(f.get(f"leg:{leg_sid}:duration")),
                history=tuple(changes.get(leg_sid, ())),
            )
        )
    return CallRecord(
        spec=CallSpec.from_json(json.loads(f["spec"])),
        status=_s(f["status"]) or "",
        created_at=float(f["created_at"]),
        updated_at=float(f["updated_at"]),
        ended_at=_f(f.get("ended_at")),
        duration=_i(f.get("duration")),
        lease_owner=_s(f.get("lease_owner")),
        lease_until=_f(f.get("lease_until")),
        takes=int(f.get("takes", b"0")),
        cancel_requested_at=_f(f.get("cancel_requested_at")),
        legs=tuple(legs),
        events=tuple(_events(events)),
        heartbeat_at=_f(f.get("heartbeat_at")),
        recovered=f.get("recovered") == b"1",
        trace=tuple(row for chunk in trace for row in json.loads(chunk)),
        error=None if f.get("error") is None else json.loads(f["error"]),
    )
