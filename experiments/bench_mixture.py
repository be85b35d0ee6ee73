"""How many Gaussians: the mixture's K against realism, diversity and faithfulness.

    python experiments/bench_mixture.py [--model starter] [--ks 1,2,4,8,16] [--examples 4096]

For each K, a mixture over the cGMM's [attributes, residual coordinates] is fitted
on the same coordinates (one pass over ``--examples`` training portraits) and the
benchmark's 32 descriptions x 4 seeds are rendered through the learned inverter in
one pass (``net``), so the targets alone differ, each method at its default
temperature with the unnamed attributes borrowed from agreeing training portraits. The
conditional cGMM (one Gaussian for the residual) is the row "conditional".
Writes ``mixture_sweep.json``; ``--write K`` then stores the chosen K in the bundle.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from bench_generate import DESCRIPTIONS, add_measure_options, measure_faces, measurement_setup

from deepface_gen.attributes import parse_description
from deepface_gen.cgmm import fitting
from deepface_gen.cgmm.fit import fit_mixture_and_store
from deepface_gen.data import input_pipeline
from deepface_gen.generation.generator import FaceGenerator


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--ks", default="1,2,4,8,16")
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--write", type=int, default=None, help="store this K in the bundle")
    args = parser.parse_args()
    generator, judge, realism = measurement_setup(args)
    if generator.inverter is None:
        raise SystemExit(f"{args.model} has no learned inverter; train one first")
    source = input_pipeline.make_source("synthetic", "train", generator.size, 128, 0)
    began = time.perf_counter()
    y = fitting.coordinates(generator.classifier, source, generator.cgmm, args.examples)
    print(f"coordinates of {len(y)} portraits in {time.perf_counter() - began:.0f} s")
    specs = [parse_description(d) for d in DESCRIPTIONS]

    def score(gen: FaceGenerator, method: str) -> dict:
        faces = gen.generate(specs, n=args.seeds, seed=0, method=method, render="net")
        return measure_faces(faces, judge, realism, specs, args.seeds)

    rows = {"conditional": score(generator, "conditional")}
    print("conditional", json.dumps(rows["conditional"]))
    for k in (int(v) for v in args.ks.split(",")):
        began = time.perf_counter()
        fitted = fitting.fit_mixture(y, k)
        seconds = time.perf_counter() - began
        gen = dataclasses.replace(
            generator, cgmm=dataclasses.replace(generator.cgmm, mixture=fitted)
        )
        rows[f"K={k}"] = {**score(gen, "mixture"), "fit_seconds": seconds}
        print(f"K={k}", json.dumps(rows[f"K={k}"]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"examples": len(y), "seeds": args.seeds, "render": "net", "rows": rows}
    (out / "mixture_sweep.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {out / 'mixture_sweep.json'}")
    if args.write:
        fit_mixture_and_store(
            generator.classifier, source, generator.cgmm, args.write, args.examples
        )
        print(f"stored a {args.write}-component mixture in {generator.classifier.path}")


if __name__ == "__main__":
    main()
