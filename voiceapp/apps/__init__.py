"""The voice apps and their registry.

An app (:class:`~voiceapp.apps.base.App`) validates the variables of a session
and turns the session into documents rendered from ``templates/voice/<lang>/``.
The registry maps the name clients send (``{"app": "pin"}``) to an app instance::

    from voiceapp.apps import get_app, register, registry
    app = get_app("pin")                    # ValidationError(field="app") if unknown
    cleaned = app.validate({"pin": "8970"})  # ValidationError(field="variables.pin")

:func:`check_templates` renders every app's examples in every language and
validates the results, so a broken template fails at boot with its file and line.
This package never imports Flask: continuation URLs come from the ``step_url``
callable the web layer puts in the :class:`~voiceapp.apps.base.Context`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from voiceapp.apps.base import App, Context, Example, StepUrl
from voiceapp.apps.bridge import BridgeApp
from voiceapp.apps.greeting import GreetingApp
from voiceapp.apps.ivr import IvrApp
from voiceapp.apps.pin import PinApp, PinVerifyApp
from voiceapp.apps.templates import Templates
from voiceapp.errors import TemplateError, ValidationError
from voiceapp.stores.base import Session

__all__ = [
    "App",
    "Context",
    "Example",
    "StepUrl",
    "TemplateError",
    "Templates",
    "check_templates",
    "get_app",
    "register",
    "registry",
]

_REGISTRY: dict[str, App] = {}


def register(app: App) -> App:
    """Add ``app`` under ``app.name`` (replacing an app of that name); returns it."""
    _REGISTRY[app.name] = app
    return app


def registry() -> Mapping[str, App]:
    """The registered apps by name (a read-only view)."""
    return dict(_REGISTRY)


def get_app(name: Any) -> App:
    """The app called ``name``, or :class:`ValidationError` (field ``app``)."""
    app = _REGISTRY.get(name) if isinstance(name, str) else None
    if app is None:
        raise ValidationError(
            f"unknown app {name!r}; known apps: {', '.join(sorted(_REGISTRY))}",
            code="unknown-app",
            field="app",
        )
    return app


for _app in (PinApp(), PinVerifyApp(), BridgeApp(), IvrApp(), GreetingApp()):
    register(_app)


def _sample_step_url(step: str, data: Mapping[str, Any], *, ttl: int | None = None) -> str:
    return f"https://voiceapp.invalid/voice/step/sample-{step}"


def check_templates(
    templates: Templates, apps: Iterable[App] | None = None, *, now: float = 0.0
) -> list[str]:
    """Render every example of every app in every language and validate the documents.

    Returns the languages checked; raises :class:`TemplateError` (file, line) on the
    first template that does not compile, render or validate.  A language folder
    that lacks a template the apps need fails too.
    """
    templates.check_syntax()
    languages = list(templates.languages)
    if not languages:
        raise TemplateError("no language folders", file=str(templates.folders[0]))
    for app in apps if apps is not None else _REGISTRY.values():
        for language in languages:
            for example in app.examples():
                variables = app.validate(example.variables)
                session = Session(
                    id="sample",
                    app=app.name,
                    to="+14155550123",
                    variables=variables,
                    language=language,
                    created_at=now,
                    expires_at=now + 600,
                )
                ctx = Context(session, templates, _sample_step_url, now)
                app.start(ctx)
                for step, data, params in example.steps:
                    app.step(Context(session, templates, _sample_step_url, now, params), step, data)
    return languages
