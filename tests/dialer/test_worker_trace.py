"""The dialer writes each call's trace (redacted, capped) and its error to the call store,
in its grouped writes: the store alone tells what happened, whatever process dialed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.sites import PIN_XML, Site, serve_site
from support.worker import CALLBACK_SECRETS, CALLER, FETCH_SECRETS, PIN_CALLEE, new_dialer, spec

from voiceapp.calls.records import TRUNCATED
from voiceapp.dialer.trace import error_of
from voiceapp.redact import DEFAULT, redact_url
from voiceapp.stores.calls import open_call_store
from voiceapp.stores.calls.base import CallStore

SESSION_TOKEN = "eyJzaWQiOiJhYmMiLCJub25jZSI6IjRQZEtVUm1nRkRYTUNYb3dOSkY0a1EifQ.E6_dfcmWegVI4AgSe"
LOOP_XML = b"<Response><Redirect>/doc/loop</Redirect></Response>"
BAD_XML = b"<Response><Say>unclosed</Response>"


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CallStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'calls.db'}"
    else:
        url = f"{request.getfixturevalue('redis_server')}?prefix=wt-{tmp_path.name[-12:]}:"
    calls = open_call_store(url)
    yield calls
    calls.close()


@pytest.fixture
def site() -> Iterator[Site]:
    documents = {"pin": PIN_XML, "loop": LOOP_XML, "bad": BAD_XML, SESSION_TOKEN: PIN_XML}
    with serve_site(FETCH_SECRETS[-1], CALLBACK_SECRETS[-1], documents=documents) as running:
        yield running


def test_the_whole_trace_is_in_the_store_without_secrets(store: CallStore, site: Site) -> None:
    store.create(spec("CAtr1", PIN_CALLEE, site, url=f"/voice/{SESSION_TOKEN}"))
    dialer = new_dialer(store, site)
    assert dialer.run_until_idle() == 1
    record = store.require("CAtr1")
    memory = dialer.trace("CAtr1")
    assert memory is not None
    # every row but statuses and queued callbacks, which the legs' history and the events hold
    kept = [e.kind for e in memory if e.kind not in ("status", "callback")]
    assert [r["kind"] for r in record.trace] == kept and "say" in kept
    said = [r["detail"]["text"] for r in record.trace if r["kind"] == "say"]
    assert said == ["Your pin is 8 9 7 0"]
    (fetch,) = [r for r in record.trace if r["kind"] == "fetch"]
    assert fetch["detail"]["url"] == site.url("/voice/***")
    assert fetch["detail"]["params"]["From"] == CALLER
    stored = json.dumps(record.trace)
    assert SESSION_TOKEN not in stored and "k-123" not in stored  # no token, no secretKey
    assert record.error is None


def test_a_404_is_the_calls_error_and_it_still_completes(store: CallStore, site: Site) -> None:
    store.create(spec("CAmiss", PIN_CALLEE, site, url="/doc/nothing-here"))
    assert new_dialer(store, site).run_until_idle() == 1
    record = store.require("CAmiss")
    assert record.status == "completed"  # as Twilio: answered, then the application error
    assert record.error is not None
    assert record.error["code"] == "fetch-status" and record.error["status"] == 404
    assert record.error["leg"] == "a" and "HTTP 404" in record.error["message"]
    kinds = [r["kind"] for r in record.trace]
    assert kinds.index("fetch-error") < kinds.index("announce") < kinds.index("say")


@pytest.mark.parametrize(("doc", "code"), [("loop", "loop-guard"), ("bad", "xml-malformed")])
def test_loop_guard_and_bad_documents_have_stable_codes(
    store: CallStore, site: Site, doc: str, code: str
) -> None:
    store.create(spec("CAerr", PIN_CALLEE, site, url=f"/doc/{doc}"))
    assert new_dialer(store, site).run_until_idle() == 1
    record = store.require("CAerr")
    assert record.error is not None and record.error["code"] == code
    errors = [r for r in record.trace if r["kind"] in ("fetch-error", "document-error")]
    assert [e["detail"]["code"] for e in errors] == [code]  # never None


def test_the_trace_is_capped_with_a_truncated_row(store: CallStore, site: Site) -> None:
    store.create(spec("CAcap", PIN_CALLEE, site, url="/doc/loop"))
    assert new_dialer(store, site, TRACE_MAX_ENTRIES=20).run_until_idle() == 1
    record = store.require("CAcap")
    assert len(record.trace) == 20
    assert record.trace[-1]["kind"] == TRUNCATED and record.trace[-1]["detail"]["limit"] == 20
    assert record.error is not None and record.error["code"] == "loop-guard"  # after the cap


def test_no_trace_rows_but_still_the_error(store: CallStore, site: Site) -> None:
    store.create(spec("CAnone", PIN_CALLEE, site, url="/doc/missing"))
    assert new_dialer(store, site, TRACE_MAX_ENTRIES=0).run_until_idle() == 1
    record = store.require("CAnone")
    assert record.trace == ()
    assert record.error is not None and record.error["code"] == "fetch-status"


def test_a_long_row_is_stored_cut(store: CallStore, site: Site) -> None:
    site.documents["long"] = b"<Response><Say>" + b"la" * 5000 + b"</Say></Response>"
    store.create(spec("CAlong", PIN_CALLEE, site, url="/doc/long"))
    assert new_dialer(store, site).run_until_idle() == 1
    (say,) = [r for r in store.require("CAlong").trace if r["kind"] == "say"]
    assert say["detail"]["cut"] > 10_000 and len(say["detail"]["head"]) == 2048


# -- redaction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"http://h:5000/voice/{SESSION_TOKEN}", "http://h:5000/voice/***"),
        (f"http://h/voice/step/{SESSION_TOKEN}?x=1", "http://h/voice/step/***?x=1"),
        ("http://h/cb?apikey=k-123&a=b", "http://h/cb?apikey=%2A%2A%2A&a=b"),
        (
            "http://user:pw@h/doc/pin-verification-2024.xml",
            "http://***@h/doc/pin-verification-2024.xml",
        ),
        ("http://h/doc/pin", "http://h/doc/pin"),
    ],
)
def test_urls_lose_their_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_walks_plain_data_and_messages() -> None:
    data = {
        "error": f"POST http://h/voice/{SESSION_TOKEN}: HTTP 410 Gone",
        "params": {"apikey": "k-123", "To": "+1"},
        "pairs": [["apikey", "k-123"], ["Digits", "8970"]],
        "n": 3,
    }
    assert DEFAULT.value(data) == {
        "error": "POST http://h/voice/***: HTTP 410 Gone",
        "params": {"apikey": "***", "To": "+1"},
        "pairs": [["apikey", "***"], ["Digits", "8970"]],
        "n": 3,
    }


def test_error_of_rows() -> None:
    assert error_of("a", "say", {"text": "hi"}) is None
    fetch = error_of("b1", "fetch-error", {"code": "fetch-timeout", "error": "slow", "url": "u"})
    assert fetch == {"code": "fetch-timeout", "message": "slow", "url": "u", "leg": "b1"}
    doc = error_of("a", "document-error", {"code": "bad-value", "message": "m", "line": 3})
    assert doc == {"code": "bad-value", "message": "m", "line": 3, "leg": "a"}
    bug = error_of("a", "internal-error", {"error": "KeyError: x"})
    assert bug is not None and bug["code"] == "internal-error"
