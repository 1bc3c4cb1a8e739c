"""The ``console`` blueprint: calls, their timelines, documents and digits, in a browser.

Served under ``/console`` by the same Flask app when ``CONSOLE`` allows it
(:attr:`voiceapp.config.Settings.console_enabled`: ``on``, or ``auto`` in
DEBUG/TESTING).  Pages (Jinja2 templates in ``templates/console/``, one small
script and one style sheet in ``voiceapp/web/static/console/``, nothing fetched from
elsewhere):

* ``/console/calls`` — the calls, newest first, filtered by status, number (``to``),
  caller (``from``) and day, a page at a time; refreshed every 2 s while a call on the
  page is in flight;
* ``/console/calls/<sid>`` — one call: its legs' timeline as an SVG chart, every
  fetched document (pretty-printed, linted), the digits sent and heard (the dtmf
  layer's SVG), every status callback with its parameters and delivery attempts;
* ``/console/sessions`` — the sessions of app calls: created, claimed, expired;
* ``/console/lint`` — paste or upload a document, see its problems on its lines;
* ``/console/digits`` — a senddigits string's timeline, and its sound
  (``/console/digits.wav``).

Login is with one of ``API_KEYS`` (:mod:`voiceapp.web.console_auth`).  What a page
shows of a call is what ``GET /v1/calls/<sid>`` shows (:func:`voiceapp.web.calls._shown`:
one redactor for tokens, ``apikey``/``secretKey``, URL userinfo and secret app
variables); no page ever renders a key, token, PIN or secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    make_response,
    redirect,
    render_template,
    request,
)
from flask import url_for as flask_url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from voiceapp.apps.templates import BUILTIN_FOLDER
from voiceapp.calls.records import CallRecord
from voiceapp.calls.states import ACTIVE, STATUSES
from voiceapp.config import Settings
from voiceapp.dtmf import parse_digits
from voiceapp.dtmf.audio import synthesize, wav_bytes
from voiceapp.errors import DigitsError, TokenExpired, TokenInvalid, ValidationError, VoiceappError
from voiceapp.redact import redact_text
from voiceapp.sessions import VOICE_PURPOSE
from voiceapp.stores.base import Session
from voiceapp.web import console_auth as auth
from voiceapp.web import console_views as views
from voiceapp.web.calls import (
    LIST_MAX,
    _shown,
    call_service,
    encode_cursor,
    parse_list_query,
)
from voiceapp.web.runtime import Runtime, iso_time, runtime

#: ``templates/`` (the package ``voiceapp.templates``): the pages are ``console/*.html``.
TEMPLATES: Final = str(BUILTIN_FOLDER.parent)
STATIC: Final = str(Path(__file__).with_name("static") / "console")
PAGE_SIZE: Final = 20
#: Longest document the lint page takes (characters).
MAX_LINT: Final = 256 * 1024
#: Longest digit string the digits page plays.
MAX_DIGITS: Final = 200

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder=TEMPLATES,
)

_OPEN: Final = frozenset({"console.login", "console.style", "console.script"})
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def init_app(app: Flask, settings: Settings) -> None:
    """Add the console's routes when ``CONSOLE`` allows them."""
    if settings.console_enabled:
        app.register_blueprint(bp)


# -- every request ---------------------------------------------------------------------------


@bp.before_request
def _require_login() -> BaseResponse | None:
    if request.endpoint in _OPEN:
        return None
    rt = runtime()
    session = auth.current(rt)
    if session is None:
        target = request.full_path if request.method == "GET" else flask_url_for("console.calls")
        return redirect(flask_url_for("console.login", next=target.rstrip("?")))
    g.console_session = session
    if request.method == "POST":
        auth.check_csrf(session.csrf)
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _page(template: str, status: int = 200, **values: Any) -> Response:
    session = g.get("console_session")
    csrf = session.csrf if isinstance(session, auth.ConsoleSession) else ""
    body = render_template(
        f"console/{template}", csrf_token=csrf, csrf_field=auth.CSRF_FIELD, **values
    )
    return make_response(body, status)


@bp.errorhandler(VoiceappError)
def _error(exc: VoiceappError) -> Response:
    return _page(
        "error.html",
        exc.status,
        code=exc.code,
        message=redact_text(exc.message),
        field=exc.field,
        logged_in=isinstance(g.get("console_session"), auth.ConsoleSession),
    )


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    return _page(
        "error.html",
        status,
        code=f"http-{status}",
        message=exc.description or exc.name,
        field=None,
        logged_in=isinstance(g.get("console_session"), auth.ConsoleSession),
    )


@bp.app_template_filter("when")
def _when(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return iso_time(float(value)).replace("T", " ").replace("Z", " UTC")
    return "-"


@bp.app_template_filter("seconds")
def _seconds(ms: Any) -> str:
    if isinstance(ms, int | float) and not isinstance(ms, bool):
        return f"{ms / 1000:.3f} s"
    return "-"


# -- login -----------------------------------------------------------------------------------


def _next(value: str | None) -> str:
    """Where to go after login: a console path of this server, else the calls list."""
    if value and value.startswith("/console/") and not value.startswith("//"):
        return value
    return flask_url_for("console.calls")


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    rt = runtime()
    token, new = auth.login_csrf()
    target = _next(request.values.get("next"))
    if request.method == "POST":
        auth.check_csrf(request.cookies.get(auth.LOGIN_COOKIE))
        if auth.valid_key(rt, request.form.get("api_key", "").strip()):
            response = redirect(target)
            auth.log_in(rt, response, request.form["api_key"].strip())
            return response
        response = _page(
            "login.html", 401, login_token=token, next=target, refused=True,
            closed=not rt.settings.API_KEYS,
        )  # fmt: skip
    else:
        response = _page(
            "login.html", login_token=token, next=target, refused=False,
            closed=not rt.settings.API_KEYS,
        )  # fmt: skip
    if new:
        auth.set_login_cookie(rt, response, token)
    return response


@bp.post("/logout")
def logout() -> BaseResponse:
    response = redirect(flask_url_for("console.login"))
    auth.log_out(runtime(), response)
    return response


def _asset(name: str, mimetype: str) -> Response:
    response = Response((Path(STATIC) / name).read_bytes(), mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.get("/static/console.css")
def style() -> Response:
    """The console's one style sheet (shipped in the package)."""
    return _asset("console.css", "text/css")


@bp.get("/static/console.js")
def script() -> Response:
    """The console's one script: refreshes the parts of a page marked ``data-refresh``."""
    return _asset("console.js", "text/javascript")


@bp.get("/")
def index() -> BaseResponse:
    return redirect(flask_url_for("console.calls"))


# -- calls -----------------------------------------------------------------------------------


def _list_args(args: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The page's filters (as typed) and the ``GET /v1/calls`` query they make."""
    filters = {
        name: args.get(name, "").strip() for name in ("status", "to", "from", "date", "cursor")
    }
    query = {k: v for k, v in filters.items() if v and k in ("status", "to", "from", "cursor")}
    day = filters["date"]
    if day:
        try:
            start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise ValidationError(
                "date must be a day, YYYY-MM-DD", code="invalid-time", field="date"
            ) from None
        query["created_after"] = start.isoformat()
        query["created_before"] = (start + timedelta(days=1)).isoformat()
    query["limit"] = str(PAGE_SIZE)
    return filters, query


def _row(settings: Settings, record: CallRecord) -> dict[str, Any]:
    shown = _shown(settings, record)
    started = shown["timestamps"].get("initiated")
    return {
        "sid": shown["sid"],
        "status": shown["status"],
        "from": shown["from"],
        "to": shown["to"],
        "target": f"app {shown['app']}" if shown.get("app") else shown.get("url") or "-",
        "created": shown["createdAt"],
        "started": started,
        "duration": shown.get("duration"),
        "live": shown["status"] in ACTIVE,
    }


@bp.get("/calls")
def calls() -> Response:
    rt = runtime()
    filters, query = _list_args(request.args)
    page = call_service().store.list_calls(**parse_list_query(query))
    rows = [_row(rt.settings, record) for record in page.calls]
    older = None
    if page.next is not None:
        rest = {k: v for k, v in filters.items() if v and k != "cursor"}
        older = "?" + urlencode({**rest, "cursor": encode_cursor(page.next)})
    here: dict[str, Any] = {k: v for k, v in filters.items() if v}
    keep = {k: v for k, v in here.items() if k != "cursor"}
    values: dict[str, Any] = {
        "newest": "?" + urlencode(keep) if keep else "",
        "rows": rows,
        "filters": filters,
        "older": older,
        "first": bool(filters["cursor"]),
        "live": any(row["live"] for row in rows),
        "refresh": flask_url_for("console.calls", partial=1, **here),
        "statuses": sorted(STATUSES),
        "limit": min(PAGE_SIZE, LIST_MAX),
    }
    if request.args.get("partial"):
        return _page("_calls_table.html", **values)
    return _page("calls.html", **values)


def shown_call(settings: Settings, record: CallRecord) -> dict[str, Any]:
    """The call as the API shows it (redacted), and what the console hides besides."""
    call = _shown(settings, record)
    call["trace"] = [dict(row) for row in call.get("trace") or ()]  # heard digits: _shown
    call.pop("extra", None)  # the vendor routes' own data: not the console's to show
    return call


@bp.get("/calls/<sid>")
def call(sid: str) -> Response:
    rt = runtime()
    record = call_service().store.require(sid)
    shown = shown_call(rt.settings, record)
    live = shown["status"] in ACTIVE
    line = views.timeline(shown, now=rt.clock() if live else None)
    values: dict[str, Any] = {
        "call": shown,
        "timeline": line,
        "chart": views.timeline_svg(line),
        "documents": views.documents(shown),
        "digits": views.digit_strings(shown),
        "live": live,
        "refresh": flask_url_for("console.call", sid=sid, partial=1),
        "legs": dict(views.leg_labels(shown)),
    }
    if request.args.get("partial"):
        return _page("_call_body.html", **values)
    return _page("call.html", **values)


# -- sessions --------------------------------------------------------------------------------


def _session_of(rt: Runtime, url: str | None) -> Session | None:
    """The session behind an app call's voice URL (its token is read here, on the
    server, and never shown), or None when it has expired or is gone."""
    token = urlsplit(url or "").path.rpartition("/voice/")[2]
    if not token or "/" in token:
        return None
    try:
        payload = rt.signer.verify(VOICE_PURPOSE, token)
    except (TokenInvalid, TokenExpired):
        return None
    session_id = payload.get("sid")
    return rt.store.get_session(session_id) if isinstance(session_id, str) else None


def _session_row(rt: Runtime, record: CallRecord) -> dict[str, Any] | None:
    spec = record.spec
    if spec.app is None:
        return None
    session = _session_of(rt, spec.url)
    now = rt.clock()
    full = call_service().store.get(record.sid) or record
    shown = _shown(rt.settings, full)
    claimed = None
    refused = None
    for row in shown.get("trace") or ():
        if row.get("leg") != "a":
            continue
        if row.get("kind") in ("document", "document-error") and claimed is None:
            claimed = row.get("ms")
            break
        if row.get("kind") == "fetch-error" and refused is None:
            refused = (row.get("detail") or {}).get("status") or (row.get("detail") or {}).get(
                "code"
            )
    expired = session is None or now >= session.expires_at
    return {
        "sid": record.sid,
        "app": spec.app,
        "to": shown["to"],
        "language": session.language if session is not None else None,
        "created": session.created_at if session is not None else shown["createdAt"],
        "expires": session.expires_at if session is not None else None,
        "expired": expired,
        "claimed_ms": claimed,
        "refused": refused,
        "call_status": shown["status"],
    }


@bp.get("/sessions")
def sessions() -> Response:
    rt = runtime()
    store = call_service().store
    rows: list[dict[str, Any]] = []
    after = None
    cursor = request.args.get("cursor", "").strip()
    if cursor:
        after = parse_list_query({"cursor": cursor})["after"]
    scanned = 0
    next_key = None
    while len(rows) < PAGE_SIZE and scanned < 5:
        page = store.list_calls(limit=LIST_MAX, after=after)
        scanned += 1
        for record in page.calls:
            row = _session_row(rt, record)
            if row is not None:
                rows.append(row)
            if len(rows) >= PAGE_SIZE:
                next_key = (record.created_at, record.sid)
                break
        else:
            next_key = page.next
        if page.next is None or len(rows) >= PAGE_SIZE:
            break
        after = page.next
    older = None if next_key is None else "?" + urlencode({"cursor": encode_cursor(next_key)})
    return _page("sessions.html", rows=rows, older=older)


# -- lint ------------------------------------------------------------------------------------


@bp.route("/lint", methods=["GET", "POST"])
def lint_page() -> Response:
    text = ""
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            text = upload.read(MAX_LINT + 1).decode("utf-8", "replace")
        else:
            text = request.form.get("document", "")
        if len(text) > MAX_LINT:
            raise ValidationError(
                f"the document is longer than {MAX_LINT} characters",
                code="document-too-large",
                field="document",
            )
    view = views.lint_view(text) if text.strip() else None
    return _page("lint.html", text=text, view=view)


# -- digits ----------------------------------------------------------------------------------


def _digits_arg() -> str:
    digits = request.args.get("digits", "").strip()
    if len(digits) > MAX_DIGITS:
        raise DigitsError(
            f"at most {MAX_DIGITS} characters", code="digits-too-long", index=MAX_DIGITS
        )
    return digits


@bp.get("/digits")
def digits() -> Response:
    text = _digits_arg()
    timeline = None
    problem = None
    svg = None
    if text:
        try:
            timeline = parse_digits(text)
            svg = views.digits_svg(text)
        except DigitsError as exc:
            problem = exc
    return _page("digits.html", digits=text, timeline=timeline, svg=svg, problem=problem)


@bp.get("/digits.wav")
def digits_wav() -> Response:
    text = _digits_arg()
    timeline = parse_digits(text)  # a DigitsError is the page's 422
    response = make_response(wav_bytes(synthesize(timeline)))
    response.mimetype = "audio/wav"
    response.headers["Content-Disposition"] = 'inline; filename="digits.wav"'
    return response
