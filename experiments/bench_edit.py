"""Portrait edits measured against the renderer's true counterfactuals (issue #5).

    python experiments/bench_edit.py [--model starter] [--judge experiments/models/independent] \
        [--n 16] [--render net|refine|optimize|change|polish] [--modes [--mode-list M,M@S]] \
        [--out experiments/results]

For each attribute, synthetic portraits are edited to flip it ("+smiling" on
those who do not smile, "-smiling" on those who do, at ``--strength``, by default
the model's as in ``edit``: 1 where it calibrates strength), and the renderer
redraws the same people in the same photos with only that attribute flipped: the
ideal edit. Per attribute:

* distance (RMS, 0-1 pixels) of the edit to the counterfactual, beside the
  unedited input's distance to it (an edit that helps is below the input's);
* the independent judge's verdict: the fraction of edits, of inputs and of
  counterfactuals in which it sees the requested value;
* how much the other attributes moved: mean |change in judge probability|
  over the other drawn attributes, for the edit and for the counterfactual;
* identity, by the identity embedding (``deepface-gen identity``'s, not the
  judge's features): cosine of input and edit embeddings, and the fraction of
  edits it still verifies as the same person at a false-accept rate of 1e-3
  (threshold from held-out people); the same for input vs counterfactual, where
  the shortfall is what the attribute itself costs.

Writes ``edit.json`` and ``edit_counterfactuals.png`` (input | edit | counterfactual).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

from deepface_gen.analysis.identity import verify_held_out
from deepface_gen.attributes import ATTRIBUTE_INDEX, CELEBA_ATTRIBUTES
from deepface_gen.data import synth
from deepface_gen.generation import calibration, defaults
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.io.images import make_grid, write_image
from deepface_gen.models.classifier import load_classifier
from deepface_gen.models.identity import load_identity_model

IDENTITY_MEASURE = "cosine of identity embeddings (deepface_gen/assets/identity)"

ATTRIBUTES = (
    "Smiling",
    "Eyeglasses",
    "Mouth_Slightly_Open",
    "Wearing_Hat",
    "Blond_Hair",
    "Mustache",
    "Wearing_Lipstick",
    "Bangs",
)


def rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean((a / 255.0 - b / 255.0) ** 2, axis=(1, 2, 3)))


class IdentityMeasure:
    """Identity similarity of image pairs by the identity embedding, and whether it
    verifies them as one person at FAR 1e-3 (the threshold measured once on
    held-out people)."""

    def __init__(self) -> None:
        self.model = load_identity_model()
        self.threshold = verify_held_out(self.model, people=100, photos=6, seed=77)["threshold"]

    def cosine(self, embedded: np.ndarray, images: np.ndarray) -> np.ndarray:
        """Cosine of already embedded images with the embeddings of ``images``."""
        return np.sum(embedded * self.model.embed(images), axis=1)


def counterfactuals(portraits, name: str, size: int) -> np.ndarray:
    """uint8 (N, size, size, 3): each synthetic portrait redrawn by the renderer with
    attribute ``name`` flipped and nothing else changed (the true edit)."""
    scene = portraits.scene
    flipped = scene.attributes.at[:, ATTRIBUTE_INDEX[name]].multiply(-1.0)
    return synth.to_uint8(synth.render_scene(scene._replace(attributes=flipped), size))


def measure(
    generator, judge, identity, portraits, name: str, seed: int, strength: float,
    smoothness: float = defaults.EDIT_SMOOTHNESS, steps: int | None = None,
    render: str | None = None, **options,
) -> tuple[dict, list]:  # fmt: skip
    """Edit every portrait to flip ``name``; compare with the renderer's counterfactual."""
    images = synth.to_uint8(portraits.images)
    had = np.asarray(portraits.attributes[:, ATTRIBUTE_INDEX[name]]) > 0
    words = name.lower().replace("_", " ")
    edited = np.empty_like(images)
    for present in (False, True):
        rows = np.flatnonzero(had == present)
        if len(rows):
            description = f"{'-' if present else '+'}{words}"
            edited[rows] = generator.edit(
                images[rows],
                description,
                strengths=(strength,),
                seed=seed,
                smoothness=smoothness,
                steps=steps,
                render=render,
                **options,
            )[:, 0]
    wanted = ~had
    truth = counterfactuals(portraits, name, len(images[0]))

    drawn = [a for a in judge.known_attributes if a != name]
    others = [CELEBA_ATTRIBUTES.index(a) for a in drawn]
    target = CELEBA_ATTRIBUTES.index(name)
    sets = {"in": images, "ed": edited, "cf": truth}
    seen = {k: judge.outputs(v) for k, v in sets.items()}  # one judge pass per set
    probs = {k: v["probabilities"] for k, v in seen.items()}
    embedded = identity.model.embed(images)
    same_edit, same_truth = identity.cosine(embedded, edited), identity.cosine(embedded, truth)

    def sees_wanted(p: np.ndarray) -> float:
        return float(np.mean((p[:, target] > 0.5) == wanted))

    result = {
        "portraits": len(images),
        "distance_edit_to_counterfactual": float(rms(edited, truth).mean()),
        "distance_input_to_counterfactual": float(rms(images, truth).mean()),
        "nearer_truth_than_input": float(np.mean(rms(edited, truth) < rms(images, truth))),
        "judge_sees_requested_input": sees_wanted(probs["in"]),
        "judge_sees_requested_edit": sees_wanted(probs["ed"]),
        "judge_sees_requested_counterfactual": sees_wanted(probs["cf"]),
        "others_moved_edit": float(np.abs(probs["ed"] - probs["in"])[:, others].mean()),
        "others_moved_counterfactual": float(np.abs(probs["cf"] - probs["in"])[:, others].mean()),
        "identity_cosine_edit": float(same_edit.mean()),
        "identity_cosine_counterfactual": float(same_truth.mean()),
        "identity_verified_edit": float(np.mean(same_edit >= identity.threshold)),
        "identity_verified_counterfactual": float(np.mean(same_truth >= identity.threshold)),
    }
    panels = [images[0], edited[0], truth[0], images[1], edited[1], truth[1]]
    return result, panels


def ablation(generator, judge, identity, args) -> None:
    """Mean measures over the 8 attributes for each (strength, smoothness) setting of
    pixel optimization (the only render with a smoothness prior; ``--render`` to choose)."""
    settings = [(1.0, 0.0), (1.0, defaults.EDIT_SMOOTHNESS), (2.0, defaults.EDIT_SMOOTHNESS)]
    render = args.render or "optimize"
    rows = []
    for strength, smoothness in settings:
        per = []
        for i, name in enumerate(ATTRIBUTES):
            portraits = synth.sample_portraits(
                jax.random.key(args.seed + i), args.n, size=generator.size
            )
            per.append(
                measure(
                    generator,
                    judge,
                    identity,
                    portraits,
                    name,
                    args.seed,
                    strength,
                    smoothness,
                    args.steps,
                    render,
                )[0]  # fmt: skip
            )
        mean = {k: float(np.mean([r[k] for r in per])) for k in per[0] if k != "portraits"}
        rows.append({"strength": strength, "smoothness": smoothness, "mean": mean})
        print(f"strength {strength:g} smoothness {smoothness:g}: {json.dumps(mean)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"n": args.n, "settings": rows, "identity_measure": IDENTITY_MEASURE,
               "identity_threshold": identity.threshold}  # fmt: skip
    (out / "edit_ablation.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {out / 'edit_ablation.json'}")


def mode_editor(generator, mode: str, results: Path = Path("experiments/results")):
    """(generator, render, edit options) for a mode name: a render, then any of the
    suffixes ``-global`` (the global change, unfocused: ``--focus 0``), ``-raw`` (no
    calibrated strength gains: strength is a multiple of the cGMM's change) and
    ``-typical`` (the gains that reach the typical probability instead of the model's
    level, ``calibrate_edits.py --level typical``'s ``edit_calibration_typical.json``),
    for comparison; without them, the model's own gains and focus."""
    render, *suffixes = mode.split("-")  # no render's name has a hyphen
    unknown = set(suffixes) - {"global", "raw", "typical"}
    if unknown:
        raise SystemExit(f"{mode}: unknown suffix(es) {', '.join(sorted(unknown))}")
    options = {"focus": 0.0} if "global" in suffixes else {}
    if "raw" in suffixes:
        generator = dataclasses.replace(generator, edit_gains=None)
    elif "typical" in suffixes:
        measured = json.loads((results / "edit_calibration_typical.json").read_text())
        generator = dataclasses.replace(generator, edit_gains=calibration.gains(measured))
    return generator, render, options


def calibration_level(generator) -> float | str | None:
    """The level the model's strength 1 is calibrated to ("typical" for the typical
    probability), or None where strength is raw."""
    if generator.edit_gains is None or generator.inverter is None:
        return None
    level = generator.inverter.record["edit_calibration"].get("level")
    return "typical" if level is None else level


def compare_modes(generator, judge, identity, args) -> None:
    """Means over the attributes for each render mode (``--mode-list``, each as
    MODE or MODE@STRENGTH) at the default smoothness, written to edit_modes.json (with a
    strip per mode)."""
    results, panels, captions = {}, [], []
    previous = Path(args.out) / "edit_modes.json"
    if args.merge and previous.exists():  # keep the rows this run does not re-measure
        kept = json.loads(previous.read_text())
        results = {k: {"strength": kept["strength"], **v} for k, v in kept["modes"].items()
                   if k not in args.mode_list.split(",")}  # fmt: skip
    for item in args.mode_list.split(","):
        mode, _, strength = item.partition("@")
        strength = float(strength) if strength else args.strength
        editor, mode, options = mode_editor(generator, mode)
        began, per = time.perf_counter(), []
        for i, name in enumerate(ATTRIBUTES):
            portraits = synth.sample_portraits(
                jax.random.key(args.seed + i), args.n, size=generator.size
            )
            result, strip = measure(
                editor, judge, identity, portraits, name, args.seed, strength,
                args.smoothness, args.steps, render=mode, **options,
            )  # fmt: skip
            per.append(result)
            if i < 4:
                panels += strip[:3]
                short = name.lower().replace("_", " ").replace("wearing ", "")
                captions += [f"input: {short[:11]}", item, "true edit"]
        mean = {k: float(np.mean([r[k] for r in per])) for k in per[0] if k != "portraits"}
        seconds = time.perf_counter() - began
        results[item] = {
            "mean": mean,
            "strength": strength,
            "seconds": seconds,
            "seconds_per_edit": seconds / sum(r["portraits"] for r in per),
        }
        print(item, json.dumps(mean))
    out = Path(args.out)
    payload = {"modes": results, "n": args.n, "strength": args.strength,
               "calibration_level": calibration_level(generator),
               "smoothness": args.smoothness, "attributes": list(ATTRIBUTES),
               "identity_measure": IDENTITY_MEASURE,
               "identity_threshold": identity.threshold}  # fmt: skip
    (out / "edit_modes.json").write_text(json.dumps(payload, indent=2))
    # The picture shows the modes measured in this run, one row each (2x, so captions fit).
    grid = make_grid([np.asarray(p) for p in panels], columns=12, captions=captions, zoom=2)
    print(f"wrote {out / 'edit_modes.json'} and {write_image(out / 'edit_modes.png', grid)}")


# The figure's edits: (attribute, whether the edit adds it).
FIGURE_EDITS = (("Wearing_Hat", True), ("Eyeglasses", False), ("Smiling", True),
                ("Gray_Hair", True), ("Eyeglasses", True), ("Blond_Hair", True),
                ("Mustache", True), ("Bangs", True), ("Wearing_Lipstick", True))  # fmt: skip


def edit_figure(generator, args, pool: int = 64) -> Path:
    """One row per edit in ``FIGURE_EDITS``: the input (a portrait from a fixed pool that
    lacks, or has, the attribute), its edit by each mode of ``--mode-list``, and the true
    counterfactual, at 2x zoom with captions."""
    portraits = synth.sample_portraits(jax.random.key(args.seed), pool, size=generator.size)
    scene, images = portraits.scene, synth.to_uint8(portraits.images)
    tiles, captions = [], []
    for row, (name, add) in enumerate(FIGURE_EDITS):
        has = np.asarray(scene.attributes[:, ATTRIBUTE_INDEX[name]]) > 0
        candidates = np.flatnonzero(has != add)
        pick = int(candidates[row % len(candidates)])
        words = f"{'+' if add else '-'}{name.lower().replace('_', ' ')}"
        flipped = scene.attributes.at[pick, ATTRIBUTE_INDEX[name]].multiply(-1.0)
        truth = synth.to_uint8(synth.render_scene(scene._replace(attributes=flipped),
                                                  generator.size))[pick]  # fmt: skip
        tiles.append(images[pick])
        captions.append(f"input {words.replace('wearing ', '')}")  # fits the tile
        for item in args.mode_list.split(","):
            mode, _, strength = item.partition("@")
            editor, mode, options = mode_editor(generator, mode)
            strengths = (float(strength or args.strength),)
            edited = editor.edit(images[pick : pick + 1], words, render=mode, seed=args.seed,
                                 strengths=strengths, **options)  # fmt: skip
            tiles.append(edited[0, 0])
            captions.append(item)
        tiles.append(truth)
        captions.append("true edit")
    grid = make_grid(tiles, columns=len(tiles) // len(FIGURE_EDITS), captions=captions, zoom=2)
    return write_image(Path(args.out) / "edit_figure.png", grid)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="starter")
    parser.add_argument("--judge", default="experiments/models/independent")
    parser.add_argument("--n", type=int, default=16, help="portraits per attribute")
    parser.add_argument("--seed", type=int, default=5150)
    parser.add_argument("--strength", type=float, default=None,
                        help="default: the model's (1 where it calibrates strength)")  # fmt: skip
    parser.add_argument("--smoothness", type=float, default=defaults.EDIT_SMOOTHNESS)
    parser.add_argument("--steps", type=int, default=None, help="render steps (default 180)")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="instead: means for (strength, smoothness) = (1, 0), (1, default), (default, "
        "default), written to edit_ablation.json",
    )
    parser.add_argument(
        "--modes",
        action="store_true",
        help="instead: means per render mode (--mode-list), to edit_modes.json",
    )
    parser.add_argument(
        "--mode-list",
        default="optimize,net,refine,change",
        help="with --modes: render modes to compare, each MODE or MODE@STRENGTH, MODE a "
        "render with any of the suffixes -raw (no calibrated gains), -typical (the gains to "
        "the typical probability) and -global (the global change, unfocused)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --modes: keep the rows of the existing edit_modes.json not re-measured "
        "(its picture, edit_modes.png, shows the modes measured in this run)",
    )
    parser.add_argument(
        "--figure",
        action="store_true",
        help="instead: edit_figure.png, input | each mode of --mode-list | truth, 9 edits",
    )
    parser.add_argument("--render", default=None, help="render mode (default: the edit default)")
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    generator = FaceGenerator.load(args.model)
    if args.strength is None:
        args.strength = generator.edit_strength
    if args.figure:
        print(f"wrote {edit_figure(generator, args)}")
        return
    judge = load_classifier(args.judge)
    identity = IdentityMeasure()
    if args.ablation:
        ablation(generator, judge, identity, args)
        return
    if args.modes:
        compare_modes(generator, judge, identity, args)
        return
    report, panels, captions = {}, [], []
    began = time.perf_counter()
    for i, name in enumerate(ATTRIBUTES):
        portraits = synth.sample_portraits(
            jax.random.key(args.seed + i), args.n, size=generator.size
        )
        report[name], strip = measure(
            generator, judge, identity, portraits, name, args.seed, args.strength,
            args.smoothness, args.steps, render=args.render,
        )  # fmt: skip
        panels += strip
        captions += ["input", f"edit {name[:12]}", "true"] * 2
        r = report[name]
        print(
            f"{name:<20} dist edit->cf {r['distance_edit_to_counterfactual']:.3f} "
            f"(input {r['distance_input_to_counterfactual']:.3f})  judge sees it: "
            f"input {r['judge_sees_requested_input']:.2f} edit {r['judge_sees_requested_edit']:.2f}"
            f" cf {r['judge_sees_requested_counterfactual']:.2f}  others moved "
            f"{r['others_moved_edit']:.3f} (cf {r['others_moved_counterfactual']:.3f})  "
            f"identity cos {r['identity_cosine_edit']:.3f} "
            f"(cf {r['identity_cosine_counterfactual']:.3f}), verified "
            f"{r['identity_verified_edit']:.2f} (cf {r['identity_verified_counterfactual']:.2f})"
        )
    seconds = time.perf_counter() - began
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        key: float(np.mean([r[key] for r in report.values()]))
        for key in next(iter(report.values()))
        if key != "portraits"
    }
    payload = {
        "per_attribute": report,
        "mean": summary,
        "seconds": seconds,
        "n": args.n,
        "strength": args.strength,
        "calibration_level": calibration_level(generator),  # None: raw strength
        "smoothness": args.smoothness,
        "render": generator.resolve_render(args.render, defaults.EDIT_RENDER),
        "identity_measure": IDENTITY_MEASURE,
        "identity_threshold": identity.threshold,
    }
    (out / "edit.json").write_text(json.dumps(payload, indent=2))
    grid = make_grid([np.asarray(p) for p in panels], columns=6)
    print(f"mean: {json.dumps(summary, indent=1)}")
    print(f"wrote {out / 'edit.json'} and {write_image(out / 'edit_counterfactuals.png', grid)}")


if __name__ == "__main__":
    main()
