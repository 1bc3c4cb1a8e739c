"""The document core: model and builder, hardened parser, linter, canonical serializer."""

from voiceapp.document.lint import CODES, Problem, check, iter_problems, lint, parse, validate
from voiceapp.document.model import Node, Response
from voiceapp.document.parser import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH
from voiceapp.document.serialize import serialize

#: The builder's root under a name that does not clash with ``flask.Response`` in a view.
VoiceResponse = Response

__all__ = [
    "CODES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "Node",
    "Problem",
    "Response",
    "VoiceResponse",
    "check",
    "iter_problems",
    "lint",
    "parse",
    "serialize",
    "validate",
]
