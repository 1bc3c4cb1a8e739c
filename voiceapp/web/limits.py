"""Request limits over HTTP: rate limits and ``Idempotency-Key`` for the REST API.

The counting and the records live in :mod:`voiceapp.limits` (the store); this
module reads the settings and the request:

* :func:`limit_api_key` (``RATE_LIMIT_PER_KEY``, field ``Authorization``) and
  :func:`limit_destination` (``RATE_LIMIT_PER_DESTINATION``, field ``to``) raise
  429 ``rate-limited`` with ``Retry-After``;
* :func:`idempotent` runs a route's work once per ``Idempotency-Key``.  What is
  stored is the response the work produced, 2xx or 4xx (the result of the first
  attempt, as Stripe does: a 409 ``call-to-busy`` or a 422 is replayed too; a new
  attempt needs a new key).  Not stored, so that a retry with the same key runs
  anew: a 429 (nothing was attempted), a 5xx or an unexpected error (the store
  failed; the call store writes a call in one step, so nothing half-made is left).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import urlencode

from flask import Response, make_response, request
from flask.typing import ResponseReturnValue

from voiceapp.errors import RateLimited, StoreError, VoiceappError
from voiceapp.limits import HEADER, REPLAYED_HEADER, Idempotency, RateLimiter, Replay, fingerprint
from voiceapp.web.problems import error_response
from voiceapp.web.runtime import Runtime

log = logging.getLogger("voiceapp.web.limits")


def limit_api_key(rt: Runtime, api_key: str) -> None:
    """Count a request of ``api_key`` (calls and sessions share the budget)."""
    RateLimiter(rt.store, rt.clock).hit(
        rt.settings.RATE_LIMIT_PER_KEY,
        scope="key",
        subject=api_key,
        field="Authorization",
        what="requests for this API key",
    )


def limit_destination(rt: Runtime, to: str) -> None:
    """Count a call placed to ``to`` (E.164), whichever route places it."""
    RateLimiter(rt.store, rt.clock).hit(
        rt.settings.RATE_LIMIT_PER_DESTINATION,
        scope="to",
        subject=to,
        field="to",
        what=f"calls to {to}",
    )


def canonical_body() -> bytes:
    """The request body in a form that ignores what does not change its meaning: a JSON
    body re-serialized with sorted keys, a form's fields sorted; other bodies as sent."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return urlencode(sorted(request.form.items(multi=True))).encode("utf-8")
    data = request.get_data()
    if request.is_json:
        try:
            parsed = json.loads(data)
        except ValueError:
            return data
        return json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return data


def _replay(replay: Replay) -> Response:
    response = Response(replay.body, status=replay.status, content_type=replay.content_type)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def idempotent(rt: Runtime, api_key: str, work: Callable[[], ResponseReturnValue]) -> Response:
    """``work()``'s response; with an ``Idempotency-Key`` header, at most once per key
    (see the module docstring): a replay carries ``Idempotent-Replayed: true``."""
    key = request.headers.get(HEADER)
    if key is None:
        return make_response(work())
    service = Idempotency(rt.store, rt.settings.IDEMPOTENCY_TTL)
    path = request.full_path if request.query_string else request.path
    taken = service.begin(api_key, key, fingerprint(request.method, path, canonical_body()))
    if isinstance(taken, Replay):
        return _replay(taken)
    try:
        response = make_response(work())
    except VoiceappError as error:
        if error.status >= 500 or isinstance(error, RateLimited):
            service.release(taken)
            raise
        response = error_response(error)
    except BaseException:
        service.release(taken)
        raise
    if response.status_code >= 500:
        service.release(taken)
        return response
    try:
        service.finish(taken, response.status_code, response.content_type or "", response.data)
    except StoreError as exc:  # the work is done: answer it; the key frees itself in time
        log.error("%s: the response could not be stored: %s", HEADER, exc.message)
    return response
