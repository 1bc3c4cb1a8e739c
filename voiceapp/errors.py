"""The one exception tree of voiceapp.

Every error a user can cause carries a stable ``code``, a human ``message`` and a
location: a line and column for XML, a field name for JSON, a character index for
digit strings.  Each class knows the HTTP status it maps to and how to render
itself as a dict, so the web layer needs a single error handler.

    VoiceappError
     ├── DocumentError          XML document problems (element path, line, column)
     ├── DigitsError            senddigits / digits strings (character index)
     ├── PhoneError             phone numbers (field)
     ├── DestinationError       the destination policy refuses a number (403, field)
     │    ├── DestinationBlocked      a blocked number type or calling code
     │    └── DestinationNotPermitted a country outside the geo permissions
     ├── ValidationError        other request fields (field)
     │    ├── HeaderError       a request header with a bad value (400)
     │    ├── MissingField      a required field is absent (400)
     │    └── BadRequestBody    the body is not the JSON object a route needs (400)
     │         ├── BodyTooLarge longer than MAX_CONTENT_LENGTH (413)
     │         └── JsonTooDeep  nested deeper than MAX_JSON_DEPTH (400)
     ├── Unauthorized           no valid API key (401)
     ├── ConfigError            deployment configuration (key)
     │    └── TemplateError     a voice template: file, line, reason
     ├── TokenError             signed session / step tokens
     │    ├── TokenInvalid      tampered, wrong purpose or wrong destination (403)
     │    ├── TokenExpired      past its ttl (410)
     │    └── TokenUsed         already claimed by another fetch (410)
     ├── NotFoundError          a named thing (a call) does not exist (404)
     ├── ConflictError          the request clashes with current state (409)
     ├── IllegalTransition      a call event its status does not allow (409)
     ├── FetchError             a document could not be fetched (502)
     ├── VendorError            a vendor-compatible route's own refusal (its status)
     ├── OutboundBlocked        an outbound request would go where the deployment
     │                          does not allow (``fetch-blocked``; voiceapp.netguard)
     ├── MediaError             call audio: an unreadable <Play> file, speech that could
     │                          not be rendered, no free RTP port (502)
     ├── RateLimited            too many requests for a key or a number (429, Retry-After)
     └── StoreError             the session / call store failed (503)

    InvalidValue (ValueError)   a value type's or check's refusal before it has a
                                location (schema, voiceapp.checks); the caller
                                raises it located
    ParseFailure (Exception)    the hardened parser's refusal of an input (a located
                                problem the linter reports)
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BadRequestBody",
    "BodyTooLarge",
    "ConfigError",
    "ConflictError",
    "DestinationBlocked",
    "DestinationError",
    "DestinationNotPermitted",
    "DigitsError",
    "DocumentError",
    "FetchError",
    "HeaderError",
    "IllegalTransition",
    "InvalidValue",
    "JsonTooDeep",
    "MediaError",
    "MissingField",
    "NotFoundError",
    "OutboundBlocked",
    "ParseFailure",
    "PhoneError",
    "RateLimited",
    "SipError",
    "StoreError",
    "TemplateError",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenUsed",
    "Unauthorized",
    "ValidationError",
    "VendorError",
    "VoiceappError",
]


class VoiceappError(Exception):
    """Base of every error voiceapp raises on purpose."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field

    def location(self) -> dict[str, Any]:
        """Where the problem is, as plain data (empty when unknown)."""
        return {"field": self.field} if self.field is not None else {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.location()}

    def headers(self) -> dict[str, str]:
        """HTTP headers an answer to this error carries (``Retry-After``...)."""
        return {}

    def __str__(self) -> str:
        return self.message


class DocumentError(VoiceappError):
    """A voice XML document is not valid."""

    status = 422
    default_code = "document"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        path: str = "",
        attribute: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.path = path
        self.attribute = attribute
        self.line = line
        self.column = column

    def location(self) -> dict[str, Any]:
        loc: dict[str, Any] = {"path": self.path}
        if self.field is not None:  # a document given in a request field (twiml)
            loc["field"] = self.field
        if self.attribute is not None:
            loc["attribute"] = self.attribute
        if self.line is not None:
            loc["line"] = self.line
            loc["column"] = self.column
        return loc

    def __str__(self) -> str:
        where = self.path + (f"@{self.attribute}" if self.attribute else "")
        return f"{where}: {self.message}" if where else self.message


class DigitsError(VoiceappError):
    """A DTMF digit string is not valid; ``index`` is the first bad character."""

    status = 422
    default_code = "digits"

    def __init__(
        self, message: str, *, code: str | None = None, index: int = 0, field: str | None = None
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.index = index

    def location(self) -> dict[str, Any]:
        return {**super().location(), "index": self.index}

    def __str__(self) -> str:
        return f"error at index {self.index}: {self.message}"


class PhoneError(VoiceappError):
    """A phone number cannot be parsed or is not valid."""

    status = 422
    default_code = "phone"


class DestinationError(VoiceappError):
    """A valid number that the deployment's destination policy does not call (toll fraud)."""

    status = 403
    default_code = "destination"


class DestinationBlocked(DestinationError):
    """The number's type (premium rate, shared cost, ...) or calling code (satellite) is blocked."""

    default_code = "destination-blocked"


class DestinationNotPermitted(DestinationError):
    """The number's country calling code is not one the deployment permits."""

    default_code = "destination-not-permitted"


class ValidationError(VoiceappError):
    """A request field is missing or has a bad value."""

    status = 422
    default_code = "invalid"


class HeaderError(ValidationError):
    """A request header has a bad value; ``field`` names the header (400)."""

    status = 400
    default_code = "invalid-header"


class ConfigError(VoiceappError):
    """The deployment configuration is not usable; ``field`` names the key."""

    status = 500
    default_code = "config"


class TokenError(VoiceappError):
    """A signed token cannot be used; its location is the ``token`` unless a request
    field (``To``, ``CallSid``, a signature header) is to blame."""

    status = 403
    default_code = "token"

    def __init__(
        self, message: str, *, code: str | None = None, field: str | None = "token"
    ) -> None:
        super().__init__(message, code=code, field=field)


class TokenInvalid(TokenError):
    status = 403
    default_code = "token-invalid"


class TokenExpired(TokenError):
    status = 410
    default_code = "token-expired"


class TokenUsed(TokenError):
    status = 410
    default_code = "token-used"


class NotFoundError(VoiceappError):
    """What the request names does not exist (e.g. an unknown CallSid)."""

    status = 404
    default_code = "not-found"


class ConflictError(VoiceappError):
    """The request clashes with the current state (a busy number, a call past canceling)."""

    status = 409
    default_code = "conflict"


class OutboundBlocked(VoiceappError):
    """An outbound request (document, redirect, action, callback) was refused before
    anything was sent: its destination is not public and not allow-listed.

    ``host``/``port`` are the URL's; ``address`` the refused address (``None`` for a
    refusal that is not about an address, e.g. a scheme).  Never retried.
    """

    status = 502
    default_code = "fetch-blocked"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        host: str | None = None,
        port: int | None = None,
        address: str | None = None,
    ) -> None:
        super().__init__(message, code=code, field="url")
        self.host = host
        self.port = port
        self.address = address


class MediaError(VoiceappError):
    """Call audio could not be made or read: an audio file voiceapp cannot decode, speech
    the renderer refused, no free RTP port (``voiceapp.media``)."""

    status = 502
    default_code = "media"


class RateLimited(VoiceappError):
    """Too many requests: ``field`` names the limit (``Authorization``: per API key,
    ``to``: per destination); ``retry_after`` is whole seconds until the window ends."""

    status = 429
    default_code = "rate-limited"

    def __init__(
        self, message: str, *, retry_after: int, field: str, code: str | None = None
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.retry_after = max(1, int(retry_after))

    def location(self) -> dict[str, Any]:
        return {**super().location(), "retryAfter": self.retry_after}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class SipError(VoiceappError):
    """A SIP message that does not follow RFC 3261 (logged and dropped where it arrives)."""

    default_code = "sip-malformed"


class StoreError(VoiceappError):
    status = 503
    default_code = "store"


class Unauthorized(VoiceappError):
    """The REST API was called without a valid API key."""

    status = 401
    default_code = "unauthorized"


class BadRequestBody(ValidationError):
    """The request body is not the JSON object the route needs."""

    status = 400
    default_code = "invalid-body"


class BodyTooLarge(BadRequestBody):
    """The request body is longer than ``MAX_CONTENT_LENGTH`` (413, field ``body``)."""

    status = 413
    default_code = "body-too-large"


class JsonTooDeep(BadRequestBody):
    """JSON text nests arrays and objects deeper than ``MAX_JSON_DEPTH`` (400)."""

    default_code = "json-too-deep"


class VendorError(VoiceappError):
    """A vendor route's own refusal, answered as is: ``status`` with the profile's body of
    ``message`` and ``code``, or ``body`` itself when given."""

    def __init__(
        self, status: int, message: str, code: str | None = None, *, body: Any = None
    ) -> None:
        super().__init__(message, code=code or f"compat-{status}")
        self.http_status = status
        self.body = body


class MissingField(ValidationError):
    """A required field is absent (400)."""

    status = 400
    default_code = "missing"


class TemplateError(ConfigError):
    """A voice template cannot be loaded, rendered or validated: file, line, reason."""

    default_code = "template"

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        code: str | None = None,
        cause: DocumentError | None = None,
    ) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}", code=code, field="TEMPLATE_FOLDER")
        self.file = file
        self.line = line
        self.cause = cause

    def location(self) -> dict[str, Any]:
        loc: dict[str, Any] = {"file": self.file}
        if self.line is not None:
            loc["line"] = self.line
        return loc


class InvalidValue(ValueError):
    """A value a type or a check refuses, before anyone knows where the value sits: the
    message says what it should be, ``code`` is the stable problem code and ``index`` a
    character of it.  The caller adds the location: the linter and the builder (an XML
    path and line), :func:`voiceapp.checks.located` (a request field), a config
    :class:`~voiceapp.settings_tables.key.Key` (a config key, with its table's code)."""

    def __init__(self, message: str, code: str = "bad-value", *, index: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.index = index


class FetchError(VoiceappError):
    """A document could not be fetched (an injected ``fetch`` may raise this).

    ``http_status``: the status of the answer (``fetch-status``), when there was one.
    """

    status = 502
    default_code = "fetch-failed"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.http_status = http_status


class IllegalTransition(VoiceappError):
    """A call event that the call's status does not allow (a bug or a race, never
    ignored); ``allowed`` are the events that status does take
    (:data:`voiceapp.calls.states.TRANSITIONS`)."""

    status = 409
    default_code = "call-illegal-transition"

    def __init__(self, from_status: str, event: str, allowed: list[str]) -> None:
        hint = f"allowed: {', '.join(allowed)}" if allowed else f"{from_status} is final"
        super().__init__(f"a call that is {from_status} cannot take event {event} ({hint})")
        self.from_status = from_status
        self.event = event


class ParseFailure(Exception):
    """The input is not a document we will read; carries a located problem."""

    def __init__(self, code: str, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column
