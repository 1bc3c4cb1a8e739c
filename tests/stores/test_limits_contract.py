"""Request limits in the store (issue 10): idempotency records and rate-limit windows,
run against SQLite and a real redis-server alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.stores import Clock

from voiceapp.errors import ConflictError, HeaderError, RateLimited, ValidationError
from voiceapp.limits import Idempotency, RateLimiter, Replay, Ticket, fingerprint
from voiceapp.settings_tables.limits import RateLimit
from voiceapp.stores.base import Store

# -- the store capability ------------------------------------------------------------------


def test_the_first_request_takes_a_key_and_others_see_it(store: Store, clock: Clock) -> None:
    assert store.begin_idempotent("k1", "fp-a", "owner-1", 60) is None
    seen = store.begin_idempotent("k1", "fp-b", "owner-2", 60)
    assert seen is not None
    assert (seen.fingerprint, seen.owner, seen.done) == ("fp-a", "owner-1", False)
    assert seen.created_at == clock.now
    body = b'{"sid":"CA1"}\n\x00\xff'  # bytes kept exactly, newlines and all
    assert not store.finish_idempotent("k1", "owner-2", 201, "application/json", b"x", 600)
    assert store.finish_idempotent("k1", "owner-1", 201, "application/json", body, 600)
    done = store.begin_idempotent("k1", "fp-a", "owner-3", 60)
    assert done is not None and done.done
    assert (done.fingerprint, done.status, done.content_type, done.body) == (
        "fp-a",
        201,
        "application/json",
        body,
    )
    assert not store.finish_idempotent("k1", "owner-1", 500, "text/plain", b"", 600)  # once
    store.release_idempotent("k1", "owner-1")  # a done record is never released
    again = store.begin_idempotent("k1", "fp-a", "owner-4", 60)
    assert again is not None and again.done and again.status == 201


def test_a_released_key_can_be_taken_again(store: Store) -> None:
    assert store.begin_idempotent("k2", "fp", "owner-1", 60) is None
    store.release_idempotent("k2", "somebody-else")  # not the holder: nothing happens
    assert store.begin_idempotent("k2", "fp", "owner-2", 60) is not None
    store.release_idempotent("k2", "owner-1")
    assert store.begin_idempotent("k2", "fp", "owner-2", 60) is None


def test_idempotency_records_expire(make_store: Callable[..., Store]) -> None:
    store = make_store()  # real clock (Redis expires keys in real time)
    assert store.begin_idempotent("short", "fp", "owner-1", 0.3) is None
    assert store.begin_idempotent("short", "fp", "owner-2", 0.3) is not None
    time.sleep(0.4)
    assert store.begin_idempotent("short", "fp", "owner-3", 0.3) is None  # in flight: expired
    assert store.finish_idempotent("short", "owner-3", 200, "text/plain", b"ok", 0.3)
    assert store.begin_idempotent("short", "fp", "owner-4", 60) is not None
    time.sleep(0.4)
    assert store.begin_idempotent("short", "fp", "owner-5", 60) is None  # done: expired too


def test_one_of_many_threads_takes_a_key(store: Store) -> None:
    def take(i: int) -> bool:
        return store.begin_idempotent("race", "fp", f"owner-{i}", 60) is None

    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(pool.map(take, range(32)))
    assert won.count(True) == 1


# -- the service ---------------------------------------------------------------------------


def test_idempotency_service_states(store: Store) -> None:
    service = Idempotency(store, ttl=86400)
    fp = fingerprint("POST", "/v1/calls", b'{"to":"+886912345678"}')
    ticket = service.begin("api-key-1", "order-42", fp)
    assert isinstance(ticket, Ticket)
    assert "api-key-1" not in ticket.name  # the store knows a digest of the API key only
    with pytest.raises(ConflictError) as in_flight:
        service.begin("api-key-1", "order-42", fp)
    assert (in_flight.value.code, in_flight.value.field) == (
        "idempotency-in-flight",
        "Idempotency-Key",
    )
    other = fingerprint("POST", "/v1/calls", b'{"to":"+886912000111"}')
    with pytest.raises(ValidationError) as reused:
        service.begin("api-key-1", "order-42", other)
    assert (reused.value.status, reused.value.code) == (422, "idempotency-key-reused")
    # keys are per API key: another key's "order-42" is another record
    assert isinstance(service.begin("api-key-2", "order-42", other), Ticket)
    assert service.finish(ticket, 201, "application/json", b'{"sid":"CA1"}')
    replay = service.begin("api-key-1", "order-42", fp)
    assert replay == Replay(201, "application/json", b'{"sid":"CA1"}')


@pytest.mark.parametrize("bad", ["", " ", "a b", "é", "x" * 256, "key\n", "a;b"])
def test_idempotency_keys_are_checked(store: Store, bad: str) -> None:
    with pytest.raises(HeaderError) as caught:
        Idempotency(store, ttl=60).begin("api-key", bad, "fp")
    error = caught.value
    assert (error.status, error.code, error.field) == (
        400,
        "idempotency-key-invalid",
        "Idempotency-Key",
    )


def test_fingerprints_tell_method_path_and_body_apart() -> None:
    prints = {
        fingerprint("POST", "/v1/calls", b"{}"),
        fingerprint("PUT", "/v1/calls", b"{}"),
        fingerprint("POST", "/v1/sessions", b"{}"),
        fingerprint("POST", "/v1/calls", b'{"a":1}'),
        fingerprint("POST", "/v1/call", b"s{}"),  # no ambiguity at the seams
    }
    assert len(prints) == 5


# -- rate limits ---------------------------------------------------------------------------


def test_fixed_windows_count_per_subject(store: Store, clock: Clock) -> None:
    clock.now = 1_800_000_000.0  # a multiple of 10: the start of a window
    limiter = RateLimiter(store, clock)
    limit = RateLimit(3, 10.0)

    def hit(subject: str) -> None:
        limiter.hit(limit, scope="to", subject=subject, field="to", what="calls")

    for _ in range(3):
        hit("+886912345678")
    clock.advance(4)
    with pytest.raises(RateLimited) as caught:
        hit("+886912345678")
    error = caught.value
    assert (error.status, error.code, error.field, error.retry_after) == (
        429,
        "rate-limited",
        "to",
        6,
    )
    assert error.headers() == {"Retry-After": "6"}
    hit("+886912000111")  # another number has its own count
    clock.advance(5.5)
    with pytest.raises(RateLimited) as late:
        hit("+886912345678")
    assert late.value.retry_after == 1  # never 0: at least one second
    clock.advance(0.5)  # the next window
    for _ in range(3):
        hit("+886912345678")
    with pytest.raises(RateLimited):
        hit("+886912345678")


def test_no_limit_counts_nothing(store: Store, clock: Clock) -> None:
    limiter = RateLimiter(store, clock)
    for _ in range(5):  # off: never refused, and nothing is counted
        limiter.hit(None, scope="key", subject="k", field="Authorization", what="requests")
    one = RateLimit(1, 1.0)
    limiter.hit(one, scope="key", subject="k", field="Authorization", what="requests")
    with pytest.raises(RateLimited):
        limiter.hit(one, scope="key", subject="k", field="Authorization", what="requests")


def test_windows_are_shared_by_every_store_instance(
    make_store: Callable[..., Store], clock: Clock
) -> None:
    first, second = make_store(clock), make_store(clock)
    limit = RateLimit(4, 60.0)
    for store in (first, second, first, second):
        RateLimiter(store, clock).hit(
            limit, scope="key", subject="api-key", field="Authorization", what="requests"
        )
    with pytest.raises(RateLimited) as caught:
        RateLimiter(first, clock).hit(
            limit, scope="key", subject="api-key", field="Authorization", what="requests"
        )
    assert caught.value.field == "Authorization"
    assert "api-key" not in caught.value.message


def test_concurrent_hits_allow_exactly_the_limit(store: Store, clock: Clock) -> None:
    limiter = RateLimiter(store, clock)
    limit = RateLimit(10, 3600.0)

    def hit(_: int) -> bool:
        try:
            limiter.hit(limit, scope="to", subject="+1", field="to", what="calls")
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = list(pool.map(hit, range(40)))
    assert allowed.count(True) == 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100/1s", RateLimit(100, 1.0)),
        ("10/60s", RateLimit(10, 60.0)),
        ("5/2m", RateLimit(5, 120.0)),
        ("500/1h", RateLimit(500, 3600.0)),
        ("7/30", RateLimit(7, 30.0)),
        ("", None),
        ("  ", None),
    ],
)
def test_rate_limit_settings_parse(text: str, expected: RateLimit | None) -> None:
    assert RateLimit.parse(text, key="RATE_LIMIT_PER_KEY") == expected


@pytest.mark.parametrize("bad", ["100", "0/1s", "10/0s", "10/2d", "ten/1s", "10/1s/2", "10/90000s"])
def test_bad_rate_limit_settings_name_the_key(bad: str) -> None:
    from voiceapp.config import load_settings
    from voiceapp.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"VOICEAPP_RATE_LIMIT_PER_DESTINATION": bad})
    assert caught.value.field == "RATE_LIMIT_PER_DESTINATION"
