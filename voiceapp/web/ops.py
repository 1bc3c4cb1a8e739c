"""The ``ops`` blueprint: readiness and metrics, for load balancers and Prometheus.

``GET /v1/health`` (in :mod:`voiceapp.web.api`) is liveness: the process answers.
``GET /v1/ready`` is readiness: 200 ``{"status": "ready", "dialers": N,
"heartbeat_age": s}`` when the call store answers a ping and some dialer wrote its
heartbeat at most ``READY_DIALER_AGE`` seconds ago; else 503 problem+json with a
``reason``: ``store-unavailable`` or ``no-dialer``.  No API key (it says nothing
secret).

``GET /metrics`` (when ``METRICS`` is on): the Prometheus text format, see
:mod:`voiceapp.metrics`.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify

from voiceapp.config import Settings
from voiceapp.errors import StoreError
from voiceapp.metrics import CONTENT_TYPE, StoreCollector, exposition
from voiceapp.stores.calls.base import CallStore
from voiceapp.web.problems import PROBLEM_TYPE_PREFIX, problem

bp = Blueprint("ops", __name__)

EXTENSION = "voiceapp.ops"


def init_app(app: Flask, settings: Settings, store: CallStore) -> None:
    app.extensions[EXTENSION] = (
        settings,
        store,
        StoreCollector(store, ready_age=settings.READY_DIALER_AGE, clock=store.clock),
    )
    app.register_blueprint(bp)


def _ops() -> tuple[Settings, CallStore, StoreCollector]:
    settings, store, collector = current_app.extensions[EXTENSION]
    return settings, store, collector


def _not_ready(reason: str, detail: str) -> Response:
    return problem(
        503,
        type=PROBLEM_TYPE_PREFIX + reason,
        title="Not ready",
        detail=detail,
        code=reason,
        reason=reason,
    )


@bp.get("/v1/ready")
def ready() -> Response:
    settings, store, _ = _ops()
    try:
        store.ping()
        beats = store.heartbeats()
    except StoreError as exc:
        return _not_ready("store-unavailable", f"the call store does not answer: {exc.message}")
    now = store.clock()
    limit = settings.READY_DIALER_AGE
    newest = max(beats.values(), default=None)
    if newest is None or now - newest > limit:
        seen = "never" if newest is None else f"{now - newest:.1f} s ago"
        return _not_ready(
            "no-dialer",
            f"no dialer heartbeat within {limit:g} s (last: {seen}); queued calls wait "
            "until a dialer runs (DIALER = embedded, or voiceapp dialer)",
        )
    alive = sum(1 for at in beats.values() if now - at <= limit)
    response = jsonify(
        {"status": "ready", "dialers": alive, "heartbeat_age": round(max(0.0, now - newest), 3)}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics() -> Response:
    settings, _, collector = _ops()
    if not settings.METRICS:
        return problem(
            404,
            type="about:blank",
            title="Not Found",
            detail="metrics are off (METRICS = false)",
        )
    return Response(exposition(collector), content_type=CONTENT_TYPE)
