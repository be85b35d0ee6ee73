"""Variety of generated faces: temperature and target method, and no copies of the data.

    python experiments/bench_variety.py [--model starter] [--judge experiments/models/independent] \
        [--temperatures 0.3,0.5,0.7,0.85,1.0] \
        [--methods mixture,mixture_unborrowed,conditional,conditional_unborrowed,exemplar] \
        [--seeds 4] \
        [--train-portraits 4096] [--out experiments/results]

For each target method and temperature, ``net`` draws bench_generate's 32 descriptions
x ``--seeds``, measured as there (faithfulness by the independent judge, realism
against the same-descriptions floor, diversity in the judge's features), so the
defaults can be chosen by realism and faithfulness together. ``METHOD_unborrowed`` is
a method as a bundle without stored exemplars draws it, as both did before borrowing:
the conditional method's unnamed attributes at their Gaussian expectation
(``model.fill_in``), the mixture's drawn by the mixture given the named ones, instead of
borrowed from an agreeing training portrait.

Copies: each face's nearest neighbour among ``--train-portraits`` portraits of the
training stream (the synthetic source at the trainers' seed: what the classifier, the
cGMM and G learned from), in the judge's features, against the same distance for real
held-out portraits that carry the same descriptions. A generator that memorized its
data would sit far nearer the training set than held-out portraits do (ratio << 1).

Writes ``variety.json`` and ``variety.png`` (faces of the default method at its default
temperature, each beside its nearest training portrait).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from bench_generate import (
    DESCRIPTIONS,
    add_measure_options,
    measure_faces,
    measurement_setup,
    same_description_floor,
)

from deepface_gen.attributes import parse_description
from deepface_gen.data import input_pipeline
from deepface_gen.io.images import make_grid, write_image

TRAINING_SEED = 0  # the seed configs/starter.py and configs/inverter_starter.py stream with


def training_portraits(size: int, n: int, batch: int = 256) -> np.ndarray:
    """The first ``n`` portraits of the synthetic training stream, uint8."""
    source = input_pipeline.make_source("synthetic", "train", size, batch, TRAINING_SEED)
    images = [np.asarray(source.batch(i).images) for i in range(-(-n // batch))]
    return np.concatenate(images)[:n].astype(np.uint8)


def nearest(features: np.ndarray, bank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance to, and index of, each row's nearest row of ``bank`` (Euclidean)."""
    d2 = (features**2).sum(1)[:, None] - 2 * features @ bank.T + (bank**2).sum(1)[None]
    index = np.argmin(d2, axis=1)
    return np.sqrt(np.maximum(d2[np.arange(len(features)), index], 0.0)), index


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--temperatures", default="0.3,0.5,0.7,0.85,1.0")
    parser.add_argument(
        "--methods",
        default="mixture,mixture_unborrowed,conditional,conditional_unborrowed,exemplar",
    )
    parser.add_argument("--train-portraits", type=int, default=4096)
    args = parser.parse_args()
    generator, judge, realism = measurement_setup(args)
    specs = [parse_description(d) for d in DESCRIPTIONS]
    floor, held_out, _ = same_description_floor(specs, args.seeds, generator.size, judge, realism)
    train = training_portraits(generator.size, args.train_portraits)
    bank = judge.outputs(train)["features"]
    held_distance = nearest(judge.outputs(held_out)["features"], bank)[0]
    report = {"floor": floor, "train_portraits": len(train),
              "held_out_nearest_train_distance": float(np.median(held_distance)),
              "rows": {}}  # fmt: skip
    sheet, captions = [], []
    shown = generator.plan(specs[0])  # the model's default method at its own temperature
    for name in args.methods.split(","):
        method, drawer = name.removesuffix("_unborrowed"), generator
        if method != name:
            plain = dataclasses.replace(generator.cgmm, exemplars=None)
            drawer = dataclasses.replace(generator, cgmm=plain)
        if (method == "mixture" and generator.cgmm.mixture is None) or (
            (method == "exemplar" or method != name) and generator.cgmm.exemplars is None
        ):
            continue
        for temperature in (float(t) for t in args.temperatures.split(",")):
            faces = np.concatenate(
                [drawer.generate(specs[i : i + 8], n=args.seeds, seed=0, render="net",
                                 method=method, temperature=temperature)
                 for i in range(0, len(specs), 8)]
            )  # fmt: skip
            seen = judge.outputs(faces)  # one judge pass serves every measure
            measured = measure_faces(faces, judge, realism, specs, args.seeds, seen=seen)
            distance, index = nearest(seen["features"], bank)
            ratio = float(np.median(distance) / np.median(held_distance))
            row = {
                **measured,
                "nearest_train_distance_ratio": ratio,
                "vgg16_fd_ratio": measured.get("vgg16_fd", np.nan) / floor.get("vgg16_fd", 1),
                "judge_fd_ratio": measured["frechet_distance"] / floor["frechet_distance"],
            }
            report["rows"][f"{name}@{temperature:g}"] = row
            print(f"{name} T={temperature:g}: faithfulness {row['faithfulness']:.3f} "
                  f"judge FD/floor {row['judge_fd_ratio']:.2f} VGG16 FD/floor "
                  f"{row['vgg16_fd_ratio']:.2f} diversity {row['diversity_features']:.3f} "
                  f"nearest-train ratio {ratio:.2f}", flush=True)  # fmt: skip
            if name == shown.method and temperature == shown.temperature:
                picks = np.arange(0, len(faces), max(1, len(faces) // 8))[:8]
                for k in picks:
                    sheet += [faces[k], train[index[k]]]
                    captions += [DESCRIPTIONS[k // args.seeds], ""]  # runs on under both
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "variety.json").write_text(json.dumps(report, indent=2))
    if sheet:
        title = (
            f"Each pair: a face drawn at temperature {shown.temperature:g} (left; its "
            "description below) and its nearest training portrait in the judge's features"
        )
        grid = make_grid(sheet, columns=8, captions=captions, zoom=2, title=title)
        write_image(out / "variety.png", grid)
    print(f"wrote {out / 'variety.json'}")


if __name__ == "__main__":
    main()
