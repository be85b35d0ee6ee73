"""Anchors: how many of its portrait's broadest residual coordinates a mixture face borrows.

    python experiments/bench_anchors.py [--anchored 0,4,8,16,32,63] [--draws 2] [--bank 4096]

A face of the default targets borrows its unnamed attributes from an agreeing training
portrait; with ``anchored`` = m it also borrows that portrait's first m residual
coordinates (the broadest variations its labels leave) and the mixture draws the others
given them (``cgmm/model.py``, ``ANCHORED_COORDINATES``; ``cgmm/mixture.py``). More
anchors put more of a real portrait into each face: nearer the data, but nearer that
person too; at 63 (all but one of the 64) a face is its portrait's own coordinates, the
ceiling of borrowing. Here the portraits lent from are a bank of ``--bank`` rendered
portraits apart from every benchmark's (``bench_exemplars.py``'s), and for each m, the
benchmark's 32 descriptions x ``--seeds`` are drawn ``--draws`` times through G (``net``):

* faithfulness, realism and diversity as ``bench_generate.py`` measures them, each
  distance the mean over the draws, as a ratio to the same-description floor (the mean
  over its own draws);
* memorization: the share of faces the identity model verifies as *any* bank portrait
  (at a false-accept rate of 1e-3), beside the same share for new real portraits of the
  same descriptions (every draw of the floor);
* attributes nobody asked for (``bench_generate.unasked_rates``): the mean gap to the
  floor's rates over all attributes, and lipstick's rate alone (``net``'s largest gap).

Writes ``anchors.json`` and ``anchors.png`` (the same descriptions and seeds at each m).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from bench_exemplars import bank_setup, memorized
from bench_generate import add_measure_options, measure_faces, unasked_gap, unasked_rates

from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.io.images import make_grid, write_image

# The figure's descriptions (DESCRIPTIONS): male; blond hair; smiling woman; old, gray hair,
# eyeglasses; female, wavy hair, lipstick; old, male, gray hair, beard.
SHOWN = (0, 9, 12, 21, 24, 27)
LIPSTICK = "Wearing_Lipstick"  # net's largest unasked gap (docs/generate.md, Measured)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--anchored", default="0,4,8,16,32,63")
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--bank", type=int, default=4096)
    args = parser.parse_args()
    setup = bank_setup(args)
    generator, judge, realism, identity, specs, bank, bank_embedded, floor, new_people = setup
    memorized_real = memorized(identity, new_people, bank_embedded)
    floor_rates = unasked_rates(judge.outputs(new_people)["probabilities"], judge.attributes,
                                specs, len(new_people) // len(specs))  # fmt: skip
    report = {"bank": args.bank, "seeds": args.seeds, "draws": args.draws,
              "shipped": cgmm_lib.ANCHORED_COORDINATES, "memorized_real": memorized_real,
              "lipstick_real": floor_rates[LIPSTICK], "rows": {}}  # fmt: skip
    sheet, captions = [], []
    for anchored in (int(m) for m in args.anchored.split(",")):
        cgmm = dataclasses.replace(generator.cgmm, exemplars=bank, anchored=anchored)
        drawer = dataclasses.replace(generator, cgmm=cgmm)
        per_description = args.seeds * args.draws
        faces = drawer.generate(specs, n=per_description, seed=0, render="net")
        seen = judge.outputs(faces)  # one judge pass serves every measure
        measured = measure_faces(faces, judge, realism, specs, args.seeds, args.draws, seen)
        memorized_faces = memorized(identity, faces, bank_embedded)
        rates = unasked_rates(seen["probabilities"], judge.attributes, specs, per_description)
        row = {"anchored": anchored, "faithfulness": measured["faithfulness"],
               "diversity_features": measured["diversity_features"], "memorized": memorized_faces,
               "kid_spread_ratio": measured.get("spread", {}).get("vgg16_kid", 0.0)
               / floor["vgg16_kid"], "unasked_gap": unasked_gap(rates, floor_rates)["gap"],
               "lipstick": rates[LIPSTICK]}  # fmt: skip
        for key in ("vgg16_fd", "vgg16_kid", "frechet_distance"):
            if key in measured:
                row[f"{key}_ratio"] = measured[key] / floor[key]
        report["rows"][str(anchored)] = row
        print(json.dumps(row), flush=True)
        shown = faces.reshape(len(specs), per_description, *faces.shape[1:])[list(SHOWN), :2]
        sheet.append(shown.reshape(-1, *faces.shape[1:]))
        captions += [f"{anchored} anchored"] + [""] * (len(SHOWN) * 2 - 1)
    out = Path(args.out)
    (out / "anchors.json").write_text(json.dumps(report, indent=2))
    faces = np.concatenate(sheet).repeat(2, axis=1).repeat(2, axis=2)
    write_image(out / "anchors.png", make_grid(faces, len(SHOWN) * 2, captions))
    print(f"wrote {out / 'anchors.json'} and {out / 'anchors.png'}")


if __name__ == "__main__":
    main()
