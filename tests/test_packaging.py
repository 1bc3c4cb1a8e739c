"""The wheel: built from a copy of the source, installed in a fresh venv, the demo run.

``pip wheel --no-deps`` builds the wheel from a copy of the project's files (so the
build writes nothing into the checkout); ``python -m venv`` makes a fresh venv with no
access to this one (no ``--system-site-packages``: it would see the editable install);
``pip install WHEEL`` takes the dependencies from PyPI (pip's own cache makes a second
run cheap).  Then ``voiceapp demo`` runs in an empty folder and must exit 0, show the
three calls in its ``/metrics`` scrape, and leave the folder empty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what a build needs; nothing else of the checkout is copied
SOURCES = ("pyproject.toml", "README.md", "voiceapp", "templates", "examples")


def _run(args: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEAPP_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the wheel installed; yields its bin folder."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = base / "dist"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), "."],
        cwd=source,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheels = list(dist.glob("voiceapp-*.whl"))
    assert len(wheels) == 1, wheels
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], cwd=base, timeout=120)
    assert made.returncode == 0, made.stderr[-3000:]
    pip = _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheels[0])],
        cwd=base,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    yield venv / "bin"


def test_every_code_package_is_in_the_wheel_list() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "voiceapp").rglob("__init__.py")
    }
    assert on_disk - listed == set(), "add these packages to [tool.setuptools] packages"
    data = {"voiceapp.templates", "voiceapp.examples"}
    assert listed - on_disk == data


@pytest.mark.timeout(900)
def test_wheel_in_a_fresh_venv_runs_the_demo_from_an_empty_folder(
    installed: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    # the installed package, not this checkout: its files are under the venv
    where = _run(
        [
            str(installed / "python"),
            "-c",
            "import voiceapp.apps.templates as t, voiceapp.cli.demo as d;"
            "print(t.BUILTIN_FOLDER); print(d.default_config())",
        ],
        cwd=empty,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    folder, config = where.stdout.split()
    assert folder.startswith(str(installed.parent)) and folder.endswith("voiceapp/templates/voice")
    assert config.startswith(str(installed.parent)) and config.endswith("examples/demo.toml")
    # the console's pages and assets are in the wheel
    console = _run(
        [
            str(installed / "python"),
            "-c",
            "import voiceapp.web.console as c, pathlib;"
            "print(sorted(p.name for p in pathlib.Path(c.TEMPLATES, 'console').iterdir()));"
            "print(sorted(p.name for p in pathlib.Path(c.STATIC).iterdir()))",
        ],
        cwd=empty,
        timeout=60,
    )
    assert console.returncode == 0, console.stderr
    pages, assets = console.stdout.splitlines()
    assert "'call.html'" in pages and "'login.html'" in pages and "'_lint.html'" in pages
    assert assets == "['console.css', 'console.js']"

    demo = _run(
        [str(installed / "voiceapp"), "demo", "--port", "0", "--receiver-port", "0"],
        cwd=empty,
        timeout=180,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "demo: 3 calls ended as expected" in demo.stdout
    # the demo scrapes its own /metrics at the end: the three calls are there
    assert 'voiceapp_calls{status="completed"} 3.0' in demo.stdout
    assert list(empty.iterdir()) == []  # the demo's store lives in a temporary folder
