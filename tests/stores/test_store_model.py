"""Random operation sequences against each store and a plain-Python model of the contract.

The clock moves by less than the claim and counter ttl, so only session expiry
(which both stores judge by the store clock) depends on it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.stores import Clock

from voiceapp.stores.base import Session, Store

KEYS = st.sampled_from(["a", "b", "c"])
OWNERS = st.sampled_from(["", "CA1", "CA2"])
BODIES = st.binary(max_size=40)

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), KEYS, OWNERS, BODIES),
        st.tuples(st.just("incr"), KEYS),
        st.tuples(st.just("put"), KEYS, st.integers(1, 50), st.text(max_size=5)),
        st.tuples(st.just("get"), KEYS),
        st.tuples(st.just("tick"), st.integers(0, 30)),
    ),
    max_size=25,
)

LONG_TTL = 3600


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=OPERATIONS)
def test_store_behaves_like_the_model(store: Store, clock: Clock, operations: list[Any]) -> None:
    ns = uuid.uuid4().hex  # a fresh keyspace per example, in the same store
    claims: dict[str, tuple[str, bytes, float]] = {}
    counters: dict[str, int] = {}
    sessions: dict[str, Session] = {}
    for op in operations:
        kind = op[0]
        if kind == "claim":
            _, key, owner, body = op
            won, claim = store.claim(f"{ns}:{key}", owner, body, LONG_TTL)
            if key in claims:
                assert not won
                assert (claim.owner, claim.body, claim.claimed_at) == claims[key]
            else:
                assert won
                assert (claim.owner, claim.body, claim.claimed_at) == (owner, body, clock.now)
                claims[key] = (owner, body, clock.now)
        elif kind == "incr":
            _, key = op
            counters[key] = counters.get(key, 0) + 1
            assert store.incr(f"{ns}:{key}", LONG_TTL) == counters[key]
        elif kind == "put":
            _, key, ttl, pin = op
            session = Session(
                id=f"{ns}:{key}",
                app="pin",
                to="+1",
                variables={"pin": pin},
                created_at=clock.now,
                expires_at=clock.now + ttl,
            )
            store.put_session(session)
            sessions[key] = session
        elif kind == "get":
            _, key = op
            expected = sessions.get(key)
            if expected is not None and clock.now >= expected.expires_at:
                expected = None
            assert store.get_session(f"{ns}:{key}") == expected
        else:
            clock.advance(op[1])


def test_session_json_holds_every_field() -> None:
    """Session.to_json writes the fields one by one: it must name all of them, and read
    back into the same session."""
    session = Session("id1", "pin", "+886912345678", {"pin": "8970", "n": [1]}, "zh", 1.5, 2.5)
    assert json.loads(session.to_json()) == asdict(session)
    assert Session(**json.loads(session.to_json())) == session
