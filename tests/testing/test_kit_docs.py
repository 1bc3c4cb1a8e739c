"""docs/testing.md's examples run as written: its apps and their tests, in a project of
their own, with the kit's pytest plugin found by its entry point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
FILE = re.compile(r"<!-- file: (?P<name>[\w.]+) -->\n```python\n(?P<code>.*?)```", re.S)


def test_the_testing_guide_examples_pass(tmp_path: Path) -> None:
    files = {m["name"]: m["code"] for m in FILE.finditer((DOCS / "testing.md").read_text())}
    assert set(files) == {"pin_app.py", "test_pin_app.py", "ivr_app.py", "test_ivr_app.py"}
    for name, code in files.items():
        (tmp_path / name).write_text(code)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "9 passed" in done.stdout, done.stdout
