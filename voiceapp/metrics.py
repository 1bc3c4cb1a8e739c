"""Prometheus metrics (``prometheus_client``), all named ``voiceapp_*``.

Two kinds:

* **recorded where things happen** (this module's counters and histograms): the
  dialer records document fetch latency, callback delivery results and its lag
  (queued → taken).  They live in the process that dialed.  Under gunicorn, or with
  a separate ``voiceapp dialer`` on the same machine, set ``PROMETHEUS_MULTIPROC_DIR``
  (an empty folder, the same for every process, before they start): each process
  writes its values there and any ``/metrics`` scrape adds them all up
  (prometheus_client's multiprocess mode).  A dialer on another machine serves its
  own with ``voiceapp dialer --metrics-port``.
* **read from the store at scrape time** (:class:`StoreCollector`): calls by
  status, the queue depth and the age of its oldest call, and the dialer
  heartbeats.  They are right whatever process placed or dialed the calls.

:func:`exposition` renders both for ``GET /metrics``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from voiceapp.stores.calls.base import CallStore

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

DOCUMENT_FETCH = Histogram(
    "voiceapp_document_fetch_seconds",
    "Seconds the dialer took to fetch a call's document (url, redirects, actions), by result.",
    ["result"],  # ok | error
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CALLBACK_DELIVERIES = Counter(
    "voiceapp_callback_deliveries",
    "Status-callback delivery attempts by result: delivered, failed (retried), given-up.",
    ["result"],
)
DIALER_PACED = Counter(
    "voiceapp_dialer_paced",
    "Calls a dialer held queued for a calls-per-second slot (DIALER_CPS_PER_FROM, DIALER_CPS).",
)
DIALER_QUEUE_EXPIRED = Counter(
    "voiceapp_dialer_queue_expired",
    "Calls that waited queued longer than DIALER_QUEUE_TTL and were canceled.",
)
DIALER_LAG = Histogram(
    "voiceapp_dialer_lag_seconds",
    "Seconds from a call being queued to a dialer taking it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)


class StoreCollector(Collector):
    """Gauges read from the call store at scrape time; a store error becomes
    ``voiceapp_store_up 0`` (and no other store gauge), never a failed scrape."""

    def __init__(
        self,
        store: CallStore,
        *,
        ready_age: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ready_age = ready_age
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("voiceapp_store_up", "1 when the call store answered the scrape.")
        try:
            stats = self.store.stats()
            beats = self.store.heartbeats()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now = self.clock()
        calls = GaugeMetricFamily(
            "voiceapp_calls",
            "Calls in the store by status (finished ones are kept for the retention, 2 h).",
            labels=["status"],
        )
        for status, count in sorted(stats.by_status.items()):
            calls.add_metric([status], count)
        yield calls
        yield GaugeMetricFamily(
            "voiceapp_queue_depth", "Queued calls no dialer has taken yet.", value=stats.waiting
        )
        oldest = 0.0 if stats.oldest_waiting_at is None else now - stats.oldest_waiting_at
        yield GaugeMetricFamily(
            "voiceapp_queue_oldest_seconds",
            "Age of the oldest call waiting in the queue (0: none waits).",
            value=max(0.0, oldest),
        )
        alive = [at for at in beats.values() if now - at <= self.ready_age]
        yield GaugeMetricFamily(
            "voiceapp_dialers",
            "Dialer workers whose heartbeat is at most READY_DIALER_AGE seconds old.",
            value=len(alive),
        )
        if beats:
            yield GaugeMetricFamily(
                "voiceapp_dialer_heartbeat_age_seconds",
                "Seconds since the newest dialer heartbeat.",
                value=max(0.0, now - max(beats.values())),
            )


def process_registry() -> CollectorRegistry:
    """This process's metrics, or every process's in multiprocess mode."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return registry


def exposition(store_collector: StoreCollector | None) -> bytes:
    """The text of ``GET /metrics``: the recorded metrics, then the store's."""
    body = generate_latest(process_registry())
    if store_collector is not None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(store_collector)
        body += generate_latest(registry)
    return body
