"""The command line as people use it: ``voiceapp call`` against a running server,
``voiceapp demo`` as scripts/run starts it, and a bad config failing at start."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.e2e import API_KEY, FROM, IVR, PIN_CALLEE, VOICEAPP, HttpReceiver, Server, clean_env

from voiceapp.cli import main
from voiceapp.cli.call import Timeline, describe, variables
from voiceapp.cli.output import CliError, color_setting
from voiceapp.dialer.worker import Dialer

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VOICEAPP, *args], capture_output=True, text=True, timeout=120, env=clean_env(), cwd=ROOT
    )


def test_call_prints_the_timeline(
    serve: Callable[..., Server], dialer: Callable[..., Dialer]
) -> None:
    server = serve()
    dialer(server)
    result = CliRunner().invoke(
        main,
        [
            "call",
            "--from",
            FROM,
            "--to",
            "0912345678",
            "--app",
            "pin",
            "--var-str",
            "pin=8970",
            "--var",
            "repeat=1",
            "--server",
            server.base,
            "--api-key",
            API_KEY,
            "--expect",
            "completed",
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"queued: {FROM} -> 0912345678" in out
    for expected in (
        "status         initiated",
        "status         in-progress",
        "fetch          POST",
        "verbs: Say",
        '"Your pin is ***." (2.8 s)',
        "ended: completed",
    ):
        assert expected in out, out


def test_call_with_senddigits_shows_digits(
    serve: Callable[..., Server], dialer: Callable[..., Dialer]
) -> None:
    server = serve()
    dialer(server)
    result = CliRunner().invoke(
        main,
        [
            "call",
            "--from",
            FROM,
            "--to",
            IVR,
            "--senddigits",
            "wwww101",
            "--server",
            server.base,
            "--api-key",
            API_KEY,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "digits-sent    wwww101 (over 3400 ms)" in result.output
    assert "ivr            extension=101 result=connected" in result.output


def test_call_reports_a_refusal(serve: Callable[..., Server]) -> None:
    server = serve()
    result = CliRunner().invoke(
        main,
        [
            "call",
            "--from",
            "+14155550100",
            "--to",
            PIN_CALLEE,
            "--server",
            server.base,
            "--api-key",
            API_KEY,
        ],
    )
    assert result.exit_code == 1
    assert "HTTP 404 from-not-configured field=from" in result.output
    usage = CliRunner().invoke(
        main,
        [
            "call",
            "--from",
            FROM,
            "--to",
            PIN_CALLEE,
            "--url",
            "http://x",
            "--app",
            "pin",
            "--api-key",
            "k",
        ],
    )
    assert usage.exit_code == 2 and "--url or --app" in usage.output


def test_call_reports_a_blocked_destination(serve: Callable[..., Server]) -> None:
    server = serve()
    args = ["call", "--from", FROM, "--server", server.base, "--api-key", API_KEY]
    result = CliRunner().invoke(main, [*args, "--to", "+19005550100"])
    assert result.exit_code == 1
    assert "HTTP 403 destination-blocked field=to: to +19005550100 is a premium-rate" in (
        result.output
    )
    result = CliRunner().invoke(main, [*args, "--to", "+442079460018"])  # DEFAULT_REGION TW
    assert result.exit_code == 1
    assert "HTTP 403 destination-not-permitted field=to" in result.output


def test_a_dial_error_row_names_number_and_code() -> None:
    detail = {"number": "+19005550100", "code": "destination-blocked", "message": "blocked"}
    assert describe("dial-error", detail) == "+19005550100 destination-blocked: blocked"


def test_call_json_with_every_field(
    serve: Callable[..., Server],
    dialer: Callable[..., Dialer],
    receiver: Callable[..., HttpReceiver],
) -> None:
    rec = receiver()
    server = serve(allow=(rec.port,))
    dialer(server)
    secret = "receiver-secret-0123456789"
    result = CliRunner().invoke(
        main,
        [
            *("call", "--json", "--from", FROM, "--to", "0912345678", "--country-code", "TW"),
            *("--app", "pin", "--var-str", "pin=0042", "--var", "repeat=1"),
            *("--status-callback", rec.url, "--status-callback-event", "initiated completed"),
            *("--status-callback-method", "get", "--secret-key", secret),
            *("--optional", "token=123456", "--server", server.base, "--api-key", API_KEY),
            *("--expect", "completed"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    record = json.loads(result.stdout)  # one object: the final record, no timeline
    assert record["status"] == "completed" and record["to"] == PIN_CALLEE
    assert record["variables"] == {"pin": "***", "repeat": 1}  # the PIN is secret
    assert "0042" not in result.output
    assert record["statusCallbackMethod"] == "GET"
    assert sorted(record["statusCallbackEvent"]) == ["completed", "initiated"]
    assert record["optional"] == "token=123456" and record["secretKey"] == "***"
    assert [r.method for r in rec.delivered()] == ["GET", "GET"]
    assert rec.delivered()[0].params.get("token") == "123456"
    assert rec.delivered()[0].params.get("apikey") == secret  # the receiver gets the key
    assert ["apikey", "***"] in record["events"][0]["params"]  # nobody else sees it


def test_call_json_errors_keep_their_exit_status(serve: Callable[..., Server]) -> None:
    server = serve()
    base = ["call", "--json", "--server", server.base, "--api-key", API_KEY]
    refused = CliRunner().invoke(main, [*base, "--from", "+14155550100", "--to", PIN_CALLEE])
    assert refused.exit_code == 1
    error = json.loads(refused.stdout)["error"]
    assert (error["code"], error["field"], error["status"]) == ("from-not-configured", "from", 404)

    typed = CliRunner().invoke(
        main, [*base, "--from", FROM, "--to", PIN_CALLEE, "--app", "pin", "--var", "pin=8970"]
    )
    assert typed.exit_code == 1  # --var is JSON: 8970 is a number, and a PIN is a string
    error = json.loads(typed.stdout)["error"]
    assert (error["code"], error["field"]) == ("invalid-pin", "variables.pin")

    usage = CliRunner().invoke(
        main, [*base, "--from", FROM, "--to", PIN_CALLEE, "--url", "http://x", "--app", "pin"]
    )
    assert usage.exit_code == 2
    assert json.loads(usage.stdout)["error"]["code"] == "usage"
    missing = CliRunner().invoke(main, ["call", "--json", "--to", PIN_CALLEE])
    assert missing.exit_code == 2
    assert json.loads(missing.stdout)["error"] == {
        "code": "missing",
        "message": "Missing option '--from'.",
        "field": "--from",
    }


def test_var_values_are_json_and_var_str_is_literal() -> None:
    assert variables(
        ["timeout=5", "ratio=0.5", "on=true", "none=null", 'menu={"a": [1]}', 'pin="8970"'],
        ["code=0042", "text=a=b"],
    ) == {
        "timeout": 5,
        "ratio": 0.5,
        "on": True,
        "none": None,
        "menu": {"a": [1]},
        "pin": "8970",
        "code": "0042",
        "text": "a=b",
    }
    for typed, literal, code in (
        (["pin=0042"], [], "invalid-json"),  # not JSON (a leading zero): --var-str says it
        (["word=hello"], [], "invalid-json"),
        (["a=1"], ["a=1"], "duplicate-variable"),
        (["novalue"], [], "bad-parameter"),
    ):
        with pytest.raises(CliError) as info:
            variables(typed, literal)
        assert info.value.code == code


def test_no_color_turns_colour_off() -> None:
    assert color_setting({"NO_COLOR": "1"}) is False
    assert color_setting({}) is None  # click decides: styles only on a terminal


def test_timeline_prints_each_row_once() -> None:
    call = {
        "createdAt": 100.0,
        "status": "ringing",
        "legs": [
            {
                "sid": "CA1",
                "to": PIN_CALLEE,
                "duration": None,
                "history": [{"status": "queued", "at": 100.0}, {"status": "ringing", "at": 101.5}],
            }
        ],
        "events": [
            {
                "id": "CA1:ringing",
                "callSid": "CA1",
                "event": "ringing",
                "method": "POST",
                "url": "http://r/s",
                "createdAt": 101.5,
                "state": "pending",
                "attempts": [{"number": 1, "at": 101.6, "ok": False, "status": 503, "error": None}],
            }
        ],
    }
    timeline = Timeline()
    first = timeline.update(call)
    assert first == [
        "   0.000s  a    status         queued",
        "   1.500s  a    status         ringing",
        "   1.500s  a    callback       ringing -> POST http://r/s",
        "   1.600s  a    delivery       ringing attempt 1: failed (HTTP 503)",
    ]
    assert timeline.update(call) == []


def test_demo_runs_and_exits_0() -> None:
    result = run_cli("demo", "--port", "0", "--receiver-port", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count(", as expected") == 3
    assert '"Your pin is ***."' in out and "8 9 7 0" not in out and "8970" not in out
    assert "digits-sent    wwww101" in out and "result=connected" in out
    assert "gathered       digits '3'" in out and "gathered       digits '9'" in out
    assert "attempt 1: failed (HTTP 503)" in out and "attempt 2: delivered (HTTP 204)" in out
    assert "demo: 3 calls ended as expected" in out


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")
def test_demo_over_sip_with_sipp_callees() -> None:
    result = run_cli("demo", "--network", "sip", "--port", "0", "--receiver-port", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("sipp     +") == 4 and out.count(", as expected") == 3
    assert (
        "sip-invite" in out and "sip-answered" in out and 'callee-hangup  {"reason": "BYE"}' in out
    )
    assert "callee-pressed 3" in out and "callee-pressed 9" in out  # RFC 4733 from sipp
    assert '"Your pin is ***."' in out and "8970" not in out
    assert "demo: 3 calls ended as expected" in out


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[outbound_numbers]\n"12345" = "active"\n', "OUTBOUND_NUMBERS", "not an E.164 number"),
        (
            '[outbound_numbers]\n"+19499300360" = "paused"\n',
            "OUTBOUND_NUMBERS",
            "must be one of active, inactive",
        ),
        ('url_allowlist = ["localhost"]\n', "URL_ALLOWLIST", "is not host:port"),
        ('default_region = "Taiwan"\n', "DEFAULT_REGION", "ISO 3166-1"),
        ('[network.numbers."+886912345678"]\nrings = "two"\n', "network", "rings"),
    ],
)
def test_bad_config_fails_at_start(tmp_path: Path, text: str, key: str, reason: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('testing = true\napi_keys = ["k"]\n' + text, encoding="utf-8")
    result = run_cli("demo", "--config", str(config), "--port", "0", "--receiver-port", "0")
    assert result.returncode == 1
    assert key in result.stderr and reason in result.stderr, result.stderr
    serve = run_cli("serve", "--config", str(config), "--port", "0")
    assert serve.returncode == 1
    assert key in serve.stderr and reason in serve.stderr, serve.stderr


HI = "<Response><Say>hi</Say></Response>"


def test_call_hangup_ends_a_call_through_the_api(serve: Callable[..., Server]) -> None:
    server = serve()  # no dialer: the call stays queued until --hangup cancels it
    placed = CliRunner().invoke(
        main,
        ["call", "--from", FROM, "--to", PIN_CALLEE, "--twiml", HI,
         "--ring-timeout", "20", "--time-limit", "300", "--server", server.base,
         "--api-key", API_KEY, "--timeout", "1", "--json"],
    )  # fmt: skip
    assert placed.exit_code == 1  # still queued after --timeout 1 s
    sid = json.loads(placed.stdout)["error"]["message"].split()[1]
    call = server.call(sid)
    assert (call["twiml"], call["timeout"], call["timeLimit"]) == (HI, 20, 300)
    ended = CliRunner().invoke(
        main, ["call", "--hangup", sid, "--server", server.base, "--api-key", API_KEY]
    )
    assert ended.exit_code == 0, ended.output
    assert f"call {sid}: hang-up asked; it is canceled" in ended.output
    again = CliRunner().invoke(
        main, ["call", "--hangup", sid, "--server", server.base, "--api-key", API_KEY, "--json"]
    )
    assert again.exit_code == 1
    assert json.loads(again.stdout)["error"]["code"] == "call-not-changeable"
    usage = CliRunner().invoke(
        main, ["call", "--hangup", sid, "--to", PIN_CALLEE, "--api-key", "k"]
    )
    assert usage.exit_code == 2
