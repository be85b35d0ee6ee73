"""The edit figure: synthetic portraits edited at strengths 0, 0.5, 1 (the default: where the
classifier reads the change at the calibrated level) and 1.5.

    python experiments/edit_sweep.py [--model starter] [--out experiments/results]

Prints the classifier's probability of the target attribute at each strength, and
writes it under each tile of ``edit_sweep.png`` (2x zoom).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import numpy as np

from deepface_gen.attributes import ATTRIBUTE_INDEX
from deepface_gen.data import synth
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.io.images import make_grid, write_image

STRENGTHS = (0.0, 0.5, 1.0, 1.5)  # 1: the default (calibration.LEVEL)
EDITS = (("Smiling", "+smiling"), ("Eyeglasses", "+eyeglasses"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="starter")
    parser.add_argument("--seed", type=int, default=77)
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    generator = FaceGenerator.load(args.model)
    if generator.edit_gains is None:
        raise SystemExit(f"{args.model} has no edit calibration: run calibrate_edits.py --write")
    portraits = synth.sample_portraits(jax.random.key(args.seed), 4, size=generator.size)
    images = synth.to_uint8(portraits.images)
    panels, captions = [], []
    for name, description in EDITS:
        edited = generator.edit(images, description, strengths=STRENGTHS)
        for i, row in enumerate(edited):
            p = generator.classifier.probabilities(row)[:, ATTRIBUTE_INDEX[name]]
            print(f"{description} portrait {i}: p({name}) by strength {np.round(p, 2).tolist()}")
            panels.extend(row)
            # Each tile says its edit, its strength and the classifier's probability.
            captions += [
                f"{description} {s:g}: p {v:.2f}" for s, v in zip(STRENGTHS, p, strict=True)
            ]
    out = Path(args.out)
    grid = make_grid(panels, columns=2 * len(STRENGTHS), captions=captions, zoom=2)
    path = write_image(out / "edit_sweep.png", grid)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
