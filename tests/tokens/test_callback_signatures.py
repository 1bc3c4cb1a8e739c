"""Callback signatures (v2): the event id is signed, and receivers can refuse replays."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from voiceapp.errors import TokenInvalid
from voiceapp.signatures import ReplayCache, sign_request, verify_request

URL = "https://hooks.example.com/status?x=1"
BODY = b"CallSid=CA1&CallStatus=completed&StatusCallbackEvent=completed"
NOW = 1_800_000_000
EVENT = "CA1:completed"
SECRET = "callback-secret"


def signed(event_id: str = EVENT, **overrides: Any) -> str:
    args: dict[str, Any] = {"secret": SECRET, "url": URL, "body": BODY, "timestamp": NOW}
    args.update(overrides)
    return sign_request(
        args["secret"],
        "POST",
        args["url"],
        args["body"],
        timestamp=args["timestamp"],
        event_id=event_id,
        nonce=args.get("nonce"),
    )


def check(header: str, event_id: str | None = EVENT, **overrides: Any) -> None:
    args: dict[str, Any] = {"url": URL, "body": BODY, "now": NOW, "seen": None}
    args.update(overrides)
    verify_request(
        [SECRET],
        header,
        "POST",
        args["url"],
        args["body"],
        now=args["now"],
        event_id=event_id,
        seen=args["seen"],
    )


def code(header: str, **kwargs: Any) -> str:
    with pytest.raises(TokenInvalid) as info:
        check(header, **kwargs)
    assert info.value.field == "X-Voiceapp-Signature" and info.value.status == 403
    return info.value.code


def test_v2_is_the_documented_hmac_over_the_event_id_and_a_nonce() -> None:
    header = signed(nonce="abc_-123")
    message = f"v2.{NOW}.abc_-123.{EVENT}.POST.{URL}.".encode() + BODY
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},n=abc_-123,v2={digest}"
    check(header)
    # each attempt gets its own nonce, so its own signature
    assert signed() != signed()


def test_a_swapped_event_id_is_refused() -> None:
    # a replay under a fresh id would pass the receiver's de-duplication: it must not verify
    header = signed()
    assert code(header, event_id="CA1:completed-again") == "signature-mismatch"
    assert code(header, event_id="CA2:completed") == "signature-mismatch"


def test_a_callback_signature_needs_the_event_id_and_v1_does_not_cover_one() -> None:
    assert code(signed(), event_id=None) == "signature-malformed"  # v2 needs event_id=
    v1 = sign_request(SECRET, "POST", URL, BODY, timestamp=NOW)
    assert code(v1) == "signature-malformed"  # a request with an event id needs v2
    check(v1, event_id=None)  # documents keep v1


def test_a_replayed_callback_is_refused_within_the_tolerance() -> None:
    seen = ReplayCache(clock=lambda: NOW)
    header = signed()
    check(header, seen=seen)
    assert code(header, seen=seen) == "signature-replayed"
    assert code(header, seen=seen, now=NOW + 299) == "signature-replayed"
    # the sender's own retry of the event (new nonce) is not a replay
    check(signed(), seen=seen)
    # after the tolerance the old signature is stale, whatever the guard remembers
    assert code(header, seen=seen, now=NOW + 301) == "signature-stale"


def test_the_guard_is_asked_only_after_the_signature_matched() -> None:
    asked: list[tuple[str, int]] = []

    def seen(key: str, ttl: int) -> bool:
        asked.append((key, ttl))
        return False

    assert code(signed(secret="forged"), seen=seen) == "signature-mismatch"
    assert asked == []  # forgeries never fill the receiver's store
    header = signed(nonce="n0nce")
    check(header, seen=seen)
    assert asked == [(f"{NOW}.n0nce", 601)]  # 2 * tolerance + 1


def test_v1_replays_are_refused_by_their_digest() -> None:
    seen = ReplayCache(clock=lambda: NOW)
    v1 = sign_request(SECRET, "POST", URL, BODY, timestamp=NOW)
    check(v1, event_id=None, seen=seen)
    assert code(v1, event_id=None, seen=seen) == "signature-replayed"


def test_the_replay_cache_forgets_after_ttl_and_stays_bounded() -> None:
    now = [0.0]
    cache = ReplayCache(clock=lambda: now[0], max_keys=3)
    assert cache("a", 10) is False
    assert cache("a", 10) is True
    now[0] = 10.0
    assert cache("a", 10) is False  # expired: a new sighting
    for key in "bcd":
        assert cache(key, 100) is False
    assert len(cache) <= 3


@pytest.mark.parametrize("header", [f"t={NOW},v2={'0' * 64}", f"t={NOW},n=a,n=b,v2={'0' * 64}"])
def test_v2_without_one_nonce_is_malformed(header: str) -> None:
    assert code(header) == "signature-malformed"
