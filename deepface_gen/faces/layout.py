"""Where a model's training portraits have their eyes: the layout an aligned crop
is warped to, so each model sees a photo's face where it learned faces are.

Positions are fractions of the model's square input, x to the right and y down,
pixel centres at (i + 0.5) / size. The eye on the image's left comes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaceLayout:
    """The eye positions of a model's training portraits in its square input."""

    name: str
    eyes: tuple[tuple[float, float], tuple[float, float]]

    def eye_points(self, size: int) -> np.ndarray:
        """(2, 2) eye centres in pixel coordinates of a ``size`` x ``size`` crop."""
        return np.asarray(self.eyes, np.float64) * size

    def to_json(self) -> dict:
        """The manifest record of this layout."""
        return {"name": self.name, "eyes": [list(point) for point in self.eyes]}

    @classmethod
    def from_json(cls, record: Mapping) -> FaceLayout:
        """A layout from its manifest record, checked."""
        eyes = np.asarray(record.get("eyes"), np.float64)
        if eyes.shape != (2, 2) or not np.all((eyes > 0) & (eyes < 1)) or eyes[0, 0] >= eyes[1, 0]:
            raise ValueError(
                f"face layout eyes {record.get('eyes')!r} must be two (x, y) fractions of the "
                "crop in (0, 1), the image-left eye first"
            )
        return cls(str(record.get("name", "bundle")), tuple(map(tuple, eyes.tolist())))


# The synthetic renderer's mean eye positions over 4,096 sampled scenes
# (data/export.landmarks; spread 0.016 of the crop): what the starter learned.
SYNTHETIC = FaceLayout("synthetic portraits", ((0.4200, 0.4922), (0.5798, 0.4921)))

# CelebA's aligned set (178 x 218) has the eyes at x 69 and 108 on row 111 (the means
# of list_landmarks_align_celeba.txt); models take its centred 178 px square
# (rows 20..198), so in that square they are at these fractions.
CELEBA = FaceLayout("CelebA aligned", ((69.0 / 178, 91.0 / 178), (108.0 / 178, 91.0 / 178)))


def of_manifest(manifest: Mapping) -> FaceLayout:
    """A bundle's layout: its own ``face_layout`` record, else the one its training
    data implies (synthetic portraits or CelebA's aligned crops; CelebA's for models
    imported from elsewhere, which were trained on aligned faces of that kind)."""
    if "face_layout" in manifest:
        return FaceLayout.from_json(manifest["face_layout"])
    data = manifest.get("training", {}).get("config", {}).get("data", {})
    return of_source(str(data.get("source", "")))


def of_source(source: str) -> FaceLayout:
    """The layout of a training data source's portraits (a config's ``data.source``:
    "synthetic", "synthetic:2000", "celeba:/path", "tfds", ...); CelebA's otherwise."""
    return SYNTHETIC if source.split(":")[0] == "synthetic" else CELEBA
