"""No voiceapp module imports against the layer order of docs/architecture.md.

Every ``import`` and ``from … import`` in voiceapp/ counts, wherever it is written
(module level, inside a function, under ``TYPE_CHECKING``): a lazy import is still a
dependency.  A module may import its own unit and any unit of a lower layer; units of
the same layer are siblings and do not import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "voiceapp"

# The layers, lowest first: the same table as docs/architecture.md.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("schema", "phone", "destinations", "keys", "netguard", "signatures", "tokens", "logs", "sip"),
    ("dtmf", "document", "redact"),
    ("checks", "media"),
    ("settings_tables",),
    ("calls",),
    ("stores",),
    ("sessions", "limits", "metrics"),
    ("apps",),
    ("config",),
    ("web", "dialer"),
    ("flask", "testing"),
    ("cli",),
    ("__main__",),
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """``voiceapp.web.calls`` -> ``web``; the package itself is ``voiceapp``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "voiceapp"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported voiceapp module) for every import written in ``path``."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            if name == "voiceapp":
                # ``from voiceapp import schema`` imports the module voiceapp.schema
                for alias in node.names:
                    yield node.lineno, f"voiceapp.{alias.name}"
            else:
                yield node.lineno, name


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module_name(p)) for p in ROOT.rglob("*.py")} - {"voiceapp"}
    assert units <= set(RANK), f"units with no layer: {sorted(units - set(RANK))}"


def test_no_import_runs_against_the_layer_order() -> None:
    wrong: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        here = unit_of(module_name(path))
        for line, target in imports_of(path):
            if not target.startswith("voiceapp"):
                continue
            there = unit_of(target)
            if here == "voiceapp" or there == here:
                # the package root (lazy re-exports) sits on top; a unit imports itself
                continue
            if there == "voiceapp":
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: imports the package root")
            elif RANK[there] >= RANK[here]:
                wrong.append(
                    f"{path.relative_to(ROOT.parent)}:{line}: {here} (layer {RANK[here]}) "
                    f"imports {target} ({there}, layer {RANK[there]})"
                )
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("module", "unit"), [("voiceapp.web.calls", "web"), ("voiceapp", "voiceapp")]
)
def test_unit_of(module: str, unit: str) -> None:
    assert unit_of(module) == unit
