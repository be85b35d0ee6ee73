"""The README and the docs cannot drift: their tables are rendered from the benchmarks'
JSON files, no template placeholder is left in them, every local link points at a file
in the repo, and the README stays a page long."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)\)")


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
    for page in PAGES:
        leftovers = re.findall(r"\{[a-z_]+\}", _prose(page.read_text()))
        assert not leftovers, f"unfilled placeholders in {page.name}: {leftovers}"


def test_the_readme_fits_on_a_page():
    assert len(README.splitlines()) <= 200


def test_generated_tables_match_their_json():
    tables = _tables_module()
    names = set()
    for page in PAGES:
        for _, name, content, _ in tables.BLOCK.findall(page.read_text()):
            names.add(name)
            assert content == tables.RENDERERS[name](), (
                f"{page.name} block {name!r} differs from experiments/results: "
                "run python experiments/readme_tables.py"
            )
    assert names >= {"generation", "generation_targets", "edit", "cost", "starter_eval"}
    assert names == set(tables.RENDERERS), (
        f"renderers no page uses: {set(tables.RENDERERS) - names}"
    )


def test_the_check_catches_a_changed_number():
    tables = _tables_module()
    block = tables.BLOCK.search(README)
    tampered = README.replace(block.group(3), block.group(3).replace("0.", "9.", 1))
    assert tables.render_readme(tampered) != tampered


LINKS = sorted({(page.relative_to(ROOT).as_posix(), target) for page in PAGES
                for target in LINK.findall(page.read_text())})  # fmt: skip


@pytest.mark.parametrize(("page", "target"), LINKS, ids=lambda x: str(x))
def test_local_links_point_inside_the_repository(page, target):
    if re.match(r"[a-z]+://", target):
        return
    resolved = ((ROOT / page).parent / target).resolve()
    assert resolved.is_relative_to(ROOT), f"{page}: {target} points outside the repository"
    assert resolved.exists(), f"{page}: {target} does not exist"


def test_nothing_a_user_reads_points_outside_the_repository():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "../shared" not in path.read_text(), f"{path.name} points at ../shared"
