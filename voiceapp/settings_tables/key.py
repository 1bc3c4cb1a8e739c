"""Where a config value sits: the key that locates the checks of :mod:`voiceapp.checks`.

A :class:`Key` is where a value sits (``compat.feather.numbers.<uuid>.agents[0]``)
together with the error code of its table; :meth:`Key.check` runs a check and turns
its :class:`~voiceapp.errors.InvalidValue` into a :class:`~voiceapp.errors.ConfigError`
naming the key: the one place a config location is added.  :mod:`voiceapp.config`
reads its top-level settings with the same checks.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from voiceapp.errors import ConfigError, InvalidValue

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Key:
    """Where a value sits in the config (``network.numbers."+1...".rings``) and the
    error code of its table (``config-value``, ``config-network``, ``config-retry``)."""

    path: str
    code: str = "config-value"

    def __truediv__(self, name: object) -> Key:
        """The key of ``name`` in this table: ``path.name``."""
        return Key(f"{self.path}.{name}", self.code)

    def __getitem__(self, index: int) -> Key:
        """The key of item ``index`` of this list: ``path[index]``."""
        return Key(f"{self.path}[{index}]", self.code)

    def quoted(self, name: str) -> Key:
        """The key of ``name`` written as TOML quotes it: ``path."name"``."""
        return Key(f'{self.path}."{name}"', self.code)

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {message}", code=self.code, field=self.path)

    def check(self, check: Callable[[Any], T], value: Any) -> T:
        """``check(value)``, its :class:`~voiceapp.errors.InvalidValue` raised as a
        ``ConfigError`` naming this key."""
        try:
            return check(value)
        except InvalidValue as exc:
            raise self.fail(exc.message) from None

    def table(self, value: Any, allowed: Collection[str] | None = None) -> Mapping[str, Any]:
        """``value`` as a table of string keys, all in ``allowed`` (any name when None)."""
        if not isinstance(value, Mapping):
            raise self.fail(f"must be a table, got {type(value).__name__}")
        for name in value:
            if not isinstance(name, str):
                raise (self / repr(name)).fail("keys must be strings")
            if allowed is not None and name not in allowed:
                raise (self / name).fail(f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def items(self, value: Any, check: Callable[[Any], T]) -> tuple[T, ...]:
        """A list of values, each checked and located (``path[i]``)."""
        if not isinstance(value, list | tuple):
            raise self.fail("must be a list")
        return tuple(self[i].check(check, item) for i, item in enumerate(value))
