"""How many Gaussians: the mixture's K against realism, memorization and faithfulness.

    python experiments/bench_mixture.py [--ks 1,8,16,32] [--examples 4096] [--draws 3]

For each K, a mixture over the cGMM's [attributes, residual coordinates] is fitted
on the same coordinates of ``--examples`` training portraits, and everything else is the
default targets': every face borrows its unnamed attributes and its broadest residual
coordinates (the shipped anchors) from an agreeing portrait, at the default temperature,
and is rendered through G in one pass (``net``), so the targets' mixture alone differs.
The portraits lent from are ``bench_anchors.py``'s bank, apart from every benchmark's,
and each K is measured as that benchmark measures its rows (``--draws`` draws of the 32
descriptions x ``--seeds``; realism as ratios to the same-description floor; how often a
face is verified as any bank portrait; attributes nobody asked for), so a K's lead can
be read against two draws' spread.

Writes ``mixture_sweep.json`` and ``mixture_sweep.png`` (the same descriptions and seeds
at each K); ``--write K`` then stores a K-component mixture in the bundle.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from bench_anchors import bank_report, measure_drawer, shown_faces, write_sheet
from bench_exemplars import bank_setup
from bench_generate import add_measure_options

from deepface_gen.cgmm import fitting
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.cgmm.fit import fit_mixture_and_store
from deepface_gen.data import input_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--ks", default="1,8,16,32")
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--bank", type=int, default=4096)
    parser.add_argument("--write", type=int, default=None, help="store this K in the bundle")
    args = parser.parse_args()
    setup = bank_setup(args)
    generator = setup.generator
    if generator.inverter is None:
        raise SystemExit(f"{args.model} has no learned inverter; train one first")
    source = input_pipeline.make_source("synthetic", "train", generator.size, 128, 0)
    began = time.perf_counter()
    y = fitting.coordinates(generator.classifier, source, generator.cgmm, args.examples)
    print(f"coordinates of {len(y)} portraits in {time.perf_counter() - began:.0f} s")
    report, floor_rates = bank_report(
        setup, args, examples=len(y), render="net", anchored=cgmm_lib.ANCHORED_COORDINATES,
        shipped=generator.cgmm.mixture.components,
    )  # fmt: skip
    sheets, labels = [], []
    for k in (int(v) for v in args.ks.split(",")):
        began = time.perf_counter()
        fitted = fitting.fit_mixture(y, k)
        seconds = time.perf_counter() - began
        cgmm = dataclasses.replace(generator.cgmm, exemplars=setup.bank, mixture=fitted)
        drawer = dataclasses.replace(generator, cgmm=cgmm)
        row, faces = measure_drawer(drawer, setup, floor_rates, args.seeds, args.draws)
        report["rows"][f"K={k}"] = {"components": k, **row, "fit_seconds": seconds}
        print(f"K={k}", json.dumps(report["rows"][f"K={k}"]), flush=True)
        sheets.append(shown_faces(faces, len(setup.specs), args.seeds * args.draws))
        labels.append(f"K={k}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "mixture_sweep.json").write_text(json.dumps(report, indent=2))
    write_sheet(out / "mixture_sweep.png", sheets, labels)
    print(f"wrote {out / 'mixture_sweep.json'} and {out / 'mixture_sweep.png'}")
    if args.write:
        fit_mixture_and_store(
            generator.classifier, source, generator.cgmm, args.write, args.examples,
            coordinates=y,
        )  # fmt: skip
        print(f"stored a {args.write}-component mixture in {generator.classifier.path}")


if __name__ == "__main__":
    main()
