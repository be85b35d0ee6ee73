"""The identity embedding, measured: verification on held-out people, FaceVis, and
what embedding inversion keeps of a photo.

    python experiments/bench_identity.py [--model identity] [--people 200] [--photos 10]

Writes experiments/results/identity.json and two sheets:
* identity_facevis.png: per training person, FaceVis's picture (from the mean face,
  momentum 0.8, 200 steps) drawn through the starter's learned inverter, the same on
  plain pixels, then new portraits of that person;
* identity_seen.png: held-out photos beside what the embedding keeps of them (drawn
  through the inverter).

Verification uses people from the test split's pool (never trained on): every pair
of ``--photos`` portraits of ``--people`` people. The starter classifier's
penultimate features are scored the same way, as the baseline the identity
training must beat.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from deepface_gen.analysis import identity as analysis
from deepface_gen.analysis.verification import verification
from deepface_gen.generation.identity import image_prior
from deepface_gen.io.images import atomic_write_bytes, make_grid, write_image, zoom
from deepface_gen.models.classifier import load_classifier
from deepface_gen.models.identity import load_identity_model

RESULTS = Path(__file__).resolve().parent / "results"
FACEVIS_PEOPLE = (0, 1, 2, 3, 4, 5, 6, 7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="identity")
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--seen-people", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    out = Path(args.out)
    model = load_identity_model(args.model)

    began = time.perf_counter()
    images, ids = analysis.held_out_photos(model, args.people, args.photos, args.seed)
    embeddings = model.embed(images)
    embed_seconds = time.perf_counter() - began
    held_out = {"people": args.people, "photos_each": args.photos,
                **verification(embeddings, ids)}  # fmt: skip
    starter = load_classifier("starter")
    baseline = verification(starter.outputs(images)["features"], ids)
    print(
        f"held-out verification: AUC {held_out['roc_auc']:.4f}, TAR {held_out['tar_at_far']:.3f} "
        f"at FAR 1e-3 (starter features: AUC {baseline['roc_auc']:.4f}, "
        f"TAR {baseline['tar_at_far']:.3f})"
    )

    prior = image_prior(model)
    facevis, views = {}, {}
    for name, through in (("inverter", prior), ("pixels", None)):
        began = time.perf_counter()
        views[name] = analysis.view_people(
            model, FACEVIS_PEOPLE, photos=5, seed=args.seed, prior=through
        )
        facevis[name] = _facevis_numbers(views[name], time.perf_counter() - began)
        print(f"FaceVis ({name}): {facevis[name]['classified_as_person']:.2f} classified as "
              f"their person, p = {facevis[name]['mean_probability']:.3f}")  # fmt: skip
    write_image(out / "identity_facevis.png", zoom(_facevis_sheet(views), 2))

    began = time.perf_counter()
    seen_summary, seen = analysis.identify_seen(model, args.seen_people, 5, args.seed, prior=prior)
    seen_summary["seconds"] = time.perf_counter() - began
    write_image(out / "identity_seen.png", zoom(analysis.seen_sheet(_first(seen, 8)), 2))
    s = seen_summary
    print(
        f"embedding inversion: rendering identified as the photo's person "
        f"{s['seen_identified']:.2f} (photo itself {s['photo_identified']:.2f}, "
        f"chance {s['chance']:.2f})"
    )

    report = {
        "model": str(model.manifest.get("people")),
        "training": {
            k: model.manifest["training"][k] for k in ("steps", "wall_seconds_this_run", "device")
        },
        "training_people": model.num_identities,
        "held_out": held_out,
        "starter_features_held_out": baseline,
        "embed_images_per_second": len(images) / embed_seconds,
        "facevis": {"people": list(FACEVIS_PEOPLE), **facevis},
        "embedding_inversion": seen_summary,
    }
    atomic_write_bytes(out / "identity.json", json.dumps(report, indent=2).encode())
    print(f"wrote {out / 'identity.json'}")


def _facevis_numbers(views: list[analysis.PersonView], seconds: float) -> dict:
    return {
        "classified_as_person": float(np.mean([v.rank == 1 for v in views])),
        "mean_probability": float(np.mean([v.probability for v in views])),
        "mean_face_probability": float(np.mean([v.mean_face_probability for v in views])),
        "portrait_probability": float(np.mean([v.portrait_probability for v in views])),
        "seconds": seconds,
    }


def _facevis_sheet(views: dict[str, list[analysis.PersonView]]) -> np.ndarray:
    """A row per person: FaceVis through the inverter, on pixels, then the photos."""
    tiles, captions = [], []
    for through_g, on_pixels in zip(views["inverter"], views["pixels"], strict=True):
        tiles += [through_g.face_vis, on_pixels.face_vis, *through_g.portraits]
        captions += [f"#{through_g.person} G {through_g.probability:.2f}",
                     f"px {on_pixels.probability:.2f}"]  # fmt: skip
        captions += ["photo"] * len(through_g.portraits)
    return make_grid(tiles, columns=2 + len(views["inverter"][0].portraits), captions=captions)


def _first(seen: analysis.SeenFaces, n: int) -> analysis.SeenFaces:
    return analysis.SeenFaces(seen.photos[:n], seen.seen[:n], seen.cosine[:n])


if __name__ == "__main__":
    main()
