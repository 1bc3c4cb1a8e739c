"""The public surface is the ``__all__`` of a few modules (docs/architecture.md)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "voiceapp"

PUBLIC = (
    "voiceapp",
    "voiceapp.errors",
    "voiceapp.document",
    "voiceapp.schema",
    "voiceapp.dtmf",
    "voiceapp.phone",
    "voiceapp.apps",
    "voiceapp.config",
    "voiceapp.web",
    "voiceapp.cli",
    "voiceapp.flask",
    "voiceapp.testing",
)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _declares_all(path: Path) -> bool:
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets)
        for node in ast.parse(path.read_text(encoding="utf-8")).body
    )


def test_only_the_public_modules_declare_all() -> None:
    declaring = {_module(p) for p in ROOT.rglob("*.py") if _declares_all(p)}
    assert declaring == set(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    missing = [item for item in module.__all__ if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"


def test_the_surface_stays_small() -> None:
    # 336 names in 54 lists before issue 11; since then the testing kit, voiceapp.flask
    # and the SIP/media errors joined the surface
    names = {f"{m}.{n}" for m in PUBLIC for n in importlib.import_module(m).__all__}
    assert len(names) < 175, len(names)
