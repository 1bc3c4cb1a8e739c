"""The ``[compat]`` table: :mod:`voiceapp.settings_tables.compat`, re-exported here."""

from __future__ import annotations

from voiceapp.settings_tables.compat import (
    VARIABLE_TYPES,
    Agent,
    CompatConfig,
    FeatherConfig,
    FeatherNumber,
    PathorsConfig,
    PathorsProject,
    PolyaiConfig,
    PolyaiConnector,
    Team,
    ThunderNumber,
    ThunderPhoneConfig,
)

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
