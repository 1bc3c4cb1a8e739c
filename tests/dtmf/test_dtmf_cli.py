from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from lxml import etree

from voiceapp.cli import main
from voiceapp.dtmf import parse_digits
from voiceapp.dtmf.audio import decode, read_wav
from voiceapp.dtmf.svg import render_svg

SVG = "{http://www.w3.org/2000/svg}"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voiceapp", "digits", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_readable_timeline_exit_0() -> None:
    result = run("WWWW101")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("WWWW101: 3 tones, ")
    assert "wait" in lines[1] and "4000 ms" in lines[1]
    assert [line.split()[3] for line in lines[2:]] == ["1", "0", "1"]


def test_json_output_is_the_documented_shape() -> None:
    result = run("--json", "--tone-ms", "80", "--gap-ms", "120", "1w2")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "digits": "1w2",
        "duration_ms": 660,
        "events": [
            {"type": "tone", "digit": "1", "start_ms": 0, "duration_ms": 80},
            {"type": "wait", "start_ms": 80, "duration_ms": 500},
            {"type": "tone", "digit": "2", "start_ms": 580, "duration_ms": 80},
        ],
    }


def test_invalid_digits_exit_1_with_index_on_stderr() -> None:
    result = run("12x9")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error at index 2: ")


def test_invalid_digits_with_json_print_the_error_as_json() -> None:
    result = run("--json", "12x9")
    assert result.returncode == 1
    assert result.stderr == ""
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "digits-bad-char" and error["index"] == 2
    assert error["field"] is None and "'x'" in error["message"]
    usage = CliRunner().invoke(main, ["digits", "--json", "--tone-ms", "5", "1"])
    assert usage.exit_code == 2  # the same status as without --json
    assert json.loads(usage.stdout)["error"]["field"] == "--tone-ms"


def test_bad_suffix_reports_its_index() -> None:
    result = CliRunner().invoke(main, ["digits", "123@5"])
    assert result.exit_code == 1
    assert result.output.startswith("error at index 4: ")


def test_out_of_range_tone_length_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["digits", "--tone-ms", "5", "1"])
    assert result.exit_code == 2
    assert "--tone-ms" in result.output


def test_wav_and_svg_files(tmp_path: Path) -> None:
    wav, svg = tmp_path / "d.wav", tmp_path / "d.svg"
    result = CliRunner().invoke(main, ["digits", "--wav", str(wav), "--svg", str(svg), "#w9"])
    assert result.exit_code == 0, result.output
    samples, rate = read_wav(wav)
    assert rate == 8000
    decoded = decode(samples)
    expected = parse_digits("#w9").tones
    assert [d.digit for d in decoded] == ["#", "9"]
    assert all(abs(d.start_ms - t.start_ms) <= 10 for d, t in zip(decoded, expected, strict=True))
    assert len(samples) == parse_digits("#w9").duration_ms * 8
    root = etree.parse(str(svg)).getroot()
    assert root.tag == f"{SVG}svg"
    assert len(root.findall(f"{SVG}rect[@class='tone']")) == 2


def test_svg_is_well_formed_with_bars_in_time_order() -> None:
    timeline = parse_digits("WWWW1*#@200")
    root = etree.fromstring(render_svg(timeline).encode())
    tones = root.findall(f"{SVG}rect[@class='tone']")
    waits = root.findall(f"{SVG}rect[@class='wait']")
    assert len(tones) == 3 and len(waits) == 1
    xs = [float(r.get("x", "")) for r in tones]
    assert xs == sorted(xs) and float(waits[0].get("x", "")) < xs[0]
    widths = {float(r.get("width", "")) for r in tones}
    assert len(widths) == 1  # all tones are @200 ms
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert {"1", "*", "#"} <= set(labels)
    assert any(label and label.endswith(" s") for label in labels)  # axis in seconds
