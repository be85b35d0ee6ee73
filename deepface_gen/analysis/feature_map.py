"""A map of what the classifier sees: its features embedded in 2-D with t-SNE.

Karpathy laid out selfies by the network's features so that similar images sit
together. The features are the classifier's penultimate layer; the embedding is
scikit-learn's t-SNE (PCA start, a fixed seed). It is drawn two ways: a scatter
coloured by one attribute's probability, and the thumbnails themselves snapped to a
grid at their embedded positions (an optimal assignment of points to cells, so every
cell holds one image and neighbours stay neighbours).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.manifold import TSNE

from deepface_gen.analysis.drawing import colormap, colour_bar, scatter
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io.images import make_grid

MIN_IMAGES = 5  # t-SNE needs a perplexity below the number of points


def embed(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, 2) t-SNE positions of ``features`` (N, D); the perplexity is lowered for
    small sets (it must stay below N)."""
    features = np.asarray(features, np.float64)
    if len(features) < MIN_IMAGES:
        raise DeepFaceGenError(
            f"a t-SNE map needs at least {MIN_IMAGES} images (got {len(features)})"
        )
    perplexity = min(perplexity, (len(features) - 1) / 3)
    tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(features)


def snap_to_grid(points: np.ndarray, columns: int | None = None) -> tuple[np.ndarray, int]:
    """Each point's cell (N,) on a grid of ``columns`` x rows (as square as fits N),
    by the assignment that minimizes the total squared distance between the points
    (scaled to the grid) and their cells. Returns (cell index per point, columns)."""
    points = np.asarray(points, np.float64)
    n = len(points)
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    span = np.maximum(points.max(0) - points.min(0), 1e-12)
    scaled = (points - points.min(0)) / span * [columns - 1, rows - 1]
    cells = np.stack(np.meshgrid(np.arange(columns), np.arange(rows)), -1).reshape(-1, 2)
    cost = ((scaled[:, None, :] - cells[None, :, :]) ** 2).sum(-1)
    point_index, cell_index = linear_sum_assignment(cost)
    assigned = np.empty(n, int)
    assigned[point_index] = cell_index
    return assigned, columns


def scatter_map(
    points: np.ndarray, values: np.ndarray, size: int = 640, label: str = "value"
) -> np.ndarray:
    """The embedding as discs coloured by ``values`` in [0, 1] (dark: 0, bright: 1),
    with a colour bar along the bottom, its ticks and ``label`` saying what it shows."""
    picture = scatter(points, colormap(values, 0.0, 1.0), size)
    bar = colour_bar(size, 0.0, 1.0, label)
    return np.concatenate([picture, np.full((4, size, 3), 255, np.uint8), bar])


def thumbnail_map(points: np.ndarray, thumbnails: np.ndarray) -> np.ndarray:
    """The thumbnails laid on a grid at their snapped positions (empty cells white)."""
    cells, columns = snap_to_grid(points)
    rows = int(np.ceil(len(points) / columns))
    blank = np.full_like(thumbnails[0], 255)
    tiles = [blank] * (columns * rows)
    for image, cell in zip(thumbnails, cells, strict=True):
        tiles[cell] = image
    return make_grid(tiles, columns=columns, pad=0)
