"""The README cannot drift: its tables are rendered from the benchmarks' JSON files,
no template placeholder is left in it, and every local link points into the repo."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _tables_module():
    spec = importlib.util.spec_from_file_location(
        "readme_tables", ROOT / "experiments" / "readme_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prose(text: str) -> str:
    """The README without fenced code blocks and inline code."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def test_no_template_placeholder_is_left():
    leftovers = re.findall(r"\{[a-z_]+\}", _prose(README))
    assert not leftovers, f"unfilled placeholders in README.md: {leftovers}"


def test_generated_tables_match_their_json():
    tables = _tables_module()
    blocks = tables.BLOCK.findall(README)
    assert {name for _, name, _, _ in blocks} >= {"generation", "edit", "cost", "starter_eval"}
    for _, name, content, _ in blocks:
        assert content == tables.RENDERERS[name](), (
            f"README block {name!r} differs from experiments/results: "
            "run python experiments/readme_tables.py"
        )


def test_the_check_catches_a_changed_number():
    tables = _tables_module()
    block = tables.BLOCK.search(README)
    tampered = README.replace(block.group(3), block.group(3).replace("0.", "9.", 1))
    assert tables.render_readme(tampered) != tampered


@pytest.mark.parametrize("target", sorted(set(re.findall(r"\]\(([^)#\s]+)\)", README))), ids=str)
def test_local_links_point_inside_the_repository(target):
    if re.match(r"[a-z]+://", target):
        return
    assert not target.startswith(".."), f"{target} points outside the repository"
    assert (ROOT / target).exists(), f"{target} does not exist"


def test_nothing_a_user_reads_points_outside_the_repository():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "../shared" not in path.read_text(), f"{path.name} points at ../shared"
