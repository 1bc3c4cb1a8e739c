"""docs/webhooks.md's parameter tables are the sets voiceapp.dialer.webhooks builds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from voiceapp.calls.states import CallbackEvent, CallStatus
from voiceapp.calls.subscriptions import Subscription
from voiceapp.dialer.speech import Partial
from voiceapp.dialer.webhooks import (
    Party,
    async_amd_params,
    callback_params,
    document_params,
    partial_result_params,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
COLUMNS = {"seed": 1, "twilio": 2}


def table(marker: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    body = text[text.index(f"<!-- {marker} -->") : text.index(f"<!-- /{marker} -->")]
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in body.splitlines()
        if line.startswith("| ") and not line.startswith("| parameter")
    ]


def documented(marker: str, flavor: str) -> list[str]:
    """The parameter names the table marks as sent in ``flavor`` (in table order)."""
    return [
        row[0].strip("`")
        for row in table(marker)
        if row[COLUMNS[flavor]] != "—" and not row[0].startswith("*")
    ]


def b_leg(flavor: str, status: CallStatus) -> Party:
    return Party(
        "CA2",
        "+19499300360",
        "+18005797676",
        "outbound-dial",
        status,
        parent_call_sid="CA1",
        account_sid="AC" + "3" * 32 if flavor == "twilio" else None,
        answered_by="unknown",  # a call that asked for machine detection
    )


@pytest.mark.parametrize("flavor", ["seed", "twilio"])
def test_document_table(flavor: str) -> None:
    names = [name for name, _ in document_params(b_leg(flavor, CallStatus.IN_PROGRESS))]
    assert sorted(documented("document-params", flavor)) == sorted(names)


@pytest.mark.parametrize("flavor", ["seed", "twilio"])
def test_callback_table(flavor: str) -> None:
    params = callback_params(
        b_leg(flavor, CallStatus.COMPLETED),
        event=CallbackEvent.COMPLETED,
        sequence=0,
        timestamp=datetime(2026, 3, 25, 9, 53, 19, tzinfo=UTC),
        duration=61,
        recording_url="http://rec/CA2/RE1.wav",
        subscription=Subscription(url="http://x/cb", secret_key="k"),
    )
    assert sorted(documented("callback-params", flavor)) == sorted(name for name, _ in params)


@pytest.mark.parametrize("flavor", ["seed", "twilio"])
def test_amd_table(flavor: str) -> None:
    names = [name for name, _ in async_amd_params(b_leg(flavor, CallStatus.IN_PROGRESS), 2400)]
    assert documented("amd-params", flavor) == names


@pytest.mark.parametrize("flavor", ["seed", "twilio"])
def test_partial_result_table(flavor: str) -> None:
    partial = Partial(sequence=1, at=0.8, unstable="I need", stable="I")
    party = b_leg(flavor, CallStatus.IN_PROGRESS)
    names = [name for name, _ in partial_result_params(party, partial, language="en-US")]
    assert documented("partial-params", flavor) == names
