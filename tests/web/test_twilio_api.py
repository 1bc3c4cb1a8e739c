"""The Twilio-compatible Calls resource, driven by the real twilio-python client against a
real server on 127.0.0.1 (``client.api.base_url``).  No dialer runs: the store is moved
along as a dialer would write it, so each state of a call is reached on purpose."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from support.servers import Server
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from voiceapp.calls.records import CallChange
from voiceapp.web import create_app
from voiceapp.web.calls import call_service

ACCOUNT = "AC" + "5e" * 16
TOKEN = "b7c1f0e2d3a4958677a8b9c0d1e2f3a4"
OTHER = "AC" + "0f" * 16
OTHER_TOKEN = "0a9b8c7d6e5f40312a3b4c5d6e7f8091"
FROM = "+19499300360"
ALLOWED = "127.0.0.1:9"
DOC = f"http://{ALLOWED}/doc.xml"
CA = re.compile(r"^CA[0-9a-f]{32}$")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server({"X-API-Key": "twilio-test-api-key"})
    app = create_app(
        {
            "TESTING": True,
            "DIALER": "external",
            "API_KEYS": ["twilio-test-api-key"],
            "SECRET_KEYS": ["twilio-test-secret"],
            "STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
            "OUTBOUND_NUMBERS": {FROM: "active", "+19499300361": "inactive"},
            "URL_ALLOWLIST": [ALLOWED],
            "TWILIO_ACCOUNTS": {ACCOUNT: TOKEN, OTHER: OTHER_TOKEN},
            "RATE_LIMIT_PER_DESTINATION": "",
        }
    )
    server.start(app)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(server: Server) -> Client:
    twilio = Client(ACCOUNT, TOKEN)
    twilio.api.base_url = server.base
    return twilio


def drive(server: Server, sid: str, *path: str, duration: int | None = None) -> None:
    """Take the call as a dialer would and move its a-leg along ``path``."""
    store = call_service(server.app).store
    taken = store.take("w1", 60)
    assert taken is not None and taken.sid == sid
    previous = "queued"
    for status in path:
        store.set_status(sid, status, expect=previous, duration=duration)
        previous = status


def raw(server: Server, method: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", (ACCOUNT, TOKEN))
    url = f"{server.base}/2010-04-01/Accounts/{ACCOUNT}{path}"
    return requests.request(method, url, timeout=10, **kwargs)


def twilio_error(call: Callable[[], Any]) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        call()
    return info.value


# -- create and fetch --------------------------------------------------------------------


def test_create_and_fetch_with_the_twilio_client(client: Client, server: Server) -> None:
    call = client.calls.create(
        to="+14155550123",
        from_=FROM,
        url=DOC,
        method="GET",
        send_digits="ww1234#",
        status_callback=f"http://{ALLOWED}/status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        status_callback_method="POST",
        timeout=30,
        time_limit=600,
        fallback_url=f"http://{ALLOWED}/fallback",
        fallback_method="POST",
    )
    assert CA.match(call.sid)
    assert (call.status, call.direction, call.api_version) == (
        "queued",
        "outbound-api",
        "2010-04-01",
    )
    assert (call.to, call._from, call.account_sid) == ("+14155550123", FROM, ACCOUNT)
    assert call.to_formatted == "(415) 555-0123"
    assert call.parent_call_sid is None and call.price is None
    assert call.start_time is None and call.end_time is None and call.duration is None
    assert isinstance(call.date_created, datetime)
    assert call.uri == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call.sid}.json"
    assert "recordings" in (call.subresource_uris or {})

    fetched = client.calls(call.sid).fetch()
    assert (fetched.sid, fetched.status) == (call.sid, "queued")

    stored = server.call(call.sid)  # what voiceapp's own API shows of it
    assert stored["accountSid"] == ACCOUNT
    assert (stored["url"], stored["method"], stored["senddigits"]) == (DOC, "GET", "ww1234#")
    assert (stored["timeout"], stored["timeLimit"]) == (30, 600)
    assert stored["fallbackUrl"] == f"http://{ALLOWED}/fallback"
    assert stored["statusCallbackEvent"] == ["answered", "completed", "initiated", "ringing"]


def test_create_with_inline_twiml_record_and_machine_detection(
    client: Client, server: Server
) -> None:
    twiml = "<Response><Say>Hello</Say><Hangup/></Response>"
    call = client.calls.create(
        to="+14155550124", from_=FROM, twiml=twiml, record=True, machine_detection="Enable"
    )
    stored = server.call(call.sid)
    assert (stored["twiml"], stored["url"]) == (twiml, None)
    assert (stored["record"], stored["machineDetection"]) == (True, "Enable")
    assert call.answered_by == "unknown"  # not available on this network


def test_create_takes_the_recordings_channels_track_and_trim(
    client: Client, server: Server
) -> None:
    call = client.calls.create(
        to="+14155550130",
        from_=FROM,
        url=DOC,
        record=True,
        recording_channels="dual",
        recording_track="inbound",
        trim="do-not-trim",
    )
    stored = server.call(call.sid)
    shown = (stored["recordingChannels"], stored["recordingTrack"], stored["trim"])
    assert shown == ("dual", "inbound", "do-not-trim")
    plain = server.call(client.calls.create(to="+14155550131", from_=FROM, url=DOC).sid)
    # Twilio's defaults; without Record the three are ignored, as Twilio ignores them
    assert (plain["recordingChannels"], plain["recordingTrack"], plain["trim"]) == (
        "mono",
        "both",
        "trim-silence",
    )
    ignored = client.calls.create(to="+14155550132", from_=FROM, url=DOC, recording_channels="dual")
    assert server.call(ignored.sid)["recordingChannels"] == "mono"


@pytest.mark.parametrize(
    "bad",
    [{"recording_channels": "stereo"}, {"recording_track": "left"}, {"trim": "yes"}],
)
def test_create_refuses_a_bad_recording_value(client: Client, bad: dict[str, str]) -> None:
    error = twilio_error(
        lambda: client.calls.create(to="+14155550133", from_=FROM, url=DOC, record=True, **bad)
    )
    assert (error.code, error.status) == (20422, 400)


def test_machine_detection_is_ignored_with_send_digits(client: Client, server: Server) -> None:
    call = client.calls.create(
        to="+14155550134",
        from_=FROM,
        url=DOC,
        send_digits="1234",
        machine_detection="Enable",
        machine_detection_timeout=10,
    )
    stored = server.call(call.sid)  # Twilio's rule: SendDigits wins
    assert stored["machineDetection"] is None and stored["senddigits"] == "1234"
    assert call.answered_by is None


def test_the_answer_times_are_rfc_2822(client: Client, server: Server) -> None:
    call = client.calls.create(to="+14155550125", from_=FROM, url=DOC)
    drive(server, call.sid, "initiated", "ringing", "in-progress", "completed", duration=7)
    body = raw(server, "GET", f"/Calls/{call.sid}.json").json()
    for key in ("date_created", "date_updated", "start_time", "end_time"):
        assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", body[key]), key
        assert parsedate_to_datetime(body[key]).tzinfo is not None
    assert (body["status"], body["duration"]) == ("completed", "7")
    fetched = client.calls(call.sid).fetch()
    assert fetched.end_time is not None and fetched.end_time.tzinfo == UTC


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"to": "+14155550126", "from_": FROM}, 21205),  # neither Url nor Twiml
        ({"to": "not a number", "from_": FROM, "url": DOC}, 21211),
        ({"to": "+14155550126", "from_": "+1", "url": DOC}, 21212),
        ({"to": "+14155550126", "from_": "+19499300399", "url": DOC}, 21210),  # not ours
        ({"to": "+14155550126", "from_": "+19499300361", "url": DOC}, 21210),  # inactive
        ({"to": "+14155550126", "from_": FROM, "url": "ftp://example.com/x"}, 21205),
        ({"to": "+14155550126", "from_": FROM, "url": "http://10.0.0.1/x"}, 21205),
        ({"to": "+14155550126", "from_": FROM, "url": DOC, "send_digits": "12x"}, 21206),
        ({"to": "+14155550126", "from_": FROM, "url": DOC, "send_digits": "1" * 33}, 21206),
        ({"to": "+14155550126", "from_": FROM, "url": DOC, "send_digits": "1@500"}, 21206),
        ({"to": "+14155550126", "from_": FROM, "url": DOC, "timeout": 601}, 21208),
        ({"to": "+14155550126", "from_": FROM, "url": DOC, "method": "PUT"}, 21209),
        ({"to": "+14155550126", "from_": FROM, "url": DOC, "machine_detection": "Yes"}, 21207),
        ({"to": "+14155550126", "from_": FROM, "twiml": "<Response><Nope/></Response>"}, 12100),
        ({"to": "+14155550126", "from_": FROM, "twiml": "<Response>"}, 12100),
        ({"to": "+14155550126", "from_": FROM, "twiml": "<Response/>" + " " * 4000}, 20422),
        ({"to": "+14155550126", "from_": FROM, "application_sid": "AP" + "0" * 32}, 21218),
        ({"to": "+19002345678", "from_": FROM, "url": DOC}, 21216),  # premium rate: blocked
    ],
)
def test_create_refusals_have_twilio_codes(
    client: Client, fields: dict[str, Any], code: int
) -> None:
    error = twilio_error(lambda: client.calls.create(**fields))
    assert (error.code, error.status) == (code, 400), error.msg
    assert error.uri.endswith("/Calls.json")


def test_a_missing_to_or_from(server: Server) -> None:
    answer = raw(server, "POST", "/Calls.json", data={"From": FROM, "Url": DOC})
    body = answer.json()
    assert answer.status_code == 400
    assert body == {
        "code": 21201,
        "message": body["message"],
        "more_info": "https://www.twilio.com/docs/errors/21201",
        "status": 400,
    }
    assert body["message"].startswith("No 'To' number is specified")
    answer = raw(server, "POST", "/Calls.json", data={"To": "+14155550127", "Url": DOC})
    assert answer.json()["code"] == 21213


def test_status_callback_events_repeat(server: Server) -> None:
    form = [("To", "+14155550128"), ("From", FROM), ("Url", DOC),
            ("StatusCallback", f"http://{ALLOWED}/cb"), ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "completed")]  # fmt: skip
    answer = raw(server, "POST", "/Calls.json", data=form)
    assert answer.status_code == 201, answer.text
    stored = server.call(answer.json()["sid"])
    assert stored["statusCallbackEvent"] == ["completed", "initiated"]


# -- auth --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [None, (ACCOUNT, "wrong-token"), ("AC" + "1" * 32, TOKEN), (OTHER, OTHER_TOKEN)],
)
def test_authentication(server: Server, auth: tuple[str, str] | None) -> None:
    """No credentials, a wrong token, an unknown account, another account's URL: 20003."""
    answer = raw(server, "GET", "/Calls.json", auth=auth)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic")
    body = answer.json()
    assert (body["code"], body["status"]) == (20003, 401)
    assert TOKEN not in answer.text and OTHER_TOKEN not in answer.text


def test_a_wrong_token_with_the_client(server: Server) -> None:
    bad = Client(ACCOUNT, "not-the-token")
    bad.api.base_url = server.base
    error = twilio_error(lambda: bad.calls.create(to="+14155550199", from_=FROM, url=DOC))
    assert (error.status, error.code) == (401, 20003)
    with pytest.raises(TwilioException) as info:  # a page the client cannot read
        bad.calls.list()
    assert "20003" in str(info.value)


def test_accounts_see_only_their_calls(client: Client, server: Server) -> None:
    mine = client.calls.create(to="+14155550129", from_=FROM, url=DOC)
    other = Client(OTHER, OTHER_TOKEN)
    other.api.base_url = server.base
    theirs = other.calls.create(to="+14155550130", from_=FROM, url=DOC)
    assert [c.sid for c in client.calls.list()] == [mine.sid]
    assert [c.sid for c in other.calls.list()] == [theirs.sid]
    error = twilio_error(lambda: client.calls(theirs.sid).fetch())
    assert (error.status, error.code) == (404, 20404)
    assert server.post("/v1/calls", {"from": FROM, "to": "+14155550131", "url": DOC},
                       server.auth).status_code == 201  # fmt: skip
    assert len(client.calls.list()) == 1  # /v1's calls have no account


# -- list --------------------------------------------------------------------------------


def test_list_pages_with_the_client(client: Client, server: Server) -> None:
    sids = [client.calls.create(to=f"+1415555014{i}", from_=FROM, url=DOC).sid for i in range(7)]
    listed = [c.sid for c in client.calls.list(page_size=3)]  # follows next_page_uri
    assert listed == sids[::-1]  # newest first
    assert [c.sid for c in client.calls.list(limit=4, page_size=2)] == sids[::-1][:4]
    page = client.calls.page(page_size=3)
    assert [c.sid for c in page] == sids[::-1][:3]
    second = page.next_page()
    assert second is not None and [c.sid for c in second] == sids[::-1][3:6]
    third = second.next_page()
    assert third is not None and [c.sid for c in third] == sids[::-1][6:]
    assert third.next_page() is None


def test_list_paging_fields(client: Client, server: Server) -> None:
    for i in range(3):
        client.calls.create(to=f"+1415555015{i}", from_=FROM, url=DOC)
    body = raw(server, "GET", "/Calls.json", params={"PageSize": 2}).json()
    assert set(body) == {"calls", "end", "first_page_uri", "next_page_uri", "page",
                         "page_size", "previous_page_uri", "start", "uri"}  # fmt: skip
    assert (body["page"], body["page_size"], body["start"], body["end"]) == (0, 2, 0, 1)
    assert body["previous_page_uri"] is None
    assert body["first_page_uri"].startswith(f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json?")
    nxt = requests.get(server.base + body["next_page_uri"], auth=(ACCOUNT, TOKEN), timeout=10)
    page = nxt.json()
    assert (page["page"], page["start"], page["end"], len(page["calls"])) == (1, 2, 2, 1)
    assert page["next_page_uri"] is None and page["previous_page_uri"] is not None
    by_number = raw(server, "GET", "/Calls.json", params={"PageSize": 2, "Page": 1}).json()
    assert [c["sid"] for c in by_number["calls"]] == [c["sid"] for c in page["calls"]]


def test_list_filters(client: Client, server: Server) -> None:
    done = client.calls.create(to="+14155550160", from_=FROM, url=DOC)
    drive(server, done.sid, "initiated", "in-progress", "completed", duration=3)
    ringing = client.calls.create(to="+14155550161", from_=FROM, url=DOC)
    drive(server, ringing.sid, "initiated", "ringing")
    queued = client.calls.create(to="+14155550162", from_=FROM, url=DOC)
    assert [c.sid for c in client.calls.list(status="completed")] == [done.sid]
    assert [c.sid for c in client.calls.list(status="ringing")] == [ringing.sid]
    assert [c.sid for c in client.calls.list(status="queued")] == [queued.sid]
    assert [c.sid for c in client.calls.list(to="+14155550161")] == [ringing.sid]
    assert len(client.calls.list(from_=FROM)) == 3
    today = datetime.now(UTC).date()
    started = {c.sid for c in client.calls.list(start_time=today)}
    assert started == {done.sid, ringing.sid}  # the queued call has not started
    assert {c.sid for c in client.calls.list(start_time_after=datetime(2000, 1, 1))} == started
    assert client.calls.list(start_time_before=datetime(2000, 1, 1)) == []
    assert [c.sid for c in client.calls.list(end_time=today)] == [done.sid]
    assert client.calls.list(parent_call_sid=done.sid) == []  # it dialed no one


def test_list_children_of_a_call(client: Client, server: Server) -> None:
    call = client.calls.create(to="+14155550170", from_=FROM, url=DOC)
    drive(server, call.sid, "initiated", "in-progress")
    store = call_service(server.app).store
    store.add_leg(call.sid, "CA" + "b" * 32, from_=FROM, to="+14155550171", parent_sid=call.sid)
    children = client.calls.list(parent_call_sid=call.sid)
    assert [(c.sid, c.parent_call_sid, c.direction) for c in children] == [
        ("CA" + "b" * 32, call.sid, "outbound-dial")
    ]


@pytest.mark.parametrize(
    "params",
    [{"PageSize": "0"}, {"PageSize": "1001"}, {"Status": "initiated"}, {"StartTime": "soon"},
     {"PageToken": "nope"}, {"PageToken": "PAnope"}, {"Page": "6", "PageSize": "1000"}],
)  # fmt: skip
def test_list_refusals(server: Server, params: dict[str, str]) -> None:
    answer = raw(server, "GET", "/Calls.json", params=params)
    assert (answer.status_code, answer.json()["code"]) == (400, 20422), answer.text


# -- update and delete -------------------------------------------------------------------


def test_update_twiml_of_a_queued_call_replaces_its_document(
    client: Client, server: Server
) -> None:
    call = client.calls.create(to="+14155550180", from_=FROM, url=DOC)
    twiml = "<Response><Say>changed</Say></Response>"
    updated = client.calls(call.sid).update(twiml=twiml)
    assert updated.status == "queued"
    assert (server.call(call.sid)["twiml"], server.call(call.sid)["url"]) == (twiml, None)
    client.calls(call.sid).update(url=f"http://{ALLOWED}/other.xml", method="GET")
    assert server.call(call.sid)["url"] == f"http://{ALLOWED}/other.xml"


def test_update_a_live_call_is_kept_for_its_dialer(client: Client, server: Server) -> None:
    call = client.calls.create(to="+14155550181", from_=FROM, url=DOC)
    drive(server, call.sid, "initiated", "in-progress")
    twiml = "<Response><Say>now</Say></Response>"
    assert client.calls(call.sid).update(twiml=twiml).status == "in-progress"
    assert client.calls(call.sid).update(status="completed").status == "in-progress"
    store = call_service(server.app).store
    assert store.change_requests("w1") == [
        (call.sid, CallChange(twiml=twiml)),
        (call.sid, CallChange(status="completed")),
    ]


@pytest.mark.parametrize("status", ["completed", "canceled"])
def test_update_status_of_a_queued_call_cancels_it(
    client: Client, server: Server, status: str
) -> None:
    call = client.calls.create(to="+14155550182", from_=FROM, url=DOC)
    updated = client.calls(call.sid).update(status=status)
    assert updated.status == "canceled"
    assert updated.end_time is not None and updated.duration == "0"


def test_update_status_of_a_ringing_call_asks_its_dialer(client: Client, server: Server) -> None:
    call = client.calls.create(to="+14155550183", from_=FROM, url=DOC)
    drive(server, call.sid, "initiated", "ringing")
    assert client.calls(call.sid).update(status="canceled").status == "ringing"
    assert server.call(call.sid)["cancelRequested"] is True
    assert call_service(server.app).store.cancel_requests("w1") == [call.sid]


def test_update_refusals(client: Client, server: Server) -> None:
    call = client.calls.create(to="+14155550184", from_=FROM, url=DOC)
    error = twilio_error(lambda: client.calls(call.sid).update(status="busy"))
    assert (error.status, error.code) == (400, 20422)
    error = twilio_error(lambda: client.calls(call.sid).update(url="http://10.0.0.1/x"))
    assert error.code == 21205
    error = twilio_error(lambda: client.calls(call.sid).update(twiml="<Response><Oops/>"))
    assert error.code == 12100
    assert "line 1, column" in error.msg and "(Twiml)" in error.msg
    error = twilio_error(lambda: client.calls(call.sid).update(url=DOC, method="PATCH"))
    assert error.code == 21209
    drive(server, call.sid, "initiated", "busy")
    error = twilio_error(lambda: client.calls(call.sid).update(twiml="<Response/>"))
    assert (error.status, error.code) == (400, 21220)
    error = twilio_error(lambda: client.calls("CA" + "0" * 32).update(status="completed"))
    assert (error.status, error.code) == (404, 20404)


def test_delete(client: Client, server: Server) -> None:
    call = client.calls.create(to="+14155550185", from_=FROM, url=DOC)
    error = twilio_error(lambda: client.calls(call.sid).delete())
    assert (error.status, error.code) == (400, 21220)  # still queued
    client.calls(call.sid).update(status="canceled")
    assert client.calls(call.sid).delete() is True
    error = twilio_error(lambda: client.calls(call.sid).fetch())
    assert (error.status, error.code) == (404, 20404)
    error = twilio_error(lambda: client.calls(call.sid).delete())
    assert (error.status, error.code) == (404, 20404)


def test_a_busy_number(client: Client) -> None:
    client.calls.create(to="+14155550186", from_=FROM, url=DOC)
    error = twilio_error(lambda: client.calls.create(to="+14155550186", from_=FROM, url=DOC))
    assert (error.status, error.code) == (409, 20409)
