"""Near-valid requests for every route of the app, as hypothesis strategies, and the
checks every answer must pass (no 5xx; a 4xx is problem+json naming its field, or the
vendor's own error shape on a vendor route).

:data:`ROUTES` maps each URL rule of ``create_app`` (with examples/vendors.toml) to a
strategy of :class:`Req`; ``test_fuzz_routes.py`` proves that every rule of the app's
``url_map`` has one.  Bodies are the real field names with right and wrong types, deep
nesting (as text: ``[`` * 3000), long strings, unicode, JSON, forms, raw bytes and wrong
content types.  URL fields only ever name IP literals, so no case needs DNS.
"""

from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode

from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from support.compat import (
    API_KEY,
    FEATHER_KEY,
    PATHORS_KEY,
    POLYAI_INBOUND_TOKEN,
    POLYAI_TOKEN,
    SEED_UUID,
    THUNDER_KEY,
)

#: the Twilio API's account of the fuzzed apps (TWILIO_ACCOUNTS) and another one
TWILIO_ACCOUNT = "AC" + "3d" * 16
TWILIO_TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
TWILIO_PREFIX = "/2010-04-01/Accounts/"
OTHER_AGENT = "5b0e7c8a-2f41-4c55-9d1e-0a6b3f2c4e71"
BARE_NUMBER_ID = "7d2f0a4e-8b1c-4e2a-9f3d-5c6b7a8e9f01"
#: a host:port the fuzzed URLs may use though it is not public (nothing listens there)
ALLOWED = "127.0.0.1:9"
PROBLEM = "application/problem+json"


@dataclass
class Req:
    """One request: what the test client (or ``requests``) sends."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    query: str = ""

    def describe(self) -> str:
        body = self.body if self.body is None or len(self.body) < 300 else self.body[:300] + b"..."
        return f"{self.method} {self.path}?{self.query} {self.headers} {body!r}"


# -- values ------------------------------------------------------------------------------------

TEXT = st.text(max_size=16)
#: text that never looks like a URL with a host (no DNS lookups from the URL checks)
SAFE_TEXT = TEXT.filter(lambda s: "//" not in s)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([10**400, -(10**400), 2**63, 2**64, 10**4299])
    | st.floats(allow_nan=True, allow_infinity=True)
    | SAFE_TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SAFE_TEXT, inner, max_size=3),
    max_leaves=5,
)
LONG = st.integers(100, 70_000).map(lambda n: "9" * n)
UNICODE = st.sampled_from(
    ["王小明", "\u202e+1415", "\x00", "\ufeff+14155550123", "😀" * 40, "\u0663\u0664", "é" * 600]
)
NUMBERS = st.sampled_from(
    [
        "+14155550123",
        "+19499300360",
        "+19499300361",
        "+1234567890",
        "+15551234567",
        "+15550000001",
        "+15550000002",
        "+886912345678",
        "0912345678",
        "+0987654321",
        "+15555550123",
        "+1",
        "+",
        "",
        "  ",
        "call me",
    ]
)
PHONE = NUMBERS | NUMBERS | JSON_VALUES | LONG | UNICODE
URLS = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}{path}",
    st.sampled_from(["http", "https", "ftp", "javascript", "HTTP"]),
    st.sampled_from(
        [ALLOWED, "93.184.216.34", "10.0.0.1", "[::1]", "[2001:db8::1]:80", "0.0.0.0", "8.8.8.8:0"]
    ),
    st.sampled_from(["", "/", "/doc.xml", "/a b", "/%00", "?x=1#f", ":99999/"]),
)
URL = URLS | URLS | SAFE_TEXT | JSON_VALUES
DIGITS = st.sampled_from(["ww101", "WWWW101", "1234#", "wwww10x1", "", "w" * 2000]) | JSON_VALUES
APPS = st.sampled_from(["pin", "pin-verify", "bridge", "ivr", "greeting", "nope", ""])
EVENTS = st.sampled_from(["initiated ringing answered completed", "bogus", ""]) | JSON_VALUES
LANGUAGES = st.sampled_from(["en", "zh-TW", "xx", "../en", ""]) | JSON_VALUES
UUIDS = st.sampled_from([SEED_UUID, OTHER_AGENT, BARE_NUMBER_ID, "not-a-uuid", "0" * 32]) | TEXT


def ivr_text(depth: int, leaf: str = '{"say": "x"}') -> str:
    """IVR variables whose options nest ``depth`` submenus (as text: no recursion here)."""
    head = '{"menu": {"prompt": "p", "options": {"1": '
    return '{"prompt": "p", "options": {"1": ' + head * depth + leaf + "}}}" * depth + "}}"


def nested(depth: int, kind: str) -> str:
    if kind == "[":
        return "[" * depth + "]" * depth
    return '{"a": ' * depth + "1" + "}" * depth


DEEP = st.builds(nested, st.integers(1, 3000), st.sampled_from("[{"))

#: values at the edges of what the checks convert: huge integers, non-finite numbers...
EDGES = st.sampled_from(
    [10**400, -(10**400), 2**63, 1e308, -0.0, "NaN", "1e999", "", " ", "9" * 30, True, None, [], {}]
)
#: the names the apps and vendors declare
VARIABLE_NAMES = [
    "pin",
    "repeat",
    "number",
    "queue",
    "send_digits",
    "timeout",
    "whisper",
    "prompt",
    "options",
    "retries",
    "customerName",
    "orderId",
    "items",
    "total",
    "vip",
    "priority",
    "patient_first_name",
]


def declared(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of declared names with edge values (or any JSON)."""
    return st.dictionaries(st.sampled_from(names), EDGES | JSON_VALUES, min_size=1, max_size=3)


VARIABLES = (
    st.sampled_from(
        [
            {"pin": "8970"},
            {"pin": "8970", "repeat": 9},
            {"pin": 8970},
            {"number": "+14155550100", "send_digits": "ww101"},
            {"queue": "support"},
            {"customerName": "John Doe", "orderId": "12345"},
            {"prompt": "p", "options": {"1": {"say": "hi"}}},
            {"prompt": "p", "options": {"1": {"bridge": {"number": "+14155550100"}}}},
            {"prompt": "p", "options": {"x": {"say": "hi"}}},
            "8970",
            5,
            True,
            [1],
            [[]],
            [],
            "",
            0,
        ]
    )
    | JSON_VALUES
    | declared(VARIABLE_NAMES)
    | declared(VARIABLE_NAMES)
)


#: callees for valid requests: a fresh one most times (one call per number at a time)
CALLEES = st.integers(0, 9999).map(lambda n: f"+1415555{n:04d}")


def near_valid(
    bases: list[dict[str, Any]],
    spec: Mapping[str, st.SearchStrategy[Any]],
    callee: str,
    focus: str,
) -> st.SearchStrategy[dict[str, Any]]:
    """A valid request object (``bases``, ``callee`` set to a fresh number), then up to three
    changes: a field dropped, or given a value of ``spec`` (often of a wrong type), or an
    unknown field added; ``focus`` (the variables) is changed most often.  Zero changes (a
    quarter of the cases) is a request that succeeds."""
    keys = sorted(spec) + [focus] * max(2, len(spec) // 2)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        obj = dict(draw(st.sampled_from(bases)))
        if callee in obj:
            obj[callee] = draw(CALLEES)
        for _ in range(draw(st.integers(0, 3))):
            key = draw(st.sampled_from([*keys, *keys, "unknown", ""]))
            action = draw(st.integers(0, 5))
            inner = obj.get(focus)
            if action == 0:
                obj.pop(key, None)
            elif action == 1 and isinstance(inner, dict):  # one variable at the edges
                name = draw(st.sampled_from([*inner, *VARIABLE_NAMES]))
                obj[focus] = {**inner, name: draw(EDGES | JSON_VALUES)}
            else:
                obj[key] = draw(spec.get(key, JSON_VALUES))
        return obj

    return build()


def raw_json(objects: st.SearchStrategy[dict[str, Any]], deep_key: str) -> st.SearchStrategy[str]:
    """JSON text of an object, sometimes with ``deep_key`` nested very deep (text spliced
    in: neither hypothesis nor json.dumps recurse) or a long padding field."""

    def splice(obj: dict[str, Any], deep: str) -> str:
        rest = json.dumps({k: v for k, v in obj.items() if k != deep_key})
        inner = f'"{deep_key}": {deep}'
        return "{" + inner + ("" if rest == "{}" else ", " + rest[1:])

    def pad(obj: dict[str, Any], n: int) -> str:
        return json.dumps({**obj, "pad": "x" * n})

    return st.one_of(
        objects.map(json.dumps),
        objects.map(json.dumps),
        objects.map(json.dumps),
        objects.map(lambda o: json.dumps(o, ensure_ascii=False)),
        st.builds(splice, objects, DEEP),
        st.builds(splice, objects, st.integers(1, 400).map(ivr_text)),
        st.builds(pad, objects, st.integers(100, 70_000)),
    )


def _form(obj: Mapping[str, Any]) -> bytes:
    pairs = []
    for key, value in obj.items():
        text = value if isinstance(value, str) else json.dumps(value)
        pairs.append((key, text))
    return urlencode(pairs).encode()


JSON_TYPES = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "application/problem+json"]
)
OTHER_TYPES = st.sampled_from(
    ["text/plain", "application/xml", "multipart/form-data", "application/octet-stream", ""]
)


def bodies(
    bases: list[dict[str, Any]],
    spec: Mapping[str, st.SearchStrategy[Any]],
    deep_key: str,
    *,
    callee: str,
    form: bool = False,
) -> st.SearchStrategy[tuple[str | None, bytes | None]]:
    """(Content-Type, body) pairs: near-valid JSON objects (most often), forms (``form``:
    the route reads them), deep and long texts, other JSON values, raw bytes, wrong types."""
    objects = near_valid(bases, spec, callee, deep_key)
    choices = [
        *(st.tuples(JSON_TYPES, raw_json(objects, deep_key).map(str.encode)) for _ in range(4)),
        st.tuples(JSON_TYPES, DEEP.map(str.encode)),
        st.tuples(JSON_TYPES, JSON_VALUES.map(lambda v: json.dumps(v).encode())),
        st.tuples(JSON_TYPES | OTHER_TYPES, st.binary(max_size=64)),
        st.tuples(OTHER_TYPES | st.none(), objects.map(lambda o: json.dumps(o).encode())),
        st.tuples(st.just("application/json"), st.just(b'"\\ud800"')),
        st.tuples(st.just("application/json"), st.just(b'{"to": "\\udfff"}')),
        st.tuples(st.none(), st.none()),
    ]
    if form:
        form_type = st.just("application/x-www-form-urlencoded")
        deep_form = st.builds(
            lambda o, d: _form({**o, deep_key: d}),
            objects,
            DEEP | st.integers(1, 400).map(ivr_text),
        )
        forms = st.tuples(form_type, objects.map(_form))
        choices += [forms, forms, st.tuples(form_type, deep_form)]
    return st.one_of(choices)


# -- paths, headers and requests ---------------------------------------------------------------

#: one path segment: never a "/" (it would name another route) nor "?" / "#"
SEGMENT = st.text(
    st.characters(blacklist_characters="/?#", blacklist_categories=("Cs",)), max_size=40
).map(lambda s: quote(s, safe=""))
TOKEN_CHARS = string.ascii_letters + string.digits + "-_."


def tokens(valid: list[str]) -> st.SearchStrategy[str]:
    """Real tokens (some used already), tampered ones and junk."""
    real = st.sampled_from(valid)

    def tamper(token: str, index: int, char: str) -> str:
        i = index % len(token)
        return token[:i] + char + token[i + 1 :]

    return (
        real
        | st.builds(tamper, real, st.integers(0, 500), st.sampled_from(TOKEN_CHARS))
        | real.map(lambda t: t + ".x")
        | st.text(st.sampled_from(TOKEN_CHARS), min_size=1, max_size=200)
        | SEGMENT.filter(bool)
    )


def auth(kind: str, key: str) -> st.SearchStrategy[dict[str, str]]:
    """Headers with the route's real credential (most often), a wrong one, or none."""
    good = {
        "core": [{"X-API-Key": key}, {"Authorization": f"Bearer {key}"}],
        "bearer": [{"Authorization": f"Bearer {key}"}],
        "x-api-key": [{"x-api-key": key}],
        "polyai": [{"X-PolyAi-Auth-Token": key}],
    }[kind]
    bad = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "wrong"},
        {"x-api-key": ""},
        {"X-PolyAi-Auth-Token": POLYAI_INBOUND_TOKEN},
        {"Authorization": "Bearer " + "é" * 10},
    ]
    return (
        st.sampled_from(good) | st.sampled_from(good) | st.sampled_from(good) | st.sampled_from(bad)
    )


QUERIES = st.dictionaries(
    st.sampled_from(["CallSid", "To", "From", "Digits", "DialCallStatus", "x"]),
    TEXT,
    max_size=4,
).map(urlencode)
OTHER_METHODS = ["PUT", "DELETE", "PATCH", "OPTIONS"]
#: ``GET /v1/calls`` query values: near-valid ones and junk
LIST_VALUES = TEXT | st.sampled_from(
    ["completed", "queued", "+14155550123", "0912345678", "0", "20", "101", "-1", "1e309",
     "2026-12-03T07:00:00Z", "nan", "WzEsIkNBeCJd", "WzEsMl0", "%%%"]
)  # fmt: skip
LIST_QUERIES = st.dictionaries(
    st.sampled_from(
        ["status", "to", "from", "created_after", "created_before", "limit", "cursor", "x"]
    ),
    LIST_VALUES,
    max_size=5,
).map(urlencode)


def listings(headers: st.SearchStrategy[dict[str, str]]) -> st.SearchStrategy[Req]:
    """``GET /v1/calls`` with filters, limits and cursors, valid or not."""
    return st.builds(
        lambda head, query: Req("GET", "/v1/calls", dict(head), None, query),
        headers,
        LIST_QUERIES,
    )


#: header text (latin-1, no line breaks: what HTTP can carry)
HEADER_TEXT = st.text(st.characters(blacklist_characters="\r\n", max_codepoint=255), max_size=80)
SIGNATURES = st.fixed_dictionaries(
    {},
    optional={
        "X-Voiceapp-Signature": HEADER_TEXT
        | st.builds(
            lambda t, v: f"t={t},v1={v}",
            st.integers(-(10**30), 10**30) | st.text("0123456789x", max_size=5),
            st.text("0123456789abcdef", max_size=70),
        ),
        "X-Twilio-Signature": HEADER_TEXT,
    },
)


def requests_for(
    methods: list[str],
    paths: st.SearchStrategy[str],
    headers: st.SearchStrategy[dict[str, str]],
    body: st.SearchStrategy[tuple[str | None, bytes | None]],
) -> st.SearchStrategy[Req]:
    def build(
        method: str, path: str, head: dict[str, str], typed: tuple[str | None, bytes | None], q: str
    ) -> Req:
        content_type, data = typed
        head = dict(head)
        if content_type is not None:
            head["Content-Type"] = content_type
        return Req(method, path, head, data, q)

    method = st.sampled_from(methods * (36 // len(methods)) + OTHER_METHODS)  # 1 in 10 wrong
    return st.builds(build, method, paths, headers, body, QUERIES)


CALL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "from": PHONE,
    "to": PHONE,
    "url": URL,
    "method": st.sampled_from(["GET", "POST", "get", "PUT"]) | JSON_VALUES,
    "senddigits": DIGITS,
    "statusCallback": URL,
    "statusCallbackEvent": EVENTS,
    "statusCallbackMethod": st.sampled_from(["GET", "POST", "HEAD"]) | JSON_VALUES,
    "secretKey": TEXT | JSON_VALUES,
    "optional": st.sampled_from(["a=b", "a", "CallSid=x"]) | JSON_VALUES,
    "country_code": st.sampled_from(["TW", "US", "ZZ", "tw", "1"]) | JSON_VALUES,
    "app": APPS | JSON_VALUES,
    "variables": VARIABLES,
}
#: ``POST /v1/calls/inbound``: examples/vendors.toml binds +15005550006 (greeting)
INBOUND_BASES: list[dict[str, Any]] = [
    {"from": "", "to": "+15005550006"},
    {"from": "", "to": "+15005550006", "country_code": "US"},
    {"from": "", "to": "+15005550007"},  # not bound: 404 inbound-not-bound
]
INBOUND_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "from": PHONE,
    "to": PHONE | st.just("+15005550006"),
    "country_code": st.sampled_from(["TW", "US", "ZZ", "tw", "1"]) | JSON_VALUES,
}
TWIML = (
    st.sampled_from(
        [
            "<Response><Say>hi</Say></Response>",
            "<Response/>",
            "<Response><Nope/></Response>",
            "<Response><Pause length='x'/></Response>",
            "<",
            '<!DOCTYPE r [<!ENTITY e "x">]><Response>&e;</Response>',
            "",
        ]
    )
    | JSON_VALUES
)
CHANGE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "url": URL,
    "method": st.sampled_from(["GET", "POST", "get", "PUT"]) | JSON_VALUES,
    "twiml": TWIML,
    "status": st.sampled_from(["completed", "canceled", "busy", ""]) | JSON_VALUES,
}
CHANGE_BASES: list[dict[str, Any]] = [
    {"url": f"http://{ALLOWED}/next.xml", "method": "GET"},
    {"twiml": "<Response><Say>moved</Say></Response>"},
    {"status": "completed"},
    {"status": "canceled"},
]
SESSION_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "app": APPS | JSON_VALUES,
    "to": PHONE,
    "variables": VARIABLES,
    "ttl": st.sampled_from([1, 600, 86400, 10**9, 0, -1]) | JSON_VALUES,
    "language": LANGUAGES,
}
PATHORS_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "fromNumber": PHONE,
    "toNumber": PHONE,
    "dynamicVariables": VARIABLES,
}
FEATHER_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "from_phone_number_id": UUIDS | JSON_VALUES,
    "to_phone_number": PHONE,
    "agent_id": UUIDS | JSON_VALUES,
    "team_id": UUIDS | JSON_VALUES,
    "context_variables": VARIABLES
    | declared(["customerName", "orderId", "items", "total", "vip", "priority"])
    | declared(["items", "total", "vip", "priority"])
    | st.fixed_dictionaries(
        {},
        optional={
            "customerName": JSON_VALUES,
            "items": st.sampled_from(["3", "x", 3.5, "1" * 30]) | JSON_VALUES,
            "total": st.sampled_from(["12.5", "nan", "1e999", 10**400, 1e308]) | JSON_VALUES,
            "vip": st.sampled_from(["yes", "maybe", 2]) | JSON_VALUES,
            "priority": st.sampled_from(["HIGH", "urgent"]) | JSON_VALUES,
        },
    ),
}
THUNDER_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "from_number": PHONE,
    "to_number": PHONE,
    "agent_id": st.sampled_from([12, 13, "12", 12.0, True]) | JSON_VALUES,
    "config": JSON_VALUES
    | st.fixed_dictionaries(
        {}, optional={"app": APPS | JSON_VALUES, "variables": VARIABLES, "language": LANGUAGES}
    ),
    "max_hold_seconds": st.sampled_from([1, 86400, 0, 86401]) | JSON_VALUES,
}
POLYAI_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "to_number": PHONE,
    "country_code": st.sampled_from(["TW", "US", "ZZ"]) | JSON_VALUES,
    "metadata": VARIABLES | st.dictionaries(SAFE_TEXT, TEXT, max_size=4),
    "encryption": st.sampled_from(["TLS/SRTP", "UDP/RTP", "tls/srtp"]) | JSON_VALUES,
}

IVR = {
    "prompt": "For sales press 1.",
    "options": {
        "1": {"say": "We are open 9 to 5."},
        "2": {"bridge": {"number": "+14155550100", "send_digits": "ww101"}},
        "3": {"menu": {"prompt": "Press 9.", "options": {"9": {"say": "Bye", "then": "hangup"}}}},
    },
    "retries": 1,
}
CALL_BASES: list[dict[str, Any]] = [
    {"from": "+19499300360", "to": "", "url": f"http://{ALLOWED}/doc.xml"},
    {
        "from": "+19499300360",
        "to": "",
        "twiml": "<Response><Say>hi</Say></Response>",
        "timeout": 30,
        "timeLimit": 600,
        "fallbackUrl": f"http://{ALLOWED}/fallback",
        "fallbackMethod": "GET",
    },
    {
        "from": "+19499300360",
        "to": "",
        "url": "https://93.184.216.34/doc",
        "method": "GET",
        "senddigits": "ww101",
        "statusCallback": f"http://{ALLOWED}/cb",
        "statusCallbackEvent": "initiated ringing answered completed",
        "statusCallbackMethod": "POST",
        "secretKey": "k",
        "optional": "a=b",
    },
    {"from": "+19499300360", "to": "", "app": "pin", "variables": {"pin": "8970"}},
    {"from": "+19499300360", "to": "", "app": "ivr", "variables": IVR},
    {"from": "+19499300360", "to": "", "app": "bridge", "variables": {"queue": "support"}},
]
SESSION_BASES: list[dict[str, Any]] = [
    {"app": "pin", "to": "", "variables": {"pin": "8970", "repeat": 3}},
    {"app": "pin-verify", "to": "", "variables": {"pin": "8970"}, "ttl": 300},
    {"app": "ivr", "to": "", "variables": IVR, "language": "zh-TW"},
    {"app": "bridge", "to": "", "variables": {"number": "+14155550100", "whisper": "Lead"}},
    {"app": "greeting", "to": "", "variables": {"customerName": "王小明", "items": 3}},
]
PATHORS_BASES: list[dict[str, Any]] = [
    {
        "fromNumber": "+1234567890",
        "toNumber": "",
        "dynamicVariables": {"customerName": "John Doe", "orderId": "12345"},
    },
    {"fromNumber": "+1234567890", "toNumber": ""},
]
FEATHER_BASES: list[dict[str, Any]] = [
    {
        "from_phone_number_id": SEED_UUID,
        "to_phone_number": "",
        "agent_id": SEED_UUID,
        "context_variables": {"customerName": "Ann", "items": "3", "priority": "HIGH"},
    },
    {"from_phone_number_id": SEED_UUID, "to_phone_number": "", "team_id": SEED_UUID},
    {"from_phone_number_id": SEED_UUID, "to_phone_number": ""},
]
THUNDER_BASES: list[dict[str, Any]] = [
    {"from_number": "+15551234567", "to_number": ""},
    {"from_number": "+15551234567", "to_number": "", "agent_id": 12, "max_hold_seconds": 60},
    {
        "from_number": "+15551234567",
        "to_number": "",
        "config": {"app": "greeting", "variables": {"customerName": "Alex"}, "language": "en"},
    },
]
POLYAI_BASES: list[dict[str, Any]] = [
    {"to_number": "", "metadata": {"patient_first_name": "Paul"}, "encryption": "TLS/SRTP"},
    {"to_number": "", "country_code": "US"},
]


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


TWILIO_AUTH = _basic(TWILIO_ACCOUNT, TWILIO_TOKEN)
TWILIO_AUTHS = st.sampled_from([TWILIO_AUTH] * 3) | st.sampled_from(
    [
        {},
        _basic(TWILIO_ACCOUNT, "wrong"),
        _basic("AC" + "0" * 32, TWILIO_TOKEN),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer " + TWILIO_TOKEN},
        _basic("", ""),
    ]
)
TWILIO_ACCOUNTS = st.sampled_from([TWILIO_ACCOUNT] * 4 + ["AC" + "0" * 32]) | SEGMENT.filter(bool)
TWILIO_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "To": PHONE,
    "From": PHONE,
    "Url": URL,
    "Method": st.sampled_from(["GET", "POST", "get", "PUT"]) | TEXT,
    "Twiml": TWIML | LONG.map(lambda s: "<Response><Say>" + s + "</Say></Response>"),
    "SendDigits": DIGITS | st.sampled_from(["1234#", "wW1", "A*#", "1" * 33, "@500"]),
    "StatusCallback": URL,
    "StatusCallbackEvent": EVENTS,
    "StatusCallbackMethod": st.sampled_from(["GET", "POST", "HEAD"]) | TEXT,
    "Timeout": st.sampled_from(["1", "60", "600", "0", "601", "x", "-1"]) | TEXT,
    "TimeLimit": st.sampled_from(["1", "14400", "86401", "0", "x"]) | TEXT,
    "FallbackUrl": URL,
    "FallbackMethod": st.sampled_from(["GET", "POST", "HEAD"]) | TEXT,
    "Record": st.sampled_from(["true", "false", "yes", ""]) | TEXT,
    "MachineDetection": st.sampled_from(["Enable", "DetectMessageEnd", "on"]) | TEXT,
    "ApplicationSid": st.sampled_from(["AP" + "0" * 32, ""]),
    "Status": st.sampled_from(["completed", "canceled", "busy", ""]) | TEXT,
}
TWILIO_CREATES: list[dict[str, Any]] = [
    {"To": "", "From": "+19499300360", "Url": f"http://{ALLOWED}/twiml"},
    {
        "To": "",
        "From": "+19499300360",
        "Twiml": "<Response><Say>hi</Say></Response>",
        "SendDigits": "ww12#",
        "StatusCallback": f"http://{ALLOWED}/status",
        "StatusCallbackEvent": "initiated ringing answered completed",
        "Timeout": "30",
        "TimeLimit": "600",
        "Record": "true",
        "MachineDetection": "Enable",
    },
]
TWILIO_UPDATES: list[dict[str, Any]] = [
    {"Twiml": "<Response><Say>moved</Say></Response>"},
    {"Url": f"http://{ALLOWED}/next", "Method": "GET"},
    {"Status": "completed"},
    {"Status": "canceled"},
    {},
]
TWILIO_LIST = st.dictionaries(
    st.sampled_from(
        ["To", "From", "Status", "StartTime", "StartTime>", "StartTime<", "EndTime", "EndTime>",
         "EndTime<", "ParentCallSid", "PageSize", "Page", "PageToken", "x"]
    ),
    LIST_VALUES | st.sampled_from(["2026-12-03", "2026-12-03T00:00:00Z", "in-progress",
                                   "1000", "1001", "PAWzEsIkNBeCJd", "PA", "CA" + "0" * 32]),
    max_size=5,
).map(urlencode)  # fmt: skip


def twilio_forms(
    bases: list[dict[str, Any]], callee: str
) -> st.SearchStrategy[tuple[str | None, bytes | None]]:
    """Twilio's bodies are forms: near-valid ones (most often), raw bytes, wrong types."""
    objects = near_valid(bases, TWILIO_FIELDS, callee, "Twiml")
    form_type = st.just("application/x-www-form-urlencoded")
    forms = st.tuples(form_type, objects.map(_form))
    return st.one_of(forms, forms, forms, st.tuples(JSON_TYPES | OTHER_TYPES, objects.map(
        lambda o: json.dumps(o).encode())), st.tuples(form_type, st.binary(max_size=64)),
        st.tuples(st.none(), st.none()))  # fmt: skip


NO_BODY = st.one_of(
    st.tuples(st.none(), st.none()),
    st.tuples(JSON_TYPES | OTHER_TYPES, st.binary(max_size=32)),
    st.tuples(JSON_TYPES, DEEP.map(str.encode)),
)


@dataclass(frozen=True)
class Seeds:
    """Real values the strategies pick from: tokens, step tokens and call ids."""

    tokens: list[str]
    steps: list[str]
    sids: list[str]
    thunder_ids: list[int]
    polyai_sids: list[str]
    twilio_sids: list[str] = field(default_factory=list)


def voice_form() -> st.SearchStrategy[tuple[str | None, bytes | None]]:
    values = st.fixed_dictionaries(
        {},
        optional={
            "CallSid": st.sampled_from(["CA1", "CA2", ""]) | TEXT,
            "To": NUMBERS | TEXT,
            "Digits": st.sampled_from(["1", "2", "8970", "#", ""]) | TEXT,
            "DialCallStatus": st.sampled_from(["completed", "busy"]) | TEXT,
        },
    )
    form_type = st.just("application/x-www-form-urlencoded")
    return st.one_of(
        st.tuples(form_type, values.map(_form)),
        st.tuples(form_type, LONG.map(lambda s: ("CallSid=" + s).encode())),
        NO_BODY,
    )


#: a carrier's X-Twilio-Signature (or none): base64 text, sendable over real HTTP
CARRIER_SIGNATURES = st.fixed_dictionaries(
    {},
    optional={"X-Twilio-Signature": st.text("ABCDEFabcdef0123456789+/=", min_size=1, max_size=40)},
)


#: every URL rule of the app with examples/vendors.toml, in url_map order
RULES = (
    "/openapi.json",
    "/voice/<token>",
    "/voice/step/<token>",
    "/v1/sessions",
    "/v1/health",
    "/v1/calls",
    "/v1/calls/<sid>",
    "/v1/queues",
    "/v1/queues/<name>",
    "/v1/calls/<sid>/cancel",
    "/v1/calls/<sid>/recordings",
    "/v1/recordings/<sid>",
    "/v1/recordings/<sid>.wav",
    "/v1/calls/inbound",
    "/v1/ready",
    "/metrics",
    "/project/<project_id>/integration/phone/call/outbound",
    "/v1/voice/outbound",
    "/v1/call",
    "/v1/calls/<int:call_id>",
    "/v1/outbound-calling",
    "/v1/outbound-calling/<call_sid>",
    "/2010-04-01/Accounts/<account_sid>/Calls.json",
    "/2010-04-01/Accounts/<account_sid>/Calls/<sid>.json",
    "/2010-04-01/Accounts/<account_sid>/Calls/<sid>/Recordings.json",
    "/2010-04-01/Accounts/<account_sid>/Recordings/<sid>.json",
    "/2010-04-01/Accounts/<account_sid>/Recordings/<sid>.wav",
    "/carrier/status/<sid>",
    "/console/",
    "/console/login",
    "/console/logout",
    "/console/static/console.css",
    "/console/static/console.js",
    "/console/calls",
    "/console/calls/<sid>",
    "/console/sessions",
    "/console/lint",
    "/console/digits",
    "/console/digits.wav",
)
#: console cookies: none, junk, a token of another purpose
CONSOLE_COOKIES = st.sampled_from(
    [{}, {"Cookie": "voiceapp_console=junk"}, {"Cookie": "voiceapp_console=e30.e30.e30"}]
) | st.builds(lambda t: {"Cookie": f"voiceapp_console={t}"}, st.text(TOKEN_CHARS, max_size=60))


#: ``post(path, json, form, headers)`` → (status, body text): the test client or ``requests``
Post = Callable[
    [str, dict[str, Any] | None, dict[str, str] | None, dict[str, str]], tuple[int, str]
]
_STEP = re.compile(r"/voice/step/([A-Za-z0-9_.\-]+)")


def seed(post: Post, api_key: str = API_KEY) -> Seeds:
    """Real tokens, step tokens and calls (made through ``post``) for the strategies."""
    core = {"X-API-Key": api_key}
    tokens, steps, sids = [], [], []
    sessions: list[dict[str, Any]] = [
        {"app": "pin", "variables": {"pin": "8970"}},
        {"app": "pin", "variables": {"pin": "1234"}},
        {"app": "pin-verify", "variables": {"pin": "8970"}},
        {"app": "ivr", "variables": IVR},
        {"app": "bridge", "variables": {"number": "+14155550100"}},
    ]
    for payload in sessions:
        status, text = post("/v1/sessions", {"to": "+14155550123", **payload}, None, core)
        assert status == 201, text
        tokens.append(json.loads(text)["token"])
    for token in tokens[2:]:  # the documents with continuation steps
        form = {"CallSid": "CA1", "To": "+14155550123"}
        status, text = post(f"/voice/{token}", None, form, {})
        assert status == 200, text
        steps += _STEP.findall(text)
    assert steps
    for i, to in enumerate(["+14155550124", "+14155550125"]):
        call = {"from": "+19499300360", "to": to, "url": f"http://{ALLOWED}/doc{i}"}
        status, text = post("/v1/calls", call, None, core)
        assert status == 201, text
        sids.append(json.loads(text)["sid"])
    thunder = {"from_number": "+15551234567", "to_number": "+14155550126"}
    status, text = post("/v1/call", thunder, None, {"Authorization": f"Bearer {THUNDER_KEY}"})
    assert status == 201, text
    call_id = json.loads(text)["call_id"]
    poly = {"to_number": "+14155550127", "metadata": {"patient_first_name": "Paul"}}
    status, text = post("/v1/outbound-calling", poly, None, {"X-PolyAi-Auth-Token": POLYAI_TOKEN})
    assert status == 200, text
    polyai_sid = json.loads(text)["call_sid"]
    twilio_sids = []
    for to in ("+14155550128", "+14155550129"):
        form = {"To": to, "From": "+19499300360", "Url": f"http://{ALLOWED}/twiml"}
        status, text = post(f"{TWILIO_PREFIX}{TWILIO_ACCOUNT}/Calls.json", None, form, TWILIO_AUTH)
        assert status == 201, text
        twilio_sids.append(json.loads(text)["sid"])
    return Seeds(tokens, steps, sids, [call_id], [polyai_sid], twilio_sids)


def routes(
    seeds: Seeds, api_key: str = API_KEY
) -> dict[str, tuple[int, Callable[[], st.SearchStrategy[Req]]]]:
    """URL rule → (examples to run in process, the strategy of its requests)."""
    core = auth("core", api_key)
    sids = st.sampled_from(seeds.sids) | st.just("CA" + "0" * 32) | SEGMENT.filter(bool)
    twilio_sids = (
        st.sampled_from(seeds.twilio_sids or ["CA" + "0" * 32])
        | st.just("CA" + "0" * 32)
        | SEGMENT.filter(bool)
    )
    console_pages = {
        "/console/": ["GET"],
        "/console/login": ["GET", "POST"],
        "/console/logout": ["POST"],
        "/console/static/console.css": ["GET"],
        "/console/static/console.js": ["GET"],
        "/console/calls": ["GET"],
        "/console/sessions": ["GET"],
        "/console/lint": ["GET", "POST"],
        "/console/digits": ["GET"],
        "/console/digits.wav": ["GET"],
    }

    def console(rule: str, methods: list[str]) -> Callable[[], st.SearchStrategy[Req]]:
        return lambda: requests_for(methods, st.just(rule), CONSOLE_COOKIES, voice_form())

    pages: dict[str, tuple[int, Callable[[], st.SearchStrategy[Req]]]] = {
        rule: (100, console(rule, methods)) for rule, methods in console_pages.items()
    }
    pages["/console/calls/<sid>"] = (
        100,
        lambda: requests_for(
            ["GET"], sids.map(lambda s: "/console/calls/" + s), CONSOLE_COOKIES, NO_BODY
        ),
    )
    return pages | {
        "/2010-04-01/Accounts/<account_sid>/Calls.json": (
            2000,
            lambda: (
                requests_for(
                    ["POST"],
                    TWILIO_ACCOUNTS.map(lambda a: f"{TWILIO_PREFIX}{a}/Calls.json"),
                    TWILIO_AUTHS,
                    twilio_forms(TWILIO_CREATES, "To"),
                )
                | st.builds(
                    lambda a, head, q: Req("GET", f"{TWILIO_PREFIX}{a}/Calls.json", head, None, q),
                    TWILIO_ACCOUNTS,
                    TWILIO_AUTHS,
                    TWILIO_LIST,
                )
            ),
        ),
        "/2010-04-01/Accounts/<account_sid>/Calls/<sid>.json": (
            1200,
            lambda: requests_for(
                ["GET", "POST", "DELETE"],
                st.builds(
                    lambda a, s: f"{TWILIO_PREFIX}{a}/Calls/{s}.json", TWILIO_ACCOUNTS, twilio_sids
                ),
                TWILIO_AUTHS,
                twilio_forms(TWILIO_UPDATES, ""),
            ),
        ),
        "/2010-04-01/Accounts/<account_sid>/Calls/<sid>/Recordings.json": (
            300,
            lambda: requests_for(
                ["GET"],
                st.builds(
                    lambda a, s: f"{TWILIO_PREFIX}{a}/Calls/{s}/Recordings.json",
                    TWILIO_ACCOUNTS,
                    twilio_sids,
                ),
                TWILIO_AUTHS,
                NO_BODY,
            ),
        ),
        "/2010-04-01/Accounts/<account_sid>/Recordings/<sid>.json": (
            400,
            lambda: requests_for(
                ["GET", "DELETE"],
                st.builds(
                    lambda a, s: f"{TWILIO_PREFIX}{a}/Recordings/{s}.json",
                    TWILIO_ACCOUNTS,
                    twilio_sids,
                ),
                TWILIO_AUTHS,
                NO_BODY,
            ),
        ),
        "/2010-04-01/Accounts/<account_sid>/Recordings/<sid>.wav": (
            300,
            lambda: requests_for(
                ["GET"],
                st.builds(
                    lambda a, s: f"{TWILIO_PREFIX}{a}/Recordings/{s}.wav",
                    TWILIO_ACCOUNTS,
                    twilio_sids,
                ),
                TWILIO_AUTHS,
                NO_BODY,
            ),
        ),
        "/v1/calls": (
            5000,
            lambda: (
                requests_for(
                    ["POST"],
                    st.just("/v1/calls"),
                    core,
                    bodies(CALL_BASES, CALL_FIELDS, "variables", callee="to", form=True),
                )
                | listings(core)
            ),
        ),
        "/v1/sessions": (
            3000,
            lambda: requests_for(
                ["POST"],
                st.just("/v1/sessions"),
                core,
                bodies(SESSION_BASES, SESSION_FIELDS, "variables", callee="to"),
            ),
        ),
        "/carrier/status/<sid>": (
            200,
            lambda: requests_for(
                ["POST"],
                sids.map(lambda s: "/carrier/status/" + s),
                CARRIER_SIGNATURES,
                voice_form(),
            ),
        ),
        "/voice/<token>": (
            1500,
            lambda: requests_for(
                ["GET", "POST"],
                tokens(seeds.tokens).map(lambda t: "/voice/" + t),
                st.just({}),
                voice_form(),
            ),
        ),
        "/voice/step/<token>": (
            1500,
            lambda: requests_for(
                ["GET", "POST"],
                tokens(seeds.steps).map(lambda t: "/voice/step/" + t),
                st.just({}),
                voice_form(),
            ),
        ),
        "/v1/calls/<sid>": (
            1600,
            lambda: (
                requests_for(["GET"], sids.map(lambda s: "/v1/calls/" + s), core, NO_BODY)
                | requests_for(
                    ["POST"],
                    sids.map(lambda s: "/v1/calls/" + s),
                    core,
                    bodies(CHANGE_BASES, CHANGE_FIELDS, "twiml", callee="", form=True),
                )
            ),
        ),
        "/v1/calls/inbound": (
            600,
            lambda: requests_for(
                ["POST"],
                st.just("/v1/calls/inbound"),
                core,
                bodies(INBOUND_BASES, INBOUND_FIELDS, "from", callee="from"),
            ),
        ),
        "/v1/calls/<sid>/cancel": (
            800,
            lambda: requests_for(
                ["POST"], sids.map(lambda s: f"/v1/calls/{s}/cancel"), core, NO_BODY
            ),
        ),
        "/v1/queues": (200, lambda: requests_for(["GET"], st.just("/v1/queues"), core, NO_BODY)),
        "/v1/queues/<name>": (
            300,
            lambda: requests_for(
                ["GET"],
                (st.just("support") | SEGMENT.filter(bool)).map(lambda n: "/v1/queues/" + n),
                core,
                NO_BODY,
            ),
        ),
        "/v1/calls/<sid>/recordings": (
            300,
            lambda: requests_for(
                ["GET"], sids.map(lambda s: f"/v1/calls/{s}/recordings"), core, NO_BODY
            ),
        ),
        "/v1/recordings/<sid>": (
            400,
            lambda: requests_for(
                ["GET", "DELETE"], sids.map(lambda s: "/v1/recordings/" + s), core, NO_BODY
            ),
        ),
        "/v1/recordings/<sid>.wav": (
            300,
            lambda: requests_for(
                ["GET"], sids.map(lambda s: f"/v1/recordings/{s}.wav"), core, NO_BODY
            ),
        ),
        "/v1/health": (300, lambda: requests_for(["GET"], st.just("/v1/health"), core, NO_BODY)),
        "/openapi.json": (
            100,
            lambda: requests_for(["GET"], st.just("/openapi.json"), core, NO_BODY),
        ),
        "/v1/ready": (200, lambda: requests_for(["GET"], st.just("/v1/ready"), core, NO_BODY)),
        "/metrics": (200, lambda: requests_for(["GET"], st.just("/metrics"), core, NO_BODY)),
        "/project/<project_id>/integration/phone/call/outbound": (
            2000,
            lambda: requests_for(
                ["POST"],
                (st.just("proj_abc123") | st.just("proj_abc123") | SEGMENT.filter(bool)).map(
                    lambda p: f"/project/{p}/integration/phone/call/outbound"
                ),
                auth("bearer", PATHORS_KEY),
                bodies(PATHORS_BASES, PATHORS_FIELDS, "dynamicVariables", callee="toNumber"),
            ),
        ),
        "/v1/voice/outbound": (
            2000,
            lambda: requests_for(
                ["POST"],
                st.just("/v1/voice/outbound"),
                auth("x-api-key", FEATHER_KEY),
                bodies(
                    FEATHER_BASES, FEATHER_FIELDS, "context_variables", callee="to_phone_number"
                ),
            ),
        ),
        "/v1/call": (
            2000,
            lambda: requests_for(
                ["POST"],
                st.just("/v1/call"),
                auth("bearer", THUNDER_KEY),
                bodies(THUNDER_BASES, THUNDER_FIELDS, "config", callee="to_number"),
            ),
        ),
        "/v1/calls/<int:call_id>": (
            600,
            lambda: requests_for(
                ["GET"],
                (st.sampled_from(seeds.thunder_ids) | st.integers(0, 2**70)).map(
                    lambda i: f"/v1/calls/{i}"
                ),
                auth("bearer", THUNDER_KEY) | core,
                NO_BODY,
            ),
        ),
        "/v1/outbound-calling": (
            2000,
            lambda: requests_for(
                ["POST"],
                st.just("/v1/outbound-calling"),
                auth("polyai", POLYAI_TOKEN),
                bodies(POLYAI_BASES, POLYAI_FIELDS, "metadata", callee="to_number"),
            ),
        ),
        "/v1/outbound-calling/<call_sid>": (
            600,
            lambda: requests_for(
                ["GET"],
                (
                    st.sampled_from(seeds.polyai_sids)
                    | st.just("OUT-" + "0" * 8)
                    | SEGMENT.filter(bool)
                ).map(lambda s: "/v1/outbound-calling/" + s),
                auth("polyai", POLYAI_TOKEN),
                NO_BODY,
            ),
        ),
    }


# -- what every answer must be -----------------------------------------------------------------

#: vendor endpoints (blueprint names) and the keys their error bodies have
VENDOR_SHAPES: dict[str, Callable[[Any], bool]] = {
    "compat_pathors": lambda b: isinstance(b.get("error"), str) and set(b) == {"error"},
    "compat_feather": lambda b: (
        set(b) == {"detail"}
        and (
            isinstance(b["detail"], str)
            or all(isinstance(p, dict) and {"loc", "msg", "type"} <= set(p) for p in b["detail"])
        )
    ),
    "compat_thunderphone": lambda b: (
        isinstance(b.get("detail"), str) and isinstance(b.get("code"), str)
    ),
    "compat_polyai": lambda b: isinstance(b.get("message"), str) and isinstance(b.get("code"), str),
    "twilio_api": lambda b: (
        set(b) == {"code", "message", "more_info", "status"}
        and isinstance(b["code"], int)
        and isinstance(b["message"], str)
    ),
}


def vendor_of(adapter: MapAdapter, req: Req) -> str | None:
    """The vendor blueprint whose view answers ``req``, or None (core, or a routing error)."""
    try:
        endpoint, _args = adapter.match(unquote(req.path), req.method)
    except HTTPException:
        return None
    head = str(endpoint).partition(".")[0]
    return head if head in VENDOR_SHAPES else None


def check_answer(vendor: str | None, req: Req, status: int, content_type: str, body: bytes) -> None:
    """Assert what every answer must be: ``vendor`` is :func:`vendor_of` the request."""
    where = req.describe()
    if status == 503 and req.path == "/v1/ready":
        # readiness answers 503 by contract when no dialer runs (none does here): a problem
        # naming its reason, never a crash
        data = json.loads(body)
        assert content_type.split(";")[0].strip() == PROBLEM, where
        assert data["reason"] in ("no-dialer", "store-unavailable"), (where, data)
        return
    assert status < 500, f"{status} for {where}: {body[:500]!r}"
    assert b"Traceback" not in body, where
    if status < 400:
        return
    mimetype = content_type.split(";")[0].strip()
    if req.path.startswith("/console/") and mimetype == "text/html":
        # the console's refusals are its own HTML pages, naming their code
        assert b"<h1>" in body and b'class="code"' in body, (where, body[:300])
        return
    data = json.loads(body)
    assert isinstance(data, dict), where
    if mimetype == PROBLEM:
        # the core's problems (and routing errors anywhere: 404, 405): a code and a field
        assert data["status"] == status, where
        assert isinstance(data.get("code"), str) and data["code"], (where, data)
        assert isinstance(data.get("field"), str), (where, data)  # "" names the key ""
        assert isinstance(data.get("type"), str) and isinstance(data.get("detail"), str), where
        if vendor is not None:  # a vendor route answers in its shape once it is routed
            assert status in (404, 405), (where, data)
        return
    assert mimetype == "application/json", (where, content_type)
    assert vendor is not None, (where, data)
    assert VENDOR_SHAPES[vendor](data), (where, data)
