"""Sessions: single use, retry window, expiry, destination binding, step tokens, counters.

Every test runs against SQLite and a real Redis, with a controlled clock.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from support.stores import Clock

from voiceapp.errors import TokenExpired, TokenInvalid, TokenUsed, ValidationError
from voiceapp.sessions import Sessions
from voiceapp.stores.base import Session, Store
from voiceapp.tokens import Signer

TO = "+14155550123"


def fresh(session: Session) -> bytes:
    """A renderer whose every call gives different bytes, so a replayed body is visible."""
    noise = os.urandom(8).hex()
    return f"<Response><Say>{session.variables['pin']}</Say><!--{noise}--></Response>".encode()


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_create_saves_the_session_and_signs_a_bound_token(
    sessions: Sessions, store: Store, clock: Clock
) -> None:
    session, token, expires_at = sessions.create(
        "pin", TO, {"pin": "8970"}, ttl=600, language="zh-TW"
    )
    assert expires_at == clock.now + 600 == session.expires_at
    assert (session.app, session.to, session.variables, session.language) == (
        "pin",
        TO,
        {"pin": "8970"},
        "zh-TW",
    )
    assert store.get_session(session.id) == session
    payload = sessions.signer.verify("voice", token)
    assert (payload["sid"], payload["to"], payload["exp"]) == (session.id, TO, expires_at)


@pytest.mark.parametrize(
    ("to", "ttl", "field"), [(TO, 0, "ttl"), (TO, -1, "ttl"), (TO, 1.5, "ttl"), ("", 60, "to")]
)
def test_create_refuses_bad_ttl_and_missing_destination(
    sessions: Sessions, to: str, ttl: Any, field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        sessions.create("pin", to, {"pin": "1"}, ttl=ttl)
    assert (info.value.field, info.value.status) == (field, 422)


def test_first_open_renders_for_the_session(sessions: Sessions) -> None:
    session, token, _ = sessions.create("pin", TO, {"pin": "8970"}, ttl=600)
    seen: list[Session] = []

    def render(s: Session) -> bytes:
        seen.append(s)
        return b"<Response><Say>8 9 7 0</Say></Response>"

    body = sessions.open(token, to=TO, call_sid="CA1", render=render)
    assert body == b"<Response><Say>8 9 7 0</Say></Response>"
    assert seen == [session]


# -- single use and the retry window ------------------------------------------------------


def test_retry_window_same_call_gets_identical_bytes_inside_used_outside(
    sessions: Sessions, clock: Clock
) -> None:
    _, token, _ = sessions.create("pin", TO, {"pin": "8970"}, ttl=600)
    first = sessions.open(token, to=TO, call_sid="CA1", render=fresh)
    clock.advance(29.9)
    again = sessions.open(token, to=TO, call_sid="CA1", render=fresh)
    assert sha(again) == sha(first)
    clock.advance(0.1)  # exactly retry_window after the claim: outside
    with pytest.raises(TokenUsed) as info:
        sessions.open(token, to=TO, call_sid="CA1", render=fresh)
    assert (info.value.code, info.value.status) == ("token-used", 410)


@pytest.mark.parametrize("second_sid", ["CA2", ""])
def test_another_or_anonymous_fetch_inside_the_window_is_refused(
    sessions: Sessions, clock: Clock, second_sid: str
) -> None:
    _, token, _ = sessions.create("pin", TO, {"pin": "8970"}, ttl=600)
    sessions.open(token, to=TO, call_sid="CA1", render=fresh)
    clock.advance(1)
    with pytest.raises(TokenUsed):
        sessions.open(token, to=TO, call_sid=second_sid, render=fresh)


def test_a_claim_without_call_sid_gets_no_retries(sessions: Sessions) -> None:
    _, token, _ = sessions.create("pin", TO, {"pin": "8970"}, ttl=600)
    sessions.open(token, to=TO, call_sid="", render=fresh)
    with pytest.raises(TokenUsed):
        sessions.open(token, to=TO, call_sid="", render=fresh)


def test_retry_window_is_configurable(store: Store, clock: Clock) -> None:
    sessions = Sessions(store, Signer(["k"], clock=clock), retry_window=5, clock=clock)
    _, token, _ = sessions.create("pin", TO, {"pin": "1"}, ttl=600)
    first = sessions.open(token, to=TO, call_sid="CA1", render=fresh)
    clock.advance(4)
    assert sessions.open(token, to=TO, call_sid="CA1", render=fresh) == first
    clock.advance(1)
    with pytest.raises(TokenUsed):
        sessions.open(token, to=TO, call_sid="CA1", render=fresh)


def test_a_failing_render_leaves_the_token_unused(sessions: Sessions) -> None:
    _, token, _ = sessions.create("pin", TO, {"pin": "8970"}, ttl=600)

    def broken(session: Session) -> bytes:
        raise RuntimeError("template exploded")

    with pytest.raises(RuntimeError):
        sessions.open(token, to=TO, call_sid="CA1", render=broken)
    assert sessions.open(token, to=TO, call_sid="CA2", render=fresh).startswith(b"<Response>")


def test_a_render_that_returns_text_is_a_programming_error(sessions: Sessions) -> None:
    _, token, _ = sessions.create("pin", TO, {"pin": "8970"}, ttl=600)
    as_text: Any = lambda session: "<Response/>"  # noqa: E731
    with pytest.raises(TypeError):
        sessions.open(token, to=TO, call_sid="CA1", render=as_text)
    assert sessions.open(token, to=TO, call_sid="CA1", render=fresh)  # still unused


# -- expiry ---------------------------------------------------------------------------------


def test_expiry_boundary(sessions: Sessions, clock: Clock) -> None:
    _, early, expires_at = sessions.create("pin", TO, {"pin": "1"}, ttl=600)
    _, at, _ = sessions.create("pin", TO, {"pin": "2"}, ttl=600)
    _, late, _ = sessions.create("pin", TO, {"pin": "3"}, ttl=600)
    clock.now = expires_at - 1
    assert b"<Say>1</Say>" in sessions.open(early, to=TO, call_sid="CA1", render=fresh)
    clock.now = expires_at
    with pytest.raises(TokenExpired) as info:
        sessions.open(at, to=TO, call_sid="CA2", render=fresh)
    assert (info.value.code, info.value.status) == ("token-expired", 410)
    clock.now = expires_at + 1
    with pytest.raises(TokenExpired):
        sessions.open(late, to=TO, call_sid="CA3", render=fresh)
    # expiry is final: a claimed token is not served again after it expired either
    with pytest.raises(TokenExpired):
        sessions.open(early, to=TO, call_sid="CA1", render=fresh)


def test_a_session_missing_from_the_store_is_expired(make_store: Any, clock: Clock) -> None:
    signer = Signer(["k"], clock=clock)
    writer = Sessions(make_store(clock), signer, clock=clock)
    _, token, _ = writer.create("pin", TO, {"pin": "1"}, ttl=600)
    # a token signed with the same keys but whose session was never saved
    orphan, _ = signer.issue("voice", {"sid": "no-such-session", "to": TO}, 600)
    with pytest.raises(TokenExpired) as info:
        writer.open(orphan, to=TO, call_sid="CA1", render=fresh)
    assert info.value.code == "session-expired"
    assert writer.open(token, to=TO, call_sid="CA1", render=fresh)


# -- destination binding -------------------------------------------------------------------


def test_wrong_destination_is_refused_and_the_token_stays_usable(sessions: Sessions) -> None:
    _, token, _ = sessions.create("pin", TO, {"pin": "8970"}, ttl=600)
    calls: list[Session] = []

    def render(session: Session) -> bytes:
        calls.append(session)
        return b"<Response/>"

    with pytest.raises(TokenInvalid) as info:
        sessions.open(token, to="+14155550999", call_sid="CA-evil", render=render)
    assert (info.value.code, info.value.status, info.value.field) == (
        "token-wrong-destination",
        403,
        "To",
    )
    assert calls == []  # nothing was rendered for the wrong number
    assert sessions.open(token, to=TO, call_sid="CA1", render=render) == b"<Response/>"


@pytest.mark.parametrize("to", [None, ""])
def test_a_fetch_without_to_relies_on_the_token(sessions: Sessions, to: str | None) -> None:
    _, token, _ = sessions.create("pin", TO, {"pin": "8970"}, ttl=600)
    assert sessions.open(token, to=to, call_sid="CA1", render=fresh)


# -- forged and foreign tokens ---------------------------------------------------------------


def test_tampered_and_foreign_tokens_are_invalid(
    sessions: Sessions, store: Store, clock: Clock
) -> None:
    session, token, _ = sessions.create("pin", TO, {"pin": "8970"}, ttl=600)
    payload, signature = token.rsplit(".", 1)
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    stranger = Sessions(store, Signer(["someone-else"], clock=clock), clock=clock)
    _, foreign, _ = stranger.create("pin", TO, {"pin": "0000"}, ttl=600)
    step = sessions.step_token(session, "verify", {}, ttl=60)
    cases = {
        f"{flipped}.{signature}": "token-bad-signature",
        foreign: "token-bad-signature",
        step: "token-bad-signature",  # a step token is not a voice token
        "not-a-token": "token-malformed",
        "": "token-malformed",
    }
    for bad, code in cases.items():
        with pytest.raises(TokenInvalid) as info:
            sessions.open(bad, to=TO, call_sid="CA1", render=fresh)
        assert info.value.code == code, bad
    assert sessions.open(token, to=TO, call_sid="CA1", render=fresh)


# -- continuation steps --------------------------------------------------------------------


def test_a_step_token_opens_once_with_its_data(sessions: Sessions, clock: Clock) -> None:
    session, token, _ = sessions.create("ivr", TO, {"pin": "x"}, ttl=600)
    sessions.open(token, to=TO, call_sid="CA1", render=fresh)
    step = sessions.step_token(session, "menu", {"node": "1.2", "tries": 1}, ttl=120)
    seen: list[tuple[Session, dict[str, Any]]] = []

    def render(s: Session, data: dict[str, Any]) -> bytes:
        seen.append((s, data))
        return f"<Response><!--{os.urandom(4).hex()}--></Response>".encode()

    first = sessions.open_step(step, call_sid="CA1", render=render)
    assert seen == [(session, {"node": "1.2", "tries": 1, "step": "menu"})]
    clock.advance(10)
    assert sessions.open_step(step, call_sid="CA1", render=render) == first  # dialer retry
    with pytest.raises(TokenUsed):
        sessions.open_step(step, call_sid="CA2", render=render)  # replay by another call
    clock.advance(30)
    with pytest.raises(TokenUsed):
        sessions.open_step(step, call_sid="CA1", render=render)  # replay after the window


def test_step_tokens_cannot_be_forged_or_misused(sessions: Sessions, clock: Clock) -> None:
    session, voice, _ = sessions.create("pin-verify", TO, {"pin": "8970"}, ttl=600)
    step = sessions.step_token(session, "check", {"attempt": 1}, ttl=120)
    payload, signature = step.rsplit(".", 1)
    other_session, _, _ = sessions.create("pin-verify", TO, {"pin": "1111"}, ttl=600)
    other = sessions.step_token(other_session, "check", {"attempt": 1}, ttl=120)
    forged = f"{other.rsplit('.', 1)[0]}.{signature}"  # someone else's payload, our signature

    def render(s: Session, data: dict[str, Any]) -> bytes:
        return b"<Response/>"

    for bad in (forged, f"{payload}.{signature[:-1]}", voice):
        with pytest.raises(TokenInvalid) as info:
            sessions.open_step(bad, call_sid="CA1", render=render)
        assert info.value.code == "token-bad-signature"
    assert sessions.open_step(step, call_sid="CA1", render=render) == b"<Response/>"


def test_a_step_token_bound_to_a_call_refuses_other_calls(sessions: Sessions) -> None:
    session, _, _ = sessions.create("ivr", TO, {}, ttl=600)
    step = sessions.step_token(session, "menu", {}, ttl=60, call_sid="CA1")

    def render(s: Session, data: dict[str, Any]) -> bytes:
        return b"<Response/>"

    with pytest.raises(TokenInvalid) as info:
        sessions.open_step(step, call_sid="CA2", render=render)
    assert (info.value.code, info.value.field) == ("token-wrong-call", "CallSid")
    assert sessions.open_step(step, call_sid="CA1", render=render) == b"<Response/>"


def test_a_step_token_never_outlives_its_session(sessions: Sessions, clock: Clock) -> None:
    session, _, expires_at = sessions.create("ivr", TO, {}, ttl=100)
    clock.advance(90)
    step = sessions.step_token(session, "menu", {}, ttl=3600)
    assert sessions.signer.verify("step", step)["exp"] <= expires_at
    clock.now = expires_at
    with pytest.raises(TokenExpired):
        sessions.open_step(step, call_sid="CA1", render=lambda s, d: b"<Response/>")
    with pytest.raises(TokenExpired) as info:
        sessions.step_token(session, "menu", {}, ttl=60)
    assert info.value.code == "session-expired"


# -- counters ------------------------------------------------------------------------------


def test_incr_counts_per_session_and_name(sessions: Sessions, clock: Clock) -> None:
    first, _, _ = sessions.create("pin-verify", TO, {"pin": "1"}, ttl=600)
    second, _, _ = sessions.create("pin-verify", TO, {"pin": "2"}, ttl=600)
    assert [sessions.incr(first.id, "attempts") for _ in range(5)] == [1, 2, 3, 4, 5]
    assert sessions.incr(second.id, "attempts") == 1
    assert sessions.incr(first.id, "other") == 1
    clock.advance(600)
    with pytest.raises(TokenExpired) as info:
        sessions.incr(first.id, "attempts")
    assert info.value.code == "session-expired"
