"""Redaction (voiceapp.redact): what errors, GET /v1/calls and traces may show."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable

import pytest
from flask import Flask
from support.web import AUTH

from voiceapp.calls.records import CallSpec, trace_json
from voiceapp.redact import (
    EXTRA_KEY,
    MASK,
    Fingerprints,
    RedactingFilter,
    Redactor,
    hide_secret_variables,
    redact_params,
    redact_text,
    redact_url,
)
from voiceapp.web.calls import call_service

FROM = "+19499300360"
KEYS = ("test-secret-key",)


@pytest.fixture
def calls_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(
        OUTBOUND_NUMBERS={FROM: "active"},
        DIALER="external",
        URL_ALLOWLIST=["voice.example.com:443", "hooks.example.com:443"],  # no DNS in tests
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "ftp://user:SECRET@host.example.com/doc.xml"),
        ("statusCallback", "ftp://user:SECRET@hooks.example.com/s"),
        ("url", "https://user:SECRET@host.example.com:99999/x"),  # url-invalid (port)
        ("url", "https://user:SECRET@/nohost"),
        ("statusCallback", "https://user:SECRET@hooks.example.com/a b"),
    ],
)
def test_url_errors_do_not_echo_userinfo(calls_app: Flask, field: str, value: str) -> None:
    body = {"from": FROM, "to": "+14155550123", field: value}
    if field == "statusCallback":
        body["url"] = "https://voice.example.com/doc"
    response = calls_app.test_client().post("/v1/calls", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    problem = response.get_json(force=True)
    assert problem["field"] == field and problem["code"].startswith("url-")
    assert "SECRET" not in response.text
    assert "***@" in problem["detail"]


def test_get_call_masks_the_token_the_secret_key_and_the_pin(calls_app: Flask) -> None:
    client = calls_app.test_client()
    created = client.post(
        "/v1/calls",
        json={
            "from": FROM,
            "to": "+14155550123",
            "app": "pin",
            "variables": {"pin": "8970", "repeat": 1},
            "secretKey": "my-S3CRET-key",
            "statusCallback": "https://user:pw@hooks.example.com/s?apikey=zzz&x=1",
        },
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    sid = created.get_json()["sid"]
    record = call_service(calls_app).store.require(sid)
    # the call never stores the PIN: the session holds it, the call keeps fingerprints
    assert record.spec.variables == {"pin": MASK, "repeat": 1}
    assert record.spec.url is not None
    token = record.spec.url.rsplit("/", 1)[1]
    response = client.get(f"/v1/calls/{sid}", headers=AUTH)
    text = response.get_data(as_text=True)
    for secret in (token, "my-S3CRET-key", "8970", "pw@", "zzz"):
        assert secret not in text, secret
    body = json.loads(text)
    assert body["url"].endswith("/voice/***") and body["secretKey"] == MASK
    assert body["statusCallback"] == "https://***@hooks.example.com/s?apikey=%2A%2A%2A&x=1"
    assert "redact" not in body["extra"]  # the fingerprints are not shown either


def test_redact_url_keeps_the_route_and_what_is_not_secret() -> None:
    assert redact_url("https://v.example.com/voice/abc.DEF-1?x=1") == (
        "https://v.example.com/voice/***?x=1"
    )
    assert redact_url("https://v.example.com/base/voice/step/abc.def") == (
        "https://v.example.com/base/voice/step/***"
    )
    assert redact_url("ftp://user:SECRET@host/x") == "ftp://***@host/x"
    plain = "https://hooks.example.com/status?x=1&y=2"
    assert redact_url(plain) is plain  # unchanged, untouched
    assert redact_text("GET /voice/step/abc.def failed: https://u:p@h/x") == (
        "GET /voice/step/*** failed: https://***@h/x"
    )
    assert redact_params([("CallSid", "CA1"), ("apikey", "k")]) == [
        ("CallSid", "CA1"),
        ("apikey", MASK),
    ]


def test_a_redactor_finds_a_secret_pin_spoken_or_typed() -> None:
    variables, prints = hide_secret_variables({"pin": "8970", "repeat": 2}, {"pin"}, KEYS[-1])
    assert variables == {"pin": MASK, "repeat": 2} and prints is not None
    assert "8970" not in json.dumps(prints)
    redactor = Redactor.for_call({"redact": prints}, KEYS)
    assert not redactor.fallback
    row = {
        "text": "Your pin is 8 9 7 0.",
        "digits": "8970",
        "params": {"Digits": "8970", "CallSid": "CA1"},
        "other": "call 18970 or 4155550123",
        "url": "http://h/voice/step/tok.en",
    }
    assert redactor(row) == {
        "text": "Your pin is ***.",
        "digits": MASK,
        "params": {"Digits": MASK, "CallSid": "CA1"},
        "other": "call 1*** or 4155550123",
        "url": "http://h/voice/step/***",
    }
    # a dialer with other SECRET_KEYS cannot check the fingerprints: it masks digit runs
    blind = Redactor.for_call({"redact": prints}, ("another-key",))
    assert blind.fallback
    assert blind({"text": "Your pin is 8 9 7 0, press 1"}) == {"text": "Your pin is ***, press 1"}


def test_the_log_filter_masks_tokens_in_request_lines() -> None:
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '"%s" %d',
        ("POST /voice/abc.def HTTP/1.1", 200),
        None,
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == '"POST /voice/*** HTTP/1.1" 200'


def test_fingerprints_round_trip_and_refuse_junk() -> None:
    prints = Fingerprints.make(["1234"], KEYS[0])
    assert Fingerprints.from_json(prints.to_json()) == prints
    assert Fingerprints.from_json({"salt": "x"}) is None
    assert Fingerprints.from_json("junk") is None


def test_length_digests_change_what_is_hashed_not_what_is_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fingerprints with the digests of the digit values' lengths hash only candidates of
    those lengths; the masks are those of a search at every length (fingerprints stored
    without them), for digit and word secrets alike."""
    texts = [
        "Your pin is 8 9 7 0.",
        "+19499300360 called +14155558970",
        "CAd5000e26ba824cc2bfbbdd0a452ccc6a",
        "code 123456 then 8970-1 and 0123456789",
        "the word Swordfish, then 8,9,7,0",
        "<Say>0 1 2 3 4 5 6 7 8 9</Say>",
    ]
    for values in (["8970"], ["8970", "123456"], ["0123456789"], ["8970", "swordfish"]):
        prints = Fingerprints.make(values, KEYS[0])
        assert prints.lengths is not None
        assert len(prints.lengths) == len({len(v) for v in values if v.isdigit()})
        old = dataclasses.replace(prints, lengths=None)  # as stored before lengths
        assert Fingerprints.from_json(old.to_json()) == old
        assert "lengths" not in old.to_json()
        hashed: list[int] = []
        for fingerprints in (prints, old):
            redactor = Redactor(fingerprints, KEYS)
            count = 0
            real = redactor._hash

            def counting(candidate: str, real: Callable[[str], str] = real) -> str:
                nonlocal count
                count += 1
                return real(candidate)

            monkeypatch.setattr(redactor, "_hash", counting)
            masked = [redactor.text(text) for text in texts]
            if fingerprints is prints:
                expected = masked
            else:
                assert masked == expected, values
            hashed.append(count)
        assert hashed[0] < hashed[1], (values, hashed)
    redactor = Redactor(Fingerprints.make(["8970"], KEYS[0]), KEYS)
    assert redactor.text("+19499300360 / 8 9 7 0") == "+19499300360 / ***"


def test_a_call_stored_with_its_pin_still_shows_none(calls_app: Flask) -> None:
    # a record written before secret variables were kept out of call records
    store = call_service(calls_app).store
    store.create(
        CallSpec(
            sid="CAold",
            from_=FROM,
            to="+14155550124",
            url="https://voice.example.com/voice/old.token",
            app="pin",
            variables={"pin": "4321", "repeat": 1},
        )
    )
    response = calls_app.test_client().get("/v1/calls/CAold", headers=AUTH)
    assert response.status_code == 200
    assert "4321" not in response.get_data(as_text=True)
    assert response.get_json()["variables"] == {"pin": MASK, "repeat": 1}
    canceled = calls_app.test_client().post("/v1/calls/CAold/cancel", headers=AUTH)
    assert canceled.status_code == 200 and "4321" not in canceled.get_data(as_text=True)


def _trace_row(ms: int, kind: str, **detail: object) -> str:
    return trace_json({"ms": ms, "leg": "a", "kind": kind, "detail": detail})


def test_a_url_call_to_one_of_our_session_urls_keeps_its_pin_out(
    make_app: Callable[..., Flask],
) -> None:
    calls_app = make_app(
        OUTBOUND_NUMBERS={FROM: "active"},
        DIALER="external",
        URL_ALLOWLIST=["localhost:80"],  # the test client's own session URLs
    )
    client = calls_app.test_client()
    made = client.post(
        "/v1/sessions",
        json={"app": "pin", "to": "+14155550125", "variables": {"pin": "8970", "repeat": 1}},
        headers=AUTH,
    )
    assert made.status_code == 201, made.text
    created = client.post(
        "/v1/calls",
        json={"from": FROM, "to": "+14155550125", "url": made.get_json()["url"]},
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    sid = created.get_json()["sid"]
    store = call_service(calls_app).store
    assert store.require(sid).spec.extra.get(EXTRA_KEY), "the session's secrets are known"
    store.append_trace(sid, [_trace_row(0, "say", text="Your pin is 8 9 7 0.")])
    shown = client.get(f"/v1/calls/{sid}", headers=AUTH).get_data(as_text=True)
    assert "8 9 7 0" not in shown and "8970" not in shown
    assert "Your pin is" in shown


def test_a_url_call_elsewhere_gets_no_fingerprints(calls_app: Flask) -> None:
    created = calls_app.test_client().post(
        "/v1/calls",
        json={"from": FROM, "to": "+14155550126", "url": "https://voice.example.com/voice/x.y"},
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    record = call_service(calls_app).store.require(created.get_json()["sid"])
    assert EXTRA_KEY not in record.spec.extra


def test_a_pin_keyed_one_digit_a_row_is_masked(calls_app: Flask) -> None:
    client = calls_app.test_client()
    created = client.post(
        "/v1/calls",
        json={
            "from": FROM,
            "to": "+14155550127",
            "app": "pin",
            "variables": {"pin": "8970", "repeat": 1},
        },
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    sid = created.get_json()["sid"]
    store = call_service(calls_app).store
    rows = [_trace_row(i * 100, "digit-heard", digit=d) for i, d in enumerate("8970#")]
    other_leg = trace_json(
        {"ms": 950, "leg": "b1", "kind": "digit-heard", "detail": {"digit": "1"}}
    )
    store.append_trace(sid, [*rows, _trace_row(900, "digit-heard", digit="5"), other_leg])
    trace = client.get(f"/v1/calls/{sid}", headers=AUTH).get_json()["trace"]
    heard = [(row["leg"], row["detail"]["digit"]) for row in trace if row["kind"] == "digit-heard"]
    # every digit of the leg (which ones are the PIN is a secret too); the other leg's stay
    assert heard == [("a", MASK)] * 6 + [("b1", "1")]
