"""Sessions of voiceapp's own apps, made through its public REST API (in process)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.test import Client

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def new_session(
    app: WSGIApplication,
    name: str,
    variables: Mapping[str, Any],
    *,
    to: str,
    api_key: str,
    ttl: int | None = None,
    language: str | None = None,
) -> str:
    """``POST /v1/sessions`` on ``app`` (a voiceapp server) for app ``name``; the
    session's voice URL (single use: one call fetches it)."""
    body: dict[str, Any] = {"app": name, "to": to, "variables": dict(variables)}
    if ttl is not None:
        body["ttl"] = ttl
    if language is not None:
        body["language"] = language
    response = Client(app).post(
        "/v1/sessions", json=body, headers={"Authorization": f"Bearer {api_key}"}
    )
    data = response.get_json(silent=True)
    if response.status_code != 201 or not isinstance(data, dict):
        raise AssertionError(
            f"POST /v1/sessions answered {response.status_code}: {response.get_data(as_text=True)}"
        )
    return str(data["url"])
