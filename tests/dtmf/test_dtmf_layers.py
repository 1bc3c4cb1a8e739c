"""The dtmf layer imports neither XML nor HTTP machinery nor the layers above it."""

from __future__ import annotations

import ast
from pathlib import Path

import voiceapp.dtmf

FORBIDDEN = ("xml", "lxml", "http", "flask", "werkzeug", "requests", "numpy", "voiceapp.web")
FORBIDDEN += ("voiceapp.dialer", "voiceapp.apps", "voiceapp.cli", "voiceapp.document")


def test_dtmf_modules_import_only_light_dependencies() -> None:
    package = Path(voiceapp.dtmf.__file__).parent
    sources = sorted(package.glob("*.py"))
    assert {p.name for p in sources} >= {"__init__.py", "timeline.py", "rfc4733.py", "audio.py"}
    for source in sources:
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{source.name} imports {name}"
