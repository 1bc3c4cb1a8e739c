"""Request-limit settings: a rate limit written ``"N/period"`` (``"100/1s"``, ``"10/60s"``).

:class:`RateLimit` is plain data checked when it is parsed (errors are
:class:`~voiceapp.errors.ConfigError` ``config-rate-limit`` naming the key);
:mod:`voiceapp.config` parses ``RATE_LIMIT_PER_KEY`` and
``RATE_LIMIT_PER_DESTINATION`` with :meth:`RateLimit.parse`, and
:mod:`voiceapp.limits` counts requests against them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from voiceapp.errors import ConfigError

_FORM = re.compile(r"^\s*(\d{1,9})\s*/\s*(\d{1,7}(?:\.\d{1,3})?)\s*(s|m|h)?\s*$")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
MAX_PERIOD = 86400.0


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` requests in each window of ``period`` seconds."""

    count: int
    period: float

    def __str__(self) -> str:
        return f"{self.count}/{self.period:g}s"

    @classmethod
    def parse(cls, text: str, *, key: str) -> RateLimit | None:
        """``"N/period"`` (period in s, m or h; seconds when no unit) or empty: off (None)."""
        if not text.strip():
            return None
        match = _FORM.match(text)
        if match is None:
            raise ConfigError(
                f"must be N/period such as 100/1s, 10/60s or 500/1h (empty: no limit), "
                f"got {text!r}",
                code="config-rate-limit",
                field=key,
            )
        count, period = int(match.group(1)), float(match.group(2)) * _UNIT[match.group(3)]
        if count < 1 or not math.isfinite(period) or not 1.0 <= period <= MAX_PERIOD:
            raise ConfigError(
                f"must have N at least 1 and a period from 1 s to 24 h, got {text!r}",
                code="config-rate-limit",
                field=key,
            )
        return cls(count, period)
