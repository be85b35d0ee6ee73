"""Pictures of numbers, drawn with numpy: a colour map, heat maps, scatter plots,
outlines. Small on purpose: the analysis tools write pictures without a plotting
library."""

from __future__ import annotations

import numpy as np

# Anchors of a perceptually ordered map (dark blue -> teal -> yellow, like viridis).
_ANCHORS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float64
)


def colormap(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """uint8 RGB (..., 3) for ``values`` scaled from ``low`` (dark) to ``high`` (bright);
    the range defaults to the values' own."""
    values = np.asarray(values, np.float64)
    low = float(np.nanmin(values)) if low is None else low
    high = float(np.nanmax(values)) if high is None else high
    t = np.clip((values - low) / max(high - low, 1e-12), 0.0, 1.0) * (len(_ANCHORS) - 1)
    i = np.minimum(t.astype(int), len(_ANCHORS) - 2)
    frac = (t - i)[..., None]
    return np.round(_ANCHORS[i] * (1 - frac) + _ANCHORS[i + 1] * frac).astype(np.uint8)


def heat_map(values: np.ndarray, size: int, low: float, high: float) -> np.ndarray:
    """A 2-D array of values as a (size, size, 3) uint8 picture, nearest-neighbour."""
    values = np.asarray(values)
    rows = np.minimum(np.arange(size) * values.shape[0] // size, values.shape[0] - 1)
    cols = np.minimum(np.arange(size) * values.shape[1] // size, values.shape[1] - 1)
    return colormap(values[np.ix_(rows, cols)], low, high)


def scatter(
    points: np.ndarray, colours: np.ndarray, size: int = 640, radius: int = 4
) -> np.ndarray:
    """Discs at ``points`` (N, 2), scaled into a white (size, size, 3) canvas, in the
    given uint8 ``colours`` (N, 3); later points are drawn over earlier ones."""
    canvas = np.full((size, size, 3), 255, np.uint8)
    points = np.asarray(points, np.float64)
    span = np.maximum(points.max(0) - points.min(0), 1e-12)
    scaled = (points - points.min(0)) / span * (size - 4 * radius) + 2 * radius
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disc = yy**2 + xx**2 <= radius**2
    for (x, y), colour in zip(np.round(scaled).astype(int), colours, strict=True):
        patch = canvas[y - radius : y + radius + 1, x - radius : x + radius + 1]
        patch[disc] = colour
    return canvas


def outline(
    image: np.ndarray, corners: np.ndarray, colour=(255, 0, 0), width: int = 2
) -> np.ndarray:
    """A copy of ``image`` with the closed polygon ``corners`` (K, 2) as (x, y) drawn on it."""
    out = np.array(image, copy=True)
    h, w = out.shape[:2]
    for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        steps = int(np.ceil(np.abs(b - a).max())) + 1
        for t in np.linspace(0.0, 1.0, steps):
            x, y = np.round(a + t * (b - a)).astype(int)
            out[max(y - width // 2, 0) : min(y + width // 2 + 1, h),
                max(x - width // 2, 0) : min(x + width // 2 + 1, w)] = colour  # fmt: skip
    return out
