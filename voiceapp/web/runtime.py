"""The per-app services the blueprints share: settings, store, sessions, templates.

:func:`runtime` returns the :class:`Runtime` of the current Flask app.  It also
turns a session into documents: it builds the app :class:`~voiceapp.apps.Context`
with a ``step_url`` that signs step tokens and makes absolute URLs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request, url_for

from voiceapp.apps import Context, Templates, get_app
from voiceapp.apps.base import StepUrl
from voiceapp.config import Settings
from voiceapp.destinations import DestinationPolicy
from voiceapp.errors import ValidationError
from voiceapp.sessions import Sessions
from voiceapp.stores.base import Session, Store
from voiceapp.tokens import Signer

EXTENSION = "voiceapp"


def iso_time(timestamp: float) -> str:
    """RFC 3339 UTC time with seconds, e.g. ``2026-01-01T12:00:00Z``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Runtime:
    """Everything a request needs, built once by ``create_app``."""

    settings: Settings
    store: Store
    signer: Signer
    sessions: Sessions
    templates: Templates
    languages: tuple[str, ...]
    clock: Callable[[], float]
    #: the destination policy of ``settings`` (built once; see voiceapp.destinations)
    destinations: DestinationPolicy

    # -- URLs ---------------------------------------------------------------------------

    def external_url(self, endpoint: str, **values: Any) -> str:
        """Absolute URL of ``endpoint``: from PUBLIC_URL when set, else from the request."""
        if self.settings.PUBLIC_URL:
            return self.settings.PUBLIC_URL + url_for(endpoint, **values)
        return url_for(endpoint, _external=True, **values)

    def request_url(self) -> str:
        """The URL of the current request as its sender saw it (for signatures)."""
        if self.settings.PUBLIC_URL:
            path = request.full_path if request.query_string else request.path
            return self.settings.PUBLIC_URL + request.script_root + path
        return request.url

    # -- documents ----------------------------------------------------------------------

    def step_urls(self, session: Session, call_sid: str, endpoint: str = "voice.step") -> StepUrl:
        """``step_url(step, data, ttl=)`` of ``session``: the URL of ``endpoint`` (voiceapp's
        step route, or a user's view guarded by ``voiceapp.flask.voice_step``) with a new
        single-use step token."""

        def step_url(step: str, data: Mapping[str, Any], *, ttl: int | None = None) -> str:
            # Bound to the fetching call, except the whisper, which the b-leg fetches.
            bind = call_sid if call_sid and step != "whisper" else None
            token = self.sessions.step_token(
                session, step, data, ttl=ttl or self.settings.STEP_TTL, call_sid=bind
            )
            return self.external_url(endpoint, token=token)

        return step_url

    def context(
        self, session: Session, call_sid: str, params: Mapping[str, str] | None = None
    ) -> Context:
        return Context(
            session=session,
            templates=self.templates,
            step_url=self.step_urls(session, call_sid),
            now=self.clock(),
            params=dict(params or {}),
        )

    def render_start(self, session: Session, call_sid: str) -> bytes:
        return get_app(session.app).start(self.context(session, call_sid))

    def render_step(
        self, session: Session, data: Mapping[str, Any], params: Mapping[str, str], call_sid: str
    ) -> bytes:
        step = data.get("step")
        if not isinstance(step, str):
            raise ValidationError(
                "the step token names no step", code="unknown-step", field="token"
            )
        rest = {k: v for k, v in data.items() if k != "step"}
        return get_app(session.app).step(self.context(session, call_sid, params), step, rest)


def runtime() -> Runtime:
    """The :class:`Runtime` of the current app."""
    rt = current_app.extensions[EXTENSION]
    assert isinstance(rt, Runtime)
    return rt
