"""The dialer's HTTP client: fetching documents and sending status callbacks.

:class:`HttpClient` gives the two callables the dialer takes:

* :meth:`HttpClient.fetch` — ``fetch(method, url, params) -> bytes`` for the
  interpreter: ``POST`` sends the parameters form-encoded, ``GET`` appends them to
  the query.  Every request is signed with ``X-Voiceapp-Signature`` (over the URL
  as requested and the body), and with Twilio's ``X-Twilio-Signature`` when there
  is an auth token for it (below).  Timeouts: ``connect_timeout`` (5 s) to connect,
  ``total_timeout`` (15 s) for the whole answer; one retry when the connection
  fails (nothing was sent, so it is safe); redirects are not followed (a document names
  its next URL with ``<Redirect>``); bodies over ``max_bytes`` are
  refused.  Failures raise :class:`~voiceapp.dialer.interpreter.FetchError` with a
  code: ``fetch-blocked`` (the destination is not allowed, nothing was sent),
  ``fetch-connect`` (``fetch-dns`` when the host does not resolve), ``fetch-timeout``,
  ``fetch-status`` (non-2xx, e.g. 410 for a session URL fetched twice),
  ``fetch-redirect``, ``fetch-too-large``, ``fetch-override`` (a bad override, below).

  **Connection overrides** (Twilio's): a URL's fragment may set, per URL, ``ct``
  (connect timeout, ms, 100-10000), ``rt`` (read timeout, ms, 100-15000), ``tt``
  (total time for every try, ms, 100-15000), ``rc`` (retries, 0-5) and ``rp`` (what
  is retried: ``ct`` connection failures, ``rt`` read timeouts, ``4xx``, ``5xx``,
  ``all``; comma-separated, default ``ct``), e.g. ``https://app/voice#ct=1000&rc=3``.
  The fragment is never sent (nor signed); other fragment keys (``e``, ``sni``) are
  ignored, and so is a fragment that is no ``key=value`` list (an anchor).
* :meth:`HttpClient.send_callback` — the :class:`~voiceapp.dialer.callbacks.Deliverer`'s
  sender: makes the request, returns the HTTP status, raises on no answer
  (:class:`~voiceapp.errors.OutboundBlocked` when the destination is refused;
  the deliverer does not retry that).  Callbacks are signed with ``callback_secret``
  (never the document secret) as ``v2``, which covers the ``X-Voiceapp-Event-Id``
  and a fresh nonce per attempt.

**X-Twilio-Signature** (:func:`voiceapp.signatures.twilio_signature`): base64 of
HMAC-SHA1 over the URL as requested (a GET's query included) followed by the sorted
POST parameters, keyed by ``twilio_token(account_sid)``: the ``AccountSid`` the
request carries (Twilio's parameter set), or None (the seed's), so a call of an
account is signed with that account's AuthToken and any other with
``TWILIO_AUTH_TOKEN`` (the worker's choice).  Both fetches and callbacks carry it.

**Where requests go** (:mod:`voiceapp.netguard`).  Every request, whatever URL
it names (the call's ``url``, a ``<Redirect>``, an action, a whisper, a status
callback), is checked when its connection is made: the host is resolved once
with the client's :class:`~voiceapp.netguard.Guard`, every address is checked
(public, or the URL's ``host:port`` allow-listed), the socket connects only to
those addresses (the Host header, SNI and certificate checks keep the URL's
name), and the peer address of the connected socket is checked again.  A
refusal raises :class:`~voiceapp.errors.OutboundBlocked` before anything is
sent.  Proxies are never used (the proxy would be the only address checked):
those of the environment and of the session are ignored.

Error messages go through :func:`voiceapp.redact.redact_url`: no session token, no
URL userinfo.

This module does HTTP with ``requests``; it knows nothing of Flask.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from voiceapp.dialer.callbacks import CallbackRequest
from voiceapp.dialer.webhooks import with_query
from voiceapp.errors import FetchError, OutboundBlocked
from voiceapp.netguard import Guard
from voiceapp.redact import redact_text, redact_url
from voiceapp.signatures import HEADER as SIGNATURE_HEADER
from voiceapp.signatures import TWILIO_HEADER, sign_request, twilio_signature

DEFAULT_MAX_BYTES: Final = 1 << 20  # the document parser's default limit
USER_AGENT: Final = "voiceapp-dialer/0.1"
_CHUNK = 64 * 1024
#: Per request: no proxy, from the environment (``HTTP_PROXY``, ``ALL_PROXY``, ...) or the
#: session (``None`` removes a key when requests merges its settings; its stubs say str).
_NO_PROXIES: Final = cast(dict[str, str], {"http": None, "https": None, "all": None})

#: The callback signing secret: one for every receiver, or ``secret_for(url)``.
CallbackSecret = str | bytes | Callable[[str], str | bytes | None] | None
#: ``twilio_token(account_sid) -> AuthToken``: the key of a request's X-Twilio-Signature
#: (``account_sid``: the request's ``AccountSid`` parameter, None when it has none).
TwilioToken = Callable[[str | None], str | None]

#: What ``rp`` may name; ``all`` is every one of them.
RETRY_ON: Final = frozenset({"ct", "rt", "4xx", "5xx"})
#: ``key: (low, high)`` of the numeric overrides (milliseconds; ``rc`` a count).
_RANGES: Final = {"ct": (100, 10000), "rt": (100, 15000), "tt": (100, 15000), "rc": (0, 5)}


@dataclass(frozen=True, slots=True)
class Connection:
    """How one URL is requested: timeouts (seconds), retries and what is retried."""

    connect_timeout: float
    read_timeout: float
    total_timeout: float
    retries: int
    retry_on: frozenset[str] = frozenset({"ct"})


def split_overrides(url: str, defaults: Connection) -> tuple[str, Connection]:
    """``url`` without its fragment, and the connection its overrides ask for.

    Raises :class:`FetchError` ``fetch-override`` naming the first bad override.
    """
    base, sep, fragment = url.partition("#")
    if not sep or "=" not in fragment:
        return base, defaults
    try:
        pairs = parse_qsl(fragment, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise FetchError(
            f"the URL fragment {fragment!r} is not key=value pairs", code="fetch-override"
        ) from None
    connection = defaults
    for key, value in pairs:
        if key in _RANGES:
            low, high = _RANGES[key]
            if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
                raise FetchError(
                    f"connection override {key}={value!r}: a whole number {low}-{high} expected",
                    code="fetch-override",
                    field=key,
                )
            number = int(value)
            if key == "rc":
                connection = replace(connection, retries=number)
            elif key == "ct":
                connection = replace(connection, connect_timeout=number / 1000)
            elif key == "rt":
                connection = replace(connection, read_timeout=number / 1000)
            else:
                connection = replace(connection, total_timeout=number / 1000)
        elif key == "rp":
            names = {part.strip() for part in value.split(",")}
            retry_on = RETRY_ON if "all" in names else names
            if not names or not retry_on <= RETRY_ON:
                raise FetchError(
                    f"connection override rp={value!r}: a list of 4xx, 5xx, ct, rt or all",
                    code="fetch-override",
                    field=key,
                )
            connection = replace(connection, retry_on=frozenset(retry_on))
    return base, connection


def _resolution_failed(exc: BaseException) -> bool:
    """Whether the host of a failed connection did not resolve (anywhere in the chain of
    causes: requests wraps urllib3's ``MaxRetryError``, whose ``reason`` is the error)."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo:
        error = todo.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, (NameResolutionError, socket.gaierror)):
            return True
        linked = [error.__cause__, error.__context__, getattr(error, "reason", None), *error.args]
        todo.extend(e for e in linked if isinstance(e, BaseException))
    return False


# -- connections that connect only where the guard allows -------------------------------------


def _same(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.split("%", 1)[0]) == ipaddress.ip_address(b.split("%", 1)[0])
    except ValueError:
        return False


def _guarded_socket(conn: HTTPConnection, guard: Guard) -> socket.socket:
    """``conn``'s socket, connected to an address ``guard`` checked for this request.

    Resolves the host once; raises :class:`OutboundBlocked` (nothing connected)
    when an address is refused, and after connecting when the peer is not the
    address connected to.  Other failures are urllib3's, as its own ``_new_conn``.
    """
    host, port = conn.host, conn.port
    addresses = guard.addresses(host, port)
    if not addresses:
        raise NameResolutionError(host, conn, socket.gaierror(f"{host} does not resolve"))
    error: OSError | None = None
    for address in addresses:
        try:
            sock = create_connection(
                (address, port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except OSError as exc:
            error = exc
            continue
        try:
            peer = str(sock.getpeername()[0])
            if not _same(peer, address):
                raise OutboundBlocked(
                    f"{host}:{port}: connected to {peer}, not to the checked {address}",
                    host=host,
                    port=port,
                    address=peer,
                )
            guard.check_address(host, port, peer)
        except BaseException:
            sock.close()
            raise
        return sock
    assert error is not None
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(
            conn, f"Connection to {host} timed out. (connect timeout={conn.timeout})"
        ) from error
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, guard: Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def _new_conn(self) -> socket.socket:
        return _guarded_socket(self, self.guard)


class _GuardedHTTPSConnection(_GuardedHTTPConnection, HTTPSConnection):
    """TLS over the guarded socket (the MRO puts the guard's ``_new_conn`` first)."""


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedPoolManager(PoolManager):
    def __init__(self, guard: Guard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.guard = guard
        self.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.conn_kw["guard"] = self.guard
        return pool


class GuardedAdapter(HTTPAdapter):
    """A ``requests`` adapter whose connections go only where ``guard`` allows."""

    def __init__(self, guard: Guard, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _GuardedPoolManager(
            self.guard, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise OutboundBlocked("the dialer does not send requests through a proxy")


def _multi(params: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """The POST parameters by name (a name may repeat), as Twilio's signature takes them."""
    values: dict[str, list[str]] = {}
    for name, value in params:
        values.setdefault(name, []).append(value)
    return values


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: what messages name (a path may hold a token)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


class HttpClient:
    """Signed HTTP requests with the dialer's timeouts, retry and size limit, sent only
    where ``guard`` allows (default: public addresses only, no allow-list).

    ``session``: a ``requests`` session to use; guarded adapters (``pool_connections``
    pools of ``pool_maxsize`` connections) are mounted on it for ``http://`` and
    ``https://``.  ``transport``: another ``requests`` adapter mounted instead, one
    that opens no connection (``voiceapp.testing`` runs a WSGI app in process with
    one); nothing leaves the process, so no guard applies.
    """

    def __init__(
        self,
        *,
        secret: str | bytes | None = None,
        callback_secret: CallbackSecret = None,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        connect_retries: int = 1,
        guard: Guard | None = None,
        session: requests.Session | None = None,
        pool_connections: int = 10,
        pool_maxsize: int = 10,
        now: Callable[[], float] = time.time,
        twilio_token: TwilioToken | None = None,
        transport: BaseAdapter | None = None,
    ) -> None:
        self.secret = secret
        self.twilio_token = twilio_token
        self.callback_secret = callback_secret
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.connect_retries = connect_retries
        self.guard = guard or Guard()
        self.session = session or requests.Session()
        adapter = transport or GuardedAdapter(
            self.guard, pool_connections=pool_connections, pool_maxsize=pool_maxsize
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.now = now

    def close(self) -> None:
        self.session.close()

    @property
    def defaults(self) -> Connection:
        """The connection of a URL without overrides."""
        return Connection(
            self.connect_timeout, self.total_timeout, self.total_timeout, self.connect_retries
        )

    def _prepare(
        self,
        method: str,
        url: str,
        params: Sequence[tuple[str, str]],
        *,
        event_id: str | None = None,
    ) -> tuple[str, str, bytes, dict[str, str]]:
        method = method.upper()
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            kind = f"{scheme}:" if scheme else "relative"
            raise OutboundBlocked(
                f"only absolute http and https URLs are requested, not {kind} URLs"
            )
        headers = {"User-Agent": USER_AGENT}
        if method == "GET":
            target, body = with_query(url, params), b""
        else:
            target, body = url, urlencode(list(params)).encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if event_id is None:
            secret = self.secret
        elif callable(self.callback_secret):
            secret = self.callback_secret(url)
        else:
            secret = self.callback_secret
        if secret:
            headers[SIGNATURE_HEADER] = sign_request(
                secret, method, target, body, timestamp=int(self.now()), event_id=event_id
            )
        token = None
        if self.twilio_token is not None:
            token = self.twilio_token(dict(params).get("AccountSid"))
        if token:
            signed = None if method == "GET" else _multi(params)
            headers[TWILIO_HEADER] = twilio_signature(token, target, signed)
        return method, target, body, headers

    def _send(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: dict[str, str],
        connection: Connection,
        deadline: float,
    ) -> requests.Response:
        """One request, retried as ``connection`` says (by default once when the
        connection fails: nothing was sent, so it is safe) while ``deadline`` allows."""
        tries = 0
        retry_on = connection.retry_on
        while True:
            tries += 1
            budget = deadline - time.monotonic()  # tt: what is left for this try and the next
            left = tries <= connection.retries and budget > 0
            read_timeout = min(connection.read_timeout, max(budget, 0.001))
            try:
                response = self.session.request(
                    method,
                    url,
                    data=body or None,
                    headers=headers,
                    timeout=(connection.connect_timeout, read_timeout),
                    allow_redirects=False,
                    stream=True,
                    proxies=_NO_PROXIES,
                )
            except requests.exceptions.ConnectionError:
                # includes ConnectTimeout; a ReadTimeout (the request went out) is not
                # retried unless rp names rt
                if not left or "ct" not in retry_on:
                    raise
                continue
            except requests.exceptions.Timeout:
                if not left or "rt" not in retry_on:
                    raise
                continue
            kind = f"{response.status_code // 100}xx"
            if left and kind in ("4xx", "5xx") and kind in retry_on:
                response.close()
                continue
            return response

    def fetch(self, method: str, url: str, params: Sequence[tuple[str, str]]) -> bytes:
        """Fetch a document; the body, or :class:`FetchError`."""
        requested, url = url, redact_url(url)  # url: what the messages below may show
        start = time.monotonic()
        try:
            requested, connection = split_overrides(requested, self.defaults)
            url = redact_url(requested)
            deadline = start + connection.total_timeout
            method, target, body, headers = self._prepare(method, requested, params)
            response = self._send(method, target, body, headers, connection, deadline)
        except OutboundBlocked as exc:
            raise FetchError(
                f"{method.upper()} {_origin(url)}: refused: {exc}", code="fetch-blocked"
            ) from None
        except requests.exceptions.Timeout as exc:
            raise FetchError(
                f"{method} {url}: timed out ({redact_text(str(exc))})", code="fetch-timeout"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise FetchError(
                f"{method} {url}: cannot connect ({redact_text(str(exc))})",
                code="fetch-dns" if _resolution_failed(exc) else "fetch-connect",
            ) from None
        with response:
            if 300 <= response.status_code < 400:
                raise FetchError(
                    f"{method} {url}: redirect {response.status_code} to"
                    f" {redact_url(response.headers.get('Location') or '')!r} is not followed",
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
                            f"{method} {url}: no complete answer within"
                            f" {connection.total_timeout} s",
                            code="fetch-timeout",
                        )
                    chunks.append(chunk)
            except requests.exceptions.Timeout as exc:
                raise FetchError(
                    f"{method} {url}: timed out ({redact_text(str(exc))})", code="fetch-timeout"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise FetchError(
                    f"{method} {url}: broken answer ({redact_text(str(exc))})", code="fetch-connect"
                ) from None
        return b"".join(chunks)

    def send_callback(self, request: CallbackRequest) -> int:
        """Send one status callback; return the HTTP status (raise when none came;
        :class:`OutboundBlocked` when the destination is refused)."""
        url, connection = split_overrides(request.url, self.defaults)
        deadline = time.monotonic() + connection.total_timeout
        method, target, body, headers = self._prepare(
            request.method, url, request.params, event_id=request.event_id
        )
        headers.update(request.headers)
        response = self._send(method, target, body, headers, connection, deadline)
        with response:
            # read (a little of) the body so the connection can be reused
            for _ in response.iter_content(_CHUNK):
                break
            return response.status_code
