"""`deepface-gen align`: find the faces in photos and write each as the model sees it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deepface_gen import checks
from deepface_gen.cli import common
from deepface_gen.errors import DeepFaceGenError


def _model_layout(name: str):
    """(layout, input size) of a model, read from its manifest alone (no weights)."""
    from deepface_gen.faces import layout
    from deepface_gen.io.bundles import read_manifest
    from deepface_gen.models.classifier import resolve_model
    from deepface_gen.models.pretrained import KNOWN_WEIGHTS

    if name in KNOWN_WEIGHTS:
        return layout.CELEBA, 224
    manifest = read_manifest(resolve_model(name))
    return layout.of_manifest(manifest), int(manifest["backbone"]["input_size"])


def run(args: argparse.Namespace) -> int:
    from deepface_gen.errors import ImageError
    from deepface_gen.faces import alignment, detection, photos
    from deepface_gen.io.images import atomic_write_bytes, image_files, read_image, write_image

    out = Path(args.out)
    checks.output_folder(out, "--out")
    paths: list[Path] = []
    for given in map(Path, args.photos):
        if not given.exists():
            raise DeepFaceGenError(f"{given}: no such file or folder")
        paths.extend(image_files(given) if given.is_dir() else [given])
    face_layout, model_size = _model_layout(args.model)
    size = args.size or model_size
    detector = detection.default_detector()
    record: dict = {"model": args.model, "layout": face_layout.to_json(), "photos": {}}
    failed: list[str] = []
    for path in paths:
        try:
            photo = read_image(path)
            faces = detector(photo)
            if not faces:
                raise photos.NoFaceError(f"{path}: no face found")
        except ImageError as err:
            if len(paths) == 1:
                raise
            failed.append(str(err))
            print(f"deepface-gen: skipped {err}", file=sys.stderr)
            continue
        entries = []
        for index, face in enumerate(faces):
            entry = face.to_json()
            if face.eye_distance < photos.MIN_EYE_DISTANCE:
                entry["skipped"] = f"too small to align (eyes {face.eye_distance:.0f} px apart)"
            else:
                placed = alignment.align(face.eyes, face_layout, size)
                name = f"{path.stem}_face{index}.png"
                write_image(out / name, alignment.crop(photo, placed))
                entry.update(alignment=placed.to_json(), crop=name)
            entries.append(entry)
        record["photos"][str(path)] = {"width": photo.shape[1], "height": photo.shape[0],
                                       "faces": entries}  # fmt: skip
        if args.marked:
            write_image(out / f"{path.stem}_marked.png", marked(photo, faces))
        print(f"{path}: {len(faces)} face(s), surest {faces[0].score:.2f}")
    atomic_write_bytes(out / "faces.json", json.dumps(record, indent=2).encode())
    print(f"wrote {out / 'faces.json'} and the crops ({size} px, {face_layout.name} layout)")
    if failed:
        print(f"deepface-gen: error: {len(failed)} of {len(paths)} photos skipped", file=sys.stderr)
        return 1
    return 0


def marked(photo, faces):
    """The photo with each face's box, eye centres and number drawn on it."""
    import numpy as np
    from PIL import Image, ImageDraw

    image = Image.fromarray(photo)
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(photo.shape[:2]) / 300))
    for index, face in enumerate(faces):
        x, y, w, h = face.box
        draw.rectangle((x, y, x + w, y + h), outline=(0, 255, 0), width=width)
        for ex, ey in face.eyes:
            r = 1.5 * width
            draw.ellipse((ex - r, ey - r, ex + r, ey + r), fill=(255, 0, 0))
        label = f"{index}: {face.score:.2f}"
        draw.text((x + width, y - 6 * width), label, fill=(0, 255, 0), font_size=5 * width)
    return np.asarray(image)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("align", help="find faces in photos; write each as the model sees it")
    p.add_argument("photos", nargs="+", help="photos, or folders of photos")
    p.add_argument("--out", required=True, help="folder for the crops and faces.json")
    p.add_argument("--model", default="starter", help="whose layout and size to align to")
    p.add_argument(
        "--size", type=common.whole(16, 1024), default=None,
        help="crop side in pixels (default: the model's input)",
    )  # fmt: skip
    p.add_argument("--marked", action="store_true", help="also write each photo marked up")
    p.set_defaults(func=run)
