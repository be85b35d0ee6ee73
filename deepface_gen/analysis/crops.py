"""Best-crop search: score many crops of one photo and keep the best.

Karpathy searched the scale and position of crops of a selfie and found that some
crops (cutting off the forehead) scored better. Here a crop is (side, centre x,
centre y, rotation) over a grid; all crops are cut from the photo inside one
jit-compiled, vmapped bilinear resampling and scored by the classifier in batches.
The plain centre crop (whole short side, centred, upright) is always one of them, so
the search reports what it gains over it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen.analysis.ranking import combined_score
from deepface_gen.attributes import AttributeSpec
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io.images import resize


@dataclass(frozen=True)
class CropGrid:
    """Which crops to try: sides as fractions of the photo's short side, centres on a
    ``positions`` x ``positions`` grid over where each side fits, and rotations."""

    scales: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6)
    positions: int = 9
    angles: tuple[float, ...] = (-10.0, 0.0, 10.0)  # degrees

    def __post_init__(self) -> None:
        if not self.scales or any(not 0.1 <= s <= 1.0 for s in self.scales):
            raise DeepFaceGenError("crop scales must lie in [0.1, 1] of the short side")
        if self.positions < 1 or self.positions % 2 == 0:
            raise DeepFaceGenError("positions must be odd, so the centre is one of them")
        if 1.0 not in self.scales or 0.0 not in self.angles:
            raise DeepFaceGenError("the grid must hold the plain centre crop (scale 1, angle 0)")

    def parameters(self, height: int, width: int) -> np.ndarray:
        """(M, 4) crops as [side px, centre x, centre y, angle rad], scale-major, then
        y, then x, then angle (the order ``heat`` reshapes by)."""
        short = min(height, width)
        rows = []
        for scale in self.scales:
            side = scale * short
            xs = np.linspace(side / 2, width - side / 2, self.positions)
            ys = np.linspace(side / 2, height - side / 2, self.positions)
            for y in ys:
                for x in xs:
                    rows += [[side, x, y, np.deg2rad(a)] for a in self.angles]
        return np.asarray(rows, np.float32)

    def centre_index(self) -> int:
        """The row of the plain centre crop in ``parameters``."""
        s, mid, a = self.scales.index(1.0), self.positions // 2, self.angles.index(0.0)
        per_scale = self.positions**2 * len(self.angles)
        return s * per_scale + (mid * self.positions + mid) * len(self.angles) + a


@functools.partial(jax.jit, static_argnames=("size",))
def extract_crops(image: jax.Array, params: jax.Array, size: int) -> jax.Array:
    """(M, size, size, 3) crops of ``image`` (H, W, 3) by bilinear resampling, one per
    row of ``params`` [side, cx, cy, angle]; outside the photo the edge repeats."""
    offsets = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size - 0.5

    def one(p):
        side, cx, cy, angle = p[0], p[1], p[2], p[3]
        v, u = jnp.meshgrid(offsets, offsets, indexing="ij")  # rows, columns
        cos, sin = jnp.cos(angle), jnp.sin(angle)
        x = cx + side * (cos * u - sin * v) - 0.5
        y = cy + side * (sin * u + cos * v) - 0.5
        channels = [
            jax.scipy.ndimage.map_coordinates(image[..., c], [y, x], order=1, mode="nearest")
            for c in range(3)
        ]
        return jnp.stack(channels, axis=-1)

    return jax.vmap(one)(params)


def prepare_photo(image: np.ndarray, size: int, grid: CropGrid) -> np.ndarray:
    """The photo shrunk so its smallest crop is about ``size`` pixels (bilinear
    resampling of a much larger crop would alias); never enlarged."""
    short = min(image.shape[:2])
    want = int(np.ceil(size / min(grid.scales)))
    if short <= want:
        return image
    factor = want / short
    h, w = (max(1, round(d * factor)) for d in image.shape[:2])
    return resize(image, (h, w))


@dataclass(frozen=True)
class CropSearch:
    """Every crop's score, the best crop and the plain centre crop."""

    params: np.ndarray  # (M, 4) in the prepared photo's pixels
    scores: np.ndarray  # (M,)
    best: int
    centre: int
    photo: np.ndarray  # the prepared photo the crops were cut from
    best_crop: np.ndarray  # (S, S, 3) uint8
    centre_crop: np.ndarray
    seconds: float

    @property
    def crops_per_second(self) -> float:
        return len(self.scores) / max(self.seconds, 1e-9)

    def heat(self, grid: CropGrid) -> np.ndarray:
        """(scales, positions, positions): the best score over rotations per centre."""
        shape = (len(grid.scales), grid.positions, grid.positions, len(grid.angles))
        return self.scores.reshape(shape).max(axis=-1)

    def corners(self, index: int) -> np.ndarray:
        """(4, 2) the crop's corners as (x, y) in the prepared photo."""
        side, cx, cy, angle = self.params[index]
        unit = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * side
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        return unit @ rot.T + np.array([cx, cy])


def search_crops(
    classifier,
    image: np.ndarray,
    spec: AttributeSpec,
    grid: CropGrid = CropGrid(),
    batch_size: int = 128,
) -> CropSearch:
    """Score every crop of ``grid`` by the description's combined logit
    (``ranking.combined_score``), in batches of ``batch_size`` cut and scored together."""
    size = classifier.input_size
    photo = prepare_photo(np.asarray(image), size, grid)
    params = grid.parameters(*photo.shape[:2])
    pixels = jnp.asarray(photo, jnp.float32)
    began = time.perf_counter()
    scores = []
    for start in range(0, len(params), batch_size):
        chunk = params[start : start + batch_size]
        # The last batch is padded to the same shape, so one program serves every batch.
        padded = np.pad(chunk, ((0, batch_size - len(chunk)), (0, 0)), mode="edge")
        crops = extract_crops(pixels, jnp.asarray(padded), size)
        logits = np.asarray(classifier.apply(crops)["attributes"])[: len(chunk)]
        scores.append(combined_score(logits, spec))
    scores = np.concatenate(scores)
    seconds = time.perf_counter() - began
    best, centre = int(np.argmax(scores)), grid.centre_index()
    picked = np.asarray(extract_crops(pixels, jnp.asarray(params[[best, centre]]), size))
    picked = np.round(np.clip(picked, 0, 255)).astype(np.uint8)
    return CropSearch(params, scores, best, centre, photo, picked[0], picked[1], seconds)
