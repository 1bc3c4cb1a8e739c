"""Per-call sessions behind signed, single-use tokens.

:meth:`Sessions.create` saves a :class:`~voiceapp.stores.base.Session` and returns a
``voice`` token bound to its id and destination number.  :meth:`Sessions.open`
turns that token into the one document of the call, exactly once:

1. verify the token (tampered / wrong purpose → ``TokenInvalid``, expired →
   ``TokenExpired``);
2. check the destination: a ``to`` that differs from the bound number raises
   ``TokenInvalid`` (``token-wrong-destination``) and leaves the token unused;
3. load the session and render the document;
4. claim the token's nonce in the store, atomically.  The one winner gets its
   document.  A repeat by the same ``call_sid`` within ``retry_window`` seconds of
   the claim gets the byte-identical stored document (dialers retry on timeouts);
   everybody else gets ``TokenUsed``.

Continuation steps (a ``<Gather>`` action, a ``<Redirect>``) use ``step`` tokens
from :meth:`Sessions.step_token`, opened by :meth:`Sessions.open_step` with the same
single-use and retry rules, so an IVR walk or a PIN check can be neither replayed
nor forged.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from voiceapp.errors import TokenExpired, TokenInvalid, TokenUsed, ValidationError
from voiceapp.stores.base import Session, Store
from voiceapp.tokens import Signer

#: Purpose (salt) of the token in a session's voice URL.
VOICE_PURPOSE = "voice"
#: Purpose (salt) of continuation-step tokens.
STEP_PURPOSE = "step"


class Sessions:
    """The session service: create sessions, open their tokens once, count attempts."""

    def __init__(
        self,
        store: Store,
        signer: Signer,
        *,
        retry_window: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retry_window < 0:
            raise ValueError("retry_window cannot be negative")
        self.store = store
        self.signer = signer
        self.retry_window = float(retry_window)
        self.clock = clock

    # -- sessions ------------------------------------------------------------------------

    def create(
        self,
        app: str,
        to: str,
        variables: Mapping[str, Any],
        *,
        ttl: int,
        language: str = "en",
    ) -> tuple[Session, str, float]:
        """Save a new session and sign its voice token: (session, token, expires_at).

        ``to`` should already be normalised (E.164); ``variables`` must be
        JSON-serialisable and already validated for ``app``.  A ``ttl`` that is not a
        positive whole number of seconds raises ``ValidationError`` (``invalid-ttl``,
        field ``ttl``).
        """
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise ValidationError(
                "ttl must be a positive whole number of seconds", code="invalid-ttl", field="ttl"
            )
        if not isinstance(to, str) or not to:
            raise ValidationError("the destination number is missing", code="missing", field="to")
        session_id = secrets.token_urlsafe(16)
        token, expires_at = self.signer.issue(VOICE_PURPOSE, {"sid": session_id, "to": to}, ttl)
        session = Session(
            id=session_id,
            app=app,
            to=to,
            variables=dict(variables),
            language=language,
            created_at=expires_at - ttl,
            expires_at=expires_at,
        )
        self.store.put_session(session)
        return session, token, expires_at

    def get(self, session_id: str) -> Session:
        """The live session ``session_id``; ``TokenExpired`` (``session-expired``) if gone."""
        session = self.store.get_session(session_id)
        if session is None or self.clock() >= session.expires_at:
            raise TokenExpired("the session has expired", code="session-expired")
        return session

    def peek(self, token: str) -> Session | None:
        """The live session behind voice ``token`` without opening it (nothing is
        claimed), or None when the token is not a valid one of ours or its session is
        gone: for a call placed with a session URL, whose secrets must be known to keep
        them out of its trace."""
        try:
            payload = self.signer.verify(VOICE_PURPOSE, token)
        except (TokenInvalid, TokenExpired):
            return None
        session_id = payload.get("sid")
        if not isinstance(session_id, str):
            return None
        try:
            return self.get(session_id)
        except TokenExpired:
            return None

    def open(
        self,
        token: str,
        *,
        to: str | None,
        call_sid: str,
        render: Callable[[Session], bytes],
    ) -> bytes:
        """The document of the session behind voice ``token``, for the one fetch that claims it.

        ``to`` is the destination the dialer reports (``None`` or ``""`` when it sent
        none: then only the token decides).  ``render`` makes the document; it runs
        before the claim, and an exception from it leaves the token unused.
        """
        payload = self.signer.verify(VOICE_PURPOSE, token)
        session_id, bound_to = payload.get("sid"), payload.get("to")
        if not isinstance(session_id, str) or not isinstance(bound_to, str):
            raise TokenInvalid("the token does not name a session", code="token-malformed")
        if to and to != bound_to:
            raise TokenInvalid(
                "the token was issued for another destination number",
                code="token-wrong-destination",
                field="To",
            )
        session = self.get(session_id)
        body = render(session)
        return self._claim(
            f"{VOICE_PURPOSE}:{payload['nonce']}", call_sid, body, float(payload["exp"])
        )

    # -- continuation steps --------------------------------------------------------------

    def step_token(
        self,
        session: Session,
        step: str,
        data: Mapping[str, Any],
        *,
        ttl: int,
        call_sid: str | None = None,
    ) -> str:
        """A single-use token for continuation ``step`` of ``session`` carrying ``data``.

        ``data`` must be JSON-serialisable; it travels signed (readable, not secret)
        inside the token.  The token never outlives the session.  With ``call_sid``
        it is also bound to that call: :meth:`open_step` refuses it for any other
        ``CallSid``.
        """
        now = self.clock()
        remaining = math.ceil(session.expires_at - now)
        if remaining <= 0:
            raise TokenExpired("the session has expired", code="session-expired")
        payload: dict[str, Any] = {"sid": session.id, "step": step, "data": dict(data)}
        if call_sid:
            payload["call"] = call_sid
        token, _ = self.signer.issue(STEP_PURPOSE, payload, min(ttl, remaining))
        return token

    def open_step(
        self,
        token: str,
        *,
        call_sid: str,
        render: Callable[[Session, dict[str, Any]], bytes],
    ) -> bytes:
        """The document for step ``token``, once (plus retries by the same ``call_sid``).

        ``render(session, data)`` gets the ``data`` given to :meth:`step_token` with
        the step name added under ``"step"``.
        """
        payload = self.signer.verify(STEP_PURPOSE, token)
        session_id, step, data = payload.get("sid"), payload.get("step"), payload.get("data")
        if not (isinstance(session_id, str) and isinstance(step, str) and isinstance(data, dict)):
            raise TokenInvalid("the step token does not name a step", code="token-malformed")
        bound_call = payload.get("call")
        if bound_call is not None and bound_call != call_sid:
            raise TokenInvalid(
                "the step token was issued for another call",
                code="token-wrong-call",
                field="CallSid",
            )
        session = self.get(session_id)
        body = render(session, {**data, "step": step})
        return self._claim(
            f"{STEP_PURPOSE}:{payload['nonce']}", call_sid, body, float(payload["exp"])
        )

    # -- counters ------------------------------------------------------------------------

    def incr(self, session_id: str, name: str) -> int:
        """Add one to counter ``name`` of the session (e.g. PIN attempts); the new value.

        The counter lives as long as the session.
        """
        session = self.get(session_id)
        ttl = max(1, math.ceil(session.expires_at - self.clock()))
        return self.store.incr(f"count:{session_id}:{name}", ttl)

    # -- the claim -----------------------------------------------------------------------

    def _claim(self, key: str, call_sid: str, body: bytes, expires_at: float) -> bytes:
        if not isinstance(body, bytes):
            raise TypeError(f"render must return bytes, not {type(body).__name__}")
        now = self.clock()
        # The record must outlive the token, or a late fetch could claim it again.
        ttl = max(1, math.ceil(expires_at - now), math.ceil(self.retry_window)) + 1
        won, claim = self.store.claim(key, call_sid or "", body, ttl)
        if won:
            return body
        if call_sid and claim.owner == call_sid and now - claim.claimed_at < self.retry_window:
            return claim.body
        raise TokenUsed("the token has already been used", code="token-used")
