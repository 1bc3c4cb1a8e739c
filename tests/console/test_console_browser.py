"""The console in a real browser: headless Chromium (the Debian ``chromium`` package,
installed by scripts/setup) driven by Playwright, against a real voiceapp server whose
dialer places the calls on the simulated network.

Each page is checked for what it must show (the calls list, a call's timeline, its
documents with lint highlighting, its callbacks and digits, sessions, the lint and
digits pages, the login and CSRF refusals), for what it must never show (keys, PINs,
secretKey, voice tokens), for accessibility (axe-core, no serious or critical
violation) and saved as a screenshot under ``test-artifacts/console/`` (or
``$VOICEAPP_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support.e2e import API_KEY, AUTH, FROM, HttpReceiver, Server, finished
from support.servers import wait_for
from support.sites import Site

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "no /usr/bin/chromium: install the Debian package chromium (scripts/setup does)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
)
axe_sync = pytest.importorskip(
    "axe_playwright_python.sync_playwright", reason="axe-playwright-python is not installed"
)

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("VOICEAPP_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "console"
PIN = "8970"
SECRET_KEY = "receiver-secret-key"
#: what no page may contain: the API key, the PIN (as typed or said), the secretKey,
#: a voice-URL token (anything after /voice/ but the mask)
NEVER = (API_KEY, PIN, "8 9 7 0", SECRET_KEY)
TOKEN = re.compile(r"/voice/(?:step/)?(?!\*\*\*)[A-Za-z0-9_.\-]{8,}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15000)
    yield tab
    context.close()


def shot(page: Any, name: str) -> None:
    """Save the page as a test artifact; check it shows no secret and passes axe-core."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    html = page.content()
    for secret in NEVER:
        assert secret not in html, (name, secret)
    assert not TOKEN.search(html), (name, TOKEN.search(html))
    results = axe_sync.Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, results.generate_report()


def log_in(page: Any, server: Server, path: str = "/console/calls") -> None:
    page.goto(server.base + path)
    assert "/console/login" in page.url
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(path) + "$"))


def place(server: Server, **fields: Any) -> str:
    response = server.post_call(**{"from": FROM, **fields})
    assert response.status_code == 201, response.text
    sid: str = response.json()["sid"]
    return sid


@pytest.fixture(scope="module")
def calls(console_server: Server, receiver: HttpReceiver, site: Site) -> dict[str, str]:
    """Three finished calls: a PIN app call (senddigits, status callbacks, one retried),
    a document that gathers and dials the IVR with sendDigits, and a bad document."""
    sids = {
        "pin": place(
            console_server,
            to="0912345678",
            app="pin",
            variables={"pin": PIN, "repeat": 1},
            senddigits="ww12",
            statusCallback=receiver.url,
            statusCallbackEvent="initiated ringing answered completed",
            secretKey=SECRET_KEY,
        ),
        "bridge": place(console_server, to="0912345677", url=site.url("/doc/bridge")),
        "bad": place(console_server, to="0912345676", url=site.url("/doc/bad")),
    }
    for sid in sids.values():
        finished(console_server, sid)
    return sids


def test_login_refuses_a_wrong_key_then_lets_the_right_one_in(
    page: Any, console_server: Server
) -> None:
    page.goto(console_server.base + "/console/calls")
    assert "/console/login" in page.url
    assert page.get_by_role("heading", level=1).inner_text() == "Log in"
    page.get_by_label("API key").fill("not-the-key")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "That API key is not valid."
    shot(page, "login-refused")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert "voiceapp_console" not in cookies

    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/console/calls$"))
    cookie = {c["name"]: c for c in page.context.cookies()}["voiceapp_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert API_KEY not in cookie["value"]
    # the cookie is not readable by the page's scripts
    assert "voiceapp_console" not in page.evaluate("document.cookie")


def test_a_form_without_its_csrf_token_is_refused(page: Any, console_server: Server) -> None:
    log_in(page, console_server, "/console/lint")
    page.eval_on_selector("main input[name=csrf_token]", "e => e.value = 'forged'")
    page.get_by_label("Document (XML)").fill("<Response/>")
    page.get_by_role("button", name="Lint").click()
    assert "console-csrf" in page.get_by_role("alert").inner_text()
    shot(page, "csrf-refused")
    # a cross-site style POST with no token at all (the request API carries the cookie)
    answer = page.request.post(
        console_server.base + "/console/lint", form={"document": "<Response/>"}
    )
    assert answer.status == 403 and "console-csrf" in answer.text()


def test_the_calls_list_shows_the_calls_and_filters_them(
    page: Any, console_server: Server, calls: dict[str, str]
) -> None:
    log_in(page, console_server)
    table = page.locator("table.calls")
    for sid in calls.values():
        row = table.locator("tr", has=page.get_by_role("link", name=sid, exact=True))
        assert row.count() == 1, table.inner_text()
        assert "completed" in row.inner_text()
        assert "+19499300360" in row.inner_text() and "+88691234567" in row.inner_text()
    pin_row = table.locator(
        "tr", has=page.get_by_role("link", name=calls["pin"], exact=True)
    ).inner_text()
    assert "app pin" in pin_row and re.search(r"\d+ s", pin_row)
    assert "/doc/bridge" in table.inner_text()
    shot(page, "calls")

    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    assert "No call matches." in page.inner_text("#calls")
    page.get_by_label("Status").select_option("completed")
    page.get_by_label("Number (to)").fill("0912345678")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("table.calls tbody tr").all_inner_texts() == [
        t for t in page.locator("table.calls tbody tr").all_inner_texts() if "+886912345678" in t
    ]
    assert page.get_by_role("link", name=calls["pin"], exact=True).count() == 1
    page.get_by_label("Day (UTC)").fill("2001-01-01")
    page.get_by_role("button", name="Filter").click()
    assert "No call matches." in page.inner_text("#calls")


def test_the_call_page_draws_the_timeline_documents_digits_and_callbacks(
    page: Any, console_server: Server, calls: dict[str, str], receiver: HttpReceiver
) -> None:
    sid = calls["pin"]
    log_in(page, console_server, f"/console/calls/{sid}")
    assert sid in page.get_by_role("heading", level=1).inner_text()
    chart = page.locator("svg.timeline").first
    assert chart.locator("g.state-ringing").count() == 1
    assert chart.locator("g.state-in-progress").count() == 1
    assert chart.locator("g.fetch").count() == 1
    assert chart.locator("g.digits").count() == 1  # senddigits ww12
    assert chart.locator("g.verb").count() >= 1  # the Say
    # the PIN is masked wherever it would appear
    assert "Your pin is ***" in page.locator("details.rows").text_content() or ""
    # the document, pretty-printed, linted
    doc = page.locator("article.document").first
    assert "2xx" in doc.inner_text() and "No problem: the document is valid." in doc.inner_text()
    assert doc.locator("table.source tr").count() >= 3  # indented on several lines
    # digits: the DTMF timeline of senddigits (the dtmf layer's SVG)
    digits = page.locator("section[aria-labelledby=digits-heading] figure").first
    assert "sent ww12" in digits.inner_text()
    assert digits.locator("svg rect.tone").count() == 2
    # callbacks: every event, its parameters (apikey masked), the retried delivery
    callbacks = page.locator("article.callback")
    assert callbacks.count() == 4
    first = callbacks.first.inner_text()
    assert "initiated" in first and "apikey" in first and "***" in first
    attempts = page.locator("table.attempts").first.locator("tbody tr")
    assert attempts.count() == 2  # the receiver refused the first try
    assert "failed" in attempts.first.inner_text() and "503" in attempts.first.inner_text()
    shot(page, "call-pin")


def test_the_call_page_shows_both_legs_and_the_bridge(
    page: Any, console_server: Server, calls: dict[str, str]
) -> None:
    log_in(page, console_server, f"/console/calls/{calls['bridge']}")
    chart = page.locator("svg.timeline").first
    assert chart.get_by_text("b1 leg").count() == 1
    assert chart.locator("g.bridge").count() == 1
    assert chart.locator("g.gather").count() == 1
    table = page.locator("details.rows").text_content() or ""
    assert "bridged with" in table and "digits-sent: ww101" in table
    digits = page.inner_text("section[aria-labelledby=digits-heading]")
    assert "Leg b1: sent ww101" in digits
    verbs = page.inner_text("article.document")
    assert "Say, Gather, Dial, Hangup" in verbs
    shot(page, "call-bridge")


def test_a_bad_document_is_shown_with_its_problem_on_its_line(
    page: Any, console_server: Server, calls: dict[str, str]
) -> None:
    log_in(page, console_server, f"/console/calls/{calls['bad']}")
    doc = page.locator("article.document").first
    assert "document-error" in doc.inner_text()
    problem_row = doc.locator("table.source tr.problem")
    assert problem_row.count() == 1
    assert problem_row.locator("th").inner_text() == "4"  # the Pause line
    assert "zero" in problem_row.inner_text()
    assert page.locator("svg.timeline g.error").count() == 1
    shot(page, "call-bad-document")


def test_the_sessions_page_shows_created_claimed_and_expiry_without_tokens(
    page: Any, console_server: Server, calls: dict[str, str]
) -> None:
    log_in(page, console_server, "/console/sessions")
    row = page.locator(
        "table.sessions tr", has=page.get_by_role("link", name=calls["pin"], exact=True)
    )
    text = row.inner_text()
    assert "pin" in text and "by its call" in text and "live" in text
    # only app calls have sessions
    assert page.get_by_role("link", name=calls["bad"], exact=True).count() == 0
    shot(page, "sessions")


def test_the_lint_page_highlights_problems_on_their_lines(
    page: Any, console_server: Server, tmp_path: Path
) -> None:
    log_in(page, console_server, "/console/lint")
    page.get_by_label("Document (XML)").fill(
        '<Response>\n<Say loop="-1">hi</Say>\n<Gather numDigits="2"><Hangup/></Gather>\n</Response>'
    )
    page.get_by_role("button", name="Lint").click()
    result = page.locator("#result")
    assert "error" in result.locator(".lint-summary").inner_text()
    rows = result.locator("table.source tr.problem th")
    assert sorted(rows.all_inner_texts()) == ["2", "3"]
    assert result.locator("table.source mark").count() >= 1
    shot(page, "lint")

    upload = tmp_path / "doc.xml"
    upload.write_text("<Response><Say>Hello</Say></Response>")
    page.get_by_label("Document (XML)").fill("")
    page.set_input_files("#file", str(upload))
    page.get_by_role("button", name="Lint").click()
    assert "No problem" in page.locator("#result .lint-summary").inner_text()


def test_the_digits_page_draws_and_plays_a_string(page: Any, console_server: Server) -> None:
    log_in(page, console_server, "/console/digits")
    page.get_by_label("senddigits string").fill("ww1234#@100")
    page.get_by_role("button", name="Show").click()
    svg = page.locator("div.chart svg")
    assert svg.locator("rect.tone").count() == 5
    assert svg.locator("rect.wait").count() == 1
    src = page.locator("audio").get_attribute("src")
    assert src is not None
    wav = page.request.get(console_server.base + src)
    assert wav.status == 200 and wav.headers["content-type"] == "audio/wav"
    assert wav.body()[:4] == b"RIFF" and wav.body()[8:12] == b"WAVE"
    shot(page, "digits")

    page.get_by_label("senddigits string").fill("12x")
    page.get_by_role("button", name="Show").click()
    assert "at character 2" in page.get_by_role("alert").inner_text()


def test_the_calls_list_refreshes_itself_while_a_call_is_in_flight(
    page: Any, idle_server: Server
) -> None:
    sid = place(idle_server, to="0912345678", app="pin", variables={"pin": PIN})
    log_in(page, idle_server)
    row = page.locator("table.calls tr", has=page.get_by_role("link", name=sid, exact=True))
    assert "queued" in row.inner_text()
    assert "refreshes every 2 s" in page.inner_text("#calls")
    canceled = requests.post(f"{idle_server.base}/v1/calls/{sid}/cancel", headers=AUTH, timeout=10)
    assert canceled.status_code == 200, canceled.text
    # no reload: the page's script swaps the list in
    wait_for(lambda: "canceled" in row.inner_text(), timeout=15)
    assert "refreshes" not in page.inner_text("#calls")
    shot(page, "calls-live")
