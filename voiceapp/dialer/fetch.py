"""The dialer's HTTP client: fetching documents and sending status callbacks.

:class:`HttpClient` gives the two callables the dialer takes:

* :meth:`HttpClient.fetch` — ``fetch(method, url, params) -> bytes`` for the
  interpreter: ``POST`` sends the parameters form-encoded, ``GET`` appends them to
  the query.  Every request is signed with ``X-Voiceapp-Signature`` (over the URL
  as requested and the body).  Timeouts: ``connect_timeout`` (5 s) to connect,
  ``total_timeout`` (15 s) for the whole answer; one retry when the connection
  fails (nothing was sent, so it is safe); redirects are not followed (a redirect
  could lead past the URL checks made at the edge); bodies over ``max_bytes`` are
  refused.  Failures raise :class:`~voiceapp.dialer.interpreter.FetchError` with a
  code: ``fetch-connect``, ``fetch-timeout``, ``fetch-status`` (non-2xx, e.g. 410
  for a session URL fetched twice), ``fetch-redirect``, ``fetch-too-large``.
* :meth:`HttpClient.send_callback` — the :class:`~voiceapp.dialer.callbacks.Deliverer`'s
  sender: makes the request, returns the HTTP status, raises on no answer.

This module does HTTP with ``requests``; it knows nothing of Flask.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from voiceapp.dialer.callbacks import CallbackRequest
from voiceapp.dialer.interpreter import FetchError
from voiceapp.signatures import HEADER as SIGNATURE_HEADER
from voiceapp.signatures import sign_request

__all__ = ["DEFAULT_MAX_BYTES", "USER_AGENT", "HttpClient"]

DEFAULT_MAX_BYTES: Final = 1 << 20  # the document parser's default limit
USER_AGENT: Final = "voiceapp-dialer/0.1"
_CHUNK = 64 * 1024


def _with_query(url: str, params: Sequence[tuple[str, str]]) -> str:
    if not params:
        return url
    parts = urlsplit(url)
    query = urlencode(list(params))
    merged = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit(parts._replace(query=merged))


class HttpClient:
    """Signed HTTP requests with the dialer's timeouts, retry and size limit."""

    def __init__(
        self,
        *,
        secret: str | bytes | None = None,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        connect_retries: int = 1,
        session: requests.Session | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.connect_retries = connect_retries
        self.session = session or requests.Session()
        self.now = now

    def close(self) -> None:
        self.session.close()

    def _prepare(
        self, method: str, url: str, params: Sequence[tuple[str, str]]
    ) -> tuple[str, str, bytes, dict[str, str]]:
        method = method.upper()
        headers = {"User-Agent": USER_AGENT}
        if method == "GET":
            target, body = _with_query(url, params), b""
        else:
            target, body = url, urlencode(list(params)).encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.secret:
            headers[SIGNATURE_HEADER] = sign_request(
                self.secret, method, target, body, timestamp=int(self.now())
            )
        return method, target, body, headers

    def _send(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> requests.Response:
        """One request, retried once (by default) when the connection fails."""
        tries = 0
        while True:
            tries += 1
            try:
                return self.session.request(
                    method,
                    url,
                    data=body or None,
                    headers=headers,
                    timeout=(self.connect_timeout, self.total_timeout),
                    allow_redirects=False,
                    stream=True,
                )
            except requests.exceptions.ConnectionError:
                # includes ConnectTimeout; a ReadTimeout (the request went out) is not retried
                if tries > self.connect_retries:
                    raise

    def fetch(self, method: str, url: str, params: Sequence[tuple[str, str]]) -> bytes:
        """Fetch a document; the body, or :class:`FetchError`."""
        method, target, body, headers = self._prepare(method, url, params)
        deadline = time.monotonic() + self.total_timeout
        try:
            response = self._send(method, target, body, headers)
        except requests.exceptions.Timeout as exc:
            raise FetchError(f"{method} {url}: timed out ({exc})", code="fetch-timeout") from None
        except requests.exceptions.RequestException as exc:
            raise FetchError(
                f"{method} {url}: cannot connect ({exc})", code="fetch-connect"
            ) from None
        with response:
            if 300 <= response.status_code < 400:
                raise FetchError(
                    f"{method} {url}: redirect {response.status_code} to"
                    f" {response.headers.get('Location')!r} is not followed",
                    code="fetch-redirect",
                )
            if not 200 <= response.status_code < 300:
                raise FetchError(
                    f"{method} {url}: HTTP {response.status_code} {response.reason}",
                    code="fetch-status",
                    http_status=response.status_code,
                )
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content(_CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchError(
                            f"{method} {url}: the document is larger than {self.max_bytes} bytes",
                            code="fetch-too-large",
                        )
                    if time.monotonic() > deadline:
                        raise FetchError(
                            f"{method} {url}: no complete answer within {self.total_timeout} s",
                            code="fetch-timeout",
                        )
                    chunks.append(chunk)
            except requests.exceptions.Timeout as exc:
                raise FetchError(
                    f"{method} {url}: timed out ({exc})", code="fetch-timeout"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise FetchError(
                    f"{method} {url}: broken answer ({exc})", code="fetch-connect"
                ) from None
        return b"".join(chunks)

    def send_callback(self, request: CallbackRequest) -> int:
        """Send one status callback; return the HTTP status (raise when none came)."""
        method, target, body, headers = self._prepare(request.method, request.url, request.params)
        headers.update(request.headers)
        response = self._send(method, target, body, headers)
        with response:
            # read (a little of) the body so the connection can be reused
            for _ in response.iter_content(_CHUNK):
                break
            return response.status_code
