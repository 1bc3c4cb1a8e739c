"""The ``[network]`` table of the deployment config: the simulated network's callees.

Plain data in, typed and checked data out; every error is a
:class:`~voiceapp.errors.ConfigError` ``config-network`` naming the key.  The
simulated network itself (:mod:`voiceapp.dialer.network`, which re-exports these
names) reads a :class:`NetworkConfig`; :mod:`voiceapp.config` builds one when it
reads the file, without importing the dialer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from voiceapp import checks
from voiceapp.dtmf import Timeline
from voiceapp.settings_tables.key import Key

#: The networks a dialer can run on (``[network] backend``): the one table of the choice.
Backend = Literal["simulated", "sip", "carrier"]
BACKENDS: Final[tuple[Backend, ...]] = ("simulated", "sip", "carrier")

Outcome = Literal["answer", "busy", "no-answer", "fail"]
AnsweredBy = Literal["human", "machine", "fax"]
ANSWERED_BY: Final[tuple[AnsweredBy, ...]] = ("human", "machine", "fax")
OUTCOMES: Final[tuple[Outcome, ...]] = ("answer", "busy", "no-answer", "fail")


@dataclass(frozen=True, slots=True)
class Press:
    """The callee presses ``digits`` at ``at`` s after answer, or on hearing a phrase."""

    digits: Timeline
    at: float | None = None
    on_hearing: str | None = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Speak:
    """The callee says ``text`` at ``at`` s after answer, or ``delay`` s after it hears a
    Say containing ``on_hearing`` (None: any Say heard while a speech gather listens)."""

    text: str
    at: float | None = None
    on_hearing: str | None = None
    delay: float = 0.5


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
    #: what a call's machine detection reports (None: the network cannot tell, ``unknown``)
    answered_by: AnsweredBy | None = None
    #: a ``machine``'s greeting: how long it speaks, and whether a beep ends it
    greeting_seconds: float = 5.0
    beep: bool = True
    #: phrases the callee says (to a ``<Gather input="speech">``)
    say: tuple[Speak, ...] = ()


_CALLEE_KEYS = frozenset(
    {
        "outcome",
        "rings",
        "hangup_after",
        "talk_seconds",
        "press",
        "ivr",
        "name",
        "answered_by",
        "greeting_seconds",
        "beep",
        "say",
    }
)
_PRESS_KEYS = frozenset({"digits", "at", "on_hearing", "delay"})
_SAY_KEYS = frozenset({"text", "at", "on_hearing", "delay"})
_IVR_KEYS = frozenset({"expect", "after", "within"})
_NETWORK_KEYS = frozenset({"backend", "ring_seconds", "default", "numbers"})
#: A number the simulated network answers on.  The deployment defines these numbers, so they
#: are dialed as written even where phonenumbers' metadata knows no such range (test numbers
#: such as the seed examples' +0987654321).
_SIMULATED_NUMBER: Final = re.compile(r"\+\d{2,15}")
_RINGS = checks.integer(0, 100)


def _press(value: Any, key: Key) -> Press:
    data = key.table(value, _PRESS_KEYS)
    if "digits" not in data:
        raise (key / "digits").fail("is required")
    digits = (key / "digits").check(checks.digits, data["digits"])
    at = data.get("at")
    hearing = data.get("on_hearing")
    if (at is None) == (hearing is None):
        raise key.fail("needs exactly one of 'at' (seconds after answer) or 'on_hearing'")
    if hearing is not None and (not isinstance(hearing, str) or not hearing.strip()):
        raise (key / "on_hearing").fail("must be a non-empty phrase")
    if at is not None and "delay" in data:
        raise (key / "delay").fail("only goes with 'on_hearing'")
    return Press(
        digits=digits,
        at=None if at is None else (key / "at").check(checks.seconds, at),
        on_hearing=hearing,
        delay=(key / "delay").check(checks.seconds, data.get("delay", 0.0)),
    )


def _speak(value: Any, key: Key) -> Speak:
    if isinstance(value, str):  # a phrase said to the next speech gather that prompts
        value = {"text": value}
    data = key.table(value, _SAY_KEYS)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise (key / "text").fail("must be a non-empty phrase")
    at, hearing = data.get("at"), data.get("on_hearing")
    if at is not None and hearing is not None:
        raise key.fail("give 'at' (seconds after answer) or 'on_hearing', not both")
    if hearing is not None and (not isinstance(hearing, str) or not hearing.strip()):
        raise (key / "on_hearing").fail("must be a non-empty phrase")
    if at is not None and "delay" in data:
        raise (key / "delay").fail("does not go with 'at'")
    return Speak(
        text=text.strip(),
        at=None if at is None else (key / "at").check(checks.seconds, at),
        on_hearing=hearing,
        delay=(key / "delay").check(checks.seconds, data.get("delay", 0.5)),
    )


def _ivr(value: Any, key: Key) -> Ivr:
    data = key.table(value, _IVR_KEYS)
    if "expect" not in data:
        raise (key / "expect").fail("is required")
    expect = (key / "expect").check(checks.digits, data["expect"])
    if expect.pressed != expect.digits:
        raise (key / "expect").fail("must be tones only (no 'w'/'W' waits)")
    ivr = Ivr(
        expect=expect.digits,
        after=(key / "after").check(checks.seconds, data.get("after", 0.0)),
        within=(key / "within").check(checks.positive_seconds, data.get("within", 10.0)),
    )
    if ivr.within <= ivr.after:
        raise (key / "within").fail(f"must be greater than after ({ivr.after})")
    return ivr


def _callee(value: Any, key: Key) -> Callee:
    data = key.table(value, _CALLEE_KEYS)
    outcome = data.get("outcome", "answer")
    if outcome not in OUTCOMES:
        raise (key / "outcome").fail(f"must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    press = data.get("press", [])
    if not isinstance(press, list):
        raise (key / "press").fail("must be a list of tables")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise (key / "name").fail("must be a string")
    hangup_after = data.get("hangup_after")
    answered_by = data.get("answered_by")
    if answered_by is not None and answered_by not in ANSWERED_BY:
        raise (key / "answered_by").fail(
            f"must be one of {', '.join(ANSWERED_BY)}, got {answered_by!r}"
        )
    if answered_by != "machine":
        for only in ("greeting_seconds", "beep"):
            if only in data:
                raise (key / only).fail("only goes with answered_by = 'machine'")
    say = data.get("say", [])
    if not isinstance(say, list):
        say = [say]
    beep = data.get("beep", True)
    if not isinstance(beep, bool):
        raise (key / "beep").fail("must be true or false")
    callee = Callee(
        outcome=outcome,
        rings=(key / "rings").check(_RINGS, data.get("rings", 1)),
        hangup_after=None
        if hangup_after is None
        else (key / "hangup_after").check(checks.positive_seconds, hangup_after),
        talk_seconds=(key / "talk_seconds").check(checks.seconds, data.get("talk_seconds", 3.0)),
        press=tuple(_press(p, (key / "press")[i]) for i, p in enumerate(press)),
        ivr=None if data.get("ivr") is None else _ivr(data["ivr"], key / "ivr"),
        name=name,
        answered_by=answered_by,
        greeting_seconds=(key / "greeting_seconds").check(
            checks.positive_seconds, data.get("greeting_seconds", 5.0)
        ),
        beep=beep,
        say=tuple(_speak(s, (key / "say")[i]) for i, s in enumerate(say)),
    )
    if callee.outcome != "answer" and (
        callee.press or callee.say or callee.ivr or "hangup_after" in data
    ):
        raise (key / "outcome").fail(f"a {outcome} callee never answers, so it cannot press")
    return callee


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """The simulated network, validated: ring length, default callee, callees by number."""

    ring_seconds: float = 2.0
    default: Callee = field(default_factory=Callee)
    numbers: Mapping[str, Callee] = field(default_factory=dict)
    #: which network carries the calls; the simulated callees above apply to "simulated"
    backend: Backend = "simulated"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, key: str = "network") -> NetworkConfig:
        """Validate plain data (from TOML); errors name the offending ``key`` path."""
        where = Key(key, "config-network")
        table = where.table({} if data is None else data, _NETWORK_KEYS)
        numbers: dict[str, Callee] = {}
        for number, value in (where / "numbers").table(table.get("numbers", {})).items():
            at = (where / "numbers").quoted(number)
            if _SIMULATED_NUMBER.fullmatch(number) is None:
                raise at.fail("must be '+' and 2 to 15 digits (the form a number is dialed in)")
            numbers[number] = _callee(value, at)
        backend = table.get("backend", "simulated")
        if backend not in BACKENDS:
            raise (where / "backend").fail(
                f"must be one of {', '.join(BACKENDS)}, got {str(backend)[:40]!r}"
            )
        return cls(
            backend=backend,
            ring_seconds=(where / "ring_seconds").check(
                checks.positive_seconds, table.get("ring_seconds", 2.0)
            ),
            default=_callee(table.get("default", {}), where / "default"),
            numbers=numbers,
        )

    def callee(self, number: str) -> Callee:
        return self.numbers.get(number, self.default)
