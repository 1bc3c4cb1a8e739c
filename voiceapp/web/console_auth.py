"""The console's login: an API key in, a signed session cookie out, CSRF on every form.

* ``POST /console/login`` with one of ``API_KEYS`` sets the cookie :data:`COOKIE`: a
  token of the app's :class:`~voiceapp.tokens.Signer` (purpose ``console``, so no other
  token of voiceapp passes for it, and ``SECRET_KEYS`` rotation carries over) valid
  :data:`SESSION_SECONDS`.  It holds no key: only ``key``, an HMAC of the API key under
  a fixed label (it tells which key logged in, so removing a key from ``API_KEYS`` ends
  its console sessions), and ``csrf``, the random token every form of that session
  carries.  The cookie is ``HttpOnly``, ``SameSite=Strict``, ``Path=/console`` and, in
  production (neither ``DEBUG`` nor ``TESTING``), ``Secure``.
* Before login, the login form's CSRF token is the random value of the cookie
  :data:`LOGIN_COOKIE` (double submit: a page of another site can neither read it nor
  make the browser send it, ``SameSite=Strict``).
* :func:`check_csrf` refuses a ``POST`` whose ``csrf_token`` field differs from the
  session's (or the login cookie's): ``403`` ``console-csrf`` (a ``TokenInvalid``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from flask import request
from werkzeug.wrappers import Response

from voiceapp.errors import TokenExpired, TokenInvalid
from voiceapp.web.runtime import Runtime

#: The session cookie (its value: a ``console`` token).
COOKIE: Final = "voiceapp_console"
#: The login form's CSRF cookie (a random value, before there is a session).
LOGIN_COOKIE: Final = "voiceapp_console_login"
#: Token purpose of the session cookie.
PURPOSE: Final = "console"
#: How long a console login lasts.
SESSION_SECONDS: Final = 8 * 3600
#: The form field carrying the CSRF token.
CSRF_FIELD: Final = "csrf_token"
PATH: Final = "/console"
_KEY_LABEL: Final = b"voiceapp.console.key.v1"


@dataclass(frozen=True)
class ConsoleSession:
    """A logged-in console user: which API key (by its HMAC) and the session's CSRF token."""

    key: str
    csrf: str
    expires_at: float


def key_id(api_key: str) -> str:
    """The HMAC naming ``api_key`` in a session cookie (the key itself is never in it)."""
    return hmac.new(api_key.encode(), _KEY_LABEL, hashlib.sha256).hexdigest()[:32]


def valid_key(rt: Runtime, candidate: str) -> bool:
    """Whether ``candidate`` is one of ``API_KEYS`` (every key compared, in constant time)."""
    good = False
    for key in rt.settings.API_KEYS:
        good |= hmac.compare_digest(key.encode(), candidate.encode())
    return good and bool(candidate)


def current(rt: Runtime) -> ConsoleSession | None:
    """The session of the request's cookie, or None (no cookie, bad, expired, or its
    API key is no longer in ``API_KEYS``)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        payload = rt.signer.verify(PURPOSE, token)
    except (TokenInvalid, TokenExpired):
        return None
    key, csrf = payload.get("key"), payload.get("csrf")
    if not isinstance(key, str) or not isinstance(csrf, str) or not csrf:
        return None
    known = False
    for api_key in rt.settings.API_KEYS:
        known |= hmac.compare_digest(key_id(api_key), key)
    if not known:
        return None
    return ConsoleSession(key, csrf, float(payload["exp"]))


def _secure(rt: Runtime) -> bool:
    return rt.settings.production


def log_in(rt: Runtime, response: Response, api_key: str) -> ConsoleSession:
    """Set a new session cookie for ``api_key`` (already checked) on ``response``."""
    csrf = secrets.token_urlsafe(24)
    token, expires_at = rt.signer.issue(
        PURPOSE, {"key": key_id(api_key), "csrf": csrf}, SESSION_SECONDS
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path=PATH,
        secure=_secure(rt),
        httponly=True,
        samesite="Strict",
    )
    response.delete_cookie(LOGIN_COOKIE, path=PATH, secure=_secure(rt), httponly=True)
    return ConsoleSession(key_id(api_key), csrf, expires_at)


def log_out(rt: Runtime, response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, secure=_secure(rt), httponly=True, samesite="Strict")


def login_csrf() -> tuple[str, bool]:
    """The login form's CSRF token: the login cookie's value, or a new one (then True:
    :func:`set_login_cookie` must send it)."""
    value = request.cookies.get(LOGIN_COOKIE, "")
    if len(value) >= 16:
        return value, False
    return secrets.token_urlsafe(24), True


def set_login_cookie(rt: Runtime, response: Response, value: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        value,
        max_age=3600,
        path=PATH,
        secure=_secure(rt),
        httponly=True,
        samesite="Strict",
    )


def check_csrf(expected: str | None) -> None:
    """Refuse the request (:class:`~voiceapp.errors.TokenInvalid`, 403) unless its
    form's ``csrf_token`` is ``expected``."""
    given = request.form.get(CSRF_FIELD, "")
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise TokenInvalid(
            "the form did not carry this console session's CSRF token: reload the page",
            code="console-csrf",
            field=CSRF_FIELD,
        )
