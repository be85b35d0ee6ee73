"""Generation measured: faithfulness, realism, diversity and cost (docs/methods.md, Measures).

    python experiments/bench_generate.py --judge experiments/models/independent \
        [--model starter] [--seeds 4] [--steps 200] [--out experiments/results] \
        [--methods conditional,paper,baseline,vae,hybrid]

Faithfulness is judged by an independent classifier (different architecture,
seed and data stream; never used for generation): the fraction of requested
attributes it detects in the faces, per attribute and overall. Methods: the
conditional cGMM without and with classifier guidance (the default), the
paper's cGMM, the class-visualization baseline, the conditional VAE, and the
hybrid (guided conditional cGMM inverted from a VAE sample).
Realism is the Fréchet distance, in a PCA of the judge's features, between
the faces and real rendered portraits (beside the same distance for another
set of real portraits: the floor), because a judge can be fooled by
adversarial textures that look nothing like faces.
Diversity is the mean pairwise distance between faces of one description
across seeds, in pixels (0-1 scale, RMS) and in the judge's feature space.
Cost: seconds per face cold (first call, with compilation) and warm, and faces
per second batched at 16, with peak memory (RSS).
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import time
from pathlib import Path

import jax
import numpy as np

from deepface_gen.analysis.evaluate import frechet_distance
from deepface_gen.attributes import parse_description
from deepface_gen.data import synth
from deepface_gen.generation import defaults
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.io.images import make_grid, write_image
from deepface_gen.models.classifier import load_classifier

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
# Each measured method is a set of FaceGenerator.generate arguments.
METHODS = {
    "conditional": {"method": "conditional", "guidance": 0.0},
    "guided": {"method": "conditional", "guidance": 1.0},  # the default
    "paper": {"method": "paper", "guidance": 0.0},
    "baseline": {"method": "baseline"},
    "vae": {"backend": "vae"},
    "hybrid": {"method": "conditional", "init": "vae", "guidance": 1.0},
    # Stronger guidance: does it close the gap to the baseline honestly?
    "guided_3": {"method": "conditional", "guidance": 3.0},
    "guided_10": {"method": "conditional", "guidance": 10.0},
}
REAL_SEED = 4242  # real portraits for the realism reference: seeds no model trained on


class Realism:
    """Fréchet distance to real portraits in a PCA (``dims``) of the judge's features,
    so a distance on a few hundred faces is stable."""

    def __init__(self, judge, size: int, reference: int = 2048, dims: int = 32) -> None:
        real = synth.sample_portraits(jax.random.key(REAL_SEED), reference + 128, size=size)
        feats = judge.outputs(synth.to_uint8(real.images))["features"]
        centred = feats[:reference] - feats[:reference].mean(0)
        self.basis = np.linalg.svd(centred, full_matrices=False)[2][:dims]
        self.reference = feats[:reference] @ self.basis.T
        self.floor = self(feats[reference:])  # 128 other real portraits

    def __call__(self, features: np.ndarray) -> float:
        """The distance for faces given by their judge ``features`` (N, D)."""
        return frechet_distance(features @ self.basis.T, self.reference)


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


def diversity(faces: np.ndarray, feats: np.ndarray, groups: int, seeds: int) -> tuple[float, float]:
    """Mean pairwise RMS pixel distance and judge-feature distance within each description."""
    pix, fea = [], []
    for g in range(groups):
        idx = range(g * seeds, (g + 1) * seeds)
        for i, j in itertools.combinations(idx, 2):
            pix.append(np.sqrt(np.mean((faces[i] / 255.0 - faces[j] / 255.0) ** 2)))
            fea.append(np.linalg.norm(feats[i] - feats[j]) / np.sqrt(feats.shape[1]))
    return float(np.mean(pix)), float(np.mean(fea))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="starter")
    parser.add_argument("--judge", default="experiments/models/independent")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--out", default="experiments/results")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--cost-only", action="store_true", help="measure cost, nothing else")
    parser.add_argument("--temperature", type=float, default=defaults.TEMPERATURE)
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

    # Cost, measured first so "cold" includes compilation.
    start = time.perf_counter()
    generator.generate("smiling", n=1, seed=0, steps=args.steps)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    generator.generate("smiling", n=1, seed=1, steps=args.steps)
    warm = time.perf_counter() - start
    generator.generate("smiling", n=16, seed=0, steps=args.steps)  # compile the batch of 16
    start = time.perf_counter()
    generator.generate("smiling", n=16, seed=2, steps=args.steps)
    batched = 16 / (time.perf_counter() - start)
    report["cost"] = {
        "seconds_per_face_cold": cold,
        "seconds_per_face_warm": warm,
        "faces_per_second_batched_16": batched,
        "speedup_batched_vs_single": batched * warm,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(report["cost"], indent=2))
    if args.cost_only:
        return

    realism = Realism(judge, generator.size)
    report["temperature"] = args.temperature
    report["realism_floor"] = realism.floor
    mean_faces = np.repeat(generator.cgmm.mean_image[None], 128, 0)
    report["realism_mean_face"] = realism(judge.outputs(mean_faces)["features"])
    print(f"realism floor (real vs real) {realism.floor:.1f}")
    for name in [m for m in args.methods.split(",") if m]:
        options = METHODS[name]
        generator.generate(specs[:4], n=args.seeds, seed=99, steps=args.steps, **options)  # compile
        start = time.perf_counter()
        faces = np.concatenate(
            [
                generator.generate(
                    specs[i : i + 4],
                    n=args.seeds,
                    seed=0,
                    steps=args.steps,
                    temperature=args.temperature,
                    **options,
                )
                for i in range(0, len(specs), 4)
            ]
        )
        seconds = time.perf_counter() - start
        seen = judge.outputs(faces)  # one judge pass serves all three measures
        per, overall = faithfulness(seen["probabilities"], judge.attributes, specs, args.seeds)
        pix, fea = diversity(faces, seen["features"], len(specs), args.seeds)
        distance = realism(seen["features"])
        report["methods"][name] = {
            "options": options,
            "faithfulness": overall,
            "per_attribute": per,
            "frechet_distance": distance,
            "diversity_pixels": pix,
            "diversity_features": fea,
            "seconds_per_face_batched_16": seconds / len(faces),
        }
        print(
            f"{name:<12} faithfulness {overall:.3f}  realism FD {distance:.1f}  "
            f"diversity px {pix:.3f} feat {fea:.3f}  {seconds / len(faces):.2f} s/face"
        )
        rows = [faces[d * args.seeds : (d + 1) * args.seeds] for d in range(0, len(specs), 3)]
        write_image(
            out / f"generate_{name}.png", make_grid(np.concatenate(rows), columns=args.seeds * 2)
        )
    (out / "generation.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out / 'generation.json'}")


if __name__ == "__main__":
    main()
