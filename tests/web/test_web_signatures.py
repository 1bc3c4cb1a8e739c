"""REQUIRE_SIGNATURE: none, voiceapp (X-Voiceapp-Signature) and twilio (X-Twilio-Signature)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from flask import Flask
from support.clocks import Clock
from support.web import TO, new_session, path_of
from twilio.request_validator import RequestValidator

from voiceapp.keys import derive_key
from voiceapp.signatures import sign_request

SIGNING = "signing-secret-0123456789"
TWILIO_TOKEN = "twilio-auth-token-0123456789"


def test_voiceapp_signature(make_app: Callable[..., Flask], clock: Clock) -> None:
    app = make_app(
        REQUIRE_SIGNATURE="voiceapp", SIGNATURE_SECRETS=["old-one", SIGNING], CLOCK=clock
    )
    client = app.test_client()
    url = new_session(client)["url"]
    body = urlencode({"CallSid": "CA1", "To": TO}).encode()
    form = {"content_type": "application/x-www-form-urlencoded", "data": body}

    response = client.post(path_of(url), **form)
    assert response.status_code == 403
    assert response.get_json(force=True)["code"] == "signature-missing"

    bad = sign_request("another-secret", "POST", url, body, timestamp=int(clock.now))
    response = client.post(path_of(url), headers={"X-Voiceapp-Signature": bad}, **form)
    assert response.get_json(force=True)["code"] == "signature-mismatch"

    stale = sign_request(SIGNING, "POST", url, body, timestamp=int(clock.now) - 301)
    response = client.post(path_of(url), headers={"X-Voiceapp-Signature": stale}, **form)
    assert response.get_json(force=True)["code"] == "signature-stale"

    # signed for another body (a different To): refused
    other = sign_request(SIGNING, "POST", url, b"To=%2B1", timestamp=int(clock.now))
    response = client.post(path_of(url), headers={"X-Voiceapp-Signature": other}, **form)
    assert response.status_code == 403

    good = sign_request(SIGNING, "POST", url, body, timestamp=int(clock.now))
    response = client.post(path_of(url), headers={"X-Voiceapp-Signature": good}, **form)
    assert response.status_code == 200
    assert b"8 9 7 0" in response.data


def test_voiceapp_signature_on_get_and_steps(make_app: Callable[..., Flask], clock: Clock) -> None:
    app = make_app(REQUIRE_SIGNATURE="voiceapp", SECRET_KEYS=[SIGNING], CLOCK=clock)
    client = app.test_client()
    url = new_session(client, app="pin-verify")["url"] + "?CallSid=CA1&To=%2B14155550123"
    # the token key itself signs no request: SIGNATURE_SECRETS defaults to a derived key
    token_key_sig = sign_request(SIGNING, "GET", url, b"", timestamp=int(clock.now))
    response = client.get(path_of(url), headers={"X-Voiceapp-Signature": token_key_sig})
    assert response.status_code == 403
    assert response.get_json(force=True)["code"] == "signature-mismatch"
    derived = derive_key(SIGNING, "fetch")
    sig = sign_request(derived, "GET", url, b"", timestamp=int(clock.now))
    response = client.get(path_of(url), headers={"X-Voiceapp-Signature": sig})
    assert response.status_code == 200
    action = response.data.split(b'action="')[1].split(b'"')[0].decode()
    body = b"CallSid=CA1&Digits=8970"
    response = client.post(
        path_of(action), data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 403  # steps need the signature too
    sig = sign_request(derived, "POST", action, body, timestamp=int(clock.now))
    response = client.post(
        path_of(action),
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Voiceapp-Signature": sig},
    )
    assert response.status_code == 200


def test_twilio_signature_as_twilio_python_makes_it(make_app: Callable[..., Flask]) -> None:
    app = make_app(REQUIRE_SIGNATURE="twilio", TWILIO_AUTH_TOKEN=TWILIO_TOKEN)
    client = app.test_client()
    url = new_session(client)["url"]
    params = {"CallSid": "CA1", "To": TO, "From": "+14155550000"}
    response = client.post(path_of(url), data=params)
    assert response.status_code == 403
    assert response.get_json(force=True)["field"] == "X-Twilio-Signature"
    wrong = RequestValidator("not-the-token").compute_signature(url, params)
    response = client.post(path_of(url), data=params, headers={"X-Twilio-Signature": wrong})
    assert response.get_json(force=True)["code"] == "signature-mismatch"
    good = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    response = client.post(path_of(url), data=params, headers={"X-Twilio-Signature": good})
    assert response.status_code == 200


def test_public_url_is_what_gets_signed(make_app: Callable[..., Flask], clock: Clock) -> None:
    app = make_app(
        REQUIRE_SIGNATURE="voiceapp",
        SECRET_KEYS=[SIGNING],
        PUBLIC_URL="https://voice.example.com",
        CLOCK=clock,
    )
    client = app.test_client()
    url = new_session(client)["url"]
    assert url.startswith("https://voice.example.com/voice/")
    sig = sign_request(derive_key(SIGNING, "fetch"), "POST", url, b"", timestamp=int(clock.now))
    response = client.post(path_of(url), headers={"X-Voiceapp-Signature": sig})
    assert response.status_code == 200
