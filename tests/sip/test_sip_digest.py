"""voiceapp.sip.digest against the RFC 2617 and RFC 7616 examples."""

from __future__ import annotations

import pytest

from voiceapp.errors import SipError
from voiceapp.sip.digest import authorization, parse_challenge, response_hash


def test_rfc2617_example() -> None:
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    digest = response_hash(
        challenge,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
    )
    assert digest == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    challenge = parse_challenge(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    digest = response_hash(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert digest == expected


def test_authorization_header_carries_no_password() -> None:
    challenge = parse_challenge('Digest realm="sipp", nonce="n1", algorithm=MD5')
    value = authorization(
        challenge, username="alice", password="wonderland", method="INVITE", uri="sip:h"
    )
    assert value.startswith('Digest username="alice", realm="sipp", nonce="n1"')
    assert "qop" not in value and "wonderland" not in value


@pytest.mark.parametrize(
    "value",
    [
        'Basic realm="x"',
        'Digest nonce="n"',
        'Digest realm="r", nonce="n", algorithm=SHA-512-256x',
        'Digest realm="r", nonce="n", qop="auth-int"',
        "Digest realm=",
    ],
)
def test_bad_challenges(value: str) -> None:
    with pytest.raises(SipError):
        parse_challenge(value)
