"""Generation measured: faithfulness, realism, diversity and cost (docs/methods.md, Measures).

    python experiments/bench_generate.py --judge experiments/models/independent \
        [--model starter] [--vgg16 PATH.h5] [--seeds 4] [--steps 200] \
        [--out experiments/results] [--methods net,refine,optimize,vae,...]

Faithfulness is judged by an independent classifier (different architecture,
seed and data stream; never used for generation): the fraction of requested
attributes it detects in the faces, per attribute and overall. Methods: the
learned inverter's one pass (``net``) and its input refined (``refine``), for the
conditional cGMM and the mixture; pixel optimization (``optimize``, with and
without guidance), the paper's cGMM, the class-visualization baseline, the
conditional VAE and the hybrid.
Realism is measured twice: the Fréchet distance in a PCA of the judge's features,
and the Fréchet distance and KID in VGG16's ImageNet features (a network that never
saw the data; ``analysis/realism.py``), each between the faces and 2048 real
rendered portraits. Each is read against floors at the same sample size: random
real portraits, and real portraits that carry the same descriptions (picked from a
pool by their true labels: what a perfect generator would score), and the learned
inverter's reconstruction of those portraits (the ceiling of any target it renders).
The floors, the reconstruction and each one-pass method (``net``, VAE) are measured on
``--draws`` independent sets of 128 and averaged (one set is a noisy sample).
Diversity is the mean pairwise distance between faces of one description
across seeds, in pixels (0-1 scale, RMS) and in the judge's feature space.
Attributes nobody asked for: how often the judge sees each attribute in faces whose
description leaves it unnamed, against the same-description portraits' rate (the mean
absolute gap over attributes, and the largest three).
Cost: seconds per face cold (first call, with compilation) and warm per render
mode, and batched throughput, with peak memory (RSS).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import resource
import time
from pathlib import Path

import jax
import numpy as np

from deepface_gen.analysis.realism import frechet_distance, kernel_distance, vgg16_features
from deepface_gen.attributes import CELEBA_ATTRIBUTES, parse_description
from deepface_gen.data import synth
from deepface_gen.generation import defaults
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.io.images import as_uint8, make_grid, write_image
from deepface_gen.models.classifier import load_classifier
from deepface_gen.models.inverter import noise_keys

# 32 descriptions of 1 to 4 attributes, over what the starter draws.
DESCRIPTIONS = [
    "male",
    "female",
    "smiling",
    "eyeglasses",
    "wearing hat",
    "bald",
    "young",
    "old",
    "black hair",
    "blond hair",
    "gray hair",
    "beard",
    "smiling woman",
    "man with eyeglasses",
    "blond woman",
    "old man",
    "woman, lipstick",
    "male, mustache",
    "young, bangs",
    "female, earrings",
    "youth, black hair, male",
    "old, gray hair, eyeglasses",
    "woman, blond, smiling",
    "man, beard, hat",
    "female, wavy hair, lipstick",
    "male, bald, eyeglasses",
    "young, female, brown hair, smiling",
    "old, male, gray hair, beard",
    "female, black hair, bangs, lipstick",
    "male, young, mustache, necktie",
    "woman, hat, earrings, smiling",
    "man, eyeglasses, brown hair, not smiling",
]
# Each measured method is a set of FaceGenerator.generate arguments; without a method,
# the model's default targets (the mixture's where it has one: requests.default_method).
METHODS = {
    # Through the learned inverter G (models/inverter.py).
    "net": {"render": "net"},
    # The mixture's faces borrowing their portrait's labels alone, none of its residual
    # coordinates (the default before anchoring: cgmm/model.py, ANCHORED_COORDINATES, and
    # cgmm/anchors.py, BORDER_ANCHORED).
    "net_unanchored": {"render": "net", "anchored": 0, "border_anchored": 0},
    "refine": {"guidance": 1.0, "render": "refine"},
    "conditional_net": {"method": "conditional", "render": "net"},
    "conditional_refine": {"method": "conditional", "guidance": 1.0, "render": "refine"},
    "exemplar_net": {"method": "exemplar", "render": "net"},
    # Pixel optimization with hand-made priors (the previous default is "optimize").
    "optimize": {"guidance": 1.0, "render": "optimize"},
    "conditional": {"method": "conditional", "guidance": 0.0, "render": "optimize"},
    "paper": {"method": "paper", "guidance": 0.0, "render": "optimize"},
    "baseline": {"method": "baseline", "render": "optimize"},
    "vae": {"backend": "vae"},
    "hybrid": {"init": "vae", "guidance": 1.0},
}
REAL_SEED = 4242  # real portraits for the realism reference: seeds no model trained on
POOL_SEED = 4343  # the pool real portraits that carry each description are picked from
# The same-description floor, G's reconstruction of it and each one-pass method are
# measured on this many independent draws of 32 descriptions x seeds, and their distances
# averaged: between four draws of 128 real portraits the floor's VGG16 KID ranged from
# 1.4e-3 to 2.6e-3, and every ratio to it with it.
FLOOR_DRAWS = 4
# Same-description portraits the unasked-attribute rates are read against: the floor's
# 16 per description put lipstick at 0.24 where nobody asked, against 0.33 in the data.
UNASKED_PORTRAITS = 128
SHARED_VGG16 = Path(__file__).resolve().parents[2] / "shared/weights/vgg16_imagenet_notop.h5"


class Realism:
    """Distances to real portraits: Fréchet distance in a PCA (``dims``) of the judge's
    features (stable on a few hundred faces), and FD and KID in VGG16's ImageNet
    features (a network that never saw the data) where its weights are given."""

    def __init__(self, judge, size: int, vgg16=None, reference: int = 2048, dims: int = 32):
        images, _ = real_portraits(REAL_SEED, reference, size)
        feats = judge.outputs(images)["features"]
        centred = feats - feats.mean(0)
        self.judge, self.vgg16 = judge, vgg16
        self.basis = np.linalg.svd(centred, full_matrices=False)[2][:dims]
        self.reference = feats @ self.basis.T
        self.vgg_reference = vgg16.features(images) if vgg16 is not None else None

    def __call__(self, images: np.ndarray, judge_features: np.ndarray | None = None) -> dict:
        """Every distance for uint8 faces (N, S, S, 3)."""
        if judge_features is None:
            judge_features = self.judge.outputs(images)["features"]
        out = {"frechet_distance": frechet_distance(judge_features @ self.basis.T, self.reference)}
        if self.vgg16 is not None:
            vgg = self.vgg16.features(images)
            out["vgg16_fd"] = frechet_distance(vgg, self.vgg_reference)
            out["vgg16_kid"] = kernel_distance(vgg, self.vgg_reference)
        return out


def redraw(inverter, codes, seed: int = 0) -> np.ndarray:
    """G's drawings (uint8) of activations ``codes``, each face with its own noise keys
    (its noise inputs and camera), as ``generate`` draws a set of faces: without keys
    every face would share one pattern of grain, a texture the measures would read."""
    return as_uint8(inverter.render(codes, keys=noise_keys(len(codes), jax.random.key(seed))))


def portraits_like(specs: list, seeds: int, size: int, pool: int = 16384):
    """Real rendered portraits that carry each description (by their true labels),
    ``seeds`` per description, from a pool of ``pool``: what a perfect generator draws.
    Returns (uint8 images (len(specs) * seeds, S, S, 3), labels, matches per description).
    The first ``k`` of a description's portraits are the same for any ``seeds`` >= ``k``."""
    images, labels = _pool(size, pool)
    picked, matches = [], []
    for spec in specs:
        ok = np.ones(pool, bool)
        for name, value in spec.values.items():
            ok &= (labels[:, CELEBA_ATTRIBUTES.index(name)] > 0) == (value > 0)
        found = np.flatnonzero(ok)
        matches.append(len(found))
        if not len(found):
            raise RuntimeError(f"no portrait in the pool carries {spec}; enlarge --pool")
        picked.extend(found[np.arange(seeds) % len(found)])
    picked = np.asarray(picked)
    return images[picked], labels[picked], matches


@functools.lru_cache(maxsize=1)
def _pool(size: int, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """The pool ``portraits_like`` picks from, rendered once per process (read-only)."""
    images, labels = real_portraits(POOL_SEED, pool, size)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def real_portraits(seed: int, n: int, size: int, chunk: int = 1024):
    """``n`` rendered portraits (uint8) and their true labels, rendered ``chunk`` at a time."""
    images, labels = [], []
    for i in range(0, n, chunk):
        part = synth.sample_portraits(
            jax.random.fold_in(jax.random.key(seed), i), min(chunk, n - i), size=size
        )
        images.append(synth.to_uint8(part.images))
        labels.append(np.asarray(part.scene.attributes))
    return np.concatenate(images), np.concatenate(labels)


def faithfulness(
    probs: np.ndarray, names: tuple[str, ...], specs: list, seeds: int
) -> tuple[dict, float]:
    """Per-attribute and overall fraction of requested attributes the judge detects,
    from its probabilities ``probs`` (faces in description order, ``seeds`` each)."""
    hits: dict[str, list[bool]] = {}
    for d, spec in enumerate(specs):
        for s in range(seeds):
            p = probs[d * seeds + s]
            for name, value in spec.values.items():
                present = p[names.index(name)] > 0.5
                hits.setdefault(name, []).append(bool(present == (value > 0)))
    per = {name: float(np.mean(v)) for name, v in sorted(hits.items())}
    overall = float(np.mean(list(itertools.chain.from_iterable(hits.values()))))
    return per, overall


def unasked_rates(probs: np.ndarray, names: tuple[str, ...], specs: list, seeds: int) -> dict:
    """How often the judge sees each attribute in the faces whose description does not
    name it (``probs``: faces in description order, ``seeds`` each): what a generator adds
    unasked, which real portraits with the same descriptions set the rate for."""
    seen = probs.reshape(len(specs), seeds, -1) > 0.5
    rates = {}
    for a, name in enumerate(names):
        free = [d for d, spec in enumerate(specs) if name not in spec.values]
        if free:
            rates[name] = float(seen[free, :, a].mean())
    return rates


def unasked_floor(specs: list, seeds: int, size: int, judge) -> dict:
    """What ``unasked_gap`` is read against: the same-description portraits' rate of
    each attribute where nobody asked for it, over ``UNASKED_PORTRAITS`` of them per
    description ("floor"), and its "noise": the mean gap to it of ``seeds`` such portraits
    per description (disjoint sets of them), what a perfect generator's faces score."""
    portraits, _, _ = portraits_like(specs, UNASKED_PORTRAITS, size)
    probs = judge.outputs(portraits)["probabilities"]
    floor = unasked_rates(probs, judge.attributes, specs, UNASKED_PORTRAITS)
    per = probs.reshape(len(specs), UNASKED_PORTRAITS, -1)
    gaps = [
        unasked_gap(unasked_rates(per[:, i : i + seeds].reshape(-1, per.shape[-1]),
                                  judge.attributes, specs, seeds), floor)["gap"]
        for i in range(0, UNASKED_PORTRAITS - seeds + 1, seeds)
    ]  # fmt: skip
    return {"floor": floor, "portraits": UNASKED_PORTRAITS, "noise": float(np.mean(gaps))}


def reread_unasked(methods: dict, floor: dict) -> None:
    """Read each of ``methods``' unasked gaps again against a new ``floor`` from its
    stored rates, in place; a method that stored none loses its gap (it was read against
    another floor)."""
    for name, method in sorted(methods.items()):
        rates = method.get("unasked", {}).get("rates")
        if rates:
            method["unasked"] = {**unasked_gap(rates, floor), "rates": rates}
        elif method.pop("unasked", None) is not None:
            print(f"{name}: its unasked gap was read against another floor; dropped")


def unasked_gap(rates: dict, floor: dict, largest: int = 3) -> dict:
    """The mean absolute difference between two ``unasked_rates`` over their attributes,
    and the ``largest`` differences as {attribute: [rate, floor's rate]}."""
    gaps = {name: abs(rates[name] - floor[name]) for name in floor}
    worst = sorted(gaps, key=gaps.get, reverse=True)[:largest]
    return {"gap": float(np.mean(list(gaps.values()))),
            "largest": {name: [rates[name], floor[name]] for name in worst}}  # fmt: skip


def diversity(faces: np.ndarray, feats: np.ndarray, groups: int, seeds: int) -> tuple[float, float]:
    """Mean pairwise RMS pixel distance and judge-feature distance within each description."""
    pix, fea = [], []
    for g in range(groups):
        idx = range(g * seeds, (g + 1) * seeds)
        for i, j in itertools.combinations(idx, 2):
            pix.append(np.sqrt(np.mean((faces[i] / 255.0 - faces[j] / 255.0) ** 2)))
            fea.append(np.linalg.norm(feats[i] - feats[j]) / np.sqrt(feats.shape[1]))
    return float(np.mean(pix)), float(np.mean(fea))


def add_measure_options(parser: argparse.ArgumentParser) -> None:
    """The options every generation measurement takes: model, judge, VGG16 file, seeds."""
    parser.add_argument("--model", default="starter")
    parser.add_argument("--judge", default="experiments/models/independent")
    parser.add_argument(
        "--vgg16", default=str(SHARED_VGG16), help="Keras VGG16 weights for the VGG16 distances"
    )
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", default="experiments/results")


def measurement_setup(args: argparse.Namespace):
    """(generator, judge, realism) for ``add_measure_options``' arguments; the VGG16
    distances are left out where its weights are absent."""
    generator = FaceGenerator.load(args.model)
    judge = load_classifier(args.judge)
    vgg16 = vgg16_features(args.vgg16) if Path(args.vgg16).exists() else None
    return generator, judge, Realism(judge, generator.size, vgg16)


def draw_subsets(faces: np.ndarray, groups: int, draws: int) -> list[np.ndarray]:
    """Split faces ordered by description (``groups`` of ``seeds * draws`` each) into
    ``draws`` sets of ``seeds`` per description, in the same order: draw ``d`` holds
    seeds ``d * seeds`` to ``(d + 1) * seeds - 1`` of every description."""
    per = faces.reshape(groups, draws, -1, *faces.shape[1:])
    return [per[:, d].reshape(-1, *faces.shape[1:]) for d in range(draws)]


def mean_realism(
    faces: np.ndarray, realism: Realism, groups: int, draws: int, judge_features=None
) -> dict:
    """Each distance of ``realism`` as the mean over ``draws`` sets of faces (see
    ``draw_subsets``), each at the benchmark's sample size, with each distance's
    draw-to-draw range (max - min) under "spread" where there are several draws."""
    sets = draw_subsets(faces, groups, draws)
    features = [None] * draws if judge_features is None else draw_subsets(
        judge_features, groups, draws)  # fmt: skip
    measured = [realism(f, j) for f, j in zip(sets, features, strict=True)]
    out = {k: float(np.mean([m[k] for m in measured])) for k in measured[0]}
    if draws > 1:
        out["draws"] = draws
        out["spread"] = {k: float(np.ptp([m[k] for m in measured])) for k in measured[0]}
    return out


def measure_faces(
    faces: np.ndarray,
    judge,
    realism: Realism,
    specs: list,
    seeds: int,
    draws: int = 1,
    seen: dict | None = None,
) -> dict:
    """Faithfulness, the distances and diversity of faces (``seeds * draws`` per
    description, in description order): faithfulness and diversity over all of them,
    each distance the mean over ``draws`` sets of ``seeds`` per description
    (``mean_realism``: one set of 128 moves VGG16's KID by about a quarter). ``seen``:
    the judge's outputs on the faces, where a caller already has them."""
    seen = judge.outputs(faces) if seen is None else seen
    _, overall = faithfulness(seen["probabilities"], judge.attributes, specs, seeds * draws)
    pix, fea = diversity(faces, seen["features"], len(specs), seeds * draws)
    distances = mean_realism(faces, realism, len(specs), draws, seen["features"])
    return {"faithfulness": overall, **distances,
            "diversity_pixels": pix, "diversity_features": fea}  # fmt: skip


def same_description_floor(
    specs: list, seeds: int, size: int, judge, realism: Realism, draws: int = FLOOR_DRAWS
) -> tuple[dict, np.ndarray, list[int]]:
    """The floor every distance is read against: real portraits that carry each
    description, ``draws`` independent sets of ``seeds`` per description, measured as
    ``measure_faces`` measures a method drawn ``draws`` times. Returns (the measures,
    the portraits (description order, ``seeds * draws`` each), matches per description)."""
    portraits, _, matches = portraits_like(specs, seeds * draws, size)
    return measure_faces(portraits, judge, realism, specs, seeds, draws), portraits, matches


def timed_call(fn, *args, **kwargs) -> float:
    """Seconds ``fn(*args, **kwargs)`` takes."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def measure_cost(generator: FaceGenerator, steps: int | None) -> dict:
    """Seconds for one face cold (compiling) and warm per render mode, and the learned
    renderer's batched throughput: the default's numbers are its mode's."""
    cost: dict = {"default_render": generator.resolve_render(None, defaults.RENDER)}
    modes = ["optimize"] + (["net", "refine"] if generator.inverter is not None else [])
    for mode in modes:
        cold = timed_call(generator.generate, "smiling", seed=0, steps=steps, render=mode)
        warm = timed_call(generator.generate, "smiling", seed=1, steps=steps, render=mode)
        cost[mode] = {"seconds_per_face_cold": cold, "seconds_per_face_warm": warm}
    for mode, batch in (("optimize", 16), ("net", 64)):
        if mode not in cost:
            continue
        generator.generate("smiling", n=batch, seed=0, steps=steps, render=mode)  # compile
        seconds = timed_call(
            generator.generate, "smiling", n=batch, seed=2, steps=steps, render=mode
        )
        cost[mode][f"faces_per_second_batched_{batch}"] = batch / seconds
    cost["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return cost


def comparison_sheet(
    columns: dict[str, np.ndarray], seeds: int, every: int, shown: int
) -> np.ndarray:
    """One row per shown description: two faces from each column set side by side, at
    2x, the description under the first pair."""
    tiles, captions = [], []
    for d in range(0, every * shown, every):
        for i, (name, faces) in enumerate(columns.items()):
            for s in range(2):
                tiles.append(faces[d * seeds + s])
                captions.append("" if s else f"{name}: {DESCRIPTIONS[d]}" if i == 0 else name)
    return make_grid(tiles, columns=2 * len(columns), captions=captions, zoom=2)


def method_sheet(faces: np.ndarray, seeds: int, every: int) -> np.ndarray:
    """Every ``every``-th description's faces (``seeds`` each), two descriptions a row,
    each captioned under its first face."""
    shown = range(0, len(DESCRIPTIONS), every)
    tiles = np.concatenate([faces[d * seeds : (d + 1) * seeds] for d in shown])
    captions = [DESCRIPTIONS[d] if s == 0 else "" for d in shown for s in range(seeds)]
    return make_grid(tiles, columns=seeds * 2, captions=captions)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--cost-only",
        action="store_true",
        help="measure cost alone, into the existing generation.json (timings want an idle machine)",
    )
    parser.add_argument(
        "--temperature", type=float, default=None, help="default: each method's own"
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=FLOOR_DRAWS,
        help="independent draws of the floors and of each one-pass method, their distances "
        "averaged (pixel optimization is drawn once)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="re-measure only --methods (and the floors) into the existing generation.json, "
        "keeping its other methods and its cost section",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    generator = FaceGenerator.load(args.model)
    judge = load_classifier(args.judge)
    specs = [parse_description(d) for d in DESCRIPTIONS]
    report: dict = {
        "device": jax.devices()[0].device_kind,
        "descriptions": DESCRIPTIONS,
        "seeds": args.seeds,
        "methods": {},
    }
    previous = out / "generation.json"
    kept: dict = {}
    if args.merge and previous.exists():
        kept = json.loads(previous.read_text())
        report["methods"], report["cost"] = kept["methods"], kept["cost"]
    else:
        report["cost"] = measure_cost(generator, args.steps)  # first, so "cold" compiles
    print(json.dumps(report["cost"], indent=2))
    if args.cost_only:
        # Timings want the machine to themselves: re-measured alone, into the last report.
        if previous.exists():
            kept = json.loads(previous.read_text())
            kept["cost"] = report["cost"]
            previous.write_text(json.dumps(kept, indent=2))
            print(f"cost written into {previous}")
        return

    vgg16 = vgg16_features(args.vgg16) if Path(args.vgg16).exists() else None
    realism = Realism(judge, generator.size, vgg16)
    report["vgg16"] = vgg16 is not None
    # The floors, at the same sample size as each method's faces.
    n = len(specs) * args.seeds
    random_real, _ = real_portraits(REAL_SEED + 1, n, generator.size)
    draws = args.draws
    same, every_real, matches = same_description_floor(
        specs, args.seeds, generator.size, judge, realism, draws
    )
    report["pool_matches"] = dict(zip(DESCRIPTIONS, matches, strict=True))
    report["draws"] = draws
    del same["diversity_pixels"]
    floors = {"random": realism(random_real), "same_descriptions": same}
    mean_faces = np.repeat(np.round(generator.cgmm.mean_image)[None], n, 0).astype(np.uint8)
    floors["mean_face"] = realism(mean_faces)
    if generator.inverter is not None:
        # The ceiling of any target: G on the activations of the real portraits that
        # carry the descriptions (its reconstruction of them), draw by draw.
        layer = generator.cgmm.layer
        acts = generator.classifier.outputs(every_real, taps=(layer,))[layer]
        recon = redraw(generator.inverter, acts)
        floors["inverter_reconstruction"] = mean_realism(recon, realism, len(specs), draws)
    report["floors"] = floors
    # Attributes nobody asked for, against their rate in the same-description portraits.
    report["unasked"] = unasked_floor(specs, args.seeds * draws, generator.size, judge)
    floor_rates = report["unasked"]["floor"]
    methods = [m for m in args.methods.split(",") if m]
    if kept.get("unasked", {}).get("floor") != floor_rates:  # kept rows: another floor's
        reread_unasked({k: v for k, v in report["methods"].items() if k not in methods},
                       floor_rates)  # fmt: skip
    same_real = draw_subsets(every_real, len(specs), draws)[0]
    print(json.dumps(floors, indent=2))
    sheets = {"real": same_real}
    for name in methods:
        options = dict(METHODS[name])
        drawer = generator
        sampling = {k: options.pop(k) for k in ("anchored", "border_anchored") if k in options}
        if sampling:  # settings of the cGMM's sampling, not of generate
            drawer = dataclasses.replace(
                generator, cgmm=dataclasses.replace(generator.cgmm, **sampling)
            )
        if options.get("render") in ("net", "refine") and generator.inverter is None:
            continue
        if options.get("method") == "mixture" and generator.cgmm.mixture is None:
            continue
        # The one-pass methods are drawn ``draws`` times (as the floors are); each pixel
        # optimization once, at ``draws`` times the cost otherwise.
        drawn = draws if options.get("render") == "net" or options.get("backend") == "vae" else 1
        per_face = args.seeds * drawn
        drawer.generate(specs[:4], n=per_face, seed=99, steps=args.steps, **options)  # compile
        start = time.perf_counter()
        faces = np.concatenate(
            [
                drawer.generate(
                    specs[i : i + 4],
                    n=per_face,
                    seed=0,
                    steps=args.steps,
                    temperature=args.temperature,
                    **options,
                )
                for i in range(0, len(specs), 4)
            ]
        )
        seconds_per_face = (time.perf_counter() - start) / len(faces)
        seen = judge.outputs(faces)  # one judge pass serves every measure
        per, _ = faithfulness(seen["probabilities"], judge.attributes, specs, per_face)
        rates = unasked_rates(seen["probabilities"], judge.attributes, specs, per_face)
        measured = measure_faces(faces, judge, realism, specs, args.seeds, drawn, seen)
        faces = draw_subsets(faces, len(specs), drawn)[0]  # the sheets show the first draw
        plan = drawer.plan(specs[0], temperature=args.temperature, **options)
        report["methods"][name] = {
            "options": METHODS[name],
            "method": plan.method,
            "temperature": plan.temperature,
            "per_attribute": per,
            **measured,
            "unasked": {**unasked_gap(rates, floor_rates), "rates": rates},
            "seconds_per_face": seconds_per_face,
            "batch": 4 * per_face,
        }
        print(
            f"{name:<15} "
            + "  ".join(f"{k} {v:.4g}" for k, v in measured.items() if isinstance(v, float))
            + f"  {seconds_per_face:.3f} s/face"
        )
        write_image(out / f"generate_{name}.png", method_sheet(faces, args.seeds, 3))
        if name in ("optimize", "net", "refine", "vae"):
            sheets[name] = faces
    if len(sheets) > 1:
        order = [k for k in ("net", "vae", "real") if k in sheets]  # as docs/generate.md shows
        sheet = comparison_sheet({k: sheets[k] for k in order}, args.seeds, 3, 8)
        write_image(out / "generate_compare.png", sheet)
    (out / "generation.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out / 'generation.json'}")


if __name__ == "__main__":
    main()
