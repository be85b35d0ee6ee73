"""Calibrate and measure the out-of-domain check of a model (default: the starter).

    python experiments/calibrate_domain.py [--model starter] [--write]

The threshold is the 99th percentile of held-out training-domain distances times 1.5
(``cgmm/domain.py``), computed from the model's training data (synthetic portraits for
the starter). Then it measures how often the check fires on fresh rendered portraits
(it should not), on faces the model generated, on real photographs (scikit-image's
sample photos: it should) and on noise. ``--write`` stores the threshold in the
bundle's manifest (``deepface-gen fit`` does this for every new fit). Writes
``experiments/results/domain.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from deepface_gen.cgmm import domain
from deepface_gen.data import synth
from deepface_gen.data.input_pipeline import SyntheticSource
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.io import bundles
from deepface_gen.io.images import fit_to_model

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="starter")
    parser.add_argument("--write", action="store_true", help="store the threshold in the bundle")
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    gen = FaceGenerator.load(args.model)
    size = gen.size
    train = SyntheticSource(size, 64, seed=0, split="train")
    threshold, held_out = domain.calibrate(gen.classifier, gen.cgmm, train)
    test = synth.to_uint8(synth.sample_portraits(synth_key(12345), 256, size=size).images)
    generated = gen.generate(["smiling woman", "old man, eyeglasses", "young, blond"], n=4)
    try:
        from skimage import data
    except ImportError:
        raise SystemExit(
            "calibrate_domain.py reads scikit-image's sample photographs; install them with: "
            "pip install -e '.[experiments]'"
        ) from None
    photos = np.stack([fit_to_model(np.asarray(getattr(data, n)()), size) for n in PHOTOS])
    noise = np.random.default_rng(0).integers(0, 256, (16, size, size, 3)).astype(np.uint8)
    sets = {"test portraits": test, "generated faces": generated, "photographs": photos,
            "noise": noise}  # fmt: skip
    report = {"threshold": threshold, "held_out_median": float(np.median(held_out)), "sets": {}}
    for name, images in sets.items():
        d = domain.domain_distance(gen.classifier, gen.cgmm, images)
        report["sets"][name] = {
            "count": len(images),
            "median_distance": float(np.median(d)),
            "flagged": float(np.mean(d > threshold)),
        }
        print(f"{name:<16} median {np.median(d):8.2f}  flagged {np.mean(d > threshold):.2f}")
    per_photo = domain.domain_distance(gen.classifier, gen.cgmm, photos)
    report["photographs"] = {n: float(x) for n, x in zip(PHOTOS, per_photo, strict=True)}
    print(f"threshold {threshold:.2f}; photographs: {report['photographs']}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "domain.json").write_text(json.dumps(report, indent=2))
    if args.write:
        bundles.update_record(gen.classifier.path, "cgmm", {"domain_threshold": threshold})
        print(f"stored the threshold in {gen.classifier.path}")


def synth_key(seed: int):
    import jax

    return jax.random.key(seed)


if __name__ == "__main__":
    main()
