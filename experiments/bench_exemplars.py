"""Exemplar targets: realism against copying, by the kernel's width (issue #22).

    python experiments/bench_exemplars.py [--bank 4096] [--seeds 4] [--out experiments/results]

The ``exemplar`` method draws a training portrait that carries the named attributes and
moves its residual coordinates by a Gaussian kernel of ``bandwidth`` residual standard
deviations (``cgmm/exemplars.py``). A narrow kernel keeps real modes (realism) but can
redraw the portrait itself (copying). Here the bank is ``--bank`` rendered portraits
drawn apart from every benchmark's, so each face's source portrait is known. Per
bandwidth, on ``bench_generate.py``'s 32 descriptions x ``--seeds``, through G:

* realism and faithfulness as ``bench_generate.py`` measures them, the distances as
  ratios to its floor of real portraits that carry the same descriptions;
* the copy rate: the share of faces the identity model (``deepface-gen identity``'s)
  verifies as the portrait they were drawn from (at a false-accept rate of 1e-3 on
  held-out people), beside chance: the share of real portraits verified as a random
  bank portrait of the same description, and the share of the default method's
  (``conditional``) faces verified so.

Writes ``exemplars.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from bench_edit import IdentityMeasure
from bench_generate import (
    DESCRIPTIONS,
    add_measure_options,
    measure_faces,
    measurement_setup,
    portraits_like,
    real_portraits,
)

from deepface_gen.attributes import parse_description
from deepface_gen.cgmm import exemplars as exemplars_lib
from deepface_gen.cgmm.fitting import residual_coordinates
from deepface_gen.generation import defaults

BANDWIDTHS = (0.0, 0.25, 0.5, 1.0)
BANK_SEED = 31337  # apart from REAL_SEED, POOL_SEED and the training stream


def bank_of(generator, count: int) -> tuple[exemplars_lib.Exemplars, np.ndarray]:
    """Exemplars of ``count`` rendered portraits, and the portraits (uint8)."""
    cgmm = generator.cgmm
    images, labels = real_portraits(BANK_SEED, count, generator.size)
    acts = generator.classifier.outputs(images, taps=(cgmm.layer,))[cgmm.layer]  # batched
    coordinates = residual_coordinates(cgmm, acts.reshape(count, -1), labels)
    return exemplars_lib.Exemplars(labels.astype(np.float32), coordinates), images


def drawn(generator, bank, specs, seeds: int, bandwidth: float):
    """(faces, the bank row each was drawn from) for every description, ``seeds`` each."""
    targets, rows = [], []
    for d, spec in enumerate(specs):
        key = jax.random.fold_in(jax.random.key(0), d)
        values, named = spec.vector(), spec.mask()
        targets.append(
            exemplars_lib.sample_targets(
                bank, generator.cgmm, values, named, key, seeds, defaults.TEMPERATURE, bandwidth
            )
        )
        weights = exemplars_lib.draw_weights(bank.labels, values, named)
        rows.append(np.asarray(exemplars_lib.drawn_rows(key, weights, seeds)))
    faces = generator.inverter.render(jnp.concatenate(targets))
    return np.round(np.asarray(faces)).clip(0, 255).astype(np.uint8), np.concatenate(rows)


def verified(identity, faces: np.ndarray, portraits: np.ndarray) -> float:
    """Share of pairs (faces[i], portraits[i]) verified as one person."""
    cosine = identity.cosine(identity.model.embed(faces), portraits)
    return float(np.mean(cosine > identity.threshold))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--bank", type=int, default=4096, help="portraits in the exemplar bank")
    args = parser.parse_args()
    generator, judge, realism = measurement_setup(args)
    identity = IdentityMeasure()
    specs = [parse_description(d) for d in DESCRIPTIONS]
    bank, bank_images = bank_of(generator, args.bank)
    same_real, _, _ = portraits_like(specs, args.seeds, generator.size)
    floor = measure_faces(same_real, judge, realism, specs, args.seeds)
    # Chance: a face verified as a random bank portrait of its description.
    rng = np.random.default_rng(0)
    partners = np.concatenate([
        rng.choice(np.flatnonzero(exemplars_lib.agreeing(bank.labels, s.vector(), s.mask())),
                   args.seeds) for s in specs])  # fmt: skip
    default = generator.generate(DESCRIPTIONS, n=args.seeds, seed=0, method="conditional",
                                 render="net")  # fmt: skip
    report = {"bank": args.bank, "seeds": args.seeds, "temperature": defaults.TEMPERATURE,
              "shipped_bandwidth": exemplars_lib.BANDWIDTH,
              "chance_real": verified(identity, same_real, bank_images[partners]),
              "chance_conditional": verified(identity, default, bank_images[partners]),
              "rows": {}}  # fmt: skip
    for bandwidth in BANDWIDTHS:
        faces, rows = drawn(generator, bank, specs, args.seeds, bandwidth)
        measured = measure_faces(faces, judge, realism, specs, args.seeds)
        row = {"faithfulness": measured["faithfulness"],
               "diversity_features": measured["diversity_features"],
               "copied": verified(identity, faces, bank_images[rows])}  # fmt: skip
        for key in ("vgg16_fd", "vgg16_kid", "frechet_distance"):
            if key in measured:
                row[f"{key}_ratio"] = measured[key] / floor[key]
        report["rows"][f"{bandwidth:g}"] = row
        print(bandwidth, json.dumps(row), flush=True)
    out = Path(args.out) / "exemplars.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
