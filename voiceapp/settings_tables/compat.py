"""The ``[compat]`` table of the deployment config: what the vendor-compatible routes need.

Plain data in, typed and checked data out; every error is a
:class:`~voiceapp.errors.ConfigError` naming the full key (``compat.feather.numbers.
"3c90...".agents``).  This module imports no Flask: ``voiceapp.config`` calls
:meth:`CompatConfig.from_dict` when it reads the file.  The layout (see
``examples/vendors.toml`` and ``docs/compat.md``)::

    [compat.pathors]                      # POST /project/<id>/integration/phone/call/outbound
    api_keys = ["..."]                    # Authorization: Bearer
    [compat.pathors.projects.proj_abc123]
    numbers = ["+1234567890"]             # fromNumbers of the project (status: OUTBOUND_NUMBERS)
    app = "greeting"                      # the call flow; dynamicVariables are its variables
    language = "en"                       # optional template language

    [compat.feather]                      # POST /v1/voice/outbound
    api_keys = ["..."]                    # x-api-key
    [compat.feather.numbers."<uuid>"]     # from_phone_number_id
    number = "+19499300360"
    agents = ["<agent uuid>"]             # outbound_call bindings
    teams = ["<team uuid>"]
    [compat.feather.agents."<uuid>"]
    name = "order-desk"
    app = "greeting"
    context_variables = { customerName = "string", items = "integer",
                          priority = ["low", "normal", "high"] }
    [compat.feather.teams."<uuid>"]
    name = "support"
    members = ["<agent uuid>"]            # the first is the default member

    [compat.thunderphone]                 # POST /v1/call, GET /v1/calls/<int>
    api_keys = ["sk_live_..."]
    balance = 25.0                        # optional; at or below 0 → 402
    config_app = "greeting"               # the app of an inline config without "app"
    [compat.thunderphone.numbers."+15551234567"]
    voip = true                           # false: inbound-only demo number → 403
    verified = true                       # false → 403
    outbound_agent = 12                   # optional
    [compat.thunderphone.agents.12]
    name = "reminder"
    app = "greeting"
    variables = { customerName = "..." }  # fixed session variables of the agent
    hold_variable = "timeout"             # optional: the variable max_hold_seconds sets

    [compat.polyai]                       # POST /v1/outbound-calling
    status_retention = 7200               # seconds a call's status is kept after it ends
    [compat.polyai.connectors.main]
    token = "..."                         # X-PolyAi-Auth-Token
    from_number = "+19499300360"
    app = "greeting"                      # metadata → its variables
    outbound = true                       # false → 401 (not configured for outbound)

Numbers must be E.164 and (checked by the blueprints at start) listed in
``OUTBOUND_NUMBERS``; ``app`` must name a registered voice app.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voiceapp.errors import ConfigError

__all__ = [
    "VARIABLE_TYPES",
    "Agent",
    "CompatConfig",
    "FeatherConfig",
    "FeatherNumber",
    "PathorsConfig",
    "PathorsProject",
    "PolyaiConfig",
    "PolyaiConnector",
    "Team",
    "ThunderNumber",
    "ThunderPhoneConfig",
]

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
#: Type names a Feather agent may declare for a context variable (a list is an enum).
VARIABLE_TYPES = ("string", "integer", "number", "boolean")


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(f"{key}: {message}", code="config-value", field=key)


def _table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(key, "must be a table")
    return value


def _keys(table: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
    for name in table:
        if name not in allowed:
            raise _fail(f"{key}.{name}", f"unknown key (keys: {', '.join(allowed)})")


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, "must be a non-empty string")
    return value.strip()


def _strs(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _fail(key, "must be a list of strings")
    return tuple(_str(item, f"{key}[{i}]") for i, item in enumerate(value))


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, "must be true or false")
    return value


def _number(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _E164.fullmatch(value.strip()):
        raise _fail(key, f"{value!r} is not an E.164 number such as +19499300360")
    return value.strip()


def _uuid(value: Any, key: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise _fail(key, f"{value!r} is not a UUID") from None


def _app(value: Any, key: str) -> str:
    from voiceapp.apps import registry

    name = _str(value, key)
    if name not in registry():
        raise _fail(key, f"unknown app {name!r} (apps: {', '.join(sorted(registry()))})")
    return name


def _language(value: Any, key: str) -> str | None:
    if value is None:
        return None
    text = _str(value, key)
    if "/" in text or "\\" in text or text.startswith("."):
        raise _fail(key, "must be a language tag such as en or zh-TW")
    return text


@dataclass(frozen=True)
class Agent:
    """An agent of a vendor: a voice app, with fixed variables and declared types."""

    id: str
    name: str
    app: str
    language: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)  # fixed values
    #: Feather: declared context variables, name → "string" | ... | ("enum", "values")
    declared: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    hold_variable: str | None = None


def _agent(agent_id: str, value: Any, key: str, *, allowed: tuple[str, ...]) -> Agent:
    table = _table(value, key)
    _keys(table, key, allowed)
    declared: dict[str, str | tuple[str, ...]] = {}
    decl = table.get("context_variables", {})
    for name, kind in _table(decl, f"{key}.context_variables").items():
        where = f"{key}.context_variables.{name}"
        if isinstance(kind, list):
            declared[name] = _strs(kind, where)
            if not declared[name]:
                raise _fail(where, "an enum needs at least one value")
        elif kind in VARIABLE_TYPES:
            declared[name] = kind
        else:
            raise _fail(where, f"must be one of {', '.join(VARIABLE_TYPES)} or a list (an enum)")
    variables = dict(_table(table.get("variables", {}), f"{key}.variables"))
    hold = table.get("hold_variable")
    return Agent(
        id=agent_id,
        name=_str(table.get("name", agent_id), f"{key}.name"),
        app=_app(table.get("app"), f"{key}.app"),
        language=_language(table.get("language"), f"{key}.language"),
        variables=variables,
        declared=declared,
        hold_variable=None if hold is None else _str(hold, f"{key}.hold_variable"),
    )


# -- Pathors --------------------------------------------------------------------------


@dataclass(frozen=True)
class PathorsProject:
    id: str
    numbers: tuple[str, ...]
    app: str
    language: str | None = None


@dataclass(frozen=True)
class PathorsConfig:
    api_keys: tuple[str, ...]
    projects: Mapping[str, PathorsProject]

    @classmethod
    def from_dict(cls, value: Any, key: str) -> PathorsConfig:
        table = _table(value, key)
        _keys(table, key, ("api_keys", "projects"))
        projects = {}
        for pid, raw in _table(table.get("projects", {}), f"{key}.projects").items():
            where = f"{key}.projects.{pid}"
            if not _NAME.fullmatch(pid):
                raise _fail(where, "a project id is 1-128 letters, digits, _ . or -")
            p = _table(raw, where)
            _keys(p, where, ("numbers", "app", "language"))
            numbers = tuple(
                _number(n, f"{where}.numbers[{i}]")
                for i, n in enumerate(_strs(p.get("numbers", []), f"{where}.numbers"))
            )
            projects[pid] = PathorsProject(
                pid,
                numbers,
                _app(p.get("app"), f"{where}.app"),
                _language(p.get("language"), f"{where}.language"),
            )
        return cls(_strs(table.get("api_keys", []), f"{key}.api_keys"), projects)


# -- Feather --------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatherNumber:
    id: str
    number: str
    agents: tuple[str, ...]
    teams: tuple[str, ...]


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class FeatherConfig:
    api_keys: tuple[str, ...]
    numbers: Mapping[str, FeatherNumber]
    agents: Mapping[str, Agent]
    teams: Mapping[str, Team]

    @classmethod
    def from_dict(cls, value: Any, key: str) -> FeatherConfig:
        table = _table(value, key)
        _keys(table, key, ("api_keys", "numbers", "agents", "teams"))
        agents: dict[str, Agent] = {}
        for aid, raw in _table(table.get("agents", {}), f"{key}.agents").items():
            where = f"{key}.agents.{aid}"
            agent_id = _uuid(aid, where)
            agents[agent_id] = _agent(
                agent_id, raw, where, allowed=("name", "app", "language", "context_variables")
            )
        teams: dict[str, Team] = {}
        for tid, raw in _table(table.get("teams", {}), f"{key}.teams").items():
            where = f"{key}.teams.{tid}"
            team_id = _uuid(tid, where)
            t = _table(raw, where)
            _keys(t, where, ("name", "members"))
            members = tuple(
                _uuid(m, f"{where}.members[{i}]")
                for i, m in enumerate(_strs(t.get("members", []), f"{where}.members"))
            )
            if not members:
                raise _fail(f"{where}.members", "a team needs at least one member agent")
            for i, member in enumerate(members):
                if member not in agents:
                    raise _fail(f"{where}.members[{i}]", f"no agent {member} in {key}.agents")
            teams[team_id] = Team(team_id, _str(t.get("name", team_id), f"{where}.name"), members)
        numbers: dict[str, FeatherNumber] = {}
        for nid, raw in _table(table.get("numbers", {}), f"{key}.numbers").items():
            where = f"{key}.numbers.{nid}"
            number_id = _uuid(nid, where)
            n = _table(raw, where)
            _keys(n, where, ("number", "agents", "teams"))
            bound_agents = tuple(
                _uuid(a, f"{where}.agents[{i}]")
                for i, a in enumerate(_strs(n.get("agents", []), f"{where}.agents"))
            )
            bound_teams = tuple(
                _uuid(tid, f"{where}.teams[{i}]")
                for i, tid in enumerate(_strs(n.get("teams", []), f"{where}.teams"))
            )
            for i, a in enumerate(bound_agents):
                if a not in agents:
                    raise _fail(f"{where}.agents[{i}]", f"no agent {a} in {key}.agents")
            for i, team_id in enumerate(bound_teams):
                if team_id not in teams:
                    raise _fail(f"{where}.teams[{i}]", f"no team {team_id} in {key}.teams")
            numbers[number_id] = FeatherNumber(
                number_id, _number(n.get("number"), f"{where}.number"), bound_agents, bound_teams
            )
        return cls(_strs(table.get("api_keys", []), f"{key}.api_keys"), numbers, agents, teams)


# -- ThunderPhone ---------------------------------------------------------------------


@dataclass(frozen=True)
class ThunderNumber:
    number: str
    voip: bool = True
    verified: bool = True
    outbound_agent: int | None = None


@dataclass(frozen=True)
class ThunderPhoneConfig:
    api_keys: tuple[str, ...]
    numbers: Mapping[str, ThunderNumber]
    agents: Mapping[int, Agent]
    balance: float | None = None
    config_app: str = "greeting"

    @classmethod
    def from_dict(cls, value: Any, key: str) -> ThunderPhoneConfig:
        table = _table(value, key)
        _keys(table, key, ("api_keys", "numbers", "agents", "balance", "config_app"))
        agents: dict[int, Agent] = {}
        for aid, raw in _table(table.get("agents", {}), f"{key}.agents").items():
            where = f"{key}.agents.{aid}"
            if not str(aid).isdigit() or int(aid) < 1:
                raise _fail(where, "an agent id is a positive integer")
            agents[int(aid)] = _agent(
                str(int(aid)),
                raw,
                where,
                allowed=("name", "app", "language", "variables", "hold_variable"),
            )
        numbers: dict[str, ThunderNumber] = {}
        for number, raw in _table(table.get("numbers", {}), f"{key}.numbers").items():
            where = f"{key}.numbers.{number}"
            e164 = _number(number, where)
            n = _table(raw, where)
            _keys(n, where, ("voip", "verified", "outbound_agent"))
            agent = n.get("outbound_agent")
            if agent is not None and (isinstance(agent, bool) or agent not in agents):
                raise _fail(f"{where}.outbound_agent", f"no agent {agent!r} in {key}.agents")
            numbers[e164] = ThunderNumber(
                e164,
                _bool(n.get("voip", True), f"{where}.voip"),
                _bool(n.get("verified", True), f"{where}.verified"),
                agent,
            )
        balance = table.get("balance")
        if balance is not None and (
            isinstance(balance, bool) or not isinstance(balance, int | float)
        ):
            raise _fail(f"{key}.balance", "must be a number (the org balance; <= 0 blocks calls)")
        return cls(
            _strs(table.get("api_keys", []), f"{key}.api_keys"),
            numbers,
            agents,
            None if balance is None else float(balance),
            _app(table.get("config_app", "greeting"), f"{key}.config_app"),
        )


# -- PolyAI ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PolyaiConnector:
    name: str
    token: str
    from_number: str
    app: str
    language: str | None = None
    outbound: bool = True


@dataclass(frozen=True)
class PolyaiConfig:
    connectors: Mapping[str, PolyaiConnector]
    status_retention: float = 7200.0

    def by_token(self) -> dict[str, PolyaiConnector]:
        return {c.token: c for c in self.connectors.values()}

    @classmethod
    def from_dict(cls, value: Any, key: str) -> PolyaiConfig:
        table = _table(value, key)
        _keys(table, key, ("connectors", "status_retention"))
        connectors: dict[str, PolyaiConnector] = {}
        tokens: set[str] = set()
        for name, raw in _table(table.get("connectors", {}), f"{key}.connectors").items():
            where = f"{key}.connectors.{name}"
            c = _table(raw, where)
            _keys(c, where, ("token", "from_number", "app", "language", "outbound"))
            token = _str(c.get("token"), f"{where}.token")
            if token in tokens:
                raise _fail(f"{where}.token", "two connectors share this token")
            tokens.add(token)
            connectors[name] = PolyaiConnector(
                name,
                token,
                _number(c.get("from_number"), f"{where}.from_number"),
                _app(c.get("app"), f"{where}.app"),
                _language(c.get("language"), f"{where}.language"),
                _bool(c.get("outbound", True), f"{where}.outbound"),
            )
        retention = table.get("status_retention", 7200)
        if isinstance(retention, bool) or not isinstance(retention, int | float) or retention < 0:
            raise _fail(f"{key}.status_retention", "must be a number of seconds, 0 or more")
        return cls(connectors, float(retention))


# -- the whole table ------------------------------------------------------------------


@dataclass(frozen=True)
class CompatConfig:
    """The vendors a deployment enables; a vendor left out has no routes' configuration
    (its routes answer 401 to every key)."""

    pathors: PathorsConfig | None = None
    feather: FeatherConfig | None = None
    thunderphone: ThunderPhoneConfig | None = None
    polyai: PolyaiConfig | None = None

    @classmethod
    def from_dict(cls, value: Any, key: str = "compat") -> CompatConfig:
        table = _table(value, key)
        _keys(table, key, ("pathors", "feather", "thunderphone", "polyai"))
        return cls(
            pathors=None
            if "pathors" not in table
            else PathorsConfig.from_dict(table["pathors"], f"{key}.pathors"),
            feather=None
            if "feather" not in table
            else FeatherConfig.from_dict(table["feather"], f"{key}.feather"),
            thunderphone=None
            if "thunderphone" not in table
            else ThunderPhoneConfig.from_dict(table["thunderphone"], f"{key}.thunderphone"),
            polyai=None
            if "polyai" not in table
            else PolyaiConfig.from_dict(table["polyai"], f"{key}.polyai"),
        )

    def numbers(self) -> list[tuple[str, str]]:
        """(key, E.164) of every number the vendors call from (checked against
        OUTBOUND_NUMBERS at start)."""
        out: list[tuple[str, str]] = []
        if self.pathors:
            for p in self.pathors.projects.values():
                out += [(f"compat.pathors.projects.{p.id}.numbers", n) for n in p.numbers]
        if self.feather:
            for n in self.feather.numbers.values():
                out.append((f"compat.feather.numbers.{n.id}.number", n.number))
        if self.thunderphone:
            out += [
                (f"compat.thunderphone.numbers.{n.number}", n.number)
                for n in self.thunderphone.numbers.values()
                if n.voip and n.verified  # the others are refused (403) before the core
            ]
        if self.polyai:
            for c in self.polyai.connectors.values():
                out.append((f"compat.polyai.connectors.{c.name}.from_number", c.from_number))
        return out
