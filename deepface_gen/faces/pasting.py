"""Put an edited crop back into the photo it came from, at the photo's resolution.

What is pasted is the *change*: the edited crop minus the crop the model was given,
warped back by the inverse alignment and added to the photo under a feathered
window. The photo's own detail stays under the change, the colours meet at the seam
by construction (the change fades to nothing there), and outside the window every
pixel is the photo's own, exactly.
"""

from __future__ import annotations

import numpy as np

from deepface_gen.faces import alignment as transforms
from deepface_gen.faces.alignment import Alignment

FEATHER = 0.18  # the window falls from 1 to 0 over this fraction of the crop at each edge


def feather_window(size: int, feather: float = FEATHER) -> np.ndarray:
    """(size, size) weights: 1 in the middle of the crop, falling smoothly (a raised
    cosine over ``feather`` of the side) to 0 at its edges."""
    centres = (np.arange(size) + 0.5) / size
    edge = np.minimum(centres, 1.0 - centres) / feather
    ramp = np.where(edge >= 1.0, 1.0, 0.5 - 0.5 * np.cos(np.pi * np.clip(edge, 0.0, 1.0)))
    return np.outer(ramp, ramp).astype(np.float32)


def paste_change(
    photo: np.ndarray, alignment: Alignment, before: np.ndarray, after: np.ndarray
) -> np.ndarray:
    """A copy of ``photo`` with the change from crop ``before`` to crop ``after`` (both
    the alignment's ``size`` square, uint8) warped back into it, feathered."""
    height, width = photo.shape[:2]
    corners = transforms.footprint(alignment)
    left, top = np.maximum(0, np.floor(corners.min(0))).astype(int)
    right = int(min(width, np.ceil(corners[:, 0].max())))
    bottom = int(min(height, np.ceil(corners[:, 1].max())))
    out = np.array(photo, np.uint8, copy=True)
    if right <= left or bottom <= top:
        return out
    # The region's pixels in crop coordinates: shift the photo -> crop matrix to the region.
    to_crop = alignment.matrix.copy()
    to_crop[:, 2] += to_crop[:, :2] @ np.array([left, top], np.float64)
    to_region = transforms.invert(to_crop)
    shape = (bottom - top, right - left)
    change = np.asarray(after, np.float32) - np.asarray(before, np.float32)
    weight = transforms.warp(feather_window(alignment.size), to_region, shape)
    region = out[top:bottom, left:right].astype(np.float32)
    for channel in range(3):
        moved = transforms.warp(np.ascontiguousarray(change[..., channel]), to_region, shape)
        region[..., channel] += np.clip(weight, 0.0, 1.0) * moved
    touched = weight > 0
    out[top:bottom, left:right][touched] = np.clip(np.round(region[touched]), 0, 255)
    return out
