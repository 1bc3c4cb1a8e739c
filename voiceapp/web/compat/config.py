"""The ``[compat]`` table: :mod:`voiceapp.settings_tables.compat`, re-exported here."""

from __future__ import annotations

from voiceapp.settings_tables import compat as _tables
from voiceapp.settings_tables.compat import *  # noqa: F403 - the same names, from their old place

__all__ = [*_tables.__all__]
