"""Reading request bodies, bounded: the one place a route turns its body into data.

Two bounds hold before anything is parsed:

* size: ``MAX_CONTENT_LENGTH`` (a voiceapp setting that Flask itself enforces).  A
  longer body is ``413 body-too-large`` with field ``body``, whether it is read here,
  as a form, or by a signature check.
* depth: ``MAX_JSON_DEPTH`` levels of arrays and objects.  :func:`loads` scans the
  text for brackets outside strings first (:func:`too_deep_at`), so the JSON decoder
  never recurses deeper than that: a deeper text is ``400 json-too-deep`` naming the
  field (``body``, or ``variables`` for the JSON text of a form field), never a
  ``RecursionError``.

:func:`json_body` is the JSON object of the request (the session and call API and every
vendor route); :func:`form_body` the form fields (``POST /v1/calls`` as a form);
:func:`loads` decodes one JSON text (the form's ``variables``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import LimitedStream

from voiceapp.errors import BadRequestBody, BodyTooLarge, JsonTooDeep
from voiceapp.web.runtime import runtime

#: a JSON string (its closing quote may be missing: the decoder then refuses the text),
#: an opening bracket, or a closing one
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[{]|[\]}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


def too_deep_at(text: str, limit: int) -> int | None:
    """The index of the first bracket that opens level ``limit + 1``, else None.

    Brackets inside strings do not count; the text need not be valid JSON (the
    decoder judges that afterwards, on a text known to be shallow).
    """
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return match.start()
        elif token in "]}":
            depth = max(depth - 1, 0)  # a stray closer is the decoder's to refuse
    return None


def _limit() -> int:
    return runtime().settings.MAX_JSON_DEPTH


def loads(data: str | bytes, *, field: str) -> Any:
    """Decode the JSON text ``data`` after checking its depth.

    A deep text raises :class:`JsonTooDeep`; a text that is not JSON (or has a lone
    surrogate escape) raises :class:`BadRequestBody` ``invalid-json``: 400, naming ``field``.
    """
    invalid = BadRequestBody
    try:
        text = data if isinstance(data, str) else data.decode(json.detect_encoding(data))
    except (UnicodeDecodeError, LookupError):
        raise invalid(
            f"{field} is not JSON text (bad encoding)", code="invalid-json", field=field
        ) from None
    limit = _limit()
    where = too_deep_at(text, limit)
    if where is not None:
        raise JsonTooDeep(
            f"{field} nests arrays and objects more than {limit} levels deep "
            f"(at character {where})",
            field=field,
        )
    try:
        value = json.loads(text)
    except RecursionError:  # not reachable after the scan; kept so it never reaches the top
        raise JsonTooDeep(f"{field} nests too deep", field=field) from None
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        raise invalid(
            f"{field} is not valid JSON: {exc}", code="invalid-json", field=field
        ) from None
    # Only a \u escape can make a lone surrogate (a strict decode refuses them); such a
    # string could not be stored or written back as UTF-8.
    if "\\u" in text and _has_surrogate(value):
        raise invalid(
            f"{field} has a \\u escape of a lone UTF-16 surrogate",
            code="invalid-json",
            field=field,
        )
    return value


def _has_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _data() -> bytes:
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise _too_large() from None
    _refuse_cut_stream()
    return data


def _refuse_cut_stream() -> None:
    """A body with no Content-Length (chunked) is read up to MAX_CONTENT_LENGTH, and
    Werkzeug stops there without saying whether more follows: one more byte says it."""
    stream = request.stream
    if (
        request.content_length is None
        and isinstance(stream, LimitedStream)
        and stream.is_exhausted
        and request.environ["wsgi.input"].read(1)
    ):
        raise _too_large()


def _too_large() -> BodyTooLarge:
    limit = runtime().settings.MAX_CONTENT_LENGTH
    return BodyTooLarge(f"the request body is longer than {limit} bytes", field="body")


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 4xx naming what is wrong: ``invalid-content-type``
    (``Content-Type``), ``body-too-large``, ``json-too-deep`` or ``invalid-json`` (``body``)."""
    if not request.is_json:
        raise BadRequestBody(
            "the body must be JSON (Content-Type: application/json)",
            code="invalid-content-type",
            field="Content-Type",
        )
    data = loads(_data(), field="body")
    if not isinstance(data, dict):
        raise BadRequestBody("the body must be a JSON object", code="invalid-json", field="body")
    return data


def form_body() -> MultiDict[str, str]:
    """The request's form fields (``body-too-large`` when the form is over the bounds)."""
    try:
        form = request.form
    except RequestEntityTooLarge:
        raise _too_large() from None
    _refuse_cut_stream()
    return form
