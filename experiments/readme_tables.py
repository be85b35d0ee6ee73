"""The README's tables, rendered from the benchmarks' JSON files in experiments/results.

    python experiments/readme_tables.py          # rewrite every generated block
    python experiments/readme_tables.py --check  # exit 1 if the README has drifted

A block in README.md looks like::

    <!-- generated: NAME -->
    ...
    <!-- end generated -->

and its content is exactly ``RENDERERS[NAME]()``. tests/test_readme.py runs the check,
so a table can only change by re-running its benchmark.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- end generated -->)", re.S)


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


METHOD_ORDER = ("conditional", "guided", "guided_3", "guided_10", "paper", "baseline", "vae",
                "hybrid")  # fmt: skip


def generation() -> str:
    """Faithfulness, realism, diversity and cost per generation method."""
    report = _load("generation.json")
    rows = []
    for name in (m for m in METHOD_ORDER if m in report["methods"]):
        m = report["methods"][name]
        rows.append([name, f"{m['faithfulness']:.3f}", f"{m['frechet_distance']:.0f}",
                     f"{m['diversity_pixels']:.3f}", f"{m['diversity_features']:.3f}",
                     f"{1.0 / m['seconds_per_face_batched_16']:.3g}"])  # fmt: skip
    rows.append(["*real portraits (floor)*", "", f"{report['realism_floor']:.0f}", "", "", ""])
    rows.append(["*the mean face, 128 copies*", "", f"{report['realism_mean_face']:.0f}", "", "",
                 ""])  # fmt: skip
    header = ["method", "faithfulness", "realism (FD)", "diversity (pixels)",
              "diversity (features)", "faces/s (batched 16)"]  # fmt: skip
    return f"*Measured on: {report['device']}.*\n\n" + _table(header, rows)


def generation_per_attribute() -> str:
    """Judge faithfulness per requested attribute, per method."""
    report = _load("generation.json")
    names = [m for m in METHOD_ORDER if m in report["methods"]]
    attributes = sorted({a for m in names for a in report["methods"][m]["per_attribute"]})
    rows = [
        [a] + [f"{report['methods'][m]['per_attribute'].get(a, float('nan')):.2f}" for m in names]
        for a in attributes
    ]
    return _table(["attribute", *names], rows)


def cost() -> str:
    """The headline command's cost, per device that ran experiments/bench_speed.py."""
    rows = []
    for path in sorted(RESULTS.glob("speed_*.json")):
        r = json.loads(path.read_text())
        batch = next(k for k in r if k.startswith("warm_faces_per_s_batched_"))
        vae = next(k for k in r if k.startswith("vae_faces_per_s_batched_"))
        rows.append([r["device"], f"{r['cli_cold_first_ever_s']:.1f} s",
                     f"{r['cli_cold_cache_warm_s']:.1f} s", f"{r['cli_cold_cache_off_s']:.1f} s",
                     f"{r['warm_s_per_face']:.2f} s", f"{r[batch]:.1f}",
                     f"{r['batching_speedup']:.1f}x", f"{r[vae]:.0f}", str(r["warm_compiles"]),
                     f"{r['peak_rss_mb']:.0f} MB"])  # fmt: skip
    header = ["device", "CLI, first ever", "CLI, cache warm", "CLI, cache off", "warm, 1 face",
              "warm faces/s (batch 16)", "batching gain", "VAE faces/s (batch 16)",
              "compiles when warm", "peak memory"]  # fmt: skip
    return _table(header, rows)


def invert_vgg16() -> str:
    """Real-photo inversion with VGG16 per layer."""
    report = _load("invert_vgg16.json")
    rows = [[layer, f"{r['normalized_error']:.3f}", f"{r['ssim']:.3f}", f"{r['ms_per_step']:.0f}"]
            for layer, r in report["layers"].items()]  # fmt: skip
    return _table(["layer", "normalized error", "SSIM", "ms/step"], rows)


def render_loop_speed() -> str:
    """The render loop against a plain hand-written JAX loop doing the same work."""
    rows = []
    for path in sorted(RESULTS.glob("invert_speed_*.json")):
        r = json.loads(path.read_text())
        s = r["speed"]
        rows.append([r["device"], f"{s['render_same_work']['ms_per_step']:.3g}",
                     f"{s['render_sweep_settings']['ms_per_step']:.3g}",
                     f"{s['reference_loop']['ms_per_step']:.3g}",
                     f"{s['ratio_render_to_reference']:.2f}"])  # fmt: skip
    header = ["device", "render loop (same work), ms/step",
              "render loop (pyramid + priors), ms/step", "plain JAX loop, ms/step",
              "ratio"]  # fmt: skip
    return _table(header, rows)


def starter_eval() -> str:
    """The starter's per-attribute accuracy on a fresh synthetic test stream."""
    report = _load("starter_eval.json")
    rows = [[a, f"{r['balanced_accuracy']:.3f}", f"{r['accuracy']:.3f}"]
            for a, r in sorted(report["per_attribute"].items())]  # fmt: skip
    n = len(report["per_attribute"])
    rows.append([f"**mean ({n} attributes)**", f"**{report['mean_balanced_accuracy']:.3f}**",
                 f"**{report['mean_accuracy']:.3f}**"])  # fmt: skip
    return _table(["attribute", "balanced acc.", "accuracy"], rows)


def edit() -> str:
    """Edits against the renderer's true counterfactuals, per attribute."""
    report = _load("edit.json")
    keys = [("distance_edit_to_counterfactual", 3), ("distance_input_to_counterfactual", 3),
            ("judge_sees_requested_input", 2), ("judge_sees_requested_edit", 2),
            ("judge_sees_requested_counterfactual", 2), ("others_moved_edit", 3),
            ("others_moved_counterfactual", 3), ("identity_cosine_edit", 3),
            ("identity_cosine_counterfactual", 3)]  # fmt: skip
    rows = [[name] + [f"{r[k]:.{d}f}" for k, d in keys]
            for name, r in report["per_attribute"].items()]  # fmt: skip
    rows.append(["**mean**"] + [f"**{report['mean'][k]:.{d}f}**" for k, d in keys])
    header = ["attribute", "edit→truth", "input→truth", "judge: input", "judge: edit",
              "judge: truth", "others moved: edit", "others moved: truth", "identity: edit",
              "identity: truth"]  # fmt: skip
    return _table(header, rows)


def edit_ablation() -> str:
    """What the change-smoothness prior and the strength do to edits (means over 8 attributes)."""
    report = _load("edit_ablation.json")
    rows = [[f"{r['strength']:g}", f"{r['smoothness']:g}",
             f"{r['mean']['judge_sees_requested_edit']:.2f}",
             f"{r['mean']['others_moved_edit']:.3f}", f"{r['mean']['identity_cosine_edit']:.3f}",
             f"{r['mean']['distance_edit_to_counterfactual']:.3f}"]
            for r in report["settings"]]  # fmt: skip
    header = ["strength", "change smoothness", "judge sees the change", "others moved",
              "identity", "edit→truth"]  # fmt: skip
    return _table(header, rows)


def domain() -> str:
    """How often the out-of-domain check fires, per kind of image."""
    report = _load("domain.json")
    rows = [[name, str(r["count"]), f"{r['median_distance']:.2f}", f"{r['flagged']:.2f}"]
            for name, r in report["sets"].items()]  # fmt: skip
    table = _table(["images", "count", "median domain distance", "flagged"], rows)
    return f"*Threshold: {report['threshold']:.2f}.*\n\n" + table


def bad_input() -> str:
    """How the bad-input battery ended, case by case counted."""
    r = _load("bad_input_battery.json")
    order = ("refused", "handled", "traceback", "wrong")
    rows = [[k, str(r["counts"].get(k, 0))] for k in order]
    return _table(["outcome", f"of {r['cases']} bad inputs"], rows)


def synth_speed() -> str:
    """Renderer throughput from experiments/bench_synth.py."""
    r = _load("synth.json")
    row = [r["device"], str(r["size"]), str(r["batch"]), f"{r['portraits_per_s']:.0f}"]
    return _table(["device", "size", "batch", "portraits/s (warm)"], [row])


RENDERERS: dict[str, Callable[[], str]] = {
    f.__name__: f
    for f in (
        generation,
        generation_per_attribute,
        cost,
        invert_vgg16,
        render_loop_speed,
        starter_eval,
        edit,
        edit_ablation,
        synth_speed,
        domain,
        bad_input,
    )  # fmt: skip
}


def render_readme(text: str) -> str:
    """The README with every generated block rendered afresh from the JSON files."""

    def fill(match: re.Match) -> str:
        name = match.group(2)
        if name not in RENDERERS:
            raise KeyError(f"README block {name!r} has no renderer; known: {', '.join(RENDERERS)}")
        return match.group(1) + RENDERERS[name]() + match.group(4)

    return BLOCK.sub(fill, text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the README has drifted")
    args = parser.parse_args()
    text = README.read_text()
    rendered = render_readme(text)
    if args.check:
        sys.exit(0 if rendered == text else 1)
    README.write_text(rendered)
    print(f"rendered {len(BLOCK.findall(rendered))} blocks into {README}")


if __name__ == "__main__":
    main()
