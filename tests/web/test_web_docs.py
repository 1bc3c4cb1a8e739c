"""docs/server.md's settings table is the one voiceapp.config describes."""

from __future__ import annotations

from pathlib import Path

from voiceapp.config import setting_docs

DOC = Path(__file__).resolve().parents[2] / "docs" / "server.md"


def test_settings_table_matches_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- settings-table")
    end = text.index("<!-- /settings-table -->")
    rows = [line for line in text[start:end].splitlines() if line.startswith("| `")]
    expected = []
    for name, env, default, doc in setting_docs():
        env_cell = f"`{env}`" if env != "-" else "-"
        expected.append(f"| `{name}` | {env_cell} | `{default}` | {doc} |")
    assert rows == expected
