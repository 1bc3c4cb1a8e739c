"""The dialer's write buffer: store writes and trace rows grouped into few ``apply`` calls.

Every status change, b-leg, status-callback event and delivery attempt of every call a
worker runs is *queued* here (:meth:`WriteBuffer.queue`) and written in one
:meth:`~voiceapp.stores.calls.CallStore.apply` at the end of the current burst of
timers (a ``call_soon``), and always before a callback about it is sent (the
deliverer flushes first).  Trace rows wait up to :data:`TRACE_DELAY` for a write of
their call to go with; a call's end, its first error or :data:`TRACE_BATCH` rows
write them at once.  A call whose write the store refuses is *lost*: nothing more is
written for it and it is hung up (the ``lose`` callback).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from voiceapp.calls.records import CallRecord, trace_json
from voiceapp.calls.writes import SKIPPED, AppendTrace, Write
from voiceapp.dialer.clock import Clock
from voiceapp.dialer.interpreter import CallHandle
from voiceapp.dialer.trace import TraceEntry, entry_json, error_of
from voiceapp.logs import call_logger
from voiceapp.stores.calls.base import CallStore

log = logging.getLogger("voiceapp.dialer")

#: Queued store writes that force a batch at once.
MAX_QUEUED_WRITES: Final = 2000
#: A trace row longer than this (JSON characters) is stored cut: its kind, its length
#: and the head of its detail (TRACE_MAX_ENTRIES rows of at most this size a call).
TRACE_ROW_CHARS: Final = 4096
#: Clock seconds a call's trace rows wait for a write of their call to go with (a status,
#: an event) before they are written on their own; a call's end, its error or 50 rows
#: write them at once.  Fewer, larger trace writes.
TRACE_DELAY: Final = 0.5
TRACE_BATCH: Final = 50
#: Trace kinds the store keeps elsewhere (a leg's history, the events with their
#: attempts): not written as trace rows.
STORED_ELSEWHERE: Final = frozenset({"status", "callback"})


@dataclass(eq=False)
class LiveCall:
    """A call this worker is running, and what of it is not written yet."""

    record: CallRecord
    handle: CallHandle
    lost: bool = False  # the store refused a write or the lease went: stop writing
    cancel_sent: bool = False
    renewed_at: float = field(default_factory=time.monotonic)  # when the lease was last set
    rows: list[str] = field(default_factory=list)  # trace rows (JSON) not yet written
    rows_sent: int = 0  # rows handed to the store so far (it keeps TRACE_MAX_ENTRIES)
    error: dict[str, Any] | None = None  # the call's first error, once seen
    error_sent: bool = False
    rows_since: float = 0.0  # clock time of the oldest row not yet written
    ended: bool = False

    @property
    def sid(self) -> str:
        return self.handle.sid


class WriteBuffer:
    """Queued writes and trace rows of the calls in ``live``, written in groups.

    ``lose(call, reason)`` is told of a call whose write failed; ``final()`` is true
    while the worker stops (every trace row is then due).
    """

    def __init__(
        self,
        store: CallStore,
        clock: Clock,
        *,
        trace_limit: int,
        live: Mapping[str, LiveCall],
        lose: Callable[[LiveCall, str], None],
        final: Callable[[], bool],
    ) -> None:
        self.store = store
        self.clock = clock
        self.trace_limit = trace_limit
        self.live = live
        self.lose = lose
        self.final = final
        self.unwritten_events: set[str] = set()  # events the store refused: not delivered
        self._writes: list[tuple[Write, str | None]] = []  # (write, event id of an AddEvent)
        self._traced: dict[str, LiveCall] = {}  # calls with trace rows not yet queued
        self._trace_timer = False  # a flush is due TRACE_DELAY after rows were held back
        self._flush_scheduled = False

    def queue(self, write: Write, event_id: str | None = None) -> None:
        """Queue a store write; queued writes go in one :meth:`CallStore.apply`, in order, soon.

        They are written at the end of the current burst of timers (a
        ``call_soon``), and always before a callback is sent.
        """
        self._writes.append((write, event_id))
        if len(self._writes) >= MAX_QUEUED_WRITES:
            self.flush()
        else:
            self._flush_soon()

    def flush(self) -> None:
        """Write the queued writes in one group; a call whose write fails is lost.

        A write of a call already lost is not made; after a failed write the
        store skips the later writes of that call (:data:`SKIPPED`).
        """
        self._flush_scheduled = False
        if self._traced:
            self._queue_traces()
        if not self._writes:
            return
        writes, self._writes = self._writes, []
        failed: dict[str, str] = {}
        todo: list[tuple[Write, str | None]] = []
        for write, event_id in writes:
            live = self.live.get(write.call_sid)
            if live is not None and live.lost:
                if event_id is not None:
                    self.unwritten_events.add(event_id)
                continue
            todo.append((write, event_id))
        try:
            results = self.store.apply([write for write, _ in todo])
        except Exception as exc:  # the group itself failed: none of it is durable
            results = [exc] * len(todo)
        for (write, event_id), result in zip(todo, results, strict=True):
            if result is SKIPPED or isinstance(result, Exception):
                if isinstance(result, Exception):
                    failed.setdefault(write.call_sid, f"{type(result).__name__}: {result}")
                if event_id is not None:
                    self.unwritten_events.add(event_id)
        for call_sid, reason in failed.items():
            live = self.live.get(call_sid)
            if live is not None:
                self.lose(live, f"the store refused a write: {reason}")
            else:
                call_logger(log, call_sid).error(
                    "call %s: the store refused a write: %s", call_sid, reason
                )

    def add_row(self, live: LiveCall, entry: TraceEntry) -> None:
        """A trace row of a running call: kept for the store (redacted), with the call's
        first error."""
        if live.error is None:
            error = error_of(entry.leg, entry.kind, entry.detail)
            if error is not None:
                live.error = error
                log.warning("call %s: %s: %s", live.sid, error["code"], error.get("message"))
        if entry.kind in STORED_ELSEWHERE:
            return
        if live.rows_sent + len(live.rows) < self.trace_limit:
            if not live.rows:
                live.rows_since = self.clock.now()
            row = entry_json(entry.to_dict())
            if len(row) > TRACE_ROW_CHARS:
                detail = {"cut": len(row), "head": row[: TRACE_ROW_CHARS // 2]}
                row = trace_json(
                    {"ms": entry.ms, "leg": entry.leg, "kind": entry.kind, "detail": detail}
                )
            live.rows.append(row)
        elif live.error is None or live.error_sent:
            return  # the store keeps no more rows of this call, nor needs an error
        self._traced[live.sid] = live
        if live.error is not None and not live.error_sent:
            self._flush_soon()  # an error is written at once
        elif not self._trace_timer:  # else with the call's next write, or after TRACE_DELAY
            self._trace_timer = True
            self.clock.call_later(TRACE_DELAY, self._trace_flush)

    def call_ended(self, live: LiveCall) -> None:
        """``live`` ended: its last rows are due."""
        live.ended = True
        if live.rows:
            self._traced[live.sid] = live
            self._flush_soon()

    def _flush_soon(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.clock.call_soon(self.flush)

    def _queue_traces(self) -> None:
        """One :class:`AppendTrace` per call with new rows (or a new error) that is due:
        its call has another write in this group, it ended, it has a new error, many rows
        or rows older than :data:`TRACE_DELAY`; the others wait for a later group."""
        traced, self._traced = self._traced, {}
        written = {write.call_sid for write, _ in self._writes}
        now = self.clock.now()
        final = self.final()
        for sid, live in traced.items():
            due = (
                sid in written
                or live.ended
                or final
                or (live.error is not None and not live.error_sent)
                or len(live.rows) >= TRACE_BATCH
                or now - live.rows_since >= TRACE_DELAY
            )
            if not due:
                self._traced[sid] = live
                continue
            error = None
            if live.error is not None and not live.error_sent:
                live.error_sent = True
                error = trace_json(live.error)
            if not live.rows and error is None:
                continue
            rows, live.rows = tuple(live.rows), []
            live.rows_sent += len(rows)  # at the limit, the store's last row says truncated
            limit = max(1, self.trace_limit)
            self._writes.append((AppendTrace(live.sid, rows, limit, error), None))
        if self._traced and not self._trace_timer:
            self._trace_timer = True
            self.clock.call_later(TRACE_DELAY, self._trace_flush)

    def _trace_flush(self) -> None:
        self._trace_timer = False
        self.flush()
