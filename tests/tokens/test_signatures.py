"""Request signatures: X-Voiceapp-Signature, and Twilio's against twilio-python itself."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from voiceapp.errors import ConfigError, TokenInvalid
from voiceapp.signatures import (
    HEADER,
    sign_request,
    twilio_signature,
    validate_twilio,
    verify_request,
)

URL = "https://voice.example.com/voice/abc.def?x=1"
BODY = b"CallSid=CA123&From=%2B14155550100&To=%2B14155550123"
NOW = 1_800_000_000


def signed(secret: str = "new", **overrides: Any) -> str:
    args: dict[str, Any] = {"method": "POST", "url": URL, "body": BODY, "timestamp": NOW}
    args.update(overrides)
    return sign_request(
        secret, args["method"], args["url"], args["body"], timestamp=args["timestamp"]
    )


def check(header: str | None, secrets: Any = ("old", "new"), **overrides: Any) -> None:
    args: dict[str, Any] = {"method": "POST", "url": URL, "body": BODY, "now": NOW}
    args.update(overrides)
    verify_request(secrets, header, args["method"], args["url"], args["body"], now=args["now"])


# -- X-Voiceapp-Signature ----------------------------------------------------------------------


def test_header_format_is_the_documented_hmac() -> None:
    header = signed()
    message = f"{NOW}.POST.{URL}.".encode() + BODY
    expected = hmac.new(b"new", message, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert signed(method="post") == header  # the method is upper-cased


def test_a_good_signature_passes_with_any_key_of_the_rotation() -> None:
    check(signed("new"))
    check(signed("old"))
    check(signed("only"), secrets=["only"])
    check(signed(b"\x00bytes"), secrets=[b"\x00bytes"])


def test_a_retired_key_no_longer_passes() -> None:
    with pytest.raises(TokenInvalid) as info:
        check(signed("retired"))
    assert (info.value.code, info.value.field, info.value.status) == (
        "signature-mismatch",
        HEADER,
        403,
    )


@pytest.mark.parametrize(
    "change",
    [
        {"method": "GET"},
        {"url": URL + "&y=2"},
        {"url": URL.replace("https", "http")},
        {"body": BODY + b"&Digits=1"},
        {"body": b""},
    ],
)
def test_any_change_to_the_request_is_a_mismatch(change: dict[str, Any]) -> None:
    with pytest.raises(TokenInvalid) as info:
        check(signed(), **change)
    assert info.value.code == "signature-mismatch"


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_header(header: str | None) -> None:
    with pytest.raises(TokenInvalid) as info:
        check(header)
    assert info.value.code == "signature-missing"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=,v1=00",
        f"t={NOW}",
        "v1=" + "0" * 64,
        f"t={NOW},v1=xyz",
        f"t={NOW},v1=" + "A" * 64,
        f"t=-5,v1={'0' * 64}",
        f"t={NOW},t={NOW},v1={'0' * 64}",
        f"t=١٢٣,v1={'0' * 64}",
    ],
)
def test_a_malformed_header(header: str) -> None:
    with pytest.raises(TokenInvalid) as info:
        check(header)
    assert info.value.code == "signature-malformed"


def test_the_timestamp_window_is_300_seconds_each_way() -> None:
    header = signed()
    check(header, now=NOW + 300)
    check(header, now=NOW - 300)
    for now in (NOW + 301, NOW - 301):
        with pytest.raises(TokenInvalid) as info:
            check(header, now=now)
        assert info.value.code == "signature-stale"


def test_a_stale_header_is_stale_even_with_a_good_mac() -> None:
    old = signed(timestamp=NOW - 3600)
    with pytest.raises(TokenInvalid) as info:
        check(old)
    assert info.value.code == "signature-stale"


def test_several_v1_entries_and_unknown_schemes_v3() -> None:
    a, b = signed("retired"), signed("new")
    both = f"{a},v1={b.split('v1=')[1]},v3=future"
    check(both)
    with pytest.raises(TokenInvalid):
        check(f"{a},v3=future")


def test_no_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        check(signed(), secrets=[])
    with pytest.raises(ConfigError):
        sign_request("", "GET", URL, b"", timestamp=NOW)


# -- Twilio ----------------------------------------------------------------------------------

TWILIO_TOKEN = "12345abcdef67890"

CASES: list[tuple[str, Any]] = [
    (
        "https://mycompany.com/myapp.php?foo=1&bar=2",
        {
            "CallSid": "CA1234567890ABCDE",
            "Caller": "+12349013030",
            "Digits": "1234",
            "From": "+12349013030",
            "To": "+18005551212",
        },
    ),
    ("https://example.com/voice/tok?CallSid=CA1&To=%2B1", {}),  # a GET: everything in the URL
    ("http://127.0.0.1:8000/voice/x", {"Body": "你好, wörld & <xml>", "b": "", "A": "z"}),
    ("https://example.com/a", MultiDict([("Media", "b"), ("Media", "a"), ("Z", "1")])),
    ("https://example.com/a", MultiDict([("M", "x"), ("M", "x"), ("M", "a")])),
]


def test_a_dict_of_lists_signs_like_the_same_multidict() -> None:
    as_lists = {"Media": ["b", "a"], "Z": "1"}
    multi = MultiDict([("Media", "b"), ("Media", "a"), ("Z", "1")])
    url = "https://example.com/a"
    expected = RequestValidator(TWILIO_TOKEN).compute_signature(url, multi)
    assert twilio_signature(TWILIO_TOKEN, url, as_lists) == expected


@pytest.mark.parametrize(("url", "params"), CASES)
def test_twilio_signature_matches_twilio_python(url: str, params: Any) -> None:
    validator = RequestValidator(TWILIO_TOKEN)
    expected = validator.compute_signature(url, params)
    assert twilio_signature(TWILIO_TOKEN, url, params) == expected
    assert validate_twilio(TWILIO_TOKEN, expected, url, params)
    assert validator.validate(url, params, twilio_signature(TWILIO_TOKEN, url, params))


@pytest.mark.parametrize(("url", "params"), CASES)
def test_twilio_validation_refuses_what_twilio_python_refuses(url: str, params: Any) -> None:
    validator = RequestValidator(TWILIO_TOKEN)
    good = twilio_signature(TWILIO_TOKEN, url, params)
    for signature in ("", "AAAA", good[:-2] + "==", twilio_signature("other", url, params)):
        assert validate_twilio(TWILIO_TOKEN, signature, url, params) is False
        assert validator.validate(url, params, signature) is False
    assert validate_twilio(TWILIO_TOKEN, None, url, params) is False
    changed_url = url + ("&" if "?" in url else "?") + "evil=1"
    assert validate_twilio(TWILIO_TOKEN, good, changed_url, params) is False


def test_twilio_validation_tolerates_the_port_like_twilio_python() -> None:
    params = {"CallSid": "CA1"}
    for signed_url, served_url in [
        ("https://example.com/voice", "https://example.com:443/voice"),
        ("https://example.com:443/voice", "https://example.com/voice"),
        ("http://example.com:8080/voice", "http://example.com/voice"),
    ]:
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(signed_url, params)
        ours = validate_twilio(TWILIO_TOKEN, signature, served_url, params)
        theirs = RequestValidator(TWILIO_TOKEN).validate(served_url, params, signature)
        assert ours == theirs


@settings(max_examples=60, deadline=None)
@given(
    params=st.dictionaries(
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
        max_size=6,
    ),
    path=st.text("abc/-_.~", max_size=10),
)
def test_twilio_signature_agrees_with_twilio_python_on_random_params(
    params: dict[str, str], path: str
) -> None:
    url = f"https://example.com/{path}"
    assert twilio_signature(TWILIO_TOKEN, url, params) == RequestValidator(
        TWILIO_TOKEN
    ).compute_signature(url, params)
