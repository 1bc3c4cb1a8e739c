"""The CLI contract of ``voiceapp lint``, ``voiceapp fmt`` and ``voiceapp docs``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from voiceapp.cli import main
from voiceapp.cli.docs import render

ROOT = Path(__file__).parents[2]
GOOD = b'<Response><Say voice="alice">Hi</Say><Hangup/></Response>'
BAD = b'<Response>\n  <Pause length="0"/>\n  <Foo/>\n</Response>'


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "good.xml").write_bytes(GOOD)
    (tmp_path / "bad.xml").write_bytes(BAD)
    return {"good": str(tmp_path / "good.xml"), "bad": str(tmp_path / "bad.xml")}


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_lint_valid_exits_0(files: dict[str, str]) -> None:
    assert run("lint", files["good"]) == (0, "", "")


def test_lint_invalid_prints_path_line_col_code(files: dict[str, str]) -> None:
    code, out, _ = run("lint", files["good"], files["bad"])
    assert code == 1
    assert out.splitlines() == [
        f"{files['bad']}:2:10: bad-value length: 0 is out of range, expected integer >= 1",
        f"{files['bad']}:3:3: unknown-element <Foo> is not an element of the dialect",
    ]


def test_lint_json(files: dict[str, str]) -> None:
    code, out, _ = run("lint", "--json", files["good"], files["bad"])
    assert code == 1
    report = json.loads(out)
    assert report[0] == {"path": files["good"], "valid": True, "problems": []}
    assert report[1]["valid"] is False
    assert report[1]["problems"][0] == {
        "code": "bad-value",
        "severity": "error",
        "message": "length: 0 is out of range, expected integer >= 1",
        "line": 2,
        "column": 10,
        "path": "/Response/Pause",
    }


def test_lint_stdin() -> None:
    assert run("lint", "-", stdin=GOOD)[0] == 0
    code, out, _ = run("lint", "-", stdin=BAD)
    assert code == 1 and out.startswith("-:2:10: bad-value")


def test_lint_unreadable_exits_2(files: dict[str, str], tmp_path: Path) -> None:
    code, out, err = run("lint", files["bad"], str(tmp_path / "missing.xml"))
    assert code == 2
    assert "missing.xml: cannot read" in err
    assert "bad-value" in out  # the readable files are still reported


def test_lint_usage_error_exits_2() -> None:
    assert run("lint")[0] == 2
    assert run("lint", "--no-such-option", "x.xml")[0] == 2


def test_lint_caps_are_options(files: dict[str, str]) -> None:
    code, out, _ = run("lint", "--max-bytes", "10", files["good"])
    assert code == 1 and "too-large" in out


def test_fmt_prints_canonical(files: dict[str, str]) -> None:
    code, out, _ = run("fmt", files["good"])
    assert code == 0
    assert out == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Response><Say voice="alice">Hi</Say><Hangup/></Response>\n'
    )


def test_fmt_invalid_exits_1_with_problems_on_stderr(files: dict[str, str]) -> None:
    code, out, err = run("fmt", files["bad"])
    assert (code, out) == (1, "")
    assert f"{files['bad']}:2:10: bad-value" in err


def test_fmt_unreadable_exits_2(tmp_path: Path) -> None:
    assert run("fmt", str(tmp_path / "missing.xml"))[0] == 2


def test_examples_lint_clean() -> None:
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*.xml"))
    assert examples
    assert run("lint", *examples) == (0, "", "")


#: What ``voiceapp lint`` never imports: the server's libraries and voiceapp's layers
#: above the document core (its cold start, bench/bench_cli.py).
NOT_ON_THE_LINT_PATH = (
    "flask",
    "werkzeug",
    "jinja2",
    "itsdangerous",
    "phonenumbers",
    "redis",
    "requests",
    "prometheus_client",
    "sqlite3",
    "voiceapp.apps",
    "voiceapp.calls",
    "voiceapp.config",
    "voiceapp.destinations",
    "voiceapp.dialer",
    "voiceapp.flask",
    "voiceapp.logs",
    "voiceapp.media",
    "voiceapp.metrics",
    "voiceapp.netguard",
    "voiceapp.phone",
    "voiceapp.sessions",
    "voiceapp.sip",
    "voiceapp.stores",
    "voiceapp.tokens",
    "voiceapp.web",
)


def test_python_m_and_no_flask_import(files: dict[str, str]) -> None:
    """``python -m voiceapp lint`` works the same and never imports Flask (nor any of
    :data:`NOT_ON_THE_LINT_PATH`)."""
    probe = (
        "import runpy, sys\n"
        "banned = sys.argv[1].split(',')\n"
        "sys.argv = ['voiceapp', 'lint', '--json', *sys.argv[2:]]\n"
        "try:\n"
        "    runpy.run_module('voiceapp', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = sorted(m for m in sys.modules if any(\n"
        "    m == b or m.startswith(b + '.') for b in banned))\n"
        "print('EXIT', code, 'HEAVY', heavy, file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, ",".join(NOT_ON_THE_LINT_PATH), files["good"], files["bad"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "EXIT 1 HEAVY []" in out.stderr
    assert json.loads(out.stdout)[1]["valid"] is False
    direct = subprocess.run(
        [sys.executable, "-m", "voiceapp", "lint", files["bad"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert direct.returncode == 1
    assert direct.stdout.startswith(f"{files['bad']}:2:10: bad-value")


def test_reference_docs_are_in_sync_with_the_schema() -> None:
    assert (ROOT / "docs" / "reference.md").read_text(encoding="utf-8") == render(), (
        "docs/reference.md is stale: run `voiceapp docs`"
    )


def test_docs_check_detects_stale(tmp_path: Path) -> None:
    target = tmp_path / "reference.md"
    assert run("docs", "--check", "--output", str(target))[0] == 1
    assert run("docs", "--output", str(target))[0] == 0
    assert run("docs", "--check", "--output", str(target))[0] == 0
    target.write_text(target.read_text() + "edited\n")
    assert run("docs", "--check", "--output", str(target))[0] == 1


def test_every_problem_code_is_documented() -> None:
    from voiceapp.document import CODES

    text = (ROOT / "docs" / "document.md").read_text(encoding="utf-8")
    for code in CODES:
        assert f"| `{code}` |" in text
