"""Where the VAE's latents come from: N(0, T^2 I) against the fitted aggregate posterior.

    python experiments/bench_vae_prior.py [--model starter] [--components 10] [--write]

The encoder's means of ``--batches`` x 32 training portraits are fitted with a
Gaussian mixture (``training/vae.py: fit_latent_density``); the benchmark's 32
descriptions x 4 seeds are decoded from latents drawn both ways, with the same
completed attribute vectors, and measured as ``bench_generate.py`` measures methods.
The fitted density wins where, in every draw, its faces are nearer the data (judge
FD) and no less faithful (within 0.01). Writes ``vae_prior.json`` with the winner;
``--write`` stores the density in the bundle and makes the winner the VAE's default
prior (``VAE.default_prior``: what ``generate --backend vae`` uses unless told).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
from bench_generate import (
    DESCRIPTIONS,
    add_measure_options,
    faithfulness,
    measure_faces,
    measurement_setup,
)

from deepface_gen.attributes import parse_description
from deepface_gen.data import input_pipeline
from deepface_gen.generation import defaults, hybrid
from deepface_gen.io.images import make_grid, write_image
from deepface_gen.training.vae import fit_latent_density, store_latent_density


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--components", type=int, default=10)
    parser.add_argument("--batches", type=int, default=64)
    parser.add_argument("--draws", type=int, default=2, help="independent draws of the faces")
    parser.add_argument("--write", action="store_true", help="store the density in the bundle")
    args = parser.parse_args()
    generator, judge, realism = measurement_setup(args)
    vae = hybrid.require_vae(generator.vae, generator.classifier.path)
    source = input_pipeline.make_source("synthetic", "train", vae.config.size, 32, 0)
    batches = [source.batch(i) for i in range(args.batches)]
    density = fit_latent_density(vae, batches, args.components)
    fitted_vae = dataclasses.replace(vae, density=density)
    specs = [parse_description(d) for d in DESCRIPTIONS]
    rows, sheets, per_attribute = {}, [], {}
    for draw in range(args.draws):
        # The same completed attribute vectors for both priors: only the latents differ.
        key = jax.random.key(2 * draw)
        conditions, _ = hybrid.vae_start(vae, generator.size, specs, args.seeds, key, 1.0)
        for prior, model in (("gaussian", vae), ("fitted", fitted_vae)):
            images = model.sample(
                conditions, jax.random.key(2 * draw + 1), defaults.TEMPERATURE, prior=prior
            )
            faces = np.round(np.asarray(images)).astype(np.uint8)
            name = prior if draw == 0 else f"{prior}, draw {draw + 1}"
            rows[name] = measure_faces(faces, judge, realism, specs, args.seeds)
            per_attribute[name] = faithfulness(
                judge.probabilities(faces), judge.attributes, specs, args.seeds
            )[0]
            print(name, json.dumps(rows[name]))
            if draw == 0:
                sheets.append(faces[: 8 * args.seeds])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = winner(rows, args.draws)
    payload = {"components": len(density.weights), "encoded": args.batches * 32, "rows": rows,
               "per_attribute": per_attribute, "default_prior": chosen}  # fmt: skip
    (out / "vae_prior.json").write_text(json.dumps(payload, indent=2))
    write_image(out / "vae_prior.png", make_grid(np.concatenate(sheets), columns=2 * args.seeds))
    print(f"wrote {out / 'vae_prior.json'}")
    print(f"default prior by this measure: {chosen}")
    if args.write:
        stored = store_latent_density(generator.classifier.path, density, default_prior=chosen)
        print(f"stored in {stored}")


def winner(rows: dict, draws: int) -> str:
    """``fitted`` where it is nearer the data in every draw and no less faithful."""
    for draw in range(draws):
        suffix = "" if draw == 0 else f", draw {draw + 1}"
        fitted, gaussian = rows[f"fitted{suffix}"], rows[f"gaussian{suffix}"]
        nearer = fitted["frechet_distance"] < gaussian["frechet_distance"]
        if not nearer or fitted["faithfulness"] < gaussian["faithfulness"] - 0.01:
            return "gaussian"
    return "fitted"


if __name__ == "__main__":
    main()
