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
naming the key and the source.  :meth:`Settings.check_production` refuses a
production start (neither ``DEBUG`` nor ``TESTING``) with a development secret.
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

from voiceapp.errors import ConfigError
from voiceapp.settings_tables.compat import CompatConfig
from voiceapp.settings_tables.network import NetworkConfig
from voiceapp.settings_tables.retry import RetryPolicy

ENV_PREFIX = "VOICEAPP_"
CONFIG_ENV = "VOICEAPP_CONFIG"

#: Secrets that are fine for a laptop and never for a deployment.
DEV_SECRETS = frozenset({"", "dev", "development", "secret", "changeme", "change-me", "test"})
#: A production secret must be at least this long.
MIN_SECRET_LENGTH = 16
_E164 = re.compile(r"\+[1-9]\d{6,14}")


class Invalid(ValueError):
    """Raised by a converter: the message says what the value should be."""


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
    raise Invalid("must be a boolean (true/false, 1/0, yes/no, on/off)")


def _int_range(low: int, high: int) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, bool):
            raise Invalid(f"must be an integer from {low} to {high}")
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise Invalid(f"must be an integer from {low} to {high}") from None
        if not isinstance(value, int) or not low <= value <= high:
            raise Invalid(f"must be an integer from {low} to {high}")
        return value

    return convert


def _float_range(low: float, high: float) -> Converter:
    def convert(value: Any) -> float:
        if isinstance(value, bool):
            raise Invalid(f"must be a number from {low:g} to {high:g}")
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise Invalid(f"must be a number from {low:g} to {high:g}") from None
        if not isinstance(value, int | float) or not low <= value <= high:
            raise Invalid(f"must be a number from {low:g} to {high:g}")
        return float(value)

    return convert


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("must be a string")
    return value


def _str_list(value: Any) -> tuple[str, ...]:
    """A list of non-empty strings; a string is split on commas (the environment form)."""
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
        return tuple(item for item in items if item)
    if isinstance(value, list | tuple):
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise Invalid("must be a list of non-empty strings")
        return tuple(item.strip() for item in value)
    raise Invalid("must be a list of strings (comma-separated in the environment)")


def _choice(*choices: str) -> Converter:
    def convert(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise Invalid("must be one of " + ", ".join(choices))

    return convert


def _store_url(value: Any) -> str:
    text = _str(value).strip()
    if text == "":
        return text  # the default: a SQLite file in the instance folder
    scheme = urlsplit(text).scheme
    if scheme not in {"sqlite", "redis", "rediss", "unix"}:
        raise Invalid("must be a sqlite:///path, redis://host:port/db or rediss:// URL")
    if scheme == "sqlite" and not text.startswith("sqlite:///"):
        raise Invalid("a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
    return text


def _http_url(value: Any) -> str:
    text = _str(value).strip().rstrip("/")
    if text == "":
        return text
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise Invalid("must be an absolute http(s) URL such as https://voice.example.com")
    if parts.query or parts.fragment:
        raise Invalid("must not have a query or fragment")
    return text


def _language(value: Any) -> str:
    text = _str(value).strip()
    if not text or "/" in text or "\\" in text or text.startswith("."):
        raise Invalid("must be a language tag such as en or zh-TW")
    return text


def _region(value: Any) -> str:
    text = _str(value).strip().upper()
    if text and (len(text) != 2 or not text.isalpha()):
        raise Invalid("must be an ISO 3166-1 alpha-2 region such as TW or US")
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
        raise Invalid('must be a table of "+E164" = "active" | "inactive"')
    out: dict[str, str] = {}
    for number, status in items:
        if not isinstance(number, str) or not _E164.fullmatch(number.strip()):
            raise Invalid(f"{number!r} is not an E.164 number such as +19499300360")
        if not isinstance(status, str) or status.strip().lower() not in NUMBER_STATUSES:
            raise Invalid(f"{number}: status {status!r} must be one of active, inactive")
        out[number.strip()] = status.strip().lower()
    return tuple(out.items())


def _host_ports(value: Any) -> tuple[str, ...]:
    """``host:port`` entries (``127.0.0.1:8000``, ``[::1]:8000``, ``localhost:5000``)."""
    entries = _str_list(value)
    out = []
    for entry in entries:
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise Invalid(f"{entry!r} is not host:port (e.g. 127.0.0.1:8000)")
        out.append(host.lower() + ":" + str(int(port)))
    return tuple(out)


def _network(value: Any) -> Any:
    """The ``[network]`` table, validated into a ``NetworkConfig`` (errors name the key)."""
    if isinstance(value, NetworkConfig):
        return value
    if not isinstance(value, Mapping):
        raise Invalid("must be a table (see docs/dialer.md, the simulated network)")
    return NetworkConfig.from_dict(value, key="network")


def _retry(value: Any) -> Any:
    """The ``[callback_retry]`` table, validated into a ``RetryPolicy``."""
    if isinstance(value, RetryPolicy):
        return value
    if not isinstance(value, Mapping):
        raise Invalid("must be a table: attempts, first_delay, factor, max_delay")
    return RetryPolicy.from_dict(value, key="callback_retry")


def _compat(value: Any) -> Any:
    """The ``[compat]`` table (vendor-compatible routes), validated into a ``CompatConfig``."""
    if value is None or isinstance(value, CompatConfig):
        return value
    if not isinstance(value, Mapping):
        raise Invalid("must be a table of vendors (see docs/compat.md)")
    return CompatConfig.from_dict(value, key="compat")


def _callable(value: Any) -> Any:
    if value is not None and not callable(value):
        raise Invalid("must be a callable returning seconds since the epoch")
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
        "Base URL the dialer reaches this server at; empty = taken from each request.",
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
        "Secrets for X-Voiceapp-Signature, oldest first; empty = SECRET_KEYS.",
    )
    SIGNATURE_TOLERANCE: int = setting(
        300, _int_range(1, 3600), "Seconds a voiceapp signature timestamp may be off."
    )
    TWILIO_AUTH_TOKEN: str = setting(
        "", _str, "Auth token checking X-Twilio-Signature when REQUIRE_SIGNATURE = twilio."
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
        "en", _language, "Template language used when a session names none."
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
    URL_ALLOWLIST: tuple[str, ...] = setting(
        (),
        _host_ports,
        "host:port entries call URLs may use though not public (e.g. 127.0.0.1:8000).",
    )
    DIALER: str = setting(
        "auto",
        _choice("auto", "embedded", "external"),
        "embedded: the server runs the dialer; external: voiceapp dialer does; auto: "
        "embedded unless TESTING.",
    )
    NETWORK: Any = setting(  # noqa: RUF009 - a field() carrying metadata
        None,
        _network,
        "The simulated network: [network] table of numbers and callee scripts (file only).",
        env=False,
    )
    CALLBACK_RETRY: Any = setting(  # noqa: RUF009 - a field() carrying metadata
        None,
        _retry,
        "Status-callback retries: [callback_retry] attempts, first_delay, factor, max_delay.",
        env=False,
    )
    COMPAT: Any = setting(  # noqa: RUF009 - a field() carrying metadata
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
        return self.SIGNATURE_SECRETS or self.SECRET_KEYS

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
        if self.REQUIRE_SIGNATURE == "twilio" and not self.TWILIO_AUTH_TOKEN:
            raise ConfigError(
                "REQUIRE_SIGNATURE = twilio needs TWILIO_AUTH_TOKEN", field="TWILIO_AUTH_TOKEN"
            )

    def check_production(self) -> None:
        """Refuse development secrets unless DEBUG or TESTING is on."""
        if not self.production:
            return
        for name in ("SECRET_KEYS", "SIGNATURE_SECRETS", "API_KEYS"):
            for value in getattr(self, name):
                if value.lower() in DEV_SECRETS or len(value) < MIN_SECRET_LENGTH:
                    raise ConfigError(
                        f"{name} holds a development or short secret; production needs "
                        f"random values of at least {MIN_SECRET_LENGTH} characters "
                        "(or set DEBUG/TESTING for local work)",
                        code="config-dev-secret",
                        field=name,
                    )
        if self.CLOCK is not None:
            raise ConfigError("CLOCK is for tests only", field="CLOCK")


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}


def setting_docs() -> list[tuple[str, str, str, str]]:
    """(name, environment variable, default, description) rows for the docs."""
    rows = []
    for name, f in FIELDS.items():
        default = f.default
        if isinstance(default, tuple):
            shown = ",".join(default) if default else "(empty)"
        elif default == "" or default is None:
            shown = "(empty)"
        else:
            shown = str(default)
        env = ENV_PREFIX + name if f.metadata["env"] else "-"
        rows.append((name, env, shown, f.metadata["doc"]))
    return rows


def _convert(name: str, value: Any, source: str) -> Any:
    convert: Converter = FIELDS[name].metadata["convert"]
    try:
        return convert(value)
    except Invalid as exc:
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
    "DEV_SECRETS",
    "ENV_PREFIX",
    "Settings",
    "load_settings",
    "read_toml",
    "setting_docs",
]
