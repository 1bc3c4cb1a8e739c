"""The ``[network]`` table of the deployment config: the simulated network's callees.

Plain data in, typed and checked data out; every error is a
:class:`~voiceapp.errors.ConfigError` ``config-network`` naming the key.  The
simulated network itself (:mod:`voiceapp.dialer.network`, which re-exports these
names) reads a :class:`NetworkConfig`; :mod:`voiceapp.config` builds one when it
reads the file, without importing the dialer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from voiceapp.dtmf import Timeline, parse_digits
from voiceapp.errors import ConfigError, DigitsError

__all__ = ["OUTCOMES", "Callee", "Ivr", "NetworkConfig", "Outcome", "Press"]

Outcome = Literal["answer", "busy", "no-answer", "fail"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("answer", "busy", "no-answer", "fail")


@dataclass(frozen=True, slots=True)
class Press:
    """The callee presses ``digits`` at ``at`` s after answer, or on hearing a phrase."""

    digits: Timeline
    at: float | None = None
    on_hearing: str | None = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Ivr:
    """An IVR callee: connects when it hears ``expect`` starting ``after`` s or later."""

    expect: str
    after: float = 0.0
    within: float = 10.0


@dataclass(frozen=True, slots=True)
class Callee:
    outcome: Outcome = "answer"
    rings: int = 1
    hangup_after: float | None = None
    talk_seconds: float = 3.0
    press: tuple[Press, ...] = ()
    ivr: Ivr | None = None
    name: str = ""


def _fail(path: str, reason: str) -> ConfigError:
    return ConfigError(f"{path}: {reason}", code="config-network", field=path)


def _table(value: Any, path: str, allowed: frozenset[str] | None) -> Mapping[str, Any]:
    """``value`` as a table whose keys are all in ``allowed`` (any string key when None)."""
    if not isinstance(value, Mapping):
        raise _fail(path, f"must be a table, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise _fail(f"{path}.{key!r}", "keys must be strings")
        if allowed is not None and key not in allowed:
            raise _fail(f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
    return value


def _seconds(value: Any, path: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, f"must be a number of seconds, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise _fail(path, f"must be {'greater than' if positive else 'at least'} 0, got {value!r}")
    return float(value)


def _digits(value: Any, path: str) -> Timeline:
    if not isinstance(value, str):
        raise _fail(path, f"must be a digit string, got {value!r}")
    try:
        return parse_digits(value)
    except DigitsError as exc:
        raise _fail(path, f"{exc} in {value!r}") from None


_CALLEE_KEYS = frozenset(
    {"outcome", "rings", "hangup_after", "talk_seconds", "press", "ivr", "name"}
)
_PRESS_KEYS = frozenset({"digits", "at", "on_hearing", "delay"})
_IVR_KEYS = frozenset({"expect", "after", "within"})
_NETWORK_KEYS = frozenset({"ring_seconds", "default", "numbers"})
#: A number the simulated network answers on.  The deployment defines these numbers, so they
#: are dialed as written even where phonenumbers' metadata knows no such range (test numbers
#: such as the seed examples' +0987654321).
_SIMULATED_NUMBER: Final = re.compile(r"\+\d{2,15}")


def _press(value: Any, path: str) -> Press:
    data = _table(value, path, _PRESS_KEYS)
    if "digits" not in data:
        raise _fail(f"{path}.digits", "is required")
    digits = _digits(data["digits"], f"{path}.digits")
    at = data.get("at")
    hearing = data.get("on_hearing")
    if (at is None) == (hearing is None):
        raise _fail(path, "needs exactly one of 'at' (seconds after answer) or 'on_hearing'")
    if hearing is not None and (not isinstance(hearing, str) or not hearing.strip()):
        raise _fail(f"{path}.on_hearing", "must be a non-empty phrase")
    if at is not None and "delay" in data:
        raise _fail(f"{path}.delay", "only goes with 'on_hearing'")
    return Press(
        digits=digits,
        at=None if at is None else _seconds(at, f"{path}.at"),
        on_hearing=hearing,
        delay=_seconds(data.get("delay", 0.0), f"{path}.delay"),
    )


def _ivr(value: Any, path: str) -> Ivr:
    data = _table(value, path, _IVR_KEYS)
    if "expect" not in data:
        raise _fail(f"{path}.expect", "is required")
    expect = _digits(data["expect"], f"{path}.expect")
    if expect.pressed != expect.digits:
        raise _fail(f"{path}.expect", "must be tones only (no 'w'/'W' waits)")
    ivr = Ivr(
        expect=expect.digits,
        after=_seconds(data.get("after", 0.0), f"{path}.after"),
        within=_seconds(data.get("within", 10.0), f"{path}.within", positive=True),
    )
    if ivr.within <= ivr.after:
        raise _fail(f"{path}.within", f"must be greater than after ({ivr.after})")
    return ivr


def _callee(value: Any, path: str) -> Callee:
    data = _table(value, path, _CALLEE_KEYS)
    outcome = data.get("outcome", "answer")
    if outcome not in OUTCOMES:
        raise _fail(f"{path}.outcome", f"must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    rings = data.get("rings", 1)
    if isinstance(rings, bool) or not isinstance(rings, int) or not 0 <= rings <= 100:
        raise _fail(f"{path}.rings", f"must be an integer from 0 to 100, got {rings!r}")
    hangup_after = data.get("hangup_after")
    press = data.get("press", [])
    if not isinstance(press, list):
        raise _fail(f"{path}.press", "must be a list of tables")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise _fail(f"{path}.name", "must be a string")
    callee = Callee(
        outcome=outcome,
        rings=rings,
        hangup_after=None
        if hangup_after is None
        else _seconds(hangup_after, f"{path}.hangup_after", positive=True),
        talk_seconds=_seconds(data.get("talk_seconds", 3.0), f"{path}.talk_seconds"),
        press=tuple(_press(p, f"{path}.press[{i}]") for i, p in enumerate(press)),
        ivr=None if data.get("ivr") is None else _ivr(data["ivr"], f"{path}.ivr"),
        name=name,
    )
    if callee.outcome != "answer" and (callee.press or callee.ivr or "hangup_after" in data):
        raise _fail(f"{path}.outcome", f"a {outcome} callee never answers, so it cannot press")
    return callee


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """The simulated network, validated: ring length, default callee, callees by number."""

    ring_seconds: float = 2.0
    default: Callee = field(default_factory=Callee)
    numbers: Mapping[str, Callee] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, key: str = "network") -> NetworkConfig:
        """Validate plain data (from TOML); errors name the offending ``key`` path."""
        table = _table({} if data is None else data, key, _NETWORK_KEYS)
        numbers_in = _table(table.get("numbers", {}), f"{key}.numbers", None)
        numbers: dict[str, Callee] = {}
        for number, value in numbers_in.items():
            path = f'{key}.numbers."{number}"'
            if _SIMULATED_NUMBER.fullmatch(number) is None:
                raise _fail(path, "must be '+' and 2 to 15 digits (the form a number is dialed in)")
            numbers[number] = _callee(value, path)
        return cls(
            ring_seconds=_seconds(
                table.get("ring_seconds", 2.0), f"{key}.ring_seconds", positive=True
            ),
            default=_callee(table.get("default", {}), f"{key}.default"),
            numbers=numbers,
        )

    def callee(self, number: str) -> Callee:
        return self.numbers.get(number, self.default)
