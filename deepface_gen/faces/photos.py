"""How a command turns a photo into what the model sees, and an edit back into the photo.

``--align auto`` (the default) aligns a photo that is not already an aligned crop and,
where no face is found or no detector is installed, says so in one line and uses the
centred square as before; ``--align on`` insists on a face; ``--align off`` (or a
``--box``) is the centred square or the given box, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepface_gen import checks
from deepface_gen.errors import ImageError
from deepface_gen.faces import alignment as transforms
from deepface_gen.faces import detection
from deepface_gen.faces.detection import Detector, DetectorMissingError, Face
from deepface_gen.faces.layout import FaceLayout
from deepface_gen.faces.pasting import paste_change
from deepface_gen.io.images import crop_face, face_box, paste_face

ALIGN_MODES = ("auto", "on", "off")
MIN_EYE_DISTANCE = 8.0  # photo pixels: a smaller face has too little to align by
# A face whose eyes already sit within this fraction of the crop of where the layout
# puts them, in the photo's centred square, is an aligned crop: taken as it is.
ALIGNED_TOLERANCE = 0.04
# CelebA's aligned crops, and any square up to twice the model's input, are taken as
# already aligned portraits (what the models were trained on).
ALIGNED_SHAPES = ((218, 178),)


class NoFaceError(ImageError):
    """No face (or not the asked-for one) was found in a photo."""


@dataclass(frozen=True)
class Portrait:
    """A photo as the model sees it, and how to put an edit of it back."""

    crop: np.ndarray  # (size, size, 3) uint8
    alignment: transforms.Alignment | None  # None: a box of the photo was resized
    box: tuple[int, int, int, int] | None
    face: Face | None
    note: str | None = None  # one line for the user (no face found, no detector)

    def is_whole(self, photo: np.ndarray) -> bool:
        """Whether the model saw the whole photo, resized (nothing to put back into)."""
        height, width = photo.shape[:2]
        return self.alignment is None and self.box == (0, 0, width, height)

    def paste(self, photo: np.ndarray, edited: np.ndarray) -> np.ndarray:
        """``photo`` with the edit of this portrait's crop put back at full resolution."""
        if self.alignment is not None:
            return paste_change(photo, self.alignment, self.crop, edited)
        return paste_face(photo, edited, self.box)


def looks_aligned(photo: np.ndarray, size: int) -> bool:
    """Whether ``photo`` is already a crop laid out as the model's training portraits
    (a square up to twice the model's input, or CelebA's aligned 178 x 218)."""
    height, width = photo.shape[:2]
    return (height == width and height <= 2 * size) or (height, width) in ALIGNED_SHAPES


def find_face(
    photo: np.ndarray, face_index: int = 0, detector: Detector | None = None, name: str = "image"
) -> Face:
    """Face ``face_index`` (0: the surest) of ``photo``, or a ``NoFaceError`` saying why not."""
    faces = (detector or detection.default_detector())(photo)
    if not faces:
        raise NoFaceError(f"{name}: no face found")
    if face_index >= len(faces):
        raise NoFaceError(
            f"{name}: face {face_index} asked for, but {len(faces)} face(s) found "
            f"(numbered 0 to {len(faces) - 1}, surest first)"
        )
    face = faces[face_index]
    if face.eye_distance < MIN_EYE_DISTANCE:
        raise NoFaceError(
            f"{name}: face {face_index} is too small to align: its eyes are "
            f"{face.eye_distance:.0f} px apart, the minimum is {MIN_EYE_DISTANCE:.0f} px"
        )
    return face


def prepare(
    photo: np.ndarray,
    size: int,
    layout: FaceLayout,
    align: str = "auto",
    face_index: int = 0,
    box: tuple[int, int, int, int] | None = None,
    detector: Detector | None = None,
    name: str = "image",
) -> Portrait:
    """``photo`` as a model of input ``size`` trained on ``layout`` sees it (module
    docstring: the modes). Raises ``NoFaceError`` only with ``align="on"``."""
    checks.choice("align", align, ALIGN_MODES)
    if box is not None or align == "off" or (align == "auto" and looks_aligned(photo, size)):
        chosen = face_box(photo, box)
        return Portrait(crop_face(photo, chosen, size), None, chosen, None)
    try:
        face = find_face(photo, face_index, detector, name)
    except (NoFaceError, DetectorMissingError) as err:
        if align == "on" or face_index > 0:  # a face asked for by number must be there
            raise
        chosen = face_box(photo)
        note = f"{err}; using the centred square (--align on to refuse instead)"
        return Portrait(crop_face(photo, chosen, size), None, chosen, None, note)
    square = face_box(photo)
    if _already_aligned(face, square, layout, size):  # e.g. a portrait enlarged: keep it
        return Portrait(crop_face(photo, square, size), None, square, face)
    placed = transforms.align(face.eyes, layout, size)
    return Portrait(transforms.crop(photo, placed), placed, None, face)


def _already_aligned(
    face: Face, square: tuple[int, int, int, int], layout: FaceLayout, size: int
) -> bool:
    """Whether the face's eyes, in the centred square scaled to the model's input, are
    within ``ALIGNED_TOLERANCE`` of the layout's."""
    x, y, side, _ = square
    eyes = (face.eyes - np.array([x, y])) * (size / side)
    return bool(np.abs(eyes - layout.eye_points(size)).max() <= ALIGNED_TOLERANCE * size)
