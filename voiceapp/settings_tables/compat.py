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
``OUTBOUND_NUMBERS``; ``app`` must name a registered voice app (this module knows no
apps: :meth:`CompatConfig.apps` lists them and :mod:`voiceapp.config` checks them).
Every value is checked with :mod:`voiceapp.checks`, located by
:class:`~voiceapp.settings_tables.key.Key`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voiceapp import checks
from voiceapp.errors import InvalidValue
from voiceapp.settings_tables.key import Key

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
#: Type names a Feather agent may declare for a context variable (a list is an enum).
VARIABLE_TYPES = ("string", "integer", "number", "boolean")


def _texts(value: Any, key: Key) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise key.fail("must be a list of strings")
    return key.items(value, checks.text)


def _language(value: Any, key: Key) -> str | None:
    return None if value is None else key.check(checks.language, value)


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


def _agent(agent_id: str, value: Any, key: Key, *, allowed: tuple[str, ...]) -> Agent:
    table = key.table(value, allowed)
    declared: dict[str, str | tuple[str, ...]] = {}
    for name, kind in (key / "context_variables").table(table.get("context_variables", {})).items():
        where = key / "context_variables" / name
        if isinstance(kind, list):
            declared[name] = _texts(kind, where)
            if not declared[name]:
                raise where.fail("an enum needs at least one value")
        elif kind in VARIABLE_TYPES:
            declared[name] = kind
        else:
            raise where.fail(f"must be one of {', '.join(VARIABLE_TYPES)} or a list (an enum)")
    hold = table.get("hold_variable")
    return Agent(
        id=agent_id,
        name=(key / "name").check(checks.text, table.get("name", agent_id)),
        app=(key / "app").check(checks.text, table.get("app")),
        language=_language(table.get("language"), key / "language"),
        variables=dict((key / "variables").table(table.get("variables", {}))),
        declared=declared,
        hold_variable=None if hold is None else (key / "hold_variable").check(checks.text, hold),
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
    api_keys: tuple[str, ...] = ()
    projects: Mapping[str, PathorsProject] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, key: str) -> PathorsConfig:
        at = Key(key)
        table = at.table(value, ("api_keys", "projects"))
        projects = {}
        for pid, raw in (at / "projects").table(table.get("projects", {})).items():
            where = at / "projects" / pid
            if not _NAME.fullmatch(pid):
                raise where.fail("a project id is 1-128 letters, digits, _ . or -")
            p = where.table(raw, ("numbers", "app", "language"))
            numbers = (where / "numbers").items(
                _texts(p.get("numbers", []), where / "numbers"), checks.e164
            )
            projects[pid] = PathorsProject(
                pid,
                numbers,
                (where / "app").check(checks.text, p.get("app")),
                _language(p.get("language"), where / "language"),
            )
        return cls(_texts(table.get("api_keys", []), at / "api_keys"), projects)


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


def _uuids(value: Any, key: Key) -> tuple[str, ...]:
    return key.items(_texts(value, key), checks.uuid_text)


@dataclass(frozen=True)
class FeatherConfig:
    api_keys: tuple[str, ...] = ()
    numbers: Mapping[str, FeatherNumber] = field(default_factory=dict)
    agents: Mapping[str, Agent] = field(default_factory=dict)
    teams: Mapping[str, Team] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, key: str) -> FeatherConfig:
        at = Key(key)
        table = at.table(value, ("api_keys", "numbers", "agents", "teams"))
        agents: dict[str, Agent] = {}
        for aid, raw in (at / "agents").table(table.get("agents", {})).items():
            where = at / "agents" / aid
            agent_id = where.check(checks.uuid_text, aid)
            agents[agent_id] = _agent(
                agent_id, raw, where, allowed=("name", "app", "language", "context_variables")
            )
        teams: dict[str, Team] = {}
        for tid, raw in (at / "teams").table(table.get("teams", {})).items():
            where = at / "teams" / tid
            team_id = where.check(checks.uuid_text, tid)
            t = where.table(raw, ("name", "members"))
            members = _uuids(t.get("members", []), where / "members")
            if not members:
                raise (where / "members").fail("a team needs at least one member agent")
            for i, member in enumerate(members):
                if member not in agents:
                    raise (where / "members")[i].fail(f"no agent {member} in {key}.agents")
            name = (where / "name").check(checks.text, t.get("name", team_id))
            teams[team_id] = Team(team_id, name, members)
        numbers: dict[str, FeatherNumber] = {}
        for nid, raw in (at / "numbers").table(table.get("numbers", {})).items():
            where = at / "numbers" / nid
            number_id = where.check(checks.uuid_text, nid)
            n = where.table(raw, ("number", "agents", "teams"))
            bound_agents = _uuids(n.get("agents", []), where / "agents")
            bound_teams = _uuids(n.get("teams", []), where / "teams")
            for i, a in enumerate(bound_agents):
                if a not in agents:
                    raise (where / "agents")[i].fail(f"no agent {a} in {key}.agents")
            for i, team_id in enumerate(bound_teams):
                if team_id not in teams:
                    raise (where / "teams")[i].fail(f"no team {team_id} in {key}.teams")
            number = (where / "number").check(checks.e164, n.get("number"))
            numbers[number_id] = FeatherNumber(number_id, number, bound_agents, bound_teams)
        return cls(_texts(table.get("api_keys", []), at / "api_keys"), numbers, agents, teams)


# -- ThunderPhone ---------------------------------------------------------------------


@dataclass(frozen=True)
class ThunderNumber:
    number: str
    voip: bool = True
    verified: bool = True
    outbound_agent: int | None = None


def _balance(value: Any) -> float | None:
    if value is not None and not checks.is_number(value):
        raise InvalidValue("must be a number (the org balance; <= 0 blocks calls)")
    return None if value is None else float(value)


@dataclass(frozen=True)
class ThunderPhoneConfig:
    api_keys: tuple[str, ...] = ()
    numbers: Mapping[str, ThunderNumber] = field(default_factory=dict)
    agents: Mapping[int, Agent] = field(default_factory=dict)
    balance: float | None = None
    config_app: str = "greeting"

    @classmethod
    def from_dict(cls, value: Any, key: str) -> ThunderPhoneConfig:
        at = Key(key)
        table = at.table(value, ("api_keys", "numbers", "agents", "balance", "config_app"))
        agents: dict[int, Agent] = {}
        for aid, raw in (at / "agents").table(table.get("agents", {})).items():
            where = at / "agents" / aid
            if not str(aid).isdigit() or int(aid) < 1:
                raise where.fail("an agent id is a positive integer")
            agents[int(aid)] = _agent(
                str(int(aid)),
                raw,
                where,
                allowed=("name", "app", "language", "variables", "hold_variable"),
            )
        numbers: dict[str, ThunderNumber] = {}
        for number, raw in (at / "numbers").table(table.get("numbers", {})).items():
            where = at / "numbers" / number
            e164 = where.check(checks.e164, number)
            n = where.table(raw, ("voip", "verified", "outbound_agent"))
            agent = n.get("outbound_agent")
            if agent is not None and (isinstance(agent, bool) or agent not in agents):
                raise (where / "outbound_agent").fail(f"no agent {agent!r} in {key}.agents")
            numbers[e164] = ThunderNumber(
                e164,
                (where / "voip").check(checks.boolean, n.get("voip", True)),
                (where / "verified").check(checks.boolean, n.get("verified", True)),
                agent,
            )
        return cls(
            _texts(table.get("api_keys", []), at / "api_keys"),
            numbers,
            agents,
            (at / "balance").check(_balance, table.get("balance")),
            (at / "config_app").check(checks.text, table.get("config_app", "greeting")),
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
    connectors: Mapping[str, PolyaiConnector] = field(default_factory=dict)
    status_retention: float = 7200.0

    def by_token(self) -> dict[str, PolyaiConnector]:
        return {c.token: c for c in self.connectors.values()}

    @classmethod
    def from_dict(cls, value: Any, key: str) -> PolyaiConfig:
        at = Key(key)
        table = at.table(value, ("connectors", "status_retention"))
        connectors: dict[str, PolyaiConnector] = {}
        tokens: set[str] = set()
        for name, raw in (at / "connectors").table(table.get("connectors", {})).items():
            where = at / "connectors" / name
            c = where.table(raw, ("token", "from_number", "app", "language", "outbound"))
            token = (where / "token").check(checks.text, c.get("token"))
            if token in tokens:
                raise (where / "token").fail("two connectors share this token")
            tokens.add(token)
            connectors[name] = PolyaiConnector(
                name,
                token,
                (where / "from_number").check(checks.e164, c.get("from_number")),
                (where / "app").check(checks.text, c.get("app")),
                _language(c.get("language"), where / "language"),
                (where / "outbound").check(checks.boolean, c.get("outbound", True)),
            )
        retention = (at / "status_retention").check(
            checks.seconds, table.get("status_retention", 7200)
        )
        return cls(connectors, retention)


# -- the whole table ------------------------------------------------------------------


@dataclass(frozen=True)
class CompatConfig:
    """The vendors a deployment enables; a vendor left out has no routes' configuration
    (its routes read an empty one, ``PathorsConfig()``: 401 to every key)."""

    pathors: PathorsConfig | None = None
    feather: FeatherConfig | None = None
    thunderphone: ThunderPhoneConfig | None = None
    polyai: PolyaiConfig | None = None

    @classmethod
    def from_dict(cls, value: Any, key: str = "compat") -> CompatConfig:
        at = Key(key)
        table = at.table(value, ("pathors", "feather", "thunderphone", "polyai"))
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

    def apps(self) -> list[tuple[str, str]]:
        """(key, app name) of every app the vendors run (:mod:`voiceapp.config` checks
        them against the registered apps: this table knows no apps)."""
        out: list[tuple[str, str]] = []
        if self.pathors:
            for p in self.pathors.projects.values():
                out.append((f"compat.pathors.projects.{p.id}.app", p.app))
        if self.feather:
            for a in self.feather.agents.values():
                out.append((f"compat.feather.agents.{a.id}.app", a.app))
        if self.thunderphone:
            for t in self.thunderphone.agents.values():
                out.append((f"compat.thunderphone.agents.{t.id}.app", t.app))
            out.append(("compat.thunderphone.config_app", self.thunderphone.config_app))
        if self.polyai:
            for c in self.polyai.connectors.values():
                out.append((f"compat.polyai.connectors.{c.name}.app", c.app))
        return out

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
