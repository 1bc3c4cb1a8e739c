"""The ``[callback_retry]`` table of the deployment config: status-callback retries.

:class:`RetryPolicy` is plain data checked when it is made (errors are
:class:`~voiceapp.errors.ConfigError` ``config-retry`` naming the key); the
callback deliverer (:mod:`voiceapp.dialer.callbacks`, which re-exports it) reads
it, and :mod:`voiceapp.config` builds one when it reads the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voiceapp.errors import ConfigError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a callback is retried (exponential backoff)."""

    attempts: int = 6  # total tries, the first included
    first_delay: float = 1.0  # seconds before the second try
    factor: float = 2.0
    max_delay: float = 300.0

    def __post_init__(self) -> None:
        checks = [
            ("attempts", isinstance(self.attempts, int) and 1 <= self.attempts <= 100),
            ("first_delay", _finite(self.first_delay) and self.first_delay > 0),
            ("factor", _finite(self.factor) and self.factor >= 1),
            ("max_delay", _finite(self.max_delay) and self.max_delay >= self.first_delay),
        ]
        for name, ok in checks:
            if not ok:
                raise ConfigError(
                    f"callbacks.retry.{name}: bad value {getattr(self, name)!r}",
                    code="config-retry",
                    field=f"callbacks.retry.{name}",
                )

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None, *, key: str = "callbacks.retry"
    ) -> RetryPolicy:
        data = data or {}
        for name in data:
            if name not in ("attempts", "first_delay", "factor", "max_delay"):
                raise ConfigError(
                    f"{key}.{name}: unknown key", code="config-retry", field=f"{key}.{name}"
                )
        try:
            return cls(**data)
        except ConfigError as exc:
            if key == "callbacks.retry" or exc.field is None:
                raise
            name = exc.field.rpartition(".")[2]
            raise ConfigError(
                f"{key}.{name}: bad value {data.get(name)!r}",
                code="config-retry",
                field=f"{key}.{name}",
            ) from None

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return float(min(self.max_delay, self.first_delay * self.factor ** (attempt - 1)))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
