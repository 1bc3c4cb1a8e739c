"""The ``[inbound]`` table of the deployment config: what answers a call to our numbers.

Each of the deployment's numbers (E.164) is bound to a document URL or to an app::

    [inbound]
    "+15551234567" = { url = "https://example.com/answer.xml", method = "GET" }
    "+15557654321" = { app = "ivr", variables = { prompt = "...", options = { ... } } }

A binding may also name ``status_callback``, ``status_callback_event`` (a
space-separated subset of ``initiated ringing answered completed``) and
``status_callback_method``.  Plain data in, typed and checked data out; every error is
a :class:`~voiceapp.errors.ConfigError` ``config-inbound`` naming the key.  That an
app is registered and its variables fit is checked by :mod:`voiceapp.config` (the
apps sit above this layer); URLs are checked against the network policy when a call
is created, as every call's are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from voiceapp import checks
from voiceapp.schema import HTTP_METHODS
from voiceapp.settings_tables.key import Key

_KEYS: Final = frozenset(
    {
        "url",
        "method",
        "app",
        "variables",
        "status_callback",
        "status_callback_event",
        "status_callback_method",
    }
)
_TEXT = checks.string(2048)


@dataclass(frozen=True, slots=True)
class InboundBinding:
    """What runs when ``number`` is called: the document at ``url`` or ``app``."""

    number: str
    url: str | None = None
    method: str = "POST"
    app: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    status_callback: str | None = None
    status_callback_event: str | None = None
    status_callback_method: str | None = None


def _binding(number: Any, value: Any, key: Key) -> InboundBinding:
    e164 = key.check(checks.e164, number)
    table = key.table(value, _KEYS)
    url = (key / "url").check(_TEXT, table["url"]) if "url" in table else None
    app = (key / "app").check(_TEXT, table["app"]) if "app" in table else None
    if (url is None) == (app is None):
        raise key.fail("needs url or app (one of them)")
    method = "POST"
    if "method" in table:
        method = (key / "method").check(checks.choice(_TEXT, HTTP_METHODS), table["method"])
    variables: Mapping[str, Any] = {}
    if "variables" in table:
        if app is None:
            raise (key / "variables").fail("goes with app")
        variables = (key / "variables").table(table["variables"])
    texts = {
        name: (key / name).check(_TEXT, table[name])
        for name in ("status_callback", "status_callback_event", "status_callback_method")
        if name in table
    }
    return InboundBinding(e164, url, method, app, dict(variables), **texts)


def bindings(value: Any, *, key: str = "inbound") -> tuple[InboundBinding, ...]:
    """The ``[inbound]`` table (``"+E164" = {url = ...} | {app = ..., variables = ...}``),
    validated; a number written twice (in two forms of one E.164 number) is refused."""
    where = Key(key, "config-inbound")
    out: dict[str, InboundBinding] = {}
    for number, binding in where.table(value).items():
        made = _binding(number, binding, where.quoted(number))
        if made.number in out:
            raise where.quoted(number).fail(f"binds {made.number} a second time")
        out[made.number] = made
    return tuple(out.values())
