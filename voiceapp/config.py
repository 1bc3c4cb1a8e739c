"""Typed deployment settings: defaults, then a TOML file, then ``VOICEAPP_*``, then overrides.

One table (:data:`SETTINGS`) names every setting, its type and default and says what
it does; the loader, the error messages and the docs all read it.  Sources are
applied in this order, each overriding the one before:

1. the defaults in the table;
2. a TOML file: the ``path`` argument, else the ``VOICEAPP_CONFIG`` environment
   variable (keys are the setting names, in any case: ``store_url = "..."``);
3. ``VOICEAPP_<NAME>`` environment variables (lists are comma-separated);
4. an ``overrides`` mapping (``create_app(test_config=...)``).

A value that does not fit its type raises :class:`~voiceapp.errors.ConfigError`
naming the key and the source.  :meth:`Settings.check` refuses a secret used for two
purposes (``config-secret-reused``, :mod:`voiceapp.keys`); :meth:`Settings.check_production`
refuses a production start (neither ``DEBUG`` nor ``TESTING``) with a weak or published
secret (``config-weak-secret``) or without the request and callback signing secrets it
needs; :meth:`Settings.check_serving` a production server that places calls without
``PUBLIC_URL``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from voiceapp import checks
from voiceapp.apps import registry
from voiceapp.destinations import (
    ALL_COUNTRIES,
    DEFAULT_BLOCKED_CODES,
    DEFAULT_BLOCKED_TYPES,
    DestinationPolicy,
    calling_code,
    number_type_name,
)
from voiceapp.errors import ConfigError, InvalidValue, ValidationError
from voiceapp.keys import MIN_SECRET_BYTES, derive_keys, weakness
from voiceapp.settings_tables.carrier import CarrierConfig
from voiceapp.settings_tables.compat import CompatConfig
from voiceapp.settings_tables.inbound import InboundBinding, bindings
from voiceapp.settings_tables.limits import RateLimit
from voiceapp.settings_tables.network import NetworkConfig
from voiceapp.settings_tables.retry import RetryPolicy
from voiceapp.settings_tables.sip import SipConfig

ENV_PREFIX = "VOICEAPP_"
CONFIG_ENV = "VOICEAPP_CONFIG"

#: A production secret must be at least this long, in bytes (see voiceapp.keys.weakness).
MIN_SECRET_LENGTH = MIN_SECRET_BYTES

Converter = Callable[[Any], Any]


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
    raise InvalidValue("must be a boolean (true/false, 1/0, yes/no, on/off)")


def _int_range(low: int, high: int) -> Converter:
    return checks.integer(low, high, text=True)


def _float_range(low: float, high: float) -> Converter:
    def convert(value: Any) -> float:
        if isinstance(value, bool):
            raise InvalidValue(f"must be a number from {low:g} to {high:g}")
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise InvalidValue(f"must be a number from {low:g} to {high:g}") from None
        if not isinstance(value, int | float) or not low <= value <= high:
            raise InvalidValue(f"must be a number from {low:g} to {high:g}")
        return float(value)

    return convert


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue("must be a string")
    return value


def _str_list(value: Any) -> tuple[str, ...]:
    """A list of non-empty strings; a string is split on commas (the environment form)."""
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
        return tuple(item for item in items if item)
    if isinstance(value, list | tuple):
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise InvalidValue("must be a list of non-empty strings")
        return tuple(item.strip() for item in value)
    raise InvalidValue("must be a list of strings (comma-separated in the environment)")


def _choice(*choices: str) -> Converter:
    def convert(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise InvalidValue("must be one of " + ", ".join(choices))

    return convert


def _store_url(value: Any) -> str:
    text = _str(value).strip()
    if text == "":
        return text  # the default: a SQLite file in the instance folder
    scheme = urlsplit(text).scheme
    if scheme not in {"sqlite", "redis", "rediss", "unix"}:
        raise InvalidValue("must be a sqlite:///path, redis://host:port/db or rediss:// URL")
    if scheme == "sqlite" and not text.startswith("sqlite:///"):
        raise InvalidValue("a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
    return text


def _http_url(value: Any) -> str:
    text = _str(value).strip().rstrip("/")
    if text == "":
        return text
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise InvalidValue("must be an absolute http(s) URL such as https://voice.example.com")
    if parts.query or parts.fragment:
        raise InvalidValue("must not have a query or fragment")
    return text


def _region(value: Any) -> str:
    text = _str(value).strip().upper()
    if text and (len(text) != 2 or not text.isalpha()):
        raise InvalidValue("must be an ISO 3166-1 alpha-2 region such as TW or US")
    return text


def _optional_path(value: Any) -> str:
    return _str(value).strip()


#: Statuses an outbound number can have; only ``active`` numbers may place calls.
NUMBER_STATUSES = ("active", "inactive")


def _outbound_numbers(value: Any) -> tuple[tuple[str, str], ...]:
    """``{"+19499300360": "active"}`` (TOML table) or ``"+1949...=active,+1..."`` (env).

    A number without a status is active.  Numbers must be E.164.
    """
    if isinstance(value, str):
        pairs = []
        for part in value.split(","):
            number, _, status = part.strip().partition("=")
            if number.strip():
                pairs.append((number.strip(), status.strip() or "active"))
        items: list[tuple[Any, Any]] = pairs
    elif isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list | tuple):
        items = [(v, "active") if isinstance(v, str) else tuple(v) for v in value]
    else:
        raise InvalidValue('must be a table of "+E164" = "active" | "inactive"')
    out: dict[str, str] = {}
    for number, status in items:
        e164 = checks.e164(number)
        if not isinstance(status, str) or status.strip().lower() not in NUMBER_STATUSES:
            raise InvalidValue(f"{number}: status {status!r} must be one of active, inactive")
        out[e164] = status.strip().lower()
    return tuple(out.items())


#: A Twilio AccountSid: ``AC`` and 32 hex digits.
ACCOUNT_SID_PATTERN = re.compile(r"^AC[0-9a-fA-F]{32}$")


def _twilio_accounts(value: Any) -> tuple[tuple[str, str], ...]:
    """``{"AC...": "<auth token>"}`` (TOML table ``[twilio_accounts]``) or
    ``"AC...=<token>,AC...=<token>"`` (env); messages name the account, never the token."""
    if isinstance(value, str):
        items: list[tuple[Any, Any]] = []
        for part in value.split(","):
            if part.strip():
                sid, sep, token = part.strip().partition("=")
                if not sep:
                    raise InvalidValue(f"{sid.strip()!r} needs =<auth token>")
                items.append((sid.strip(), token.strip()))
    elif isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, tuple):
        items = list(value)
    else:
        raise InvalidValue('must be a table of "AC<32 hex>" = "<auth token>"')
    out: dict[str, str] = {}
    for sid, token in items:
        if not isinstance(sid, str) or not ACCOUNT_SID_PATTERN.match(sid):
            raise InvalidValue(f"{sid!r} is not an AccountSid (AC and 32 hex digits)")
        if not isinstance(token, str) or not token.strip():
            raise InvalidValue(f"{sid}: the auth token must be a non-empty string")
        out[sid] = token.strip()
    return tuple(sorted(out.items()))


def _inbound(value: Any) -> tuple[InboundBinding, ...]:
    """The ``[inbound]`` table (numbers bound to a URL or an app), validated into
    bindings whose apps are registered voice apps and whose variables those apps take."""
    if isinstance(value, tuple) and all(isinstance(b, InboundBinding) for b in value):
        return value
    if not isinstance(value, Mapping):
        raise InvalidValue('must be a table of "+E164" = {url = ...} or {app = ...}')
    out = bindings(value, key="inbound")
    known = registry()
    for binding in out:
        if binding.app is None:
            continue
        key = f'inbound."{binding.number}"'
        if binding.app not in known:
            raise ConfigError(
                f"{key}.app: unknown app {binding.app!r} (apps: {', '.join(sorted(known))})",
                code="config-inbound",
                field=f"{key}.app",
            )
        try:
            known[binding.app].validate(binding.variables)
        except ValidationError as exc:
            raise ConfigError(
                f"{key}.variables: {exc.message}", code="config-inbound", field=f"{key}.variables"
            ) from None
    return out


def _host_ports(value: Any) -> tuple[str, ...]:
    """``host:port`` entries (``127.0.0.1:8000``, ``[::1]:8000``, ``localhost:5000``)."""
    entries = _str_list(value)
    out = []
    for entry in entries:
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidValue(f"{entry!r} is not host:port (e.g. 127.0.0.1:8000)")
        out.append(host.lower() + ":" + str(int(port)))
    return tuple(out)


def _items(value: Any, what: str) -> list[Any]:
    """The entries of a list setting: a TOML list of strings or integers, or a comma list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise InvalidValue(f"must be a list of {what} (comma-separated in the environment)")


def _number_types(value: Any) -> tuple[str, ...]:
    """phonenumbers ``PhoneNumberType`` names (``PREMIUM_RATE``, ``pager`` ...)."""
    try:
        return tuple(dict.fromkeys(number_type_name(item) for item in _items(value, "types")))
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None


def _calling_codes(*, allow_all: bool) -> Converter:
    """Country calling codes (``44``, ``"+44"``), kept as digit strings; ``*`` if allowed."""

    def convert(value: Any) -> tuple[str, ...]:
        out: list[str] = []
        for item in _items(value, "country calling codes"):
            if allow_all and isinstance(item, str) and item.strip() == ALL_COUNTRIES:
                out.append(ALL_COUNTRIES)
                continue
            try:
                out.append(str(calling_code(item)))
            except ValueError as exc:
                raise InvalidValue(str(exc)) from None
        return tuple(dict.fromkeys(out))

    return convert


def _e164_list(value: Any) -> tuple[str, ...]:
    return tuple(checks.e164(number) for number in _str_list(value))


def _network(value: Any) -> NetworkConfig:
    """The ``[network]`` table, validated into a ``NetworkConfig`` (errors name the key)."""
    if isinstance(value, NetworkConfig):
        return value
    if not isinstance(value, Mapping):
        raise InvalidValue("must be a table (see docs/dialer.md, the simulated network)")
    return NetworkConfig.from_dict(value, key="network")


def _sip(value: Any) -> SipConfig:
    """The ``[sip]`` table (the SIP backend's trunk), validated into a ``SipConfig``."""
    if isinstance(value, SipConfig):
        return value
    if not isinstance(value, Mapping):
        raise InvalidValue("must be a table (see docs/sip.md)")
    return SipConfig.from_dict(value, key="sip")


def _carrier(value: Any) -> CarrierConfig | None:
    """The ``[carrier]`` table (a Twilio-compatible carrier), validated into a
    ``CarrierConfig``."""
    if value is None or isinstance(value, CarrierConfig):
        return value
    if not isinstance(value, Mapping):
        raise InvalidValue("must be a table of base_url, account_sid, auth_token")
    return CarrierConfig.from_dict(value, key="carrier")


def _retry(value: Any) -> RetryPolicy:
    """The ``[callback_retry]`` table, validated into a ``RetryPolicy``."""
    if isinstance(value, RetryPolicy):
        return value
    if not isinstance(value, Mapping):
        raise InvalidValue("must be a table: attempts, first_delay, factor, max_delay")
    return RetryPolicy.from_dict(value, key="callback_retry")


def _compat(value: Any) -> CompatConfig | None:
    """The ``[compat]`` table (vendor-compatible routes), validated into a ``CompatConfig``
    whose apps are registered voice apps."""
    if value is None or isinstance(value, CompatConfig):
        return value
    if not isinstance(value, Mapping):
        raise InvalidValue("must be a table of vendors (see docs/compat.md)")
    compat = CompatConfig.from_dict(value, key="compat")
    known = registry()
    for key, app in compat.apps():
        if app not in known:
            raise ConfigError(
                f"{key}: unknown app {app!r} (apps: {', '.join(sorted(known))})",
                code="config-value",
                field=key,
            )
    return compat


def _rate_limit(value: Any) -> RateLimit | None:
    """``"N/period"`` (``"100/1s"``) into a :class:`RateLimit`; empty: no limit (None)."""
    if value is None or isinstance(value, RateLimit):
        return value
    try:
        return RateLimit.parse(_str(value), key="rate limit")
    except ConfigError as exc:
        raise InvalidValue(exc.message) from None


def _receivers(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``{"hooks.example.com" = ["old", "new"], "127.0.0.1:8471" = [...]}`` → sorted pairs."""
    if isinstance(value, tuple):
        return value
    if not isinstance(value, Mapping):
        raise InvalidValue('must be a table of "host" or "host:port" = ["secret", ...]')
    out: dict[str, tuple[str, ...]] = {}
    for host, secrets in value.items():
        name = str(host).strip().lower()
        if not name or "/" in name or "@" in name:
            raise InvalidValue(f"{host!r} is not a host or host:port")
        try:
            keys = _str_list(secrets)
        except InvalidValue as exc:
            raise InvalidValue(f"{name}: {exc}") from None
        if not keys:
            raise InvalidValue(f"{name}: needs at least one secret")
        out[name] = keys
    return tuple(sorted(out.items()))


def _callable(value: Any) -> Any:
    if value is not None and not callable(value):
        raise InvalidValue("must be a callable returning seconds since the epoch")
    return value


def setting(
    default: Any, convert: Converter, doc: str, *, env: bool = True, file: bool = True
) -> Any:
    """A dataclass field that carries its converter and its documentation.

    ``env``: read from ``VOICEAPP_<NAME>`` (scalars and comma lists; structured
    settings such as tables of numbers are ``env=False``); ``file``: read from the
    TOML file.  A setting with neither comes only from ``test_config``.
    """
    meta = {"convert": convert, "doc": doc, "env": env, "file": file}
    if isinstance(default, list | dict):
        raise TypeError("use tuples for sequence defaults")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Every deployment setting, typed.  Names are the keys of every source."""

    DEBUG: bool = setting(False, _bool, "Development mode: Flask debug, dev secrets allowed.")
    TESTING: bool = setting(False, _bool, "Test mode: dev secrets allowed, errors propagate.")
    SECRET_KEYS: tuple[str, ...] = setting(
        ("dev",),
        _str_list,
        "Keys that sign session and step tokens, oldest first; the last one signs.",
    )
    API_KEYS: tuple[str, ...] = setting(
        (), _str_list, "Keys accepted by the REST API (Bearer or X-API-Key); none = API closed."
    )
    STORE_URL: str = setting(
        "",
        _store_url,
        "sqlite:///path or redis://host:port/db; empty = instance/voiceapp.db (SQLite).",
    )
    CALL_SYNCHRONOUS: str = setting(
        "normal",
        _choice("normal", "full"),
        "SQLite call store: normal survives a killed process; full also a power cut (slower).",
    )
    PUBLIC_URL: str = setting(
        "",
        _http_url,
        "Base URL the dialer reaches this server at (required in production); empty = "
        "taken from each request (DEBUG/TESTING only).",
    )
    PROXY_FIX: int = setting(
        0, _int_range(0, 5), "Number of trusted reverse proxies setting X-Forwarded-* headers."
    )
    REQUIRE_SIGNATURE: str = setting(
        "none",
        _choice("none", "voiceapp", "twilio"),
        "Signature voice requests must carry: none, voiceapp or twilio.",
    )
    SIGNATURE_SECRETS: tuple[str, ...] = setting(
        (),
        _str_list,
        "Secrets signing the dialer's document fetches, oldest first; empty = derived from "
        "SECRET_KEYS (DEBUG/TESTING only).",
    )
    SIGNATURE_TOLERANCE: int = setting(
        300, _int_range(1, 3600), "Seconds a voiceapp signature timestamp may be off."
    )
    TWILIO_AUTH_TOKEN: str = setting(
        "", _str, "Auth token checking X-Twilio-Signature when REQUIRE_SIGNATURE = twilio."
    )
    TWILIO_ACCOUNTS: tuple[tuple[str, str], ...] = setting(
        (),
        _twilio_accounts,
        "Twilio-compatible API accounts: AccountSid = AuthToken ([twilio_accounts]; env: "
        "AC...=token,...); none = that API closed.",
    )
    SESSION_TTL: int = setting(
        600, _int_range(1, 604800), "Default session ttl (seconds) when a request names none."
    )
    MAX_SESSION_TTL: int = setting(
        86400, _int_range(1, 604800), "Largest ttl (seconds) a session request may ask for."
    )
    STEP_TTL: int = setting(
        600, _int_range(10, 86400), "Lifetime (seconds) of continuation step tokens."
    )
    RETRY_WINDOW: float = setting(
        30.0,
        _float_range(0, 600),
        "Seconds during which the same CallSid may fetch a claimed token again.",
    )
    TEMPLATE_FOLDER: str = setting(
        "",
        _optional_path,
        "Folder with <language>/*.xml voice templates that override the built-in ones.",
    )
    DEFAULT_LANGUAGE: str = setting(
        "en", checks.language, "Template language used when a session names none."
    )
    DEFAULT_REGION: str = setting(
        "",
        _region,
        "ISO 3166 region for national phone numbers (e.g. TW); empty = E.164 only.",
    )
    OUTBOUND_NUMBERS: tuple[tuple[str, str], ...] = setting(
        (),
        _outbound_numbers,
        "Caller IDs calls may use as from: E.164 = active or inactive (env: +1...=active,...).",
    )
    INBOUND: tuple[InboundBinding, ...] = setting(
        (),
        _inbound,
        "Inbound calls: [inbound] table of E.164 = {url, method} or {app, variables} (file only).",
        env=False,
    )
    URL_ALLOWLIST: tuple[str, ...] = setting(
        (),
        _host_ports,
        "host:port (as the URL names it) every outbound request may use though not public.",
    )
    DIALER: str = setting(
        "auto",
        _choice("auto", "embedded", "external"),
        "embedded: the server runs the dialer; external: voiceapp dialer does; auto: "
        "embedded unless TESTING.",
    )
    NETWORK: NetworkConfig = setting(  # noqa: RUF009 - a field() carrying metadata
        NetworkConfig(),
        _network,
        "The network: [network] backend (simulated, sip or carrier) and the simulated network's "
        "numbers and callee scripts (file only).",
        env=False,
    )
    SIP: SipConfig = setting(  # noqa: RUF009 - a field() carrying metadata
        SipConfig(),
        _sip,
        "The SIP backend ([network] backend = sip): [sip] trunk, digest username/password, "
        "from_domain, local_host, sip_ports, rtp_ports; see docs/sip.md (file only).",
        env=False,
    )
    CARRIER: CarrierConfig | None = setting(  # noqa: RUF009 - a field() carrying metadata
        None,
        _carrier,
        "The carrier backend ([network] backend = carrier): [carrier] base_url, account_sid, "
        "auth_token of a Twilio-compatible API; see docs/carrier.md (file only).",
        env=False,
    )
    CALLBACK_RETRY: RetryPolicy = setting(  # noqa: RUF009 - a field() carrying metadata
        RetryPolicy(),
        _retry,
        "Status-callback retries: [callback_retry] attempts, first_delay, factor, max_delay.",
        env=False,
    )
    COMPAT: CompatConfig | None = setting(  # noqa: RUF009 - a field() carrying metadata
        None,
        _compat,
        "Vendor-compatible routes: [compat.<vendor>] tables, see docs/compat.md (file only).",
        env=False,
    )
    DIALER_CLOCK: str = setting(
        "real", _choice("real", "virtual"), "Dialer time: real, or virtual (tests, benchmarks)."
    )
    DIALER_LEASE: float = setting(
        30.0,
        _float_range(1, 3600),
        "Seconds a dialer holds a call between renewals; a silent dialer's calls are settled.",
    )
    DIALER_CONCURRENCY: int = setting(
        10000, _int_range(1, 100000), "Calls one dialer worker runs at the same time."
    )
    DIALER_WORKERS: int = setting(
        1, _int_range(1, 64), "Dialer workers (threads) voiceapp dialer starts by default."
    )
    DIALER_POLL: float = setting(
        0.2, _float_range(0.01, 10), "Seconds between two looks at the call queue."
    )
    DIALER_CPS_PER_FROM: float = setting(
        0.0,
        _float_range(0, 1000),
        "Calls a dialer worker starts per second from one caller number (Twilio: 1); 0 = no limit.",
    )
    DIALER_CPS: float = setting(
        0.0,
        _float_range(0, 100000),
        "Calls a dialer worker starts per second from all numbers together; 0 = no limit.",
    )
    DIALER_QUEUE_TTL: float = setting(
        0.0,
        _float_range(0, 604800),
        "Seconds a call may wait queued before it is canceled (queue-expired); 0 = no limit.",
    )
    # -- destination policy
    BLOCKED_NUMBER_TYPES: tuple[str, ...] = setting(
        DEFAULT_BLOCKED_TYPES,
        _number_types,
        "phonenumbers number types never called (toll fraud); empty = none blocked by type.",
    )
    BLOCKED_COUNTRY_CODES: tuple[str, ...] = setting(
        DEFAULT_BLOCKED_CODES,
        _calling_codes(allow_all=False),
        "Country calling codes never called: satellite 870/881/882/883, premium rate 979.",
    )
    ALLOWED_COUNTRY_CODES: tuple[str, ...] = setting(
        (),
        _calling_codes(allow_all=True),
        "Calling codes callable besides DEFAULT_REGION's; * = all; no region, no list = all.",
    )
    DESTINATION_ALLOWLIST: tuple[str, ...] = setting(
        (),
        _e164_list,
        "Exact E.164 numbers called whatever their type or country (e.g. test numbers).",
    )
    # -- request limits
    RATE_LIMIT_PER_KEY: RateLimit | None = setting(  # noqa: RUF009 - a field() carrying metadata
        RateLimit(100, 1.0),
        _rate_limit,
        "Requests per API key creating calls or sessions, N/period (100/1s); empty = no limit.",
    )
    RATE_LIMIT_PER_DESTINATION: RateLimit | None = setting(  # noqa: RUF009 - a field() carrying metadata
        RateLimit(10, 60.0),
        _rate_limit,
        "Calls placed to one number (to), N/period (10/60s), every route; empty = no limit.",
    )
    IDEMPOTENCY_TTL: int = setting(
        86400,
        _int_range(60, 604800),
        "Seconds the response to an Idempotency-Key is kept and replayed (24 h).",
    )
    # -- callback signing
    CALLBACK_SECRETS: tuple[str, ...] = setting(
        (),
        _str_list,
        "Secrets signing status callbacks (v2, event id signed), oldest first; empty = "
        "derived from SECRET_KEYS (DEBUG/TESTING only).",
    )
    CALLBACK_RECEIVERS: tuple[tuple[str, tuple[str, ...]], ...] = setting(
        (),
        _receivers,
        'Callback secrets per receiver: [callback_receivers] "host[:port]" = [secrets] '
        "(file only).",
        env=False,
    )
    # -- request bounds
    MAX_CONTENT_LENGTH: int = setting(
        65536,
        _int_range(64, 64 * 1024 * 1024),
        "Longest request body in bytes (Flask enforces it); longer is 413 body-too-large.",
    )
    MAX_JSON_DEPTH: int = setting(
        32,
        _int_range(2, 512),
        "Deepest nesting of arrays and objects in JSON bodies and form variables (400).",
    )
    # -- operations
    INSTANCE: str = setting(
        "",
        _optional_path,
        "Folder of the default SQLite store (voiceapp.db); empty = instance/ of the "
        "current folder.",
    )
    READY_DIALER_AGE: float = setting(
        30.0,
        _float_range(1, 3600),
        "GET /v1/ready: seconds within which some dialer must have written its heartbeat.",
    )
    METRICS: bool = setting(
        True, _bool, "Serve Prometheus metrics at GET /metrics (no key; counts only)."
    )
    CONSOLE: str = setting(
        "auto",
        _choice("auto", "on", "off"),
        "The web console at /console (login with an API key): on, off; auto: on in "
        "DEBUG/TESTING only.",
    )
    LOG_FORMAT: str = setting(
        "text",
        _choice("text", "json"),
        "Log lines: text, or json (one object a line, call_sid on every call line).",
    )
    LOG_LEVEL: str = setting(
        "info",
        _choice("debug", "info", "warning", "error"),
        "Lowest level logged by voiceapp's loggers (voiceapp.*).",
    )
    STORE_BACKOFF_MAX: float = setting(
        30.0,
        _float_range(0.1, 600),
        "Dialer: longest wait (seconds) between two tries while the store is down.",
    )
    # -- call traces
    TRACE_MAX_ENTRIES: int = setting(
        500,
        _int_range(0, 100000),
        "Trace rows kept per call in the call store (the last one says truncated); 0: none.",
    )
    CLOCK: Any = setting(  # noqa: RUF009 - a field() carrying metadata
        None,
        _callable,
        "Tests only: a callable returning the time; never read from files or environment.",
        env=False,
        file=False,
    )

    # ---------------------------------------------------------------- helpers

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def signature_secrets(self) -> tuple[str, ...]:
        """Document-fetch signing secrets: ``SIGNATURE_SECRETS``, else (DEBUG/TESTING only)
        keys derived from ``SECRET_KEYS`` (:func:`voiceapp.keys.derive_key`); never
        ``SECRET_KEYS`` themselves."""
        if self.SIGNATURE_SECRETS or self.production:
            return self.SIGNATURE_SECRETS
        return derive_keys(self.SECRET_KEYS, "fetch")

    @property
    def console_enabled(self) -> bool:
        """Whether /console is served: ``CONSOLE`` on, or auto in DEBUG/TESTING."""
        return self.CONSOLE == "on" or (self.CONSOLE == "auto" and not self.production)

    @property
    def callback_secrets(self) -> tuple[str, ...]:
        """Status-callback signing secrets: ``CALLBACK_SECRETS``, else (DEBUG/TESTING only)
        keys derived from ``SECRET_KEYS``."""
        if self.CALLBACK_SECRETS or self.production:
            return self.CALLBACK_SECRETS
        return derive_keys(self.SECRET_KEYS, "callback")

    def callback_secrets_for(self, url: str) -> tuple[str, ...]:
        """The secrets signing callbacks to ``url``: its ``CALLBACK_RECEIVERS`` entry
        (``host:port`` first, then ``host``), else :attr:`callback_secrets`."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return self.callback_secrets
        receivers = dict(self.CALLBACK_RECEIVERS)
        bracketed = f"[{host}]" if ":" in host else host
        for name in (f"{bracketed}:{port}", host, bracketed):
            if name in receivers:
                return receivers[name]
        return self.callback_secrets

    def twilio_token(self, account_sid: str) -> str | None:
        """The AuthToken of ``account_sid`` in ``TWILIO_ACCOUNTS``; None when it is not one."""
        return dict(self.TWILIO_ACCOUNTS).get(account_sid)

    def twilio_signing_token(self, account_sid: str | None) -> str | None:
        """The key of a request's ``X-Twilio-Signature``: the AuthToken of its
        ``AccountSid`` (``TWILIO_ACCOUNTS``; the ``[carrier]`` account's auth token for
        the carrier's own requests), else ``TWILIO_AUTH_TOKEN``; None without both."""
        token = self.twilio_token(account_sid) if account_sid else None
        if token is None and self.CARRIER is not None and account_sid == self.CARRIER.account_sid:
            token = self.CARRIER.auth_token
        return token or self.TWILIO_AUTH_TOKEN or None

    @property
    def outbound_allowlist(self) -> tuple[str, ...]:
        """``host:port`` entries outbound requests may use though not public:
        ``URL_ALLOWLIST``, plus the host and port of ``PUBLIC_URL`` (this server)."""
        entries = list(self.URL_ALLOWLIST)
        if self.PUBLIC_URL:
            parts = urlsplit(self.PUBLIC_URL)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
            own = (f"[{host}]" if ":" in host else host) + f":{port}"
            if own not in entries:
                entries.append(own)
        return tuple(entries)

    @property
    def own_numbers(self) -> frozenset[str]:
        """The numbers the deployment defines itself: its caller IDs (``OUTBOUND_NUMBERS``),
        its simulated network's callees and its inbound numbers (``INBOUND``).  They are
        read as written (:func:`voiceapp.phone.normalize` ``known``) and never refused by
        the destination policy."""
        return (
            frozenset(dict(self.OUTBOUND_NUMBERS))
            | frozenset(self.NETWORK.numbers)
            | frozenset(b.number for b in self.INBOUND)
        )

    def inbound_binding(self, number: str) -> InboundBinding | None:
        """What answers a call to ``number`` (E.164), from ``[inbound]``; None if unbound."""
        return next((b for b in self.INBOUND if b.number == number), None)

    def destination_policy(self) -> DestinationPolicy:
        """The deployment's destination policy.  Its own numbers are exact allowed numbers:
        the simulated network's callees (scripts, not carriers) and its caller IDs."""
        return DestinationPolicy.build(
            blocked_types=self.BLOCKED_NUMBER_TYPES,
            blocked_codes=self.BLOCKED_COUNTRY_CODES,
            allowed_codes=self.ALLOWED_COUNTRY_CODES,
            default_region=self.DEFAULT_REGION or None,
            allowlist=(*self.DESTINATION_ALLOWLIST, *self.own_numbers),
        )

    @property
    def embedded_dialer(self) -> bool:
        """Whether ``create_app`` starts the in-process dialer."""
        return self.DIALER == "embedded" or (self.DIALER == "auto" and not self.TESTING)

    @property
    def production(self) -> bool:
        return not (self.DEBUG or self.TESTING)

    def check(self) -> None:
        """Cross-setting rules that hold in every mode."""
        if not self.SECRET_KEYS:
            raise ConfigError("SECRET_KEYS needs at least one secret key", field="SECRET_KEYS")
        if self.SESSION_TTL > self.MAX_SESSION_TTL:
            raise ConfigError(
                f"SESSION_TTL ({self.SESSION_TTL}) exceeds MAX_SESSION_TTL "
                f"({self.MAX_SESSION_TTL})",
                field="SESSION_TTL",
            )
        both = sorted(set(self.ALLOWED_COUNTRY_CODES) & set(self.BLOCKED_COUNTRY_CODES))
        if both:
            raise ConfigError(
                f"ALLOWED_COUNTRY_CODES lists {', '.join(both)}, which BLOCKED_COUNTRY_CODES "
                "blocks: remove it from one of them",
                code="config-value",
                field="ALLOWED_COUNTRY_CODES",
            )
        if self.NETWORK.backend == "carrier" and self.CARRIER is None:
            raise ConfigError(
                "[network] backend = carrier needs the [carrier] table (base_url, account_sid, "
                "auth_token)",
                code="config-carrier",
                field="CARRIER",
            )
        if self.NETWORK.backend == "carrier" and not self.PUBLIC_URL:
            raise ConfigError(
                "[network] backend = carrier needs PUBLIC_URL: the carrier fetches the "
                "documents and posts its status callbacks there",
                code="config-public-url",
                field="PUBLIC_URL",
            )
        if self.REQUIRE_SIGNATURE == "twilio" and not (self.TWILIO_AUTH_TOKEN or self.CARRIER):
            raise ConfigError(
                "REQUIRE_SIGNATURE = twilio needs TWILIO_AUTH_TOKEN", field="TWILIO_AUTH_TOKEN"
            )
        self._check_reuse()

    def _secret_groups(self) -> list[tuple[str, tuple[str, ...]]]:
        """(setting, secrets) of every secret setting, the token keys first."""
        receivers = tuple(s for _, secrets in self.CALLBACK_RECEIVERS for s in secrets)
        compat: list[str] = []
        if self.COMPAT is not None:  # the vendor routes' keys and tokens
            for vendor in (self.COMPAT.pathors, self.COMPAT.feather, self.COMPAT.thunderphone):
                compat += vendor.api_keys if vendor is not None else ()
            if self.COMPAT.polyai is not None:
                compat += [c.token for c in self.COMPAT.polyai.connectors.values()]
        return [
            ("SECRET_KEYS", self.SECRET_KEYS),
            ("SIGNATURE_SECRETS", self.SIGNATURE_SECRETS),
            ("CALLBACK_SECRETS", self.CALLBACK_SECRETS),
            ("CALLBACK_RECEIVERS", receivers),
            ("API_KEYS", self.API_KEYS),
            ("COMPAT", tuple(compat)),
            ("TWILIO_ACCOUNTS", tuple(token for _, token in self.TWILIO_ACCOUNTS)),
            ("CARRIER", () if self.CARRIER is None else (self.CARRIER.auth_token,)),
        ]

    def _check_reuse(self) -> None:
        """One secret, one purpose: refuse a value in two purposes (any mode)."""
        # the same purpose: per receiver; API clients (voiceapp's own API and the vendors')
        purpose = {"CALLBACK_RECEIVERS": "CALLBACK_SECRETS", "COMPAT": "API_KEYS"}
        owner: dict[str, str] = {}
        for name, secrets in self._secret_groups():
            for value in secrets:
                first = owner.setdefault(value, name)
                if purpose.get(first, first) != purpose.get(name, name):
                    raise ConfigError(
                        f"{name} reuses a secret of {first}; each purpose needs its own "
                        "(a callback receiver could otherwise sign what the server trusts)",
                        code="config-secret-reused",
                        field=name,
                    )

    def check_production(self, *, dialer: bool | None = None) -> None:
        """Refuse weak secrets and missing signing secrets unless DEBUG or TESTING is on.

        ``dialer``: whether this process runs a dialer (default: the embedded one);
        it then needs ``CALLBACK_SECRETS``.  ``REQUIRE_SIGNATURE = "voiceapp"`` needs
        ``SIGNATURE_SECRETS``.  No message includes a secret.
        """
        if not self.production:
            return
        for name, secrets in self._secret_groups():
            for index, value in enumerate(secrets):
                reason = weakness(value)
                if reason is not None:
                    raise ConfigError(
                        f"{name} entry #{index} {reason}; production needs random values of "
                        f"at least {MIN_SECRET_BYTES} bytes, e.g. python -c 'import secrets; "
                        "print(secrets.token_urlsafe(32))' (or set DEBUG/TESTING for local work)",
                        code="config-weak-secret",
                        field=name,
                    )
        if self.REQUIRE_SIGNATURE == "voiceapp" and not self.SIGNATURE_SECRETS:
            raise ConfigError(
                "REQUIRE_SIGNATURE = voiceapp needs SIGNATURE_SECRETS in production",
                code="config-signing-secret",
                field="SIGNATURE_SECRETS",
            )
        if (self.embedded_dialer if dialer is None else dialer) and not self.CALLBACK_SECRETS:
            raise ConfigError(
                "a dialer needs CALLBACK_SECRETS in production: the secrets status callbacks "
                "are signed with (never SECRET_KEYS)",
                code="config-callback-secret",
                field="CALLBACK_SECRETS",
            )
        if self.CLOCK is not None:
            raise ConfigError("CLOCK is for tests only", field="CLOCK")

    def check_serving(self) -> None:
        """Refuse a production server that places calls without ``PUBLIC_URL``.

        The session URL of an ``app`` call is where the dialer sends the call's token;
        without ``PUBLIC_URL`` it would be made from the request's ``Host`` header,
        which the caller chooses.  Calls are placed when ``API_KEYS`` or ``[compat]``
        is set.  DEBUG and TESTING may still use the request's host (the dialer then
        refuses a host that is neither public nor allow-listed when it connects).
        """
        if not self.production or self.PUBLIC_URL:
            return
        if self.API_KEYS or self.COMPAT is not None:
            raise ConfigError(
                "PUBLIC_URL is required in production when calls are placed (API_KEYS or "
                "[compat] is set): the session URLs the dialer fetches are made from it, "
                "not from the request's Host header",
                code="config-public-url",
                field="PUBLIC_URL",
            )


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}


def setting_docs() -> list[tuple[str, str, str, str]]:
    """(name, environment variable, default, description) rows for the docs."""
    rows = []
    for name, f in FIELDS.items():
        default = f.default
        if isinstance(default, tuple):
            shown = ",".join(default) if default else "(empty)"
        elif (
            default == ""
            or default is None
            or isinstance(default, NetworkConfig | RetryPolicy | SipConfig)
        ):
            shown = "(empty)"  # a table: its own defaults are in its docs (dialer.md)
        else:
            shown = str(default)
        env = ENV_PREFIX + name if f.metadata["env"] else "-"
        rows.append((name, env, shown, f.metadata["doc"]))
    return rows


def _convert(name: str, value: Any, source: str) -> Any:
    convert: Converter = FIELDS[name].metadata["convert"]
    try:
        return convert(value)
    except InvalidValue as exc:
        raise ConfigError(f"{source}: {name} {exc}", code="config-value", field=name) from None


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings of a TOML file, keyed by setting name; unknown keys are refused."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist", field=CONFIG_ENV) from None
    except OSError as exc:
        raise ConfigError(f"config file {file}: {exc.strerror}", field=CONFIG_ENV) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file}: {exc}", code="config-syntax") from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.upper()
        if name not in FIELDS or not FIELDS[name].metadata["file"]:
            raise ConfigError(
                f"config file {file}: unknown setting {key!r}", code="config-unknown", field=key
            )
        out[name] = _convert(name, value, f"config file {file}")
    return out


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    passthrough: Callable[[str], bool] | None = None,
) -> tuple[Settings, dict[str, Any]]:
    """Build :class:`Settings` from every source (see the module docstring).

    Returns the settings and the override keys that are not voiceapp settings but
    that ``passthrough(key)`` accepts (Flask's own keys such as ``SERVER_NAME``);
    any other unknown override key is a :class:`ConfigError`.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    file = path if path is not None else env.get(CONFIG_ENV) or None
    if file:
        values.update(read_toml(file))
    for name, f in FIELDS.items():
        if f.metadata["env"] and ENV_PREFIX + name in env:
            values[name] = _convert(name, env[ENV_PREFIX + name], f"{ENV_PREFIX}{name}")
    extra: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key in FIELDS:
            values[key] = _convert(key, value, "test_config")
        elif passthrough is not None and passthrough(key):
            extra[key] = value
        else:
            raise ConfigError(
                f"test_config: unknown setting {key!r}", code="config-unknown", field=key
            )
    settings = Settings(**values)
    settings.check()
    return settings, extra


__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "Settings",
    "load_settings",
    "read_toml",
    "setting_docs",
]
