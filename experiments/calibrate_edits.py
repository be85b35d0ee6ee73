"""Calibrate what an edit's strength means, per attribute (generation/calibration.py).

    python experiments/calibrate_edits.py [--model starter] [--level 0.8] [--write]
        [--out experiments/results]

For every attribute the model knows: the generating classifier's mean probability of
the attribute against raw strength, adding it to portraits without it and removing it
from portraits with it (``change`` render), and the gains that make strength 1 reach
``--level`` (the calibration's default, ``calibration.LEVEL``) or, where lower, the
typical probability of portraits that carry it (lack it, for removals; ``--level
typical``: that alone). Writes
``NAME.json`` and ``NAME.png`` (``--name``, by default ``edit_calibration``: the
curves of a few attributes); ``--write`` stores the calibration in the bundle's
inverter record, which ``edit`` then follows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from deepface_gen.analysis.drawing import line_chart
from deepface_gen.generation.calibration import LEVEL, calibrate, parse_level
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.io import bundles
from deepface_gen.io.images import write_image

SHOWN = ("Smiling", "Eyeglasses", "Wearing_Hat", "Blond_Hair", "Gray_Hair", "Mustache")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="starter")
    parser.add_argument("--portraits", type=int, default=24, help="per attribute and direction")
    parser.add_argument("--level", type=parse_level, default=str(LEVEL),
                        help="a probability, or 'typical'")  # fmt: skip
    parser.add_argument("--write", action="store_true", help="store it in the bundle")
    parser.add_argument("--out", default="experiments/results")
    parser.add_argument("--name", default="edit_calibration", help="the files' name")
    args = parser.parse_args()
    generator = FaceGenerator.load(args.model)
    if generator.inverter is None:
        raise SystemExit(f"{args.model} has no learned inverter: nothing to calibrate")
    result = calibrate(generator, portraits=args.portraits, level=args.level)
    for name, entry in sorted(result["attributes"].items(), key=lambda kv: kv[1]["gain"]):
        print(f"{name:<22} gains {entry['gain_add']:.2f} / {entry['gain_remove']:.2f}  "
              f"add {np.round(entry['add'], 2)} (typical {entry['typical_with']:.2f})")  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2))
    strengths = np.asarray(result["strengths"])
    shown = [name for name in SHOWN if name in result["attributes"]]
    curves = result["attributes"]
    series = {name.replace("_", " ").lower(): (strengths, np.asarray(curves[name]["add"]))
              for name in shown}  # fmt: skip
    chart = line_chart(series, "Adding an attribute: classifier's probability", "raw strength",
                       "mean probability", size=(560, 340))  # fmt: skip
    write_image(out / f"{args.name}.png", chart)
    if args.write:
        bundles.update_record(generator.classifier.path, "inverter", {"edit_calibration": result})
        print(f"stored in {generator.classifier.path}")
    print(f"wrote {out / args.name}.json and .png")


if __name__ == "__main__":
    main()
