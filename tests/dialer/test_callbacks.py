"""Status-callback parameters, subscriptions and at-least-once delivery."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from support.dialer import Receiver

from voiceapp.calls.states import CallbackEvent, CallStatus
from voiceapp.calls.subscriptions import Subscription, parse_events, parse_optional
from voiceapp.dialer.callbacks import (
    EVENT_ID_HEADER,
    Attempt,
    CallbackRequest,
    Deliverer,
    Delivery,
)
from voiceapp.dialer.clock import VirtualClock
from voiceapp.dialer.webhooks import SEED_CALLBACK_SOURCE, Party, callback_params
from voiceapp.errors import ConfigError, ValidationError
from voiceapp.settings_tables.retry import RetryPolicy

C, S = CallbackEvent, CallStatus
WHEN = datetime(2026, 3, 25, 9, 53, 19, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {C.COMPLETED}),
        ("", {C.COMPLETED}),
        ("initiated ringing answered completed", set(C)),
        ("initiated,ringing", {C.INITIATED, C.RINGING}),
        ("  Answered  ", {C.ANSWERED}),
        (["ringing", "completed"], {C.RINGING, C.COMPLETED}),
    ],
)
def test_parse_events(value: str | list[str] | None, expected: set[CallbackEvent]) -> None:
    assert parse_events(value) == expected


def test_parse_events_refuses_unknown() -> None:
    with pytest.raises(ValidationError) as info:
        parse_events("initiated hungup")
    assert (info.value.code, info.value.field) == ("callback-bad-event", "statusCallbackEvent")
    assert "'hungup'" in info.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ()),
        ("token=123456", (("token", "123456"),)),
        ("token=123456&campaign=spring%20sale", (("token", "123456"), ("campaign", "spring sale"))),
        ("flag=", (("flag", ""),)),
    ],
)
def test_parse_optional(value: str | None, expected: tuple[tuple[str, str], ...]) -> None:
    assert parse_optional(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("token", "callback-bad-optional"),
        ("a=1&&b", "callback-bad-optional"),
        ("CallStatus=completed", "callback-reserved-param"),
        ("apikey=stolen", "callback-reserved-param"),
    ],
)
def test_parse_optional_refuses(value: str, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_optional(value)
    assert (info.value.code, info.value.field) == (code, "optional")


def test_subscription_from_fields() -> None:
    sub = Subscription.from_fields(
        status_callback="http://127.0.0.1:9/cb",
        status_callback_event="initiated answered",
        status_callback_method="get",
        secret_key="s3cret",
        optional="token=123456",
    )
    assert sub == Subscription(
        url="http://127.0.0.1:9/cb",
        events=frozenset({C.INITIATED, C.ANSWERED}),
        method="GET",
        secret_key="s3cret",
        optional=(("token", "123456"),),
    )
    assert sub.wants(C.ANSWERED) and not sub.wants(C.COMPLETED) and not sub.wants(None)
    defaults = Subscription.from_fields(status_callback="http://x/cb")
    assert (defaults.method, defaults.events) == ("POST", {C.COMPLETED})
    assert not Subscription().wants(C.COMPLETED)  # no URL, nothing wanted
    with pytest.raises(ValidationError) as info:
        Subscription.from_fields(status_callback="http://x/cb", status_callback_method="PUT")
    assert info.value.field == "statusCallbackMethod"


def test_params_for_an_a_leg_completed_event() -> None:
    sub = Subscription(url="http://x/cb", secret_key="s3cret", optional=(("token", "123456"),))
    party = Party("CA1", "+19499300360", "+886912345678", "outbound-api", S.COMPLETED)
    params = callback_params(
        party,
        event=C.COMPLETED,
        sequence=3,
        timestamp=WHEN,
        duration=49,
        recording_url="http://rec/CA1/RE1.wav",
        subscription=sub,
    )
    assert params == [
        ("CallSid", "CA1"),
        ("callSid", "CA1"),
        ("CallStatus", "completed"),
        ("StatusCallbackEvent", "completed"),
        ("Called", "+886912345678"),
        ("To", "+886912345678"),
        ("From", "+19499300360"),
        ("Direction", "outbound-api"),
        ("CallbackSource", SEED_CALLBACK_SOURCE),
        ("SequenceNumber", "3"),
        ("Timestamp", "Wed, 25 Mar 2026 09:53:19 +0000"),
        ("CallDuration", "49"),
        ("CallDurartion", "49"),
        ("RecordingURL", "http://rec/CA1/RE1.wav"),
        ("apikey", "s3cret"),
        ("token", "123456"),
    ]
    assert SEED_CALLBACK_SOURCE == "call-progress-event"


def test_params_for_a_b_leg_answered_event() -> None:
    params = dict(
        callback_params(
            Party("CA2", "+19499300360", "+18005797676", "outbound-dial", S.IN_PROGRESS, "CA1"),
            event=C.ANSWERED,
            sequence=2,
            timestamp=WHEN,
            duration=12,
            recording_url="ignored before completed",
        )
    )
    assert params["ParentCallSid"] == "CA1"
    assert params["Direction"] == "outbound-dial"
    assert params["CallStatus"] == "in-progress"
    assert "CallDuration" not in params and "RecordingURL" not in params and "apikey" not in params


def test_busy_completed_has_zero_duration() -> None:
    params = dict(
        callback_params(
            Party("CA1", "+1", "+2", "outbound-api", S.BUSY),
            event=C.COMPLETED,
            sequence=1,
            timestamp=WHEN,
        )
    )
    assert (params["CallStatus"], params["CallDuration"]) == ("busy", "0")


def test_retry_policy_backoff() -> None:
    policy = RetryPolicy(attempts=6, first_delay=1, factor=2, max_delay=10)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"attempts": 0}, "callbacks.retry.attempts"),
        ({"first_delay": 0}, "callbacks.retry.first_delay"),
        ({"factor": 0.5}, "callbacks.retry.factor"),
        ({"first_delay": 10, "max_delay": 5}, "callbacks.retry.max_delay"),
        ({"retries": 3}, "callbacks.retry.retries"),
    ],
)
def test_retry_policy_refuses(data: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        RetryPolicy.from_dict(data)
    assert info.value.field == field


SUB = Subscription(url="http://127.0.0.1:9/cb")


def submit(deliverer: Deliverer, event_id: str, key: str = "CA1") -> Delivery:
    return deliverer.submit(event_id=event_id, key=key, subscription=SUB, params=[("CallSid", key)])


def test_fails_twice_then_recovers_delivered_once() -> None:
    clock = VirtualClock()
    receiver = Receiver(clock=clock, script=[503, ConnectionRefusedError("refused"), 200])
    seen: list[tuple[str, int]] = []
    deliverer = Deliverer(
        clock,
        receiver,
        RetryPolicy(first_delay=1, factor=2),
        on_change=lambda d: seen.append((d.state, len(d.attempts))),
    )
    delivery = submit(deliverer, "CA1-0")
    clock.run_until_idle()
    assert delivery.state == "delivered"
    assert receiver.accepted_ids == ["CA1-0"]
    assert [t for t, _ in receiver.calls] == [0.0, 1.0, 3.0]
    assert [(a.ok, a.status) for a in delivery.attempts] == [
        (False, 503),
        (False, None),
        (True, 200),
    ]
    assert delivery.attempts[1].error == "ConnectionRefusedError: refused"
    assert seen == [("pending", 1), ("pending", 2), ("delivered", 3)]
    assert {r.headers[EVENT_ID_HEADER] for _, r in receiver.calls} == {"CA1-0"}
    assert deliverer.idle


def test_gives_up_after_the_policy_attempts() -> None:
    clock = VirtualClock()
    receiver = Receiver(clock=clock, script=[500] * 10)
    deliverer = Deliverer(clock, receiver, RetryPolicy(attempts=3, first_delay=2))
    delivery = submit(deliverer, "CA1-0")
    clock.run_until_idle()
    assert delivery.state == "failed"
    assert [t for t, _ in receiver.calls] == [0.0, 2.0, 6.0]


@pytest.mark.parametrize(("status", "tries"), [(404, 1), (400, 1), (429, 2), (408, 2), (502, 2)])
def test_which_statuses_are_retried(status: int, tries: int) -> None:
    clock = VirtualClock()
    receiver = Receiver(clock=clock, script=[status])
    deliverer = Deliverer(clock, receiver)
    delivery = submit(deliverer, "CA1-0")
    clock.run_until_idle()
    assert len(receiver.calls) == tries
    assert delivery.state == ("failed" if tries == 1 else "delivered")


def test_events_of_one_leg_stay_in_order_while_others_proceed() -> None:
    clock = VirtualClock()
    receiver = Receiver(
        clock=clock, script=[500, 200, 200, 200]
    )  # the first event of CA1 fails once
    deliverer = Deliverer(clock, receiver, RetryPolicy(first_delay=5))
    for event_id, key in [("CA1-0", "CA1"), ("CA1-1", "CA1"), ("CA2-0", "CA2")]:
        submit(deliverer, event_id, key)
    clock.run_until_idle()
    assert receiver.accepted_ids == ["CA2-0", "CA1-0", "CA1-1"]
    assert [(t, r.event_id) for t, r in receiver.calls] == [
        (0.0, "CA1-0"),
        (0.0, "CA2-0"),
        (5.0, "CA1-0"),
        (5.0, "CA1-1"),
    ]


def test_threaded_sender_does_not_hold_up_other_work() -> None:
    clock = VirtualClock()
    release = threading.Event()
    order: list[str] = []

    def slow(request: CallbackRequest) -> int:
        release.wait(5.0)
        order.append("delivered")
        return 204

    deliverer = Deliverer(clock, slow, threaded=True)
    delivery = submit(deliverer, "CA1-0")
    clock.call_soon(lambda: order.append("call goes on"))
    clock.call_soon(release.set)
    clock.run_until_idle()
    assert order == ["call goes on", "delivered"]
    assert delivery.state == "delivered"


def test_submit_without_url_is_a_bug() -> None:
    with pytest.raises(ValueError, match="without a URL"):
        Deliverer(VirtualClock(), lambda r: 200).submit(
            event_id="x", key="k", subscription=Subscription(), params=[]
        )


def test_a_delivery_resumed_after_a_restart_continues_its_count() -> None:
    clock = VirtualClock()
    receiver = Receiver(clock=clock, script=[500, 500])
    deliverer = Deliverer(clock, receiver, RetryPolicy(attempts=4, first_delay=1))
    before = [Attempt(1, 0.0, False, status=503), Attempt(2, 1.0, False, error="timeout")]
    delivery = deliverer.submit(
        event_id="CA1:completed", key="CA1", subscription=SUB, params=[], attempts=before
    )
    clock.run_until_idle()
    # tries 3 and 4 fail; the policy allows four in all, so it gives up
    assert [a.number for a in delivery.attempts] == [1, 2, 3, 4]
    assert delivery.state == "failed"
    assert [t for t, _ in receiver.calls] == [0.0, 4.0]  # at once, then after 1 * 2**2 s
