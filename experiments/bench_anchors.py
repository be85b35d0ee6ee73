"""Anchors: how many of its portrait's broadest residual coordinates a mixture face borrows.

    python experiments/bench_anchors.py [--anchored 0,4,8,16,32,63] [--draws 2] [--bank 4096]
    python experiments/bench_anchors.py --border 0,4,8,16,32     # anchors_border.json

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
With ``--border``, the rows are instead the shipped m with each count of border
directions borrowed beyond them (``cgmm/anchors.py``: the directions that set the
background), written to ``anchors_border.json`` and ``anchors_border.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from bench_exemplars import bank_setup, memorized
from bench_generate import (
    add_measure_options,
    measure_faces,
    unasked_floor,
    unasked_gap,
    unasked_rates,
)

from deepface_gen.cgmm import anchors as anchors_lib
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.io.images import make_grid, write_image

# The figure's descriptions (DESCRIPTIONS): male; blond hair; smiling woman; old, gray hair,
# eyeglasses; female, wavy hair, lipstick; old, male, gray hair, beard.
SHOWN = (0, 9, 12, 21, 24, 27)
LIPSTICK = "Wearing_Lipstick"  # net's largest unasked gap (docs/generate.md, Measured)


def bank_report(setup, args, **extra) -> tuple[dict, dict]:
    """(the report's head, which every row is read against, with ``extra`` and empty rows;
    the same-description portraits' rates of every attribute where nobody asked for it
    (``unasked_rates``), what each row's ``unasked_gap`` is read against)."""
    judge, specs, new_people = setup.judge, setup.specs, setup.new_people
    floor = unasked_floor(specs, args.seeds * args.draws, setup.generator.size, judge)
    rates = floor["floor"]
    report = {"bank": args.bank, "seeds": args.seeds, "draws": args.draws, **extra,
              "memorized_real": memorized(setup.identity, new_people, setup.bank_embedded),
              "lipstick_real": rates[LIPSTICK], "unasked_portraits": floor["portraits"],
              "rows": {}}  # fmt: skip
    return report, rates


def measure_drawer(drawer, setup, floor_rates: dict, seeds: int, draws: int):
    """(row, faces): ``drawer``'s ``net`` faces of the benchmark's descriptions, ``seeds``
    x ``draws`` each, measured as the module docstring says; ``faces`` in description
    order."""
    specs, judge, floor = setup.specs, setup.judge, setup.floor
    per_description = seeds * draws
    faces = drawer.generate(specs, n=per_description, seed=0, render="net")
    seen = judge.outputs(faces)  # one judge pass serves every measure
    measured = measure_faces(faces, judge, setup.realism, specs, seeds, draws, seen)
    rates = unasked_rates(seen["probabilities"], judge.attributes, specs, per_description)
    row = {"faithfulness": measured["faithfulness"],
           "diversity_features": measured["diversity_features"],
           "memorized": memorized(setup.identity, faces, setup.bank_embedded),
           "kid_spread_ratio": measured.get("spread", {}).get("vgg16_kid", 0.0)
           / floor["vgg16_kid"], "unasked_gap": unasked_gap(rates, floor_rates)["gap"],
           "lipstick": rates[LIPSTICK]}  # fmt: skip
    for key in ("vgg16_fd", "vgg16_kid", "frechet_distance"):
        if key in measured:
            row[f"{key}_ratio"] = measured[key] / floor[key]
    return row, faces


def shown_faces(faces: np.ndarray, descriptions: int, per_description: int) -> np.ndarray:
    """The figure's two faces of each ``SHOWN`` description, at 2x."""
    shown = faces.reshape(descriptions, per_description, *faces.shape[1:])[list(SHOWN), :2]
    return shown.reshape(-1, *faces.shape[1:]).repeat(2, axis=1).repeat(2, axis=2)


def write_sheet(path: Path, sheets: list[np.ndarray], labels: list[str]) -> None:
    """One row of ``shown_faces`` per entry, each captioned with its label."""
    captions = [c for label in labels for c in [label] + [""] * (len(SHOWN) * 2 - 1)]
    write_image(path, make_grid(np.concatenate(sheets), len(SHOWN) * 2, captions))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--anchored", default="0,4,8,16,32,63")
    parser.add_argument("--border", default=None, help="border directions per row, e.g. 0,8,16")
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--bank", type=int, default=4096)
    args = parser.parse_args()
    setup = bank_setup(args)
    if args.border is None:  # (anchored, border) per row, and what is written
        rows, name = [(int(m), 0) for m in args.anchored.split(",")], "anchors"
    else:
        shipped = cgmm_lib.ANCHORED_COORDINATES
        rows, name = [(shipped, int(b)) for b in args.border.split(",")], "anchors_border"
    report, floor_rates = bank_report(setup, args, shipped=cgmm_lib.ANCHORED_COORDINATES,
                                      shipped_border=anchors_lib.BORDER_ANCHORED)  # fmt: skip
    sheets, labels = [], []
    for anchored, border in rows:
        cgmm = dataclasses.replace(setup.generator.cgmm, exemplars=setup.bank, anchored=anchored,
                                   border_anchored=border)  # fmt: skip
        drawer = dataclasses.replace(setup.generator, cgmm=cgmm)
        row, faces = measure_drawer(drawer, setup, floor_rates, args.seeds, args.draws)
        label = f"{anchored}" if args.border is None else f"{anchored}+{border}"
        report["rows"][label] = {"anchored": anchored, "border": border, **row}
        print(json.dumps(report["rows"][label]), flush=True)
        sheets.append(shown_faces(faces, len(setup.specs), args.seeds * args.draws))
        labels.append(f"{anchored} anchored" + (f" + {border} border" if args.border else ""))
    out = Path(args.out)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2))
    write_sheet(out / f"{name}.png", sheets, labels)
    print(f"wrote {out / name}.json and .png")


if __name__ == "__main__":
    main()
