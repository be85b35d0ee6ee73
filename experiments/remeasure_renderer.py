"""Re-measure every result the learned renderer G draws, after shipping a new G.

    deepface-gen train-inverter --config configs/inverter_starter.py --workdir runs/g_long \
        --export-step 8000 --attach deepface_gen/assets/starter
    python experiments/remeasure_renderer.py [--only NAME,...] [--skip NAME,...] [--list]
    python experiments/readme_tables.py          # then the README and docs tables

Shipping G changes every face ``net`` and ``refine`` draw, every edit the ``change``
and ``polish`` renders draw, and the figures that show them; the measures that never
touch G (pixel optimization, the VAE, the classifier) stay. The timings of everything
G draws are taken again last, alone (a G of other widths draws at another speed). Each
step below is one benchmark run as documented in docs/, in order, each in its own
process; ``remeasure.json`` records how long each took and whether it succeeded, so the
next shipping can be planned (run it in the background: the whole list takes hours on
a 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"


class Step(NamedTuple):
    name: str
    argv: tuple[str, ...]  # an experiments/ script and its options
    writes: str  # what it refreshes under experiments/results


# The edit renders G draws, as bench_edit --modes names them (optimize rows stay): at the
# model's calibrated strengths and at raw ones (-raw), for comparison.
EDIT_MODES = (
    "net-raw@2.75,net,change-raw@1.5,change-raw@2,change-raw@2.75,change-raw@3.5,change@0.75,"
    "change,change@1.25,change-raw-global@2,change-raw-global@2.75,change-typical@1,"
    "polish-raw@2,polish-raw@2.75,polish"
)
FIGURE_MODES = "change,change-raw-global@2,polish,change@1.25,net,optimize"

STEPS = (
    Step("generate", ("bench_generate.py", "--merge", "--methods",
                      "net,net_unanchored,refine,conditional_net,conditional_refine,exemplar_net,"
                      "vae"),
         "generation.json (G's methods and the floors, incl. G's reconstruction), generate_*.png"),
    # The change render's calming, focus and strength are chosen for this G, and the gains
    # change-calibrated uses are measured through that render: both before the modes.
    Step("calm", ("bench_edit_calm.py",), "edit_calm.json"),
    Step("focus", ("bench_edit_focus.py",), "edit_focus.json, edit_focus.png"),
    Step("calibration", ("calibrate_edits.py", "--write"),
         "edit_calibration.json, .png, and the bundle's calibration"),
    Step("calibration_typical", ("calibrate_edits.py", "--level", "typical", "--name",
                                 "edit_calibration_typical"),
         "edit_calibration_typical.json, .png"),
    Step("edit_modes", ("bench_edit.py", "--modes", "--merge", "--mode-list", EDIT_MODES),
         "edit_modes.json, edit_modes.png"),
    Step("edit_table", ("bench_edit.py",), "edit.json, edit_counterfactuals.png"),
    Step("edit_figure", ("bench_edit.py", "--figure", "--mode-list", FIGURE_MODES),
         "edit_figure.png"),
    Step("variety", ("bench_variety.py",), "variety.json, variety.png"),
    Step("exemplars", ("bench_exemplars.py",), "exemplars.json"),
    Step("anchors", ("bench_anchors.py",), "anchors.json, anchors.png"),
    Step("anchors_border", ("bench_anchors.py", "--border", "0,4,8,16,32"),
         "anchors_border.json, anchors_border.png"),
    Step("align", ("bench_align.py", "--figure"), "align.json, align_figure.png"),
    Step("mixture", ("bench_mixture.py",), "mixture_sweep.json"),
    # About half an hour: it refits a copy of the model at 256 residual components.
    Step("family", ("bench_family.py",), "target_family.json, target_family.png"),
    Step("directions", ("bench_edit_directions.py",), "edit_directions.json"),
    Step("levels", ("bench_edit_levels.py",), "edit_levels.json"),
    Step("pivotal", ("bench_edit_pivotal.py",), "edit_pivotal.json"),
    Step("sweep", ("edit_sweep.py",), "edit_sweep.png"),
    # Needs Chromium and Selenium (the web page's screenshots); skip it where absent.
    Step("screenshots", ("serve_screenshots.py",), "serve_*.png"),
    # Timings, each alone on the machine: `net` and `refine` a face, the headline command
    # cold and warm, and the server under load.
    Step("cost", ("bench_generate.py", "--cost-only"), "generation.json's cost section"),
    Step("speed", ("bench_speed.py", "--tag", "cpu"), "speed_cpu.json"),
    Step("serve", ("bench_serve.py",), "serve.json"),
)  # fmt: skip


def chosen(only: str | None, skip: str | None) -> list[Step]:
    """The steps to run, in order; unknown names are refused."""
    names = [step.name for step in STEPS]
    for given in (only, skip):
        unknown = sorted(set(filter(None, (given or "").split(","))) - set(names))
        if unknown:
            raise SystemExit(f"unknown step(s) {', '.join(unknown)}; the steps: {', '.join(names)}")
    keep = set(only.split(",")) if only else set(names)
    drop = set(skip.split(",")) if skip else set()
    return [step for step in STEPS if step.name in keep - drop]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=None, help="comma-separated step names")
    parser.add_argument("--skip", default=None, help="comma-separated step names")
    parser.add_argument("--list", action="store_true", help="list the steps and exit")
    args = parser.parse_args()
    steps = chosen(args.only, args.skip)
    if args.list:
        for step in steps:
            print(f"{step.name:12s} python experiments/{' '.join(step.argv)}")
            print(f"{'':12s} -> {step.writes}")
        return
    log_file = RESULTS / "remeasure.json"
    for i, step in enumerate(steps, 1):
        print(
            f"[{i}/{len(steps)}] {step.name}: python experiments/{' '.join(step.argv)}", flush=True
        )
        began = time.perf_counter()
        code = subprocess.call([sys.executable, str(ROOT / "experiments" / step.argv[0]),
                                *step.argv[1:]], cwd=ROOT)  # fmt: skip
        seconds = round(time.perf_counter() - began, 1)
        # Read again before each write: two chains of steps may run side by side.
        log = json.loads(log_file.read_text()) if log_file.exists() else {}
        log[step.name] = {"command": " ".join(step.argv), "seconds": seconds, "exit_status": code,
                          "finished": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
        log_file.write_text(json.dumps(log, indent=2) + "\n")
        print(f"[{i}/{len(steps)}] {step.name}: exit {code} after {seconds:.0f} s", flush=True)
        if code:
            raise SystemExit(f"{step.name} failed (exit {code}); fix it and rerun with --only")


if __name__ == "__main__":
    main()
