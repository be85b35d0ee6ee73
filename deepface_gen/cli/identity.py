"""`deepface-gen identity`: who an identity embedding thinks a person is.

deepface-gen identity --person 7 --out person.png      # FaceVis beside real portraits
deepface-gen identity photo.png --out seen.png         # what the embedding keeps of a photo
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from deepface_gen import checks
from deepface_gen.cli import common
from deepface_gen.errors import DeepFaceGenError


def _settings(prior, steps: int | None):
    from deepface_gen.generation.identity import default_settings

    base = default_settings(prior)
    return base if steps is None else replace(base, steps=steps)


def _write_json(path: str | None, summary: dict) -> None:
    if path:
        from deepface_gen.io.images import atomic_write_bytes

        atomic_write_bytes(path, json.dumps(summary, indent=2).encode())
        print(f"wrote {path}")


def run(args: argparse.Namespace) -> int:
    if (args.person is None) == (args.photos is None or not args.photos):
        raise DeepFaceGenError("give --person K (a training identity) or photo file(s), not both")
    checks.output_file(args.out, "--out")
    checks.output_data_file(args.json, "--json")
    count = len(args.person or args.photos)
    if count > checks.MAX_FACES:
        raise DeepFaceGenError(
            f"{count} {'people' if args.person else 'photos'} in one sheet; at most "
            f"{checks.MAX_FACES} (run the command again for more)"
        )
    from deepface_gen.analysis import identity as analysis
    from deepface_gen.generation.identity import check_people, image_prior
    from deepface_gen.io.images import write_image, zoom
    from deepface_gen.models.identity import load_identity_model

    model = load_identity_model(args.model)
    if args.person is not None:
        check_people(model, args.person)  # before any work
    images = [common.read_portrait(args, path, model)[1].crop for path in args.photos or ()]
    prior = None if args.prior == "pixels" else image_prior(model, args.prior)
    settings = _settings(prior, args.steps)
    if args.person is not None:
        views = analysis.view_people(
            model, args.person, args.portraits, args.seed, settings, args.quiet, prior
        )
        sheet = analysis.people_sheet(views)
        summary = {
            "model": str(args.model),
            "prior": args.prior,
            "people": [
                {
                    "person": v.person,
                    "probability": v.probability,
                    "rank": v.rank,
                    "mean_face_probability": v.mean_face_probability,
                    "portrait_probability": v.portrait_probability,
                }
                for v in views
            ],
        }
        for v in views:
            print(
                f"person {v.person}: FaceVis image classified as them with p={v.probability:.3f} "
                f"(rank {v.rank}; the mean face had {v.mean_face_probability:.4f}"
                + (f", their photos {v.portrait_probability:.3f})" if v.portraits.size else ")")
            )
    else:
        seen = analysis.see_photos(model, images, args.seed, settings, args.quiet, prior)
        sheet = analysis.seen_sheet(seen)
        summary = {
            "model": str(args.model),
            "photos": [
                {"photo": str(path), "cosine_seen_to_photo": float(c)}
                for path, c in zip(args.photos, seen.cosine, strict=True)
            ],
        }
        for path, c in zip(args.photos, seen.cosine, strict=True):
            print(f"{path}: rendered face's embedding has cosine {c:.3f} to the photo's")
    print(f"wrote {write_image(args.out, zoom(sheet, args.zoom))}")
    _write_json(args.json, summary)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser(
        "identity",
        help="FaceVis of a training person, or what an identity embedding keeps of a photo",
    )
    p.add_argument("photos", nargs="*", help="photo(s) whose embedding to render")
    p.add_argument(
        "--person", type=common.whole(0, common.BIG), nargs="+", default=None,
        help="training identity number(s) to visualize (FaceVis)",
    )  # fmt: skip
    p.add_argument("--model", default="identity", help="identity (shipped) or a bundle path")
    p.add_argument("--out", required=True, help="the picture (a sheet)")
    p.add_argument("--json", default=None, help="the numbers, as JSON")
    p.add_argument(
        "--portraits", type=common.whole(0, 16), default=5,
        help="real portraits of each person beside FaceVis's picture",
    )  # fmt: skip
    p.add_argument(
        "--prior", default="starter",
        help="a classifier bundle whose learned inverter draws the faces (default: starter), "
        "or 'pixels': optimize pixels with hand-made priors",
    )  # fmt: skip
    p.add_argument("--seed", type=common.whole(0, common.SEED_MAX), default=0)
    p.add_argument("--steps", type=common.whole(1, checks.MAX_STEPS), default=None)
    p.add_argument("--zoom", type=common.whole(1, 8), default=2, help="enlarge the sheet")
    common.add_align_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
