"""docs/dialer.md's state table is the code's table."""

from __future__ import annotations

from pathlib import Path

from voiceapp.calls.states import TRANSITIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "dialer.md"


def test_state_table_in_docs_matches_transitions() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- state-table")
    end = text.index("<!-- /state-table -->")
    rows = [
        tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
        for line in text[start:end].splitlines()
        if line.startswith("| ") and not line.startswith("| from")
    ]
    expected = [
        (t.source.value, t.event.value, t.target.value, t.emits.value if t.emits else "")
        for t in TRANSITIONS.values()
    ]
    assert rows == expected
