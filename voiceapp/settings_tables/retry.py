"""The ``[callback_retry]`` table of the deployment config: status-callback retries.

:class:`RetryPolicy` is plain data checked when it is made (errors are
:class:`~voiceapp.errors.ConfigError` ``config-retry`` naming the key); the
callback deliverer (:mod:`voiceapp.dialer.callbacks`) reads it, and
:mod:`voiceapp.config` builds one when it reads the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voiceapp import checks
from voiceapp.errors import InvalidValue
from voiceapp.settings_tables.key import Key


def _factor(value: Any) -> float:
    if not checks.is_number(value) or value < 1:
        raise InvalidValue(f"must be a number of at least 1, got {value!r}")
    return float(value)


def _check(values: Mapping[str, Any], key: Key) -> None:
    """Refuse a policy's values, naming the key of the first bad one."""
    (key / "attempts").check(checks.integer(1, 100), values["attempts"])
    first = (key / "first_delay").check(checks.positive_seconds, values["first_delay"])
    (key / "factor").check(_factor, values["factor"])
    if (key / "max_delay").check(checks.seconds, values["max_delay"]) < first:
        raise (key / "max_delay").fail(
            f"must be at least first_delay ({first:g}), got {values['max_delay']!r}"
        )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a callback is retried (exponential backoff)."""

    attempts: int = 6  # total tries, the first included
    first_delay: float = 1.0  # seconds before the second try
    factor: float = 2.0
    max_delay: float = 300.0

    def __post_init__(self) -> None:
        _check(dataclasses.asdict(self), Key("callbacks.retry", "config-retry"))

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None, *, key: str = "callbacks.retry"
    ) -> RetryPolicy:
        """Validate plain data (from TOML); errors name the offending ``key`` path."""
        where = Key(key, "config-retry")
        table = where.table(data or {}, [f.name for f in dataclasses.fields(cls)])
        values = {**dataclasses.asdict(cls()), **table}  # the defaults, once: the fields'
        _check(values, where)
        return cls(**values)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return float(min(self.max_delay, self.first_delay * self.factor ** (attempt - 1)))
