"""Which of its portrait's residual coordinates a mixture face borrows: the broadest, and
those that set the background.

A face of the default targets borrows its unnamed attributes from a training portrait
and, with them, that portrait's first residual coordinates (the broadest variations its
labels leave), the mixture drawing the others given them (``mixture.py``). The
background is spread over many of the other coordinates, and each drawn one blends the
data's backgrounds, which are flat, saturated colours, into washed-out gradients. So a
face may also borrow its portrait's coordinates along the directions that most move the
activations at the border of the feature map (the top rows and the upper sides, where a
portrait shows background), beyond what the broadest coordinates already set: the
portrait's background colour, with the face still drawn.

Borrowing along directions other than the leading ones is a change of basis: an
orthonormal ``basis`` whose first rows are the broad coordinates, then the border
directions, then the rest. The mixture is rotated into it (``mixture.rotated``), the
borrowed coordinates are read in it, and drawn coordinates are rotated back before they
become activations, so with nothing borrowed along it a draw has the distribution it had.
"""

from __future__ import annotations

import numpy as np

# How many border directions a face borrows beyond the broad coordinates (0: none).
# experiments/bench_anchors.py --border measures the choice: 32 takes VGG16 KID from 2.86
# to 2.59 of the floor (3.07 to 2.67 with the G before) with no rise in faces verified as
# a bank portrait; 48, tried once, drew most faces as their lending portrait.
BORDER_ANCHORED = 32


def border_mask(height: int, width: int) -> np.ndarray:
    """(height, width) bool: the feature map's top eighth of rows, and the outer fifth of
    columns on each side down to the map's middle, where every centred portrait shows
    background (its head is in the middle, its shoulders at the bottom)."""
    mask = np.zeros((height, width), bool)
    mask[: max(1, height // 8)] = True
    side = max(1, round(width / 5))
    middle = max(1, round(height * 0.6))
    mask[:middle, :side] = True
    mask[:middle, width - side :] = True
    return mask


def drawing_basis(
    components: np.ndarray, component_std: np.ndarray, shape: tuple, broad: int, border: int
) -> np.ndarray:
    """(P, P) orthonormal rows over the residual coordinates (in units of their standard
    deviations): the first ``broad`` coordinates as they are, then the ``border``
    directions orthogonal to them that move the activations at ``border_mask`` most (the
    border's top singular directions), then an orthonormal rest."""
    count = len(component_std)
    if not 0 <= broad + border < count:
        raise ValueError(f"{broad} broad and {border} border anchors leave no coordinate drawn")
    height, width, channels = shape
    scaled = np.asarray(component_std, np.float64)[:, None] * np.asarray(components, np.float64)
    at_border = scaled.reshape(count, height, width, channels)[:, border_mask(height, width)]
    at_border = at_border.reshape(count, -1)
    at_border[:broad] = 0.0  # directions beyond the broad coordinates
    directions = np.linalg.svd(at_border, full_matrices=False)[0][:, :border].T  # (border, P)
    leading = np.concatenate([np.eye(count)[:broad], directions])
    rest = np.linalg.qr(np.concatenate([leading.T, np.eye(count)], axis=1))[0][:, :count].T
    return np.concatenate([leading, rest[len(leading) :]])
