"""Find faces and their eyes in a photograph.

The detector is dlib's (the ``photos`` extra: ``pip install 'deepface-gen[photos]'``):
its HOG face finder, which ships inside dlib, and its 5-point landmark model (eye
corners and the base of the nose; CC0-licensed, from the face-recognition-models
wheel). Nothing is downloaded. A photo is searched at most ``DETECTION_SIDE`` pixels
on its longer side, and a face too tilted for the upright finder is looked for again
in the photo turned by ``RETRY_DEGREES``.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from deepface_gen.errors import DeepFaceGenError, WeightsError
from deepface_gen.faces import alignment

DETECTION_SIDE = 1024
UPSAMPLE_BELOW = 640
# The finder's margin below which a find is dropped: dlib keeps anything above 0, which
# takes round badges and patches for faces; true faces, turned and scaled as
# bench_align turns them, score above this (experiments/results/align.json).
MIN_SCORE = 0.3
RETRY_DEGREES = (-25.0, 25.0)
LANDMARK_MODEL = "models/shape_predictor_5_face_landmarks.dat"
LANDMARK_SHA256 = "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
INSTALL_HINT = "pip install 'deepface-gen[photos]'"


class DetectorMissingError(DeepFaceGenError):
    """The face detector's package is not installed."""


@dataclass(frozen=True)
class Face:
    """One face found in a photo, in the photo's pixels (continuous coordinates)."""

    box: tuple[float, float, float, float]  # x, y, width, height
    eyes: np.ndarray  # (2, 2) eye centres (x, y), the image-left eye first
    nose: np.ndarray  # (2,) the base of the nose
    score: float  # the detector's margin: above 0 is a face, higher is surer

    @property
    def eye_distance(self) -> float:
        """Pixels between the eye centres."""
        return float(np.linalg.norm(self.eyes[1] - self.eyes[0]))

    def to_json(self) -> dict:
        """The record ``align`` writes for this face."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "eyes": np.round(self.eyes, 2).tolist(),
            "nose": np.round(self.nose, 2).tolist(),
            "score": round(self.score, 4),
        }


class Detector(Protocol):
    """Anything that finds faces: an (H, W, 3) uint8 photo in, faces surest first."""

    def __call__(self, photo: np.ndarray) -> list[Face]: ...


def _landmark_model_path() -> Path:
    # Found without importing face_recognition_models, whose __init__ needs pkg_resources.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorMissingError(
            f"finding faces in photos needs the landmark model: {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / LANDMARK_MODEL
    from deepface_gen.io.bundles import file_digest

    if not path.is_file() or file_digest(path) != LANDMARK_SHA256:
        raise WeightsError(
            f"{path} is missing or is not dlib's 5-point landmark model (sha256 "
            f"{LANDMARK_SHA256[:12]}...); reinstall it: {INSTALL_HINT}"
        )
    return path


class DlibDetector:
    """dlib's HOG face finder and 5-point landmarks (see the module docstring)."""

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError:
            raise DetectorMissingError(
                f"finding faces in photos needs dlib: {INSTALL_HINT}"
            ) from None
        self._find = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(str(_landmark_model_path()))
        self._rectangle = dlib.rectangle

    def __call__(self, photo: np.ndarray) -> list[Face]:
        """Faces in ``photo``, surest first (none: an empty list)."""
        height, width = photo.shape[:2]
        factor = min(1.0, DETECTION_SIDE / max(height, width))
        shrink = np.array([[factor, 0.0, 0.0], [0.0, factor, 0.0]])
        shape = (max(1, round(height * factor)), max(1, round(width * factor)))
        small = _resize(photo, shape) if factor < 1 else np.ascontiguousarray(photo, np.uint8)
        # The finder's window is 80 px. A small photo is searched at twice its size, so
        # faces down to 40 px are found; in a large one, faces under 80 px of its
        # DETECTION_SIDE-pixel copy (8% of its longer side) are not looked for.
        upsample = 1 if max(small.shape[:2]) <= UPSAMPLE_BELOW else 0
        faces = self._search(small, shrink, upsample)
        for degrees in RETRY_DEGREES:
            if faces:
                break
            turned, turn = _turn(small, degrees)
            faces = self._search(turned, alignment.compose(turn, shrink), upsample)
        return sorted(faces, key=lambda face: -face.score)

    def _search(self, image: np.ndarray, to_image: np.ndarray, upsample: int) -> list[Face]:
        """Faces in ``image``, mapped back to the photo (``to_image``: photo -> image),
        the image searched at ``upsample`` doublings."""
        rectangles, scores, _ = self._find.run(image, upsample, MIN_SCORE)
        back = alignment.invert(to_image)
        faces = []
        for rect, score in zip(rectangles, scores, strict=True):
            parts = self._landmarks(image, rect).parts()
            # dlib's points are pixel indices (centres): + 0.5 in continuous coordinates.
            points = np.array([[p.x + 0.5, p.y + 0.5] for p in parts])
            # Points 0-1 and 2-3 are the corners of the image-right and image-left eyes.
            eyes = np.stack([points[2:4].mean(0), points[0:2].mean(0)])
            corners = np.array(
                [[rect.left(), rect.top()], [rect.right() + 1, rect.top()],
                 [rect.left(), rect.bottom() + 1], [rect.right() + 1, rect.bottom() + 1]],
                np.float64,
            )  # fmt: skip
            corners = alignment.apply(back, corners)
            low, high = corners.min(0), corners.max(0)
            faces.append(
                Face(
                    box=(*low.tolist(), *(high - low).tolist()),
                    eyes=alignment.apply(back, eyes),
                    nose=alignment.apply(back, points[4:5])[0],
                    score=float(score),
                )
            )
        return faces


def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(np.asarray(image, np.uint8))
    return np.asarray(pil.resize((shape[1], shape[0]), Image.Resampling.BILINEAR))


def _turn(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned by ``degrees`` about its centre on a canvas that holds all of it,
    and the matrix from ``image`` to the turned canvas."""
    height, width = image.shape[:2]
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    out_w = math.ceil(abs(width * cos) + abs(height * sin))
    out_h = math.ceil(abs(width * sin) + abs(height * cos))
    linear = np.array([[cos, -sin], [sin, cos]])
    shift = np.array([out_w / 2, out_h / 2]) - linear @ np.array([width / 2, height / 2])
    matrix = np.hstack([linear, shift[:, None]])
    turned = alignment.warp(image, matrix, (out_h, out_w))
    return np.ascontiguousarray(turned), matrix


@functools.cache
def default_detector() -> Detector:
    """The shared detector, built on first use (loading it takes about a second)."""
    return DlibDetector()
