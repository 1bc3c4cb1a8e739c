"""The store's refusals of a call write, as errors with stable codes (``call-*``).

Both call stores raise these, so an API client sees the same code, field and status
whichever store runs.
"""

from __future__ import annotations

from voiceapp.errors import ConflictError, NotFoundError


def to_busy(to: str, holder: str | None) -> ConflictError:
    who = f" ({holder})" if holder else ""
    return ConflictError(
        f"{to} already has a queued or active call{who}", code="call-to-busy", field="to"
    )


def sid_exists(sid: str) -> ConflictError:
    return ConflictError(f"a call {sid} already exists", code="call-sid-exists", field="sid")


def not_found(sid: str) -> NotFoundError:
    return NotFoundError(f"no call {sid}", code="call-not-found", field="sid")


def not_cancelable(sid: str, status: str) -> ConflictError:
    return ConflictError(
        f"call {sid} is {status}; only queued, initiated or ringing calls can be canceled",
        code="call-not-cancelable",
        field="sid",
    )


def status_conflict(leg_sid: str, current: str, wanted: str) -> ConflictError:
    return ConflictError(
        f"leg {leg_sid} is {current}; it cannot become {wanted} here",
        code="call-status-conflict",
        field="status",
    )


def leg_not_found(leg_sid: str) -> NotFoundError:
    return NotFoundError(f"no leg {leg_sid}", code="call-leg-not-found", field="leg_sid")


def event_not_found(event_id: str) -> NotFoundError:
    return NotFoundError(f"no event {event_id}", code="call-event-not-found", field="event_id")


def not_changeable(sid: str, status: str) -> ConflictError:
    return ConflictError(
        f"call {sid} is {status}; a finished call cannot be changed",
        code="call-not-changeable",
        field="sid",
    )


def not_deletable(sid: str, why: str) -> ConflictError:
    return ConflictError(
        f"call {sid} cannot be deleted: {why}", code="call-not-deletable", field="sid"
    )


def recording_not_found(sid: str) -> NotFoundError:
    return NotFoundError(f"no recording {sid}", code="recording-not-found", field="sid")
