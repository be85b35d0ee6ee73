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
FOUNDATION = {
    "errors", "checks", "attributes", "config", "batching", "hosts", "progress", "__init__"
}  # fmt: skip
# stage -> the stages it may import (besides the foundation and itself)
ALLOWED: dict[str, set[str]] = {
    "io": set(),
    # A photo's face found and warped to a model's layout: before any network sees it.
    "faces": {"io"},
    "models": {"io", "faces"},
    "data": {"io"},
    # The learned inverter is trained after the cGMM is fitted, on its targets.
    "training": {"io", "faces", "models", "data", "cgmm"},
    "cgmm": {"io", "models", "data"},
    "inversion": {"io", "models"},
    "generation": {"io", "faces", "models", "data", "cgmm", "inversion"},
    "analysis": {"io", "faces", "models", "data", "cgmm", "inversion", "generation"},
    "serving": {"io", "faces", "models", "data", "cgmm", "inversion", "generation", "analysis"},
    "cli": {
        "io", "faces", "models", "data", "training", "cgmm", "inversion", "generation",
        "analysis", "serving",
    },
}  # fmt: skip


def _stage(module_path: Path) -> str:
    relative = module_path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _package_parts(path: Path) -> list[str]:
    """The dotted package a module lives in, as parts ("deepface_gen", "cgmm")."""
    try:
        relative = path.relative_to(PACKAGE)
    except ValueError:  # a file outside the package (the tests' examples): top level
        return ["deepface_gen"]
    return ["deepface_gen", *relative.parts[:-1]]


def _imported_stages(path: Path, package: list[str] | None = None) -> set[str]:
    stages = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:  # relative: resolve it
            home = package or _package_parts(path)
            parts = [*home[: len(home) - node.level + 1], *(node.module or "").split(".")]
            parts = [part for part in parts if part]
            if len(parts) > 1:
                stages.add(parts[1])
            else:  # from .. import x
                stages.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
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


def test_relative_imports_count_too(tmp_path):
    inside = PACKAGE / "models" / "example.py"  # never written: only its place matters
    assert _package_parts(inside) == ["deepface_gen", "models"]
    bad = tmp_path / "bad.py"
    bad.write_text("from ..generation.generator import FaceGenerator\nfrom . import vgg\n")
    assert _imported_stages(bad, package=["deepface_gen", "models"]) == {"generation", "models"}


def test_serving_loads_no_data_training_or_fitting():
    """A service loads a fitted model and samples from it: nothing of the data pipeline,
    the trainers or scikit-learn (the cGMM's fitting) comes with it."""
    import subprocess
    import sys

    probe = (
        "import sys, deepface_gen.serving.app\n"
        "print(sorted(m for m in sys.modules if m.startswith(("
        "'deepface_gen.data', 'deepface_gen.training', 'deepface_gen.cgmm.fitting', "
        "'sklearn'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]", loaded
