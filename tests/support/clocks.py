"""The test clock of the stores, tokens, sessions and the web layer: a ``time.time``
that only moves when a test moves it (imported by name, as every support module is).

The dialer's own time is its event loop's: ``voiceapp.dialer.clock.VirtualClock``
(virtual time, the tests' default) or ``RealClock``.
"""

from __future__ import annotations

#: Where a test clock starts: a fixed moment (2027-01-15), so expiries are reproducible.
START = 1_800_000_000.0


class Clock:
    """A clock that only moves when a test moves it (``clock.now = t``, :meth:`advance`)."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
