"""Export targets: ``voiceapp lint --target twilio`` applies Twilio's narrower rules and
``voiceapp fmt --target twilio`` rewrites what it can, failing located on the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from voiceapp.cli import main
from voiceapp.document import check, lint, parse
from voiceapp.document.targets import TARGETS, TWILIO

REPO = Path(__file__).resolve().parents[2]
CORPUS = next(
    (
        d / "shared" / "corpus" / "twilio"
        for d in (REPO.parent, REPO.parent.parent)
        if (d / "shared" / "corpus" / "twilio").is_dir()
    ),
    REPO.parent / "shared" / "corpus" / "twilio",
)


def number(digits: str) -> bytes:
    return (
        b'<Response>\n  <Dial>\n    <Number sendDigits="'
        + digits.encode()
        + b'">+15551234567</Number>\n  </Dial>\n</Response>\n'
    )


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def codes(data: bytes, **kw: str) -> list[str]:
    return [p.code for p in lint(data, **kw)]


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("1234#", []),
        ("ww1234*#", []),
        ("0" * 32, []),
        ("0" * 33, ["target-digits-too-long"]),
        ("W1234#", ["target-bad-digits"]),
        ("12A", ["target-bad-digits"]),
        ("123@200", ["target-bad-digits"]),
    ],
)
def test_twilio_send_digits(digits: str, expected: list[str]) -> None:
    data = number(digits)
    assert codes(data) == []  # the dialect takes them all
    assert codes(data, target="twilio") == expected


def test_the_problem_is_located_at_the_attribute() -> None:
    (problem,) = lint(number("W1"), target="twilio")
    assert (problem.line, problem.column, problem.path) == (3, 13, "/Response/Dial/Number")
    assert problem.attribute == "sendDigits"
    assert problem.severity == "error"
    assert "'W' at index 0" in problem.message
    assert "0-9 * # w" in problem.message
    assert "fmt --target twilio" in problem.message  # says it can be rewritten


def test_a_value_the_schema_refuses_is_reported_once() -> None:
    assert codes(number("12x"), target="twilio") == ["bad-digits"]


def test_play_digits_take_no_tone_length_for_twilio() -> None:
    data = b'<Response><Play digits="12@100"/></Response>'
    assert codes(data) == []
    assert codes(data, target="twilio") == ["target-bad-digits"]


def test_the_document_size_limit() -> None:
    small = b"<Response><Say>" + b"a" * 4000 + b"</Say></Response>"
    big = b"<Response>" + b"<Pause/>" * (TWILIO.max_bytes // 8 + 1) + b"</Response>"
    assert codes(small, target="twilio") == []
    assert codes(big) == []
    (problem,) = lint(big, target="twilio")
    assert problem.code == "target-too-large"
    assert problem.line == 1 and problem.path == "/Response"
    assert "11750" in problem.message


def test_unknown_target() -> None:
    with pytest.raises(ValueError, match="unknown target 'plivo'"):
        check(number("1"), target="plivo")
    assert run("lint", "--target", "plivo", "-", stdin=number("1"))[0] == 2


def test_rewrite_replaces_w_in_the_document() -> None:
    doc, problems = check(number("W1234#"), target="twilio", rewrite=True)
    assert problems == [] and doc is not None
    assert b'sendDigits="ww1234#"' in doc.to_xml()
    assert codes(doc.to_xml(), target="twilio") == []
    assert parse(number("W1234#")).to_xml() != doc.to_xml()  # default keeps W


def test_lint_cli_target(tmp_path: Path) -> None:
    path = tmp_path / "w.xml"
    path.write_bytes(number("W1"))
    assert run("lint", str(path)) == (0, "", "")
    code, out, _ = run("lint", "--target", "twilio", str(path))
    assert code == 1
    assert out.startswith(f"{path}:3:13: target-bad-digits ")
    code, out, _ = run("lint", "--json", "--target", "twilio", str(path))
    (report,) = json.loads(out)
    assert code == 1 and report["valid"] is False
    assert report["problems"][0]["code"] == "target-bad-digits"


def test_fmt_cli_target_rewrites_w(tmp_path: Path) -> None:
    path = tmp_path / "w.xml"
    path.write_bytes(number("W1234#"))
    code, out, err = run("fmt", "--target", "twilio", str(path))
    assert (code, err) == (0, "")
    assert 'sendDigits="ww1234#"' in out
    code, out, _ = run("fmt", str(path))
    assert code == 0 and 'sendDigits="W1234#"' in out  # without a target: kept
    # exactly 32 after rewriting is fine
    path.write_bytes(number("W" * 16))
    code, out, _ = run("fmt", "--target", "twilio", str(path))
    assert code == 0 and 'sendDigits="' + "w" * 32 + '"' in out


def test_fmt_cli_target_fails_located_when_too_long(tmp_path: Path) -> None:
    path = tmp_path / "long.xml"
    path.write_bytes(number("W" * 16 + "1"))  # 17 characters, 33 once rewritten
    assert run("lint", str(path))[0] == 0
    code, out, err = run("fmt", "--target", "twilio", str(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"{path}:3:13: target-digits-too-long ")
    assert "33 characters after rewriting" in err
    code, out, _ = run("fmt", "--json", "--target", "twilio", str(path))
    error = json.loads(out)["error"]
    assert code == 1 and error["code"] == "target-digits-too-long"
    assert error["problems"][0]["path"] == "/Response/Dial/Number"


def test_fmt_cli_target_checks_the_size_of_what_it_prints() -> None:
    # under the limit as written, over it once every W is ww
    pad = TWILIO.max_bytes - 200
    play = b'<Play digits="' + b"W" * 250 + b'"/>'
    data = b"<Response><Say>" + b"a" * (pad - len(play)) + b"</Say>" + play + b"</Response>"
    assert len(data) <= TWILIO.max_bytes
    code, out, err = run("fmt", "--target", "twilio", "-", stdin=data)
    assert (code, out) == (1, "")
    assert "target-too-large" in err


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"{CORPUS} is absent")
def test_twilio_target_adds_nothing_to_twilios_own_corpus() -> None:
    files = sorted(CORPUS.glob("*.xml"))
    assert len(files) == 315
    for path in files:
        data = path.read_bytes()
        assert codes(data, target="twilio") == codes(data), path.name


def test_targets_are_data() -> None:
    assert set(TARGETS) == {"twilio"}
    rule = TWILIO.digits_rule("Number")
    assert rule is not None
    assert (rule.attribute, rule.max_length, dict(rule.rewrites)) == ("sendDigits", 32, {"W": "ww"})
