"""Calls placed with the real twilio-python client and carried out by the bundled dialer
over the simulated network: the call's Twilio view as it goes, and a hang-up (cancel)
through Twilio's update while it rings."""

from __future__ import annotations

from collections.abc import Callable

import requests
from support.e2e import AUTH, FROM, PIN_CALLEE, SLOW, HttpReceiver, Server
from support.servers import wait_for
from twilio.rest import Client

from voiceapp.dialer.worker import Dialer

ACCOUNT = "AC" + "7a" * 16
TOKEN = "3c2b1a0f9e8d7c6b5a49382716f5e4d3"


def twilio(server: Server) -> Client:
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = server.base
    return client


def test_a_twilio_call_runs_to_its_end(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    receiver: Callable[..., HttpReceiver],
) -> None:
    rec = receiver()
    server = serve(allow=(rec.port,), TWILIO_ACCOUNTS={ACCOUNT: TOKEN})
    session = requests.post(
        f"{server.base}/v1/sessions",
        json={"app": "pin", "to": PIN_CALLEE, "variables": {"pin": "8970"}},
        headers=AUTH,
        timeout=10,
    )
    assert session.status_code == 201, session.text
    client = twilio(server)
    call = client.calls.create(
        to=PIN_CALLEE,
        from_=FROM,
        url=session.json()["url"],
        status_callback=rec.url,
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert call.status == "queued"
    dialer(server)
    done = wait_for(
        lambda: c if (c := client.calls(call.sid).fetch()).status == "completed" else None
    )
    assert done.start_time is not None and done.end_time is not None
    assert done.start_time <= done.end_time
    assert done.duration is not None and int(done.duration) > 0
    assert [c.sid for c in client.calls.list(status="completed")] == [call.sid]
    said = [r["detail"]["text"] for r in server.call(call.sid)["trace"] if r["kind"] == "say"]
    assert said and said[0].startswith("Your pin is")  # the session's document ran
    events = wait_for(lambda: len(rec.delivered()) >= 4 and rec.delivered())
    assert events[-1].params["CallStatus"] == "completed"


def test_twilio_update_cancels_a_ringing_call(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
) -> None:
    server = serve(TWILIO_ACCOUNTS={ACCOUNT: TOKEN})
    client = twilio(server)
    call = client.calls.create(to=SLOW, from_=FROM, twiml="<Response><Say>hi</Say></Response>")
    dialer(server, real=True)  # SLOW rings for a minute of real time
    wait_for(lambda: client.calls(call.sid).fetch().status == "ringing")
    assert client.calls(call.sid).update(status="canceled").status == "ringing"
    ended = wait_for(
        lambda: c if (c := client.calls(call.sid).fetch()).status == "canceled" else None
    )
    assert ended.duration == "0" and ended.end_time is not None
