"""HTTP digest authentication for SIP (RFC 3261 22, RFC 2617, RFC 7616).

:func:`parse_challenge` reads a ``WWW-Authenticate`` / ``Proxy-Authenticate``
value; :func:`authorization` answers it (MD5, MD5-sess, SHA-256; ``qop=auth`` or
none).  The password only enters the hash: it is never part of a result or an
error message.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Final

from voiceapp.errors import SipError

_ALGORITHMS: Final = {
    "MD5": "md5",
    "MD5-SESS": "md5",
    "SHA-256": "sha256",
    "SHA-256-SESS": "sha256",
}
_PARAM: Final = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_challenge(value: str) -> Challenge:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipError(f"not a Digest challenge: {scheme[:20]!r}", field="WWW-Authenticate")
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if match is None:
            raise SipError("malformed Digest challenge", field="WWW-Authenticate")
        name, raw = match.groups()
        params[name.lower()] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
        pos = match.end()
    if "realm" not in params or "nonce" not in params:
        raise SipError("Digest challenge without realm or nonce", field="WWW-Authenticate")
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm not in _ALGORITHMS:
        raise SipError(f"unsupported digest algorithm {algorithm[:20]}", field="algorithm")
    qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
    if qop and "auth" not in qop:
        raise SipError("the challenge offers no qop=auth", field="qop")
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=algorithm,
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


def _h(algorithm: str, text: str) -> str:
    return hashlib.new(_ALGORITHMS[algorithm], text.encode("utf-8")).hexdigest()


def response_hash(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str = "",
    nc: str = "00000001",
) -> str:
    """The ``response`` value (RFC 2617 3.2.2.1, RFC 7616 3.4.1)."""
    alg = challenge.algorithm
    ha1 = _h(alg, f"{username}:{challenge.realm}:{password}")
    if alg.endswith("-SESS"):
        ha1 = _h(alg, f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = _h(alg, f"{method}:{uri}")
    if challenge.qop:
        return _h(alg, f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:auth:{ha2}")
    return _h(alg, f"{ha1}:{challenge.nonce}:{ha2}")


def authorization(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str | None = None,
    nc: int = 1,
) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering ``challenge``."""
    cnonce = cnonce or secrets.token_hex(8)
    count = f"{nc:08x}"
    digest = response_hash(
        challenge,
        username=username,
        password=password,
        method=method,
        uri=uri,
        cnonce=cnonce,
        nc=count,
    )
    parts = [
        f'username="{username}"',
        f'realm="{challenge.realm}"',
        f'nonce="{challenge.nonce}"',
        f'uri="{uri}"',
        f'response="{digest}"',
        f"algorithm={challenge.algorithm}",
    ]
    if challenge.qop:
        parts += ["qop=auth", f'cnonce="{cnonce}"', f"nc={count}"]
    if challenge.opaque is not None:
        parts.append(f'opaque="{challenge.opaque}"')
    return "Digest " + ", ".join(parts)
