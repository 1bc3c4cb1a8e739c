"""GET|POST /voice/<token> and /voice/step/<token> through the Flask test client."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.clocks import Clock
from support.web import TO, new_session, path_of

from voiceapp.apps.pin import MAX_ATTEMPTS
from voiceapp.document import Node, parse


def fetch(client: FlaskClient, url: str, method: str = "POST", **params: str) -> Any:
    if method == "GET":
        return client.get(path_of(url), query_string=params)
    return client.post(path_of(url), data=params)


def doc_of(response: Any) -> Node:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    return parse(response.data)


def says(doc: Node) -> list[str]:
    return [n.text for n in doc.iter() if n.tag == "Say"]


def assert_no_script(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert b"<Response" not in response.data and b"<Say" not in response.data
    assert response.get_json(force=True)["code"] == code


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_pin_document_once_then_410(client: FlaskClient, method: str) -> None:
    url = new_session(client)["url"]
    doc = doc_of(fetch(client, url, method, CallSid="CA1", From="+14155550000", To=TO))
    assert says(doc)[0].startswith("Your pin is 8 9 7 0")
    assert doc.elements[-1].tag == "Hangup"
    assert_no_script(fetch(client, url, method, CallSid="CA2", To=TO), 410, "token-used")
    assert_no_script(fetch(client, url, method, To=TO), 410, "token-used")


def test_traditional_chinese_session(client: FlaskClient) -> None:
    url = new_session(client, language="zh-TW")["url"]
    doc = doc_of(fetch(client, url, CallSid="CA1", To=TO))
    assert says(doc)[0].startswith("您的密碼是 8 9 7 0")


def test_destination_binding(client: FlaskClient) -> None:
    url = new_session(client)["url"]
    wrong = fetch(client, url, CallSid="CA1", To="+14155550199")
    assert_no_script(wrong, 403, "token-wrong-destination")
    assert wrong.get_json(force=True)["field"] == "To"
    # the token stays unused: the right callee still gets the document,
    # also when the dialer reports the number in another format
    doc_of(fetch(client, url, CallSid="CA1", To="+1 (415) 555-0123"))


def test_tampered_and_wrong_purpose_tokens_are_403(client: FlaskClient) -> None:
    data = new_session(client)
    token = data["token"]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_no_script(client.post(f"/voice/{tampered}", data={"To": TO}), 403, "token-bad-signature")
    assert_no_script(client.post("/voice/garbage", data={"To": TO}), 403, "token-malformed")
    # a voice token is not a step token
    assert_no_script(client.post(f"/voice/step/{token}"), 403, "token-bad-signature")
    doc_of(client.post(f"/voice/{token}", data={"To": TO}))


def test_expiry_with_a_controlled_clock(client: FlaskClient, clock: Clock) -> None:
    url = new_session(client, ttl=60)["url"]
    clock.advance(60)
    assert_no_script(fetch(client, url, CallSid="CA1", To=TO), 410, "token-expired")


def test_retry_window_through_http(client: FlaskClient, clock: Clock) -> None:
    url = new_session(client, app="pin-verify")["url"]
    first = fetch(client, url, CallSid="CA1", To=TO)
    doc_of(first)
    digest = hashlib.sha256(first.data).hexdigest()
    clock.advance(29)
    again = fetch(client, url, CallSid="CA1", To=TO)
    assert hashlib.sha256(again.data).hexdigest() == digest  # byte-identical, same step tokens
    assert_no_script(fetch(client, url, CallSid="CA2", To=TO), 410, "token-used")
    clock.advance(2)  # 31 s after the claim
    assert_no_script(fetch(client, url, CallSid="CA1", To=TO), 410, "token-used")


def test_pin_verify_success(client: FlaskClient) -> None:
    url = new_session(client, app="pin-verify")["url"]
    doc = doc_of(fetch(client, url, CallSid="CA1", To=TO))
    action = doc.elements[0].get("action")
    result = doc_of(fetch(client, action, CallSid="CA1", Digits="8970"))
    assert "correct" in says(result)[0]
    assert [n.tag for n in result.elements] == ["Say", "Hangup"]


def test_pin_lock_out_after_five_wrong_entries(client: FlaskClient, clock: Clock) -> None:
    url = new_session(client, app="pin-verify")["url"]
    doc = doc_of(fetch(client, url, CallSid="CA1", To=TO))
    served: list[tuple[str, bytes]] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        action = doc.elements[0].get("action")
        response = fetch(client, action, CallSid="CA1", Digits="0000")
        doc = doc_of(response)
        served.append((action, response.data))
        if attempt < MAX_ATTEMPTS:
            assert doc.elements[0].tag == "Gather"
            assert str(MAX_ATTEMPTS - attempt) in says(doc)[0]
    assert [n.tag for n in doc.elements] == ["Say", "Hangup"]
    assert "locked" in says(doc)[0]
    assert not any(n.tag in ("Gather", "Redirect") for n in doc.iter())
    # No way back.  A replay by the same call inside the retry window gets the
    # stored answer (the right PIN is not even looked at); another call is refused;
    # after the window every step URL is spent.
    for action, body in served:
        replay = fetch(client, action, CallSid="CA1", Digits="8970")
        assert replay.status_code == 200 and replay.data == body
        assert_no_script(
            fetch(client, action, CallSid="CA9", Digits="8970"), 403, "token-wrong-call"
        )
    clock.advance(31)
    for action, _ in served:
        assert_no_script(fetch(client, action, CallSid="CA1", Digits="8970"), 410, "token-used")


def test_silence_uses_the_redirect_and_counts(client: FlaskClient, clock: Clock) -> None:
    url = new_session(client, app="pin-verify")["url"]
    doc = doc_of(fetch(client, url, CallSid="CA1", To=TO))
    action, redirect = doc.elements[0].get("action"), doc.elements[1].value
    assert action == redirect  # one token: either the Gather action or the Redirect runs
    doc = doc_of(fetch(client, redirect, CallSid="CA1"))
    assert str(MAX_ATTEMPTS - 1) in says(doc)[0]
    clock.advance(31)
    assert_no_script(fetch(client, action, CallSid="CA1", Digits="8970"), 410, "token-used")


def test_pin_verify_session_ends_after_ten_minutes(client: FlaskClient, clock: Clock) -> None:
    url = new_session(client, app="pin-verify")["url"]  # default ttl 600
    doc = doc_of(fetch(client, url, CallSid="CA1", To=TO))
    clock.advance(600)
    action = doc.elements[0].get("action")
    response = fetch(client, action, CallSid="CA1", Digits="8970")
    assert response.status_code == 410


def test_bridge_through_http(client: FlaskClient) -> None:
    variables = {"number": "+14155550100", "send_digits": "ww101", "whisper": "Web lead"}
    url = new_session(client, app="bridge", variables=variables)["url"]
    doc = doc_of(fetch(client, url, CallSid="CA1", To=TO))
    dial = doc.elements[1]
    number = dial.elements[0]
    # the b-leg fetches the whisper with its own CallSid
    whisper = doc_of(fetch(client, number.get("url"), CallSid="CB1"))
    assert says(whisper) == ["Web lead"]
    after = doc_of(fetch(client, dial.get("action"), CallSid="CA1", DialCallStatus="no-answer"))
    assert "Nobody is available" in says(after)[0]


def test_ivr_walk_through_http(client: FlaskClient) -> None:
    variables = {
        "prompt": "Press 1 for hours, 2 for more.",
        "options": {
            "1": {"say": "Open 9 to 5."},
            "2": {
                "menu": {
                    "prompt": "Press 3 to leave.",
                    "options": {"3": {"say": "Bye", "then": "hangup"}},
                }
            },
        },
        "retries": 1,
    }
    url = new_session(client, app="ivr", variables=variables, language="zh-TW")["url"]
    menu = doc_of(fetch(client, url, CallSid="CA1", To=TO))
    assert says(menu)[0] == variables["prompt"]
    say = doc_of(fetch(client, menu.elements[0].get("action"), CallSid="CA1", Digits="1"))
    assert says(say) == ["Open 9 to 5."]
    menu = doc_of(fetch(client, say.elements[1].value, CallSid="CA1"))  # Redirect back
    invalid = doc_of(fetch(client, menu.elements[0].get("action"), CallSid="CA1", Digits="8"))
    assert "8" in says(invalid)[0]
    menu = doc_of(fetch(client, invalid.elements[1].value, CallSid="CA1"))
    sub = doc_of(fetch(client, menu.elements[0].get("action"), CallSid="CA1", Digits="2"))
    assert says(sub)[0] == "Press 3 to leave."
    end = doc_of(fetch(client, sub.elements[0].get("action"), CallSid="CA1", Digits="3"))
    assert [n.tag for n in end.elements] == ["Say", "Hangup"]


def test_a_broken_template_fails_create_app_with_its_location(
    make_app: Callable[..., Flask], tmp_path: Any
) -> None:
    from voiceapp.apps import TemplateError

    folder = tmp_path / "voice"
    (folder / "zh-TW").mkdir(parents=True)
    bad = folder / "zh-TW" / "bridge_after.xml"
    bad.write_text(
        '<Response>\n  <Hangup/>\n  <Dial timeout="-1">+14155550100</Dial>\n</Response>\n'
    )
    with pytest.raises(TemplateError) as info:
        make_app(TEMPLATE_FOLDER=str(folder))
    assert info.value.file == str(bad)
    assert info.value.line == 3
    assert f"{bad}:3" in str(info.value)


def test_a_template_folder_can_add_a_language(
    make_app: Callable[..., Flask], tmp_path: Any
) -> None:
    import shutil

    from voiceapp.apps.templates import BUILTIN_FOLDER

    folder = tmp_path / "voice"
    shutil.copytree(BUILTIN_FOLDER / "en", folder / "en-GB")
    (folder / "en-GB" / "pin.xml").write_text(
        '<Response>\n  <Say language="en-GB">Your PIN is {{ digits }}</Say>\n</Response>\n'
    )
    client = make_app(TEMPLATE_FOLDER=str(folder)).test_client()
    url = new_session(client, language="en-GB")["url"]
    assert says(doc_of(fetch(client, url, To=TO))) == ["Your PIN is 8 9 7 0"]
