"""Images in and out of HTTP: uploads checked and decoded, faces as base64 PNGs or one
grid PNG."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from deepface_gen.errors import ImageError
from deepface_gen.io.images import decode_image, make_grid


class TooLargeError(ImageError):
    """An upload over a size limit (HTTP 413)."""


def png_bytes(image: np.ndarray) -> bytes:
    """One uint8 (H, W, 3) image as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def base64_pngs(images: Sequence[np.ndarray]) -> list[str]:
    """Each image as base64-encoded PNG text (what the JSON answers carry)."""
    return [base64.b64encode(png_bytes(image)).decode("ascii") for image in images]


def grid_png(
    images: Sequence[np.ndarray], columns: int | None = None, captions=None, title=None
) -> bytes:
    """All images tiled into one PNG (``?format=png``), with a title above where given."""
    return png_bytes(make_grid(list(images), columns=columns, captions=captions, title=title))


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header, read without decoding pixels; None
    where Pillow does not recognise it (decoding then says why)."""
    try:
        with Image.open(io.BytesIO(data)) as pil:
            return pil.size
    except Exception:  # noqa: BLE001 - anything unrecognised is for decode_image to judge
        return None


def decode_upload(data: bytes, name: str, max_bytes: int, max_pixels: int) -> np.ndarray:
    """An uploaded file as (H, W, 3) uint8 RGB, refusing what is over the limits before
    decoding it (the header's size is read first) and anything that is not an image."""
    if len(data) > max_bytes:
        raise TooLargeError(
            f"{name}: upload is {len(data):,} bytes; this server takes at most {max_bytes:,}"
        )
    size = _declared_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise TooLargeError(
            f"{name}: image is {size[0]}x{size[1]} pixels; this server takes at most "
            f"{max_pixels / 1e6:g} megapixels"
        )
    image = decode_image(data, name, max_pixels=64_000_000)
    if image.shape[0] * image.shape[1] > max_pixels:
        raise TooLargeError(
            f"{name}: image is {image.shape[1]}x{image.shape[0]} pixels; this server takes at "
            f"most {max_pixels / 1e6:g} megapixels"
        )
    return image
