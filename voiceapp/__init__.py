"""voiceapp: a self-hostable toolkit for TwiML-style voice applications.

Build and check voice documents::

    from voiceapp import Response, parse, lint

    r = Response()
    r.say("Your pin is 8 9 7 0", voice="alice", loop=2).hangup()
    xml = r.to_xml()
    assert parse(xml) == r
"""

from voiceapp.document import Node, Problem, Response, check, iter_problems, lint, parse, validate
from voiceapp.errors import DocumentError

__all__ = [
    "DocumentError",
    "Node",
    "Problem",
    "Response",
    "check",
    "iter_problems",
    "lint",
    "parse",
    "validate",
]
