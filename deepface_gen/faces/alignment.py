"""Similarity transforms between a photo and a model's square crop.

Coordinates are continuous pixels: pixel (i, j) covers [j, j + 1) x [i, i + 1), so its
centre is (j + 0.5, i + 0.5). A transform is a 2 x 3 matrix ``m`` taking a photo point
``p`` to ``m[:, :2] @ p + m[:, 2]`` in the crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from deepface_gen.faces.layout import FaceLayout

MAX_SUPERSAMPLE = 16  # a crop is warped at most this many times its size, then shrunk


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, shift) taking the (N, 2)
    ``source`` points onto ``target`` (Umeyama 1991), as a 2 x 3 matrix. Two points
    are matched exactly."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    # A similarity is [[a, -b], [b, a]]: solve for (a, b) in closed form.
    norm = np.sum(s**2)
    if norm == 0:
        raise ValueError("the source points coincide: no transform is defined")
    a = np.sum(s * t) / norm
    b = np.sum(s[:, 0] * t[:, 1] - s[:, 1] * t[:, 0]) / norm
    linear = np.array([[a, -b], [b, a]])
    return np.hstack([linear, (mu_t - linear @ mu_s)[:, None]])


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2 x 3 affine matrix."""
    linear_inverse = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear_inverse, -(linear_inverse @ matrix[:, 2])[:, None]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points mapped by a 2 x 3 matrix."""
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def compose(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The 2 x 3 matrix of applying ``first``, then ``second``."""
    linear = second[:, :2] @ first[:, :2]
    return np.hstack([linear, (second[:, :2] @ first[:, 2] + second[:, 2])[:, None]])


def scale_of(matrix: np.ndarray) -> float:
    """How many output pixels one input pixel spans (a similarity's scale)."""
    return math.sqrt(abs(np.linalg.det(matrix[:, :2])))


def warp(image: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (H, W, 3 uint8, or H, W float32) resampled into an output of ``shape``
    = (height, width), the output at ``matrix`` (image -> output) of each image point.
    Bicubic; what falls outside the image is black (zero)."""
    backward = invert(matrix)  # PIL asks, for each output pixel, where to read
    data = tuple(backward.reshape(-1))
    size, method = (shape[1], shape[0]), Image.Resampling.BICUBIC
    if image.ndim == 2:
        pil = Image.fromarray(np.asarray(image, np.float32), mode="F")
    else:
        pil = Image.fromarray(np.asarray(image, np.uint8))
    return np.asarray(pil.transform(size, Image.Transform.AFFINE, data, method))


@dataclass(frozen=True)
class Alignment:
    """How one face of a photo maps onto a model's ``size`` x ``size`` crop."""

    matrix: np.ndarray  # 2 x 3, photo pixels -> crop pixels
    size: int

    def to_json(self) -> dict:
        """The record ``align`` writes: the matrix, and its rotation and scale in words."""
        angle = math.degrees(math.atan2(self.matrix[1, 0], self.matrix[0, 0]))
        return {
            "photo_to_crop": np.round(self.matrix, 6).tolist(),
            "crop_size": self.size,
            "rotation_degrees": round(angle, 3),
            "crop_pixels_per_photo_pixel": round(scale_of(self.matrix), 6),
        }


def align(eyes: np.ndarray, layout: FaceLayout, size: int) -> Alignment:
    """The alignment that puts a photo's two eye centres (image-left first) where
    ``layout`` has them in a ``size`` x ``size`` crop."""
    return Alignment(similarity(eyes, layout.eye_points(size)), size)


def crop(photo: np.ndarray, alignment: Alignment) -> np.ndarray:
    """The aligned ``size`` x ``size`` crop of ``photo``, antialiased: the photo is
    warped at a multiple of the crop's size (about one sample a photo pixel), then shrunk."""
    factor = int(min(MAX_SUPERSAMPLE, max(1, math.ceil(1.0 / scale_of(alignment.matrix)))))
    big = alignment.size * factor
    photo, matrix = _pad_to_footprint(photo, alignment)
    sharp = warp(photo, matrix * factor, (big, big))
    if factor == 1:
        return sharp
    small = Image.fromarray(sharp).resize((alignment.size, alignment.size), Image.Resampling.BOX)
    return np.asarray(small)


def footprint(alignment: Alignment) -> np.ndarray:
    """(4, 2) photo points of the crop's corners."""
    side = alignment.size
    corners = np.array([[0, 0], [side, 0], [0, side], [side, side]], np.float64)
    return apply(invert(alignment.matrix), corners)


def _pad_to_footprint(photo: np.ndarray, alignment: Alignment) -> tuple[np.ndarray, np.ndarray]:
    """The photo mirrored past its edges as far as the crop reaches (a face near the
    border gets a plausible background, not black), and the matrix from the padded photo."""
    height, width = photo.shape[:2]
    corners = footprint(alignment)
    low = np.maximum(0, np.ceil(-corners.min(0) + 2)).astype(int)
    high = np.maximum(0, np.ceil(corners.max(0) - [width, height] + 2)).astype(int)
    if not (low.any() or high.any()):
        return photo, alignment.matrix
    padded = np.pad(photo, ((low[1], high[1]), (low[0], high[0]), (0, 0)), mode="symmetric")
    shift = alignment.matrix[:, :2] @ low.astype(np.float64)
    return padded, np.hstack([alignment.matrix[:, :2], (alignment.matrix[:, 2] - shift)[:, None]])
