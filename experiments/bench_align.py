"""Face detection and alignment on real photographs, without hand labels.

python experiments/bench_align.py [--transforms 50] [--portraits 40] [--figure]

- Consistency: each sample photo (experiments/photos) under random similarity
  transforms (rotation up to 30 degrees, scale 0.5-2x, shifts): the eyes found in each
  version, mapped back by the known transform, against the eyes found in the photo
  itself, as a fraction of the inter-ocular distance; and how often the face is found.
- Accuracy: `synth --celeba-layout` portraits (eyes known exactly) under the same
  transforms: how often the photo detector sees a rendered face at all, and where it
  does, its eye error against the truth.
- Paste-back: an edit put back into each photo; pixels outside the feathered window
  must equal the photo's exactly.
- Cost: detection + alignment of a 12-megapixel photo on this machine, in ms.

Writes experiments/results/align.json (and align_figure.png with --figure).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from deepface_gen.faces import alignment, detection, layout, pasting, photos
from deepface_gen.io.images import read_image

PHOTOS = Path(__file__).parent / "photos"
RESULTS = Path(__file__).parent / "results"


def random_similarity(rng: np.random.Generator, shape: tuple[int, int]):
    """A random similarity about the photo's centre and the canvas that holds it."""
    angle = math.radians(rng.uniform(-30, 30))
    scale = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    height, width = shape
    canvas = (round(height * scale), round(width * scale))
    linear = scale * np.array([[math.cos(angle), -math.sin(angle)],
                               [math.sin(angle), math.cos(angle)]])  # fmt: skip
    shift = rng.uniform(-0.1, 0.1, 2) * [canvas[1], canvas[0]]
    centre = np.array([canvas[1] / 2, canvas[0] / 2]) + shift
    offset = centre - linear @ np.array([width / 2, height / 2])
    return np.hstack([linear, offset[:, None]]), canvas


def nearest_face(faces, eyes: np.ndarray):
    """The found face whose eyes are nearest the expected ones (None: none found)."""
    if not faces:
        return None
    return min(faces, key=lambda f: float(np.abs(f.eyes - eyes).sum()))


def eye_error(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean eye-centre distance as a fraction of the true inter-ocular distance."""
    return float(np.linalg.norm(found - truth, axis=1).mean() / np.linalg.norm(truth[1] - truth[0]))


def transformed_errors(detector, image, truth, transforms, far: float = 0.5):
    """Eye errors of the versions where the face was found (a find farther than ``far``
    inter-ocular distances from the truth counts as missed), and the detection rate."""
    errors = []
    for matrix, canvas in transforms:
        version = alignment.warp(image, matrix, canvas)
        face = nearest_face(detector(version), alignment.apply(matrix, truth))
        if face is None:
            continue
        error = eye_error(alignment.apply(alignment.invert(matrix), face.eyes), truth)
        if error <= far:
            errors.append(error)
    return errors, len(errors) / len(transforms)


def summarize(errors: list[float], rate: float) -> dict:
    """Mean, 95th percentile and worst error, and the detection rate."""
    values = np.asarray(errors) if errors else np.full(1, np.nan)
    return {
        "detected": round(rate, 3),
        "mean_eye_error": round(float(np.mean(values)), 4),
        "p95_eye_error": round(float(np.percentile(values, 95)), 4),
        "worst_eye_error": round(float(np.max(values)), 4),
    }


def consistency(detector, rng, count: int) -> dict:
    """Each sample photo under ``count`` random similarities."""
    result = {}
    for path in sorted(PHOTOS.glob("*.jpg")):
        image = read_image(path)
        reference = detector(image)[0].eyes
        transforms = [random_similarity(rng, image.shape[:2]) for _ in range(count)]
        errors, rate = transformed_errors(detector, image, reference, transforms)
        result[path.name] = summarize(errors, rate)
        print(f"{path.name}: {result[path.name]}")
    return result


def synthetic_accuracy(detector, rng, portraits: int, per_portrait: int) -> dict:
    """Rendered CelebA-layout portraits with known eyes, as rendered and transformed."""
    from deepface_gen.data import celeba, export

    with tempfile.TemporaryDirectory() as folder:
        export.export_synthetic(folder, portraits, seed=7, celeba_layout=True, quiet=True)
        index = celeba.read_celeba_folder(folder)
        # The file's points are the renderer's continuous coordinates, rounded.
        marks = np.loadtxt(Path(folder) / celeba.LANDMARKS_FILE, skiprows=2,
                           usecols=range(1, 11)).reshape(-1, 5, 2)  # fmt: skip
        images = [read_image(index.image_path(i)) for i in range(portraits)]
    upright_errors, found = [], 0
    moved_errors, moved_found, moved_total = [], 0, 0
    for image, points in zip(images, marks, strict=True):
        truth = points[:2]
        face = nearest_face(detector(image), truth)
        if face is not None and eye_error(face.eyes, truth) <= 0.5:
            found += 1
            upright_errors.append(eye_error(face.eyes, truth))
        transforms = [random_similarity(rng, image.shape[:2]) for _ in range(per_portrait)]
        errors, rate = transformed_errors(detector, image, truth, transforms)
        moved_errors += errors
        moved_found += round(rate * per_portrait)
        moved_total += per_portrait
    return {
        "portraits": portraits,
        "as_rendered": summarize(upright_errors, found / portraits),
        "transformed": summarize(moved_errors, moved_found / moved_total),
    }


def paste_check(detector) -> dict:
    """An arbitrary change pasted into each photo: pixels changed outside the window."""
    result = {}
    for path in sorted(PHOTOS.glob("*.jpg")):
        photo = read_image(path)
        portrait = photos.prepare(photo, 64, layout.SYNTHETIC, "on", detector=detector)
        edited = np.clip(portrait.crop.astype(int) + 40, 0, 255).astype(np.uint8)
        pasted = portrait.paste(photo, edited)
        back = alignment.invert(portrait.alignment.matrix)
        footprint = alignment.warp(np.ones((64, 64), np.float32), back, photo.shape[:2])
        window = alignment.warp(pasting.feather_window(64), back, photo.shape[:2])
        outside = window <= 0
        changed = np.any(pasted != photo, axis=-1)
        result[path.name] = {
            "changed_outside_window": int(np.sum(changed & outside)),
            "changed_pixels": int(np.sum(changed)),
            "crop_footprint_pixels": int(np.sum(footprint > 0.5)),
        }
    return result


def cost(detector, repeats: int = 3) -> dict:
    """Detection + alignment of a 12-megapixel photo (the astronaut enlarged onto a
    4000 x 3000 canvas), median of ``repeats``, after one warm-up."""
    image = read_image(PHOTOS / "astronaut.jpg")
    matrix = np.array([[5.0, 0.0, 700.0], [0.0, 5.0, 100.0]])
    big = alignment.warp(image, matrix, (3000, 4000))
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        portrait = photos.prepare(big, 64, layout.SYNTHETIC, "on", detector=detector)
        times.append(time.perf_counter() - start)
    assert portrait.alignment is not None
    return {"megapixels": 12.0, "ms_per_photo": round(1000 * float(np.median(times[1:])), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transforms", type=int, default=50)
    parser.add_argument("--portraits", type=int, default=40)
    parser.add_argument("--per-portrait", type=int, default=5)
    parser.add_argument("--figure", action="store_true")
    parser.add_argument(
        "--figure-only", action="store_true", help="only align_figure.png (after an edit change)"
    )
    args = parser.parse_args()
    detector = detection.default_detector()
    if args.figure_only:
        figure(detector, RESULTS / "align_figure.png")
        return
    rng = np.random.default_rng(0)
    result = {
        "detector": "dlib HOG + 5-point landmarks",
        "min_score": detection.MIN_SCORE,
        "transforms_per_photo": args.transforms,
        "consistency": consistency(detector, rng, args.transforms),
        "synthetic": synthetic_accuracy(detector, rng, args.portraits, args.per_portrait),
        "paste": paste_check(detector),
        "cost": cost(detector),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "align.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.figure:
        figure(detector, RESULTS / "align_figure.png")


def figure(detector, out: Path, edit: str = "+eyeglasses") -> None:
    """Per sample photo: the faces found, the starter's aligned crop, its edit, and the
    edit put back into the photo (the face region, enlarged to judge the seam)."""
    from deepface_gen.cli.align import marked
    from deepface_gen.generation.generator import FaceGenerator
    from deepface_gen.io.images import make_grid, resize, write_image

    generator = FaceGenerator.load("starter")
    tiles, captions = [], []
    side = 256
    for path in sorted(PHOTOS.glob("*.jpg")):
        photo = read_image(path)
        portrait = photos.prepare(photo, generator.size, generator.classifier.face_layout, "on",
                                  detector=detector)  # fmt: skip
        edited = generator.edit(portrait.crop[None], edit, quiet=True)[0, 0]
        pasted = portrait.paste(photo, edited)
        x, y, w, h = (round(v) for v in portrait.face.box)
        margin = w // 2
        top, left = max(0, y - margin), max(0, x - margin)
        region = pasted[top : y + h + margin, left : x + w + margin]
        tiles += [resize(marked(photo, detector(photo)), (side, side)),
                  resize(portrait.crop, (side, side)), resize(edited, (side, side)),
                  resize(region, (side, side))]  # fmt: skip
        captions += ["faces found", "aligned, 64 px (starter)", f'"{edit}"',
                     "put back: the face region"]  # fmt: skip
    title = (
        "Photo in, photo out. The starter was trained on rendered portraits only: "
        "on a photograph its edit is the right kind of change in its own texture."
    )
    write_image(out, make_grid(tiles, columns=4, captions=captions, title=title))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
