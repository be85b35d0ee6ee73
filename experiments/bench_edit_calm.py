"""How the `change` render draws a change: calm detail, mask, opacity and strength (#23).

    python experiments/bench_edit_calm.py [--n 16] [--seed 9000] [--out experiments/results]

The `change` render adds G's drawing of an edit (G on the moved activations minus G on
the portrait's own) to the portrait where a soft mask says the change lies. As drawn,
that difference carries G's texture as speckle (a hair colour comes out as coloured
noise). ``edit.calm_change`` keeps the change blurred by a small Gaussian plus a share
("detail") of what the blur removed; where the change is large enough to cover what
lay beneath (a hat over hair), it can be drawn opaque, as G draws it, instead of added
(``edit.opacity``). This sweeps the blur, the detail, the mask's thresholds and the
opacity's at several strengths, on portraits drawn apart from ``bench_edit.py``'s
(``--seed``, not its 5150), so the setting is chosen on one set and reported on
another. Per setting, means over ``bench_edit.ATTRIBUTES``: the share of edits nearer
the true edit than the input, the distance to it, the share in which the independent
judge sees the requested value, how much the other attributes moved and the share
still verified as the same person. G runs twice per portrait and strength, once for
every setting. The chosen setting is the one with the most edits nearer the truth among
those at least as good as the change as drawn at strength 1.5 (the old default) on the
other three measures (``choose``). Writes ``edit_calm.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from bench_edit import ATTRIBUTES, IdentityMeasure, counterfactuals, rms

from deepface_gen.attributes import ATTRIBUTE_INDEX, CELEBA_ATTRIBUTES
from deepface_gen.data import synth
from deepface_gen.generation.editing import moved_targets
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.generation.renderers import SHIPPED_CHANGE, ChangeStyle, paste_drawn_change
from deepface_gen.generation.requests import parse_descriptions
from deepface_gen.models.classifier import load_classifier

STRENGTHS = (1.5, 1.75, 2.0, 2.25)
# Each a renderers.ChangeStyle; the first is the change as drawn before calming, with
# its mask. Opaque from T draws the change as G draws it where its blurred magnitude
# passes T, fully at 2T (pixel units). Blurs are in pixels at 64.
AS_DRAWN = ChangeStyle(smooth=0.0, detail=1.0, mask=(0.1, 0.35), opaque=None)
SETTINGS = [AS_DRAWN] + [
    ChangeStyle(sigma / 64, detail, mask, None if opaque is None else (opaque, 2 * opaque))
    for sigma, detail, mask, opaque in itertools.product(
        (1.0, 1.5), (0.5, 0.75), ((0.1, 0.35), (0.2, 0.5)), (None, 25.0, 35.0)
    )
]
MEASURES = ("nearer_truth_than_input", "distance", "judge_sees", "others_moved", "same_person")


def setting_name(style: ChangeStyle) -> str:
    cover = "" if style.opaque is None else f", opaque from {style.opaque[0]:g}"
    low, high = style.mask
    return f"smooth {style.smooth * 64:g}px, detail {style.detail:g}, mask {low:g}-{high:g}{cover}"


def drawn_changes(
    generator, images, had, name, strengths, focus: float = 0.0
) -> tuple[jax.Array, jax.Array]:
    """(before (N, S, S, 3), afters (K, N, S, S, 3)): G on each portrait's activations,
    read once, and on them moved to flip ``name`` ("+" where the portrait lacks it, "-"
    where it has it) at each of the K ``strengths``, the change focused by ``focus``
    (``edit.focused_ridge``)."""
    layer = generator.cgmm.layer
    pixels = jnp.asarray(images, jnp.float32)
    seen = generator.classifier.outputs(pixels, taps=(layer,))
    before = generator.inverter.render(seen[layer])
    afters = jnp.zeros((len(strengths), *before.shape))
    words = name.lower().replace("_", " ")
    for present in (False, True):
        rows = np.flatnonzero(had == present)
        if len(rows):
            spec = parse_descriptions(f"{'-' if present else '+'}{words}",
                                      generator.known_attributes)[0]  # fmt: skip
            sub = {k: np.asarray(v)[rows] for k, v in seen.items()}
            target = moved_targets(generator, sub, layer, spec, jnp.asarray(strengths), None, focus)
            drawn = generator.inverter.render(target)  # portrait-major: (rows * K, ...)
            drawn = drawn.reshape(len(rows), len(strengths), *before.shape[1:])
            afters = afters.at[:, rows].set(jnp.swapaxes(drawn, 0, 1))
    return before, afters


class Case(NamedTuple):
    """One attribute's portraits, their true counterfactuals and what every edit of them
    is measured against."""

    name: str
    images: np.ndarray
    had: np.ndarray
    truth: np.ndarray
    seen_input: np.ndarray
    embedded: np.ndarray


def cases(generator, judge, identity, n: int, seed: int):
    """Per attribute of ``bench_edit.ATTRIBUTES``, ``n`` synthetic portraits (seed
    ``seed + i``) with their counterfactuals (the attribute flipped), as ``Case``s."""
    for i, name in enumerate(ATTRIBUTES):
        portraits = synth.sample_portraits(jax.random.key(seed + i), n, size=generator.size)
        images = synth.to_uint8(portraits.images)
        had = np.asarray(portraits.attributes[:, ATTRIBUTE_INDEX[name]]) > 0
        truth = counterfactuals(portraits, name, generator.size)
        seen_input = judge.outputs(images)["probabilities"]
        yield Case(name, images, had, truth, seen_input, identity.model.embed(images))


def edit_measures(case: Case, edited: np.ndarray, judge, identity) -> dict:
    """``MEASURES`` of one set of edits (uint8, like ``case.images``) of ``case``."""
    target = CELEBA_ATTRIBUTES.index(case.name)
    others = [CELEBA_ATTRIBUTES.index(a) for a in judge.known_attributes if a != case.name]
    p = judge.outputs(edited)["probabilities"]
    distance = rms(edited, case.truth)
    same = identity.cosine(case.embedded, edited) >= identity.threshold
    return {
        "nearer_truth_than_input": float(np.mean(distance < rms(case.images, case.truth))),
        "distance": float(distance.mean()),
        "judge_sees": float(np.mean((p[:, target] > 0.5) == ~case.had)),
        "others_moved": float(np.abs(p - case.seen_input)[:, others].mean()),
        "same_person": float(np.mean(same)),
    }


def sweep(generator, judge, identity, n: int, seed: int) -> dict:
    """{strength: {setting: {measure: mean over the attributes}}}."""
    per = {s: {k: [] for k in range(len(SETTINGS))} for s in STRENGTHS}
    for case in cases(generator, judge, identity, n, seed):
        pixels = jnp.asarray(case.images, jnp.float32)
        before, afters = drawn_changes(generator, case.images, case.had, case.name, STRENGTHS)
        for strength, after in zip(STRENGTHS, afters, strict=True):
            for k, setting in enumerate(SETTINGS):
                drawn = paste_drawn_change(pixels, before, after, setting)
                edited = np.asarray(drawn).round().astype(np.uint8)
                per[strength][k].append(edit_measures(case, edited, judge, identity))
        print(f"{case.name} done", flush=True)
    return {
        f"{s:g}": {
            setting_name(SETTINGS[k]): {m: float(np.mean([r[m] for r in rows])) for m in MEASURES}
            for k, rows in per[s].items()
        }
        for s in STRENGTHS
    }


def choose(results: dict, baseline: tuple[str, str]) -> dict:
    """The setting (and strength) with the most edits nearer the truth among those at
    least as good as ``baseline`` (strength, setting name: the old default) on every
    other measure: the judge sees as many, as many stay the same person, the other
    attributes move no more."""
    base = results[baseline[0]][baseline[1]]
    fair = [
        (mean["nearer_truth_than_input"], strength, setting)
        for strength, rows in results.items()
        for setting, mean in rows.items()
        if mean["judge_sees"] >= base["judge_sees"]
        and mean["same_person"] >= base["same_person"]
        and mean["others_moved"] <= base["others_moved"]
    ]
    _, strength, setting = max(fair)
    return {
        "strength": float(strength),
        "setting": setting,
        "mean": results[strength][setting],
        "baseline": {"strength": float(baseline[0]), "setting": baseline[1], "mean": base},
    }


def sweep_arguments(doc: str) -> argparse.Namespace:
    """The options a sweep on held-apart portraits takes (this bench's and
    ``bench_edit_focus.py``'s)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--model", default="starter")
    parser.add_argument("--judge", default="experiments/models/independent")
    parser.add_argument("--n", type=int, default=16, help="portraits per attribute")
    parser.add_argument("--seed", type=int, default=9000, help="apart from bench_edit's 5150")
    parser.add_argument("--out", default="experiments/results")
    return parser.parse_args()


def print_and_choose(results: dict, baseline: tuple[str, str]) -> dict:
    """Print every row of a sweep's ``results`` and return what ``choose`` picks."""
    for strength, rows in results.items():
        for setting, mean in rows.items():
            print(f"{strength:>5} {setting:38s}", " ".join(f"{v:.3f}" for v in mean.values()))
    chosen = choose(results, baseline)
    print("chosen:", chosen["strength"], chosen["setting"], chosen["mean"])
    return chosen


def main() -> None:
    args = sweep_arguments(__doc__)
    generator = FaceGenerator.load(args.model)
    results = sweep(generator, load_classifier(args.judge), IdentityMeasure(), args.n, args.seed)
    chosen = print_and_choose(results, (f"{STRENGTHS[0]:g}", setting_name(AS_DRAWN)))
    payload = {"n": args.n, "seed": args.seed, "attributes": list(ATTRIBUTES),
               "measures": list(MEASURES), "strengths": results, "chosen": chosen,
               "shipped": setting_name(SHIPPED_CHANGE)}  # fmt: skip
    out = Path(args.out) / "edit_calm.json"
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
