"""`deepface-gen rank` and `continuum`: order a folder of faces by a description."""

from __future__ import annotations

import argparse
import json

from deepface_gen import checks
from deepface_gen.cli import common


def _scored(args: argparse.Namespace):
    """The description (checked first), then the folder scored by the model."""
    from deepface_gen.analysis.ranking import score_folder
    from deepface_gen.attributes import as_spec
    from deepface_gen.models.classifier import load_classifier

    spec = as_spec(args.by)  # a bad description is refused before anything loads
    classifier = load_classifier(args.model)
    classifier.require_known(spec.values, "--by")
    collection = score_folder(
        classifier, args.folder, args.batch_size, args.max, args.quiet, args.recursive,
        read=lambda path: common.read_portrait(args, path, classifier)[1].crop,
    )  # fmt: skip
    print(collection.summary())
    return spec, collection


def run_rank(args: argparse.Namespace) -> int:
    import numpy as np

    from deepface_gen.analysis.ranking import caption_scores, extremes
    from deepface_gen.io.images import atomic_write_bytes, make_grid, write_image

    checks.output_file(args.out, "--out")
    checks.output_data_file(args.json, "--json")
    spec, collection = _scored(args)
    scores = collection.scores(spec)
    top, bottom = extremes(scores, args.top)
    columns = min(args.top, 8)
    # One page: the best (highest score first) above the worst (lowest first).
    headings = (f'top {len(top)} by "{args.by}" (highest score first)',
                f'bottom {len(bottom)} by "{args.by}" (lowest score first)')  # fmt: skip
    sheets = [
        make_grid(collection.thumbnails[picked], columns=columns,
                  captions=caption_scores(scores[picked]), title=heading)
        for picked, heading in zip((top, bottom), headings, strict=True)
    ]  # fmt: skip
    gap = np.full((12, sheets[0].shape[1], 3), 255, np.uint8)
    print(f"wrote {write_image(args.out, np.concatenate([sheets[0], gap, sheets[1]]))}")
    for label, picked in (("top", top), ("bottom", bottom)):
        for i in picked[:3]:
            print(f"  {label:<6} {scores[i]:+.3f}  {collection.paths[i]}")
    if args.json:
        payload = {
            "by": args.by,
            "score": "strength-weighted mean of the named attributes' logits",
            "ranked": [
                {"path": str(collection.paths[i]), "score": round(float(scores[i]), 4)}
                for i in extremes(scores, len(scores))[0]
            ],  # fmt: skip
            "skipped": collection.skipped,
        }
        atomic_write_bytes(args.json, json.dumps(payload, indent=2).encode())
        print(f"wrote {args.json}")
    return 0


def run_continuum(args: argparse.Namespace) -> int:
    from deepface_gen.analysis.ranking import caption_scores, continuum_order
    from deepface_gen.io.images import make_grid, write_image

    checks.output_file(args.out, "--out")
    spec, collection = _scored(args)
    scores = collection.scores(spec)
    order = continuum_order(scores, args.sample)
    columns = args.columns or max(1, int(round(len(order) ** 0.5)))
    captions = caption_scores(scores[order]) if args.captions else None
    title = f'by "{args.by}": lowest score first (top left) to highest (bottom right)'
    sheet = make_grid(collection.thumbnails[order], columns=columns, captions=captions, title=title)
    print(f"wrote {write_image(args.out, sheet)} ({len(order)} images, lowest score first)")
    return 0


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="a folder of face images (bad files are skipped and counted)")
    p.add_argument("--by", required=True, help='a description, e.g. "smiling, -eyeglasses"')
    p.add_argument("--model", default="starter")
    p.add_argument(
        "--max", type=common.whole(1, common.BIG), default=None, help="read at most N images"
    )
    p.add_argument("--batch-size", type=common.whole(1, 4096), default=64)
    p.add_argument("--out", required=True, help="the sheet to write (.png or .jpg)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--recursive", action="store_true", help="also read the folder's subfolders")
    common.add_align_options(p)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("rank", help="score a folder of faces by a description; best and worst")
    _common_options(p)
    p.add_argument(
        "--top", type=common.whole(1, checks.MAX_FACES), default=16, help="faces per end"
    )
    p.add_argument("--json", default=None, help="also write every score to this JSON file")
    p.set_defaults(func=run_rank)
    p = sub.add_parser("continuum", help="a folder of faces on one page, lowest score first")
    _common_options(p)
    p.add_argument(
        "--sample", type=common.whole(1, 10_000), default=400,
        help="at most this many, spread evenly over the ranks (default 400)",
    )  # fmt: skip
    p.add_argument("--columns", type=common.whole(1, 1000), default=None)
    p.add_argument("--captions", action="store_true", help="print each score under its face")
    p.set_defaults(func=run_continuum)
