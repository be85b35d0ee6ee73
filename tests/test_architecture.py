"""The layout is the architecture: stages in subpackages, data flowing one way.

Each subpackage may import only the stages below it (and the foundation modules),
so a reader can trust the folder names: nothing in ``models/`` reaches into
``generation/``, and nothing but the command line imports ``cli/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deepface_gen"
FOUNDATION = {"errors", "checks", "attributes", "config", "batching", "__init__"}
# stage -> the stages it may import (besides the foundation and itself)
ALLOWED: dict[str, set[str]] = {
    "io": set(),
    "models": {"io"},
    "data": {"io"},
    # The learned inverter is trained after the cGMM is fitted, on its targets.
    "training": {"io", "models", "data", "cgmm"},
    "cgmm": {"io", "models", "data"},
    "inversion": {"io", "models"},
    "generation": {"io", "models", "data", "cgmm", "inversion"},
    "analysis": {"io", "models", "data", "cgmm", "inversion", "generation"},
    "serving": {"io", "models", "data", "cgmm", "inversion", "generation", "analysis"},
    "cli": {
        "io", "models", "data", "training", "cgmm", "inversion", "generation", "analysis", "serving"
    },
}  # fmt: skip


def _stage(module_path: Path) -> str:
    relative = module_path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_stages(path: Path) -> set[str]:
    stages = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "deepface_gen":
                continue
            if len(parts) > 1:
                stages.add(parts[1])
            else:  # from deepface_gen import x, y
                stages.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "deepface_gen" and len(parts) > 1:
                    stages.add(parts[1])
    return stages


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_lives_in_a_known_stage():
    stages = {_stage(p) for p in MODULES}
    assert stages <= FOUNDATION | set(ALLOWED), stages - FOUNDATION - set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    stage = _stage(path)
    if stage == "__init__":
        return  # the package facade re-exports lazily from any stage
    imported = _imported_stages(path) - FOUNDATION - {stage, "__version__"}
    allowed = set() if stage in FOUNDATION else ALLOWED[stage]
    assert imported <= allowed, f"{stage} must not import {sorted(imported - allowed)}"


def test_the_rule_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from deepface_gen.generation.generator import FaceGenerator\n")
    assert "generation" in _imported_stages(bad) - ALLOWED["models"]
