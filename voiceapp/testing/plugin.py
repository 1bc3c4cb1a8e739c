"""The pytest plugin of voiceapp's testing kit (registered by entry point ``voiceapp``).

``voice_call(app, url="/", **options)`` makes a :class:`~voiceapp.testing.VoiceCall`
(same arguments) and closes it when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from voiceapp.testing.call import VoiceCall


@pytest.fixture
def voice_call() -> Iterator[Callable[..., VoiceCall]]:
    """A factory of test calls, each closed at the end of the test."""
    from voiceapp.testing.call import VoiceCall

    made: list[VoiceCall] = []

    def make(app: Any, url: str = "/", **options: Any) -> VoiceCall:
        call = VoiceCall(app, url, **options)
        made.append(call)
        return call

    yield make
    for call in made:
        call.close()
