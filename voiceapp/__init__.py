"""voiceapp: a self-hostable toolkit for TwiML-style voice applications.

Build and check voice documents::

    from voiceapp import Response, parse, lint   # Response is also VoiceResponse

    r = Response()
    r.say("Your pin is 8 9 7 0", voice="alice", loop=2).hangup()
    xml = r.to_xml()
    assert parse(xml) == r

The names below load the document layer on first use, so importing a lower layer
(``voiceapp.dtmf``, ``voiceapp.phone``) does not pull in lxml.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voiceapp.document import Node as Node
    from voiceapp.document import Problem as Problem
    from voiceapp.document import Response as Response
    from voiceapp.document import VoiceResponse as VoiceResponse
    from voiceapp.document import check as check
    from voiceapp.document import iter_problems as iter_problems
    from voiceapp.document import parse as parse
    from voiceapp.document import validate as validate
    from voiceapp.document.lint import lint as lint
    from voiceapp.errors import DocumentError as DocumentError

_EXPORTS = {
    "DocumentError": "voiceapp.errors",
    "Node": "voiceapp.document",
    "Problem": "voiceapp.document",
    "Response": "voiceapp.document",
    "VoiceResponse": "voiceapp.document",
    "check": "voiceapp.document",
    "iter_problems": "voiceapp.document",
    "lint": "voiceapp.document",
    "parse": "voiceapp.document",
    "validate": "voiceapp.document",
}

__all__ = [
    "DocumentError",
    "Node",
    "Problem",
    "Response",
    "VoiceResponse",
    "check",
    "iter_problems",
    "lint",
    "parse",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'voiceapp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
