"""`deepface-gen crop-search`: the crop of a photo that scores best for a description."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from deepface_gen import checks
from deepface_gen.cli import common


def run(args: argparse.Namespace) -> int:
    from deepface_gen.analysis.crops import CropGrid, search_crops
    from deepface_gen.attributes import as_spec
    from deepface_gen.io.images import atomic_write_bytes, read_image, write_image
    from deepface_gen.models.classifier import load_classifier

    spec = as_spec(args.by)
    checks.output_file(args.out, "--out")
    checks.output_data_file(args.json, "--json")
    if args.crop_out:
        checks.output_file(args.crop_out, "--crop-out")
    grid = CropGrid(tuple(args.scales), args.positions, tuple(args.angles))
    classifier = load_classifier(args.model)
    classifier.require_known(spec.values, "--by")
    result = search_crops(classifier, read_image(args.photo), spec, grid)
    heat = result.heat(grid)
    print(f"wrote {write_image(args.out, _sheet(args, result, grid, heat))}")
    summary = _summary(args, result, grid, heat)
    summary["best"].update(_domain_note(classifier, result.best_crop))
    print(
        f"best crop {summary['best']['score']:+.3f} vs centre crop "
        f"{summary['centre_crop_score']:+.3f} ({len(result.scores)} crops, "
        f"{result.crops_per_second:.0f} crops/s)"
    )
    if args.crop_out:
        print(f"wrote {write_image(args.crop_out, result.best_crop)}")
    if args.json:
        atomic_write_bytes(args.json, json.dumps(summary, indent=2).encode())
        print(f"wrote {args.json}")
    return 0


def _sheet(args: argparse.Namespace, result, grid, heat) -> np.ndarray:
    """The photo with the best (red) and centre crops outlined, both crops, and a heat map
    per scale over one labelled colour bar."""
    from deepface_gen.analysis.drawing import colour_bar, heat_map, outline
    from deepface_gen.io.images import make_grid, resize

    side = 160
    photo = outline(result.photo, result.corners(result.centre), colour=(160, 160, 160))
    photo = outline(photo, result.corners(result.best), colour=(255, 0, 0))
    h, w = photo.shape[:2]
    scale = side / max(h, w)
    panel = np.full((side, side, 3), 255, np.uint8)
    small = resize(photo, (max(1, round(h * scale)), max(1, round(w * scale))))
    panel[: small.shape[0], : small.shape[1]] = small
    low, high = float(result.scores.min()), float(result.scores.max())
    tiles = [
        panel,
        resize(result.best_crop, (side, side)),
        resize(result.centre_crop, (side, side)),
    ]
    tiles += [heat_map(h_, side, low, high) for h_ in heat]
    captions = ["photo: best (red), centre", f"best {result.scores[result.best]:+.2f}",
                f"centre {result.scores[result.centre]:+.2f}"]  # fmt: skip
    # A crop as large as the short side has one centre per axis there: a flat panel.
    captions += [f"scale {s:g}" + (" (one centre)" if s == 1 else "") for s in grid.scales]
    title = f'crops of {Path(args.photo).name} scored by "{args.by}"'
    sheet = make_grid(tiles, columns=len(tiles), captions=captions, title=title)
    label = "heat maps: score of the crop centred there at that scale (best over angles)"
    bar = colour_bar(min(sheet.shape[1], 640), low, high, label)
    page = np.full((sheet.shape[0] + bar.shape[0], sheet.shape[1], 3), 255, np.uint8)
    page[: sheet.shape[0]] = sheet
    page[sheet.shape[0] :, : bar.shape[1]] = bar
    return page


def _summary(args: argparse.Namespace, result, grid, heat) -> dict:
    """The search's numbers, as --json writes them."""
    side_px, cx, cy, angle = (float(v) for v in result.params[result.best])
    return {
        "by": args.by,
        "crops": len(result.scores),
        "crops_per_second": result.crops_per_second,
        "best": {
            "score": float(result.scores[result.best]),
            "side": side_px,
            "centre_x": cx,
            "centre_y": cy,
            "angle_degrees": float(np.rad2deg(angle)),
        },  # fmt: skip
        "centre_crop_score": float(result.scores[result.centre]),
        "gain_over_centre_crop": float(result.scores[result.best] - result.scores[result.centre]),
        "photo_size_searched": list(result.photo.shape[:2]),
        "heat": {f"{s:g}": h_.round(4).tolist() for s, h_ in zip(grid.scales, heat, strict=True)},
    }


def _domain_note(classifier, crop: np.ndarray) -> dict:
    """The best crop's domain distance and whether it lies in the model's domain (a
    warning where it does not); nothing where the model has no calibrated threshold."""
    from deepface_gen.cgmm import domain

    check = domain.load_for(classifier)  # (cGMM, threshold), or None: nothing to say
    if check is None:
        return {}
    cgmm, threshold = check
    distance = float(domain.domain_distance(classifier, cgmm, crop[None])[0])
    if distance > threshold:
        print(
            f"deepface-gen: warning: the best crop lies outside what this model was trained "
            f"on (domain distance {distance:.1f}, threshold {threshold:.1f}): its score is "
            "unreliable. Crops framed like the model's training portraits (scales near 1, "
            "or a photo's aligned face) are read more faithfully",
            file=sys.stderr,
        )
    return {"domain_distance": round(distance, 3), "in_domain": distance <= threshold}


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("crop-search", help="find the crop of a photo that scores best")
    p.add_argument("photo")
    p.add_argument("--by", required=True, help='a description, e.g. "smiling"')
    p.add_argument("--model", default="starter")
    p.add_argument("--out", required=True, help="a sheet: photo, best and centre crop, heat maps")
    p.add_argument("--crop-out", default=None, help="also write the best crop alone")
    p.add_argument("--json", default=None, help="the numbers, as JSON")
    p.add_argument(
        "--scales", type=common.real(0.1, 1.0), nargs="+", default=[1.0, 0.9, 0.8, 0.7, 0.6],
        help="crop sides as fractions of the short side (1 must be one of them)",
    )  # fmt: skip
    p.add_argument("--positions", type=common.whole(1, 31), default=9, help="odd: centres per axis")
    p.add_argument(
        "--angles", type=common.real(-45.0, 45.0), nargs="+", default=[-10.0, 0.0, 10.0],
        help="rotations in degrees (0 must be one of them)",
    )  # fmt: skip
    p.set_defaults(func=run)
