"""Per-attribute strengths: does calibrating strength per attribute beat one strength for
all (issue #23, item 4)?

    python experiments/bench_edit_levels.py [--n 16] [--seed 9000] [--out experiments/results]

Attributes differ in how far along their predicted change a portrait must move before
the classifier reads it (``calibrate_edits.py``). A calibration at level L gives each
attribute the raw strength at which the generating classifier's mean probability of the
requested value first reaches L (``calibration.crossing``, at most the calibration's
largest strength, 4). The curves are read on portraits drawn apart from the
benchmark's (``--seed``) and the strengths they give are measured there and on
``bench_edit.py``'s own portraits, beside one strength for every attribute; all with
the default ``change`` render and focus. Per setting, means over
``bench_edit.ATTRIBUTES`` of ``bench_edit_calm.MEASURES``. Writes ``edit_levels.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from bench_edit import ATTRIBUTES, IdentityMeasure
from bench_edit_calm import MEASURES, cases, drawn_changes, edit_measures, sweep_arguments

from deepface_gen.attributes import ATTRIBUTE_INDEX
from deepface_gen.generation import defaults
from deepface_gen.generation.calibration import RAW_STRENGTHS, crossing
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.generation.renderers import paste_drawn_change
from deepface_gen.models.classifier import load_classifier

CURVE_STRENGTHS = (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
UNIFORM = (2.0, 2.5, 2.75, 3.0, 3.5, 4.0)
LEVELS = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9)
BENCHMARK_SEED = 5150  # bench_edit.py's portraits


def edited_images(generator, case, strengths) -> list[np.ndarray]:
    """``case``'s portraits edited (``change`` render, default focus) at each strength."""
    pixels = jnp.asarray(case.images, jnp.float32)
    before, afters = drawn_changes(
        generator, case.images, case.had, case.name, strengths, defaults.EDIT_FOCUS
    )
    return [
        np.asarray(paste_drawn_change(pixels, before, after)).round().astype(np.uint8)
        for after in afters
    ]


def level_strengths(generator, held_apart: list) -> dict:
    """{level: {attribute: raw strength}} from the generating classifier's curves on the
    ``held_apart`` cases."""
    chosen: dict = {f"{level:g}": {} for level in LEVELS}
    for case in held_apart:
        column = ATTRIBUTE_INDEX[case.name]
        curve = []
        for edited in edited_images(generator, case, CURVE_STRENGTHS):
            p = generator.classifier.probabilities(edited)[:, column]
            curve.append(float(np.mean(np.where(case.had, 1.0 - p, p))))
        for level in LEVELS:
            strength = min(crossing(CURVE_STRENGTHS, curve, level), RAW_STRENGTHS[-1])
            chosen[f"{level:g}"][case.name] = round(strength, 3)
        print(f"{case.name}: curve {np.round(curve, 2)}", flush=True)
    return chosen


def measured(generator, judge, identity, edit_cases, levels: dict) -> dict:
    """{"uniform": {strength: means}, "levels": {level: means}} over ``edit_cases``
    (``bench_edit_calm.cases``)."""
    rows: dict = {"uniform": {}, "levels": {}}
    for case in edit_cases:
        own = {level: by_name[case.name] for level, by_name in levels.items()}
        strengths = sorted(set(UNIFORM) | set(own.values()))
        results = dict(zip(strengths, edited_images(generator, case, strengths), strict=True))
        for strength in UNIFORM:
            row = edit_measures(case, results[strength], judge, identity)
            rows["uniform"].setdefault(f"{strength:g}", []).append(row)
        for level, strength in own.items():
            row = edit_measures(case, results[strength], judge, identity)
            rows["levels"].setdefault(level, []).append(row)
        print(f"{case.name} measured", flush=True)
    return {
        kind: {key: {m: float(np.mean([r[m] for r in per])) for m in MEASURES}
               for key, per in by_key.items()}
        for kind, by_key in rows.items()
    }  # fmt: skip


def main() -> None:
    args = sweep_arguments(__doc__)  # --seed: the portraits the strengths are read on
    generator = FaceGenerator.load(args.model)
    judge, identity = load_classifier(args.judge), IdentityMeasure()
    held_apart = list(cases(generator, judge, identity, args.n, args.seed))  # read once
    levels = level_strengths(generator, held_apart)
    sets = {"held_apart": args.seed, "benchmark": BENCHMARK_SEED}
    means = {
        "held_apart": measured(generator, judge, identity, held_apart, levels),
        "benchmark": measured(generator, judge, identity,
                              cases(generator, judge, identity, args.n, BENCHMARK_SEED), levels),
    }  # fmt: skip
    for name, by_kind in means.items():
        for kind, by_key in by_kind.items():
            for key, mean in by_key.items():
                print(f"{name:10s} {kind:8s} {key:>5}",
                      " ".join(f"{m} {v:.3f}" for m, v in mean.items()))  # fmt: skip
    payload = {"n": args.n, "seeds": sets, "attributes": list(ATTRIBUTES),
               "focus": defaults.EDIT_FOCUS, "strengths": levels, "measured": means}  # fmt: skip
    out = Path(args.out) / "edit_levels.json"
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
