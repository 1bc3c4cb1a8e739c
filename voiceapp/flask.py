"""voiceapp in your own Flask app: documents as views, sessions behind tokens.

::

    from flask import Flask
    from voiceapp.flask import VoiceApp, VoiceResponse, voice_session

    app = Flask(__name__)
    voice = VoiceApp(app, server=voiceapp_server)   # or VoiceApp(app, test_config={...})

    @app.post("/hello")
    def hello() -> VoiceResponse:
        r = VoiceResponse()
        r.say("Hello")              # a shortcut returns the child it adds (the <Say>)
        r.hangup()
        return r                    # sent as text/xml, with its canonical bytes

    @app.route("/pin/<token>", methods=["GET", "POST"])
    @voice_session
    def pin(session) -> VoiceResponse:
        r = VoiceResponse()
        r.say("Your pin is ").say_as(session.variables["pin"], interpret_as="digits")
        return r

* :class:`VoiceApp` (``init_app`` style) lets a view return a voiceapp document: it
  is sent as ``200 text/xml; charset=utf-8`` with its canonical bytes.  ``str(doc)``
  is the XML too, so a twilio-python style ``return str(resp)`` works as well.
  ``VoiceResponse`` is the builder's ``Response`` under a name that does not clash
  with ``flask.Response``.
* :func:`voice_session` and :func:`voice_step` guard a view as voiceapp's own voice
  routes are guarded, by the same code (:func:`voiceapp.web.voice.open_session` and
  ``open_step``): the request signature ``REQUIRE_SIGNATURE`` asks for, the token's
  destination against ``To`` (normalised: a ``+`` that arrived as a space is put
  back), single use (a second fetch gets 410, a retry by the same call the same
  document); the view gets the :class:`~voiceapp.stores.base.Session` (and a step's
  data).  :func:`current_call` gives the request's call parameters, normalised.
* :func:`mount` serves a user's app beside voiceapp's own routes
  (``voiceapp serve --app module:object``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, current_app, request
from flask import Response as FlaskResponse
from werkzeug.exceptions import HTTPException, NotFound

from voiceapp.document import Node, VoiceResponse
from voiceapp.errors import VoiceappError
from voiceapp.stores.base import Session
from voiceapp.web import create_app
from voiceapp.web.problems import error_response
from voiceapp.web.runtime import EXTENSION, Runtime, runtime
from voiceapp.web.voice import open_session, open_step, phone_param, xml_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "CallParams",
    "Combined",
    "VoiceApp",
    "VoiceResponse",
    "current_call",
    "document_bytes",
    "mount",
    "step_url",
    "voice_session",
    "voice_step",
]

#: What a guarded view may return: a voiceapp document, its XML text, or bytes.
ViewResult = Node | str | bytes


def document_bytes(value: ViewResult) -> bytes:
    """The bytes of what a view returned: a document's canonical XML (checked:
    incomplete elements raise ``DocumentError``), XML text, or bytes as they are."""
    if isinstance(value, Node):
        return value.to_xml()
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"a voice view returns a document, str or bytes, not {type(value).__name__}")


class VoiceApp:
    """The Flask extension: documents as view return values, and voiceapp's runtime.

    The runtime (settings, store, token signer, sessions) that :func:`voice_session`
    and :func:`voice_step` need is ``server``'s, a voiceapp app from
    :func:`voiceapp.web.create_app` (so tokens it issued open here), or one built from
    ``test_config``/``config_file`` as ``create_app`` builds it; an app that is a
    voiceapp server already keeps its own.  With none of them, views may return
    documents, and guarded views refuse to run (``RuntimeError``).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        server: Flask | None = None,
        test_config: dict[str, Any] | None = None,
        config_file: str | None = None,
    ) -> None:
        self.server = server
        self.test_config = test_config
        self.config_file = config_file
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if EXTENSION not in app.extensions:
            server = self.server
            if server is None and (self.test_config is not None or self.config_file):
                server = create_app(self.test_config, config_file=self.config_file)
                self.server = server
            if server is not None:
                app.extensions[EXTENSION] = server.extensions[EXTENSION]
        # a refused token or signature answers as voiceapp's routes do (problem+json,
        # 403/410...); the app's other errors stay its own
        app.register_error_handler(VoiceappError, error_response)
        make_response = app.make_response

        # Flask turns str, bytes, dicts, tuples and responses into a response; a
        # document is one more kind of return value, converted before Flask's own rules.
        def voice_make_response(rv: Any) -> FlaskResponse:
            if isinstance(rv, tuple) and rv and isinstance(rv[0], Node):
                rv = (xml_response(rv[0].to_xml()), *rv[1:])
            elif isinstance(rv, Node):
                rv = xml_response(rv.to_xml())
            return make_response(rv)

        app.make_response = voice_make_response  # type: ignore[method-assign]

    @property
    def runtime(self) -> Runtime:
        """The runtime views use (the server's)."""
        if self.server is None:
            raise RuntimeError("VoiceApp.init_app(app) has not run")
        ext: Runtime = self.server.extensions[EXTENSION]
        return ext


def _require_runtime(view: Callable[..., Any]) -> None:
    if EXTENSION not in current_app.extensions:
        raise RuntimeError(
            f"{view.__name__} opens voiceapp sessions: the app needs VoiceApp(app, server=...)"
            " (or test_config/config_file) for voiceapp's settings, store and tokens"
        )


def voice_session(view: Callable[..., ViewResult]) -> Callable[..., FlaskResponse]:
    """Guard a view whose URL holds a voice token (the rule's ``<token>``): the view
    is called as ``view(session, **other_url_values)`` and its document sent once."""

    @functools.wraps(view)
    def guarded(token: str, **values: Any) -> FlaskResponse:
        _require_runtime(view)
        return open_session(token, lambda session, _call: document_bytes(view(session, **values)))

    return guarded


def voice_step(view: Callable[..., ViewResult]) -> Callable[..., FlaskResponse]:
    """Guard a view whose URL holds a step token (``Runtime.step_url``'s): called as
    ``view(session, data, **other_url_values)``, ``data`` the step's signed data."""

    @functools.wraps(view)
    def guarded(token: str, **values: Any) -> FlaskResponse:
        def render(session: Session, data: dict[str, Any], _p: Any, _c: str) -> bytes:
            return document_bytes(view(session, data, **values))

        _require_runtime(view)
        return open_step(token, render)

    return guarded


def step_url(
    session: Session, endpoint: str, data: Mapping[str, Any], *, ttl: int | None = None
) -> str:
    """The absolute URL of ``endpoint`` (a view guarded by :func:`voice_step`) with a new
    step token of ``session`` carrying ``data``: single use, bound to the current call,
    never outliving the session (the rules of voiceapp's own steps)."""
    rt = runtime()
    urls = rt.step_urls(session, request.values.get("CallSid", ""), endpoint)
    return urls(endpoint, data, ttl=ttl)


@dataclass(frozen=True, slots=True)
class CallParams:
    """The call a request comes from, as the dialer describes it (numbers normalised)."""

    call_sid: str
    to: str | None
    from_: str | None
    direction: str
    status: str
    account_sid: str | None


def current_call() -> CallParams:
    """The current request's call parameters; ``To``/``From`` as E.164 when they parse
    (a ``+`` that arrived as a space put back)."""
    rt = runtime()
    values = request.values
    return CallParams(
        call_sid=values.get("CallSid", ""),
        to=phone_param(values.get("To"), rt),
        from_=phone_param(values.get("From"), rt, field="From"),
        direction=values.get("Direction", ""),
        status=values.get("CallStatus", ""),
        account_sid=values.get("AccountSid"),
    )


class Combined:
    """One WSGI app: voiceapp's ``server`` and the user's ``app`` beside it.

    A request for one of the server's routes goes to the server; any other to
    ``app``.  A Blueprint is registered on the server instead (:func:`mount`).
    """

    def __init__(self, server: Flask, app: Flask) -> None:
        self.server = server
        self.app = app
        if EXTENSION not in app.extensions:
            VoiceApp(app, server=server)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        adapter = self.server.url_map.bind_to_environ(environ)
        try:
            adapter.match()
        except NotFound:
            return self.app(environ, start_response)
        except HTTPException:  # 405, or a redirect its routing asks for: the server's
            pass
        return self.server(environ, start_response)


def mount(server: Flask, user: Flask | Blueprint) -> Any:
    """The WSGI app serving ``user`` (a Flask app or a Blueprint) beside ``server``."""
    if isinstance(user, Blueprint):
        VoiceApp(server, server=server)
        server.register_blueprint(user)
        return server
    return Combined(server, user)
