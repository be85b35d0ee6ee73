"""Exemplar targets: realism against copying, by the kernel's width and blending (issue #22).

    python experiments/bench_exemplars.py [--bank 4096] [--seeds 4] [--out experiments/results]

The ``exemplar`` method draws a training portrait that carries the named attributes and
moves its residual coordinates by a Gaussian kernel of ``bandwidth`` residual standard
deviations (``cgmm/exemplars.py``), or blends it with one of its near neighbours first.
A narrow kernel keeps real modes (realism) but can redraw the portrait itself (copying).
Here the bank is ``--bank`` rendered portraits drawn apart from every benchmark's, so each
face's source portraits are known. Per setting (kernel width, neighbours blended), on
``bench_generate.py``'s 32 descriptions x ``--seeds``, through G:

* realism and faithfulness as ``bench_generate.py`` measures them, the distances as
  ratios to its floor of real portraits that carry the same descriptions;
* the copy rate: the share of faces the identity model (``deepface-gen identity``'s)
  verifies as a portrait they were drawn from (at a false-accept rate of 1e-3 on
  held-out people), beside chance: the share of real portraits verified as a random
  bank portrait of the same description, and the share of the default method's
  faces verified so;
* memorization: the share of faces verified as *any* bank portrait, beside the same
  share for held-out real portraits of the same descriptions (new people): a method
  above it sits nearer the people it drew from than new people do.

Writes ``exemplars.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from bench_edit import IdentityMeasure
from bench_generate import (
    DESCRIPTIONS,
    FLOOR_DRAWS,
    add_measure_options,
    draw_subsets,
    measure_faces,
    measurement_setup,
    real_portraits,
    redraw,
    same_description_floor,
)

from deepface_gen.attributes import parse_description
from deepface_gen.cgmm import exemplars as exemplars_lib
from deepface_gen.cgmm.fitting import residual_coordinates
from deepface_gen.generation import defaults

# (kernel width, neighbours blended): the kernel alone, then blends of two near portraits.
SETTINGS = ((0.0, 0), (0.5, 0), (0.75, 0), (1.0, 0), (0.0, 8), (0.25, 8), (0.5, 8))
BANK_SEED = 31337  # apart from REAL_SEED, POOL_SEED and the training stream


def bank_of(generator, count: int) -> tuple[exemplars_lib.Exemplars, np.ndarray]:
    """Exemplars of ``count`` rendered portraits, and the portraits (uint8)."""
    cgmm = generator.cgmm
    images, labels = real_portraits(BANK_SEED, count, generator.size)
    acts = generator.classifier.outputs(images, taps=(cgmm.layer,))[cgmm.layer]  # batched
    coordinates = residual_coordinates(cgmm, acts.reshape(count, -1), labels)
    return exemplars_lib.Exemplars(labels.astype(np.float32), coordinates), images


def drawn(generator, bank, specs, seeds: int, bandwidth: float, neighbours: int = 0):
    """(faces, the bank rows each was drawn from, their blend partners) for every
    description, ``seeds`` each."""
    targets, rows, partners = [], [], []
    for d, spec in enumerate(specs):
        key = jax.random.fold_in(jax.random.key(0), d)
        values, named = spec.vector(), spec.mask()
        targets.append(
            exemplars_lib.sample_targets(
                bank, generator.cgmm, values, named, key, seeds, defaults.TEMPERATURE,
                bandwidth, neighbours,
            )
        )  # fmt: skip
        weights = exemplars_lib.draw_weights(bank.labels, values, named)
        pair = exemplars_lib.drawn_pairs(key, jnp.asarray(bank.coordinates), weights, seeds,
                                         neighbours)  # fmt: skip
        rows.append(np.asarray(pair[0]))
        partners.append(np.asarray(pair[1]))
    faces = redraw(generator.inverter, jnp.concatenate(targets))
    return faces, np.concatenate(rows), np.concatenate(partners)


class BankSetup(NamedTuple):
    """What the memorization benchmarks share: the measures, the bank and the floor."""

    generator: object
    judge: object
    realism: object
    identity: IdentityMeasure
    specs: list
    bank: exemplars_lib.Exemplars
    bank_embedded: np.ndarray  # the bank portraits' identity embeddings
    floor: dict  # the same-description floor (bench_generate.same_description_floor)
    new_people: np.ndarray  # its portraits: real people of the descriptions, not in the bank


def bank_setup(args: argparse.Namespace) -> BankSetup:
    """The generator, judge and realism measure of ``args``, the identity model, the
    benchmark's descriptions, a bank of ``args.bank`` portraits (embedded) and the floor."""
    generator, judge, realism = measurement_setup(args)
    identity = IdentityMeasure()
    specs = [parse_description(d) for d in DESCRIPTIONS]
    bank, bank_images = bank_of(generator, args.bank)
    floor, new_people, _ = same_description_floor(specs, args.seeds, generator.size, judge, realism)
    return BankSetup(generator, judge, realism, identity, specs, bank,
                     identity.model.embed(bank_images), floor, new_people)  # fmt: skip


def memorized(identity, faces: np.ndarray, bank_embedded: np.ndarray) -> float:
    """The share of faces verified as any bank portrait (embedded: ``bank_embedded``)."""
    cosine = identity.model.embed(faces) @ bank_embedded.T
    return float(np.mean(cosine.max(axis=1) > identity.threshold))


def verification(identity, faces, bank_embedded, *sources: np.ndarray) -> tuple[float, float]:
    """(share of faces verified as one of their own bank portraits, ``sources[k][i]`` for
    face i; share verified as anyone in the bank), embedding the faces once."""
    cosine = identity.model.embed(faces) @ bank_embedded.T  # (N, bank)
    faces_index = np.arange(len(faces))
    own = np.any([cosine[faces_index, rows] > identity.threshold for rows in sources], axis=0)
    return float(own.mean()), float(np.mean(cosine.max(axis=1) > identity.threshold))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--bank", type=int, default=4096, help="portraits in the exemplar bank")
    args = parser.parse_args()
    setup = bank_setup(args)
    generator, judge, realism, identity, specs, bank, bank_embedded, floor, same_real = setup
    # Chance: a face verified as a random bank portrait of its description.
    rng = np.random.default_rng(0)
    partners = np.concatenate([
        rng.choice(np.flatnonzero(exemplars_lib.agreeing(bank.labels, s.vector(), s.mask())),
                   args.seeds) for s in specs])  # fmt: skip
    default = generator.generate(DESCRIPTIONS, n=args.seeds, seed=0, render="net")
    # Chance on the floor's first draw (as many faces as each setting's); memorization on
    # every draw of new people.
    first_draw = draw_subsets(same_real, len(specs), FLOOR_DRAWS)[0]
    chance_real, _ = verification(identity, first_draw, bank_embedded, partners)
    memorized_real = memorized(identity, same_real, bank_embedded)
    chance_default, memorized_default = verification(identity, default, bank_embedded, partners)
    report = {"bank": args.bank, "seeds": args.seeds, "temperature": defaults.TEMPERATURE,
              "shipped": {"bandwidth": exemplars_lib.BANDWIDTH, "neighbours": 0},
              "mix": exemplars_lib.MIX,
              "default_method": generator.plan("smiling").method,
              "chance_real": chance_real, "chance_default": chance_default,
              "memorized_real": memorized_real, "memorized_default": memorized_default,
              "rows": {}}  # fmt: skip
    for bandwidth, neighbours in SETTINGS:
        faces, rows, blended = drawn(generator, bank, specs, args.seeds, bandwidth, neighbours)
        measured = measure_faces(faces, judge, realism, specs, args.seeds)
        copied, memorized_faces = verification(identity, faces, bank_embedded, rows, blended)
        row = {"bandwidth": bandwidth, "neighbours": neighbours,
               "faithfulness": measured["faithfulness"],
               "diversity_features": measured["diversity_features"],
               "copied": copied, "memorized": memorized_faces}  # fmt: skip
        for key in ("vgg16_fd", "vgg16_kid", "frechet_distance"):
            if key in measured:
                row[f"{key}_ratio"] = measured[key] / floor[key]
        report["rows"][f"width {bandwidth:g}, {neighbours} neighbours"] = row
        print(json.dumps(row), flush=True)
    out = Path(args.out) / "exemplars.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
