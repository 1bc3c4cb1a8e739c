"""Call records and the call queue in Redis, for several dialer processes or machines.

Every write is one command of one Lua script (``calls.lua``, package data; atomic on
the server), run through redis-py's :class:`~redis.commands.core.Script`.  Keys, under the store's
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
``call:<sid>:changes``
    list of the call's pending changes (JSON :class:`CallChange`), oldest first, read and
    removed by :meth:`RedisCallStore.change_requests`; ``calls:changes`` is the set of
    sids that have some (both are dropped when the call ends);
``calls:undelivered``
    sorted set of ``"<call_sid> <event_id>"`` by storage order; ``calls:eventseq``
    is that order's counter;
``call:<sid>:recordings``
    hash: recording sid → the recording (JSON :class:`RecordingRecord`); ``recording:<rsid>``
    is the sid of its call (both expire with the call);
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
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any, cast

import redis

from voiceapp.calls.api_json import spec_from_json, spec_json
from voiceapp.calls.records import (
    AttemptRecord,
    CallChange,
    CallQuery,
    CallRecord,
    CallSpec,
    EventRecord,
    LegRecord,
    RecordingRecord,
    StatusChange,
    truncated_row,
)
from voiceapp.calls.refusals import (
    event_not_found,
    leg_not_found,
    not_cancelable,
    not_changeable,
    not_deletable,
    not_found,
    recording_not_found,
    sid_exists,
    status_conflict,
    to_busy,
)
from voiceapp.calls.states import CANCELABLE, QUEUED, TERMINAL
from voiceapp.calls.writes import (
    SKIPPED,
    AddEvent,
    AddLeg,
    AppendTrace,
    RecordAttempt,
    Renew,
    SaveRecording,
    SetStatus,
    Write,
    WriteHandler,
    expected,
)
from voiceapp.errors import StoreError
from voiceapp.stores.calls.base import HEARTBEAT_KEEP, CallStore, StoreStats

#: The server side: one Lua script of commands (``create``, ``take``, ``apply`` ...).
_SCRIPT = resources.files(__package__).joinpath("calls.lua").read_text(encoding="utf-8")
#: What the dialer cancels itself (``queued`` calls are canceled by the script at once).
_DIALER_CANCELS = " ".join(sorted(CANCELABLE - {QUEUED}))


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
        self._script = client.register_script(_SCRIPT)
        self._encode = _Encoder(self)

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

    def _run(self, command: str, *args: Any) -> Any:
        """One command of the script (``calls.lua``), one round trip."""
        with self._errors(command):
            return self._script(keys=[], args=[command, self.prefix, *args])

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
        info.update(direction=spec.direction, created_at=now)
        entry = _dump({"leg": spec.sid, "status": QUEUED, "at": now})
        reply = self._run(
            "create", spec.sid, spec.to, _dump(spec_json(spec)), repr(now), _dump(info), entry
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

    def _list(self, query: CallQuery) -> list[CallRecord]:
        """Walk ``calls:created`` newest first in bounded chunks, filtering in Python."""
        key = f"{self.prefix}calls:created"
        high: str = "+inf"
        if query.created_before is not None:
            high = f"({query.created_before!r}"
        if query.after is not None and (
            query.created_before is None or query.after[0] < query.created_before
        ):
            high = repr(query.after[0])
        low = "-inf" if query.created_after is None else repr(query.created_after)
        out: list[CallRecord] = []
        offset = 0
        chunk = max(50, query.limit * 2)
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
                    if (
                        query.after is not None
                        and score == query.after[0]
                        and sid >= query.after[1]
                    ):
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
                    if query.status is not None and record.status != query.status:
                        continue
                    if query.to is not None and record.spec.to != query.to:
                        continue
                    if query.from_ is not None and record.spec.from_ != query.from_:
                        continue
                    if query.account_sid is not None and (
                        record.spec.account_sid != query.account_sid
                    ):
                        continue
                    out.append(record)
                    if len(out) >= query.limit:
                        break
                if gone:
                    client.zrem(key, *gone)
                    offset -= len(gone)
                if len(out) >= query.limit or len(members) < chunk:
                    break
        out.sort(key=lambda r: (r.created_at, r.sid), reverse=True)
        return out[: query.limit]

    def _delete(self, sid: str) -> None:
        reply = self._run("delete", sid)
        kind = _s(reply[0])
        if kind == "missing":
            raise not_found(sid)
        if kind == "live":
            raise not_deletable(sid, "it has not ended")
        if kind == "pending":
            raise not_deletable(sid, "status callbacks are still being delivered")

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
        reply = self._run("cancel", sid, repr(now), entry, self._retention_ms(), _DIALER_CANCELS)
        kind = _s(reply[0])
        if kind == "missing":
            raise not_found(sid)
        if kind == "refused":
            raise not_cancelable(sid, _s(reply[1]) or "")

    def _request_change(self, sid: str, change: CallChange, now: float) -> None:
        entry = _dump({"leg": sid, "status": "canceled", "at": now})
        key = f"{self.prefix}call:{sid}"
        for _ in range(100):  # bounded: another writer changed the waiting spec meanwhile
            old_spec, new_spec = "", ""
            if change.status is None:
                with self._errors("request_change") as client:
                    raw = _s(cast("bytes | None", client.hget(key, "spec")))
                if raw is not None:
                    old_spec = raw
                    new_spec = _dump(spec_json(change.applied_to(spec_from_json(json.loads(raw)))))
            reply = self._run(
                "change",
                sid,
                repr(now),
                change.status or "",
                _dump(change.as_dict()),
                old_spec,
                new_spec,
                entry,
                self._retention_ms(),
                _DIALER_CANCELS,
            )
            kind = _s(reply[0])
            if kind == "missing":
                raise not_found(sid)
            if kind == "ended":
                raise not_changeable(sid, _s(reply[1]) or "")
            if kind != "stale":
                return
        raise StoreError(f"call {sid} kept changing; try again", code="store-unavailable")

    def change_requests(self, worker: str) -> list[tuple[str, CallChange]]:
        replies = self._run("take_changes", worker)
        out: list[tuple[str, CallChange]] = []
        for sid, items in sorted(replies):
            out += [(_s(sid) or "", CallChange.of(json.loads(item))) for item in items]
        return out

    # -- writes ---------------------------------------------------------------------------

    def _apply_one(self, write: Write) -> object:
        """One write: the script's ``apply`` of it alone (one round trip)."""
        op = write.handled_by(self._encode)
        (reply,) = self._run("apply", _dump([op.name, *op.args]))
        return op.decode(reply)

    def apply(self, writes: Sequence[Write]) -> list[object]:
        """All of ``writes`` in one run of the script (one round trip, atomic as a whole)."""
        results: list[object] = [SKIPPED] * len(writes)
        failed: set[str] = set()
        sent: list[tuple[int, _Op]] = []
        args: list[str] = []
        for index, write in enumerate(writes):
            if write.call_sid in failed:
                continue
            try:
                write.check()
                op = write.handled_by(self._encode)
            except Exception as exc:  # refused before it was sent: later ones of the call too
                failed.add(write.call_sid)
                results[index] = exc
                continue
            args.append(_dump([op.name, *op.args]))
            sent.append((index, op))
        if not sent:
            return results
        replies = self._run("apply", *args)
        for (index, op), reply in zip(sent, replies, strict=True):
            if reply == b"skipped":
                continue
            try:
                results[index] = op.decode(reply)
            except Exception as exc:
                results[index] = exc
        return results

    def get_recording(self, sid: str) -> RecordingRecord | None:
        with self._errors("get_recording") as client:
            call_sid = client.get(f"{self.prefix}recording:{sid}")
            if call_sid is None:
                return None
            data = client.hget(f"{self.prefix}call:{_s(call_sid)}:recordings", sid)
        return None if data is None else RecordingRecord.from_json(data)

    def recordings_of(self, call_sid: str) -> list[RecordingRecord]:
        with self._errors("recordings_of") as client:
            fields = cast(
                "dict[bytes, bytes]", client.hgetall(f"{self.prefix}call:{call_sid}:recordings")
            )
        found = [RecordingRecord.from_json(value) for value in fields.values()]
        return sorted(found, key=lambda r: (r.started_at, r.sid))

    def delete_recording(self, sid: str) -> RecordingRecord:
        reply = self._run("delete_recording", sid)
        if not reply:
            raise recording_not_found(sid)
        return RecordingRecord.from_json(reply)

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


@dataclass(frozen=True, slots=True)
class _Op:
    """A write for the script: its name there, its arguments after the prefix (the
    call's sid first), and what turns the script's reply into the method's result (or
    raises its error)."""

    name: str
    args: list[str]
    decode: Callable[[Any], object]


class _Encoder(WriteHandler[_Op]):
    """Each kind of write as the script's arguments and the decoding of its reply."""

    def __init__(self, store: RedisCallStore) -> None:
        self.store = store

    def on_set_status(self, write: SetStatus) -> _Op:
        allowed = expected(write.expect)
        leg = write.leg_sid or write.call_sid
        now = self.store._stamp(write.at)
        args = [
            write.call_sid,
            leg,
            write.status,
            " ".join(allowed),
            repr(now),
            "" if write.duration is None else str(int(write.duration)),
            "1" if write.status in TERMINAL else "0",
            self.store._retention_ms(),
            _dump({"leg": leg, "status": write.status, "at": now}),
            "1" if write.recovered else "0",
        ]

        def decode(reply: Any) -> str:
            kind = _s(reply[0])
            if kind == "missing":
                raise not_found(write.call_sid)
            if kind == "no-leg":
                raise leg_not_found(leg)
            if kind == "conflict":
                raise status_conflict(leg, _s(reply[1]) or "", write.status)
            return _s(reply[1]) or ""

        return _Op("set_status", args, decode)

    def on_add_leg(self, write: AddLeg) -> _Op:
        now = self.store._stamp(write.at)
        info: dict[str, Any] = {"parent": write.parent_sid, "from": write.from_}
        info.update(to=write.to, direction=write.direction, created_at=now)
        entry = _dump({"leg": write.leg_sid, "status": QUEUED, "at": now})
        args = [write.call_sid, write.leg_sid, _dump(info), repr(now), entry]
        return _Op("add_leg", args, lambda reply: _known(reply, write.call_sid) == 1)

    def on_add_event(self, write: AddEvent) -> _Op:
        now = self.store._stamp(write.at)
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
        args = [write.call_sid, write.event_id, _dump(data)]
        return _Op("add_event", args, lambda reply: _known(reply, write.call_sid) == 1)

    def on_record_attempt(self, write: RecordAttempt) -> _Op:
        number = str(write.attempt.number)
        args = [write.call_sid, write.event_id, number, _dump(asdict(write.attempt)), write.state]

        def decode(reply: Any) -> None:
            if int(reply) < 0:
                raise event_not_found(write.event_id)

        return _Op("attempt", args, decode)

    def on_append_trace(self, write: AppendTrace) -> _Op:
        mark = truncated_row(write.entries, write.limit)
        args = [write.call_sid, str(write.limit), write.error or "", mark, *write.entries]
        return _Op("trace", args, lambda reply: _known(reply, write.call_sid))

    def on_renew(self, write: Renew) -> _Op:
        now = self.store.clock()
        heartbeat = now if write.at is None else write.at
        args = [write.call_sid, write.worker, repr(now + write.lease), repr(heartbeat)]
        return _Op("renew", args, lambda reply: int(reply) == 1)

    def on_save_recording(self, write: SaveRecording) -> _Op:
        recording = write.recording
        args = [write.call_sid, recording.sid, recording.to_json()]

        def decode(reply: Any) -> None:
            _known(reply, write.call_sid)

        return _Op("recording", args, decode)


def _known(reply: Any, call_sid: str) -> int:
    """A script's count reply; ``call-not-found`` for its -1."""
    done = int(reply)
    if done < 0:
        raise not_found(call_sid)
    return done


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
        spec=spec_from_json(json.loads(f["spec"])),
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
