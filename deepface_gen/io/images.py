"""Images in and out: robust reading, atomic writing, grids, and model preprocessing.

Reading accepts what people actually have (grayscale, RGBA, 16-bit, palette,
animated, EXIF-rotated, huge) and turns it into one thing: an (H, W, 3) uint8
RGB array. What cannot become that (corrupt, truncated, not an image, tiny)
is refused with the file's name and the reason.
"""

from __future__ import annotations

import io
import math
import os
import re
import secrets
import warnings
from collections.abc import Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from deepface_gen.errors import ImageError

MIN_SIDE = 16
MAX_PIXELS = 40_000_000  # larger images are downscaled to this budget on reading
# Larger images are refused before decoding (a JPEG is first decoded at 1/2, 1/4 or
# 1/8 scale, which often brings it under): a small file can claim gigapixels.
MAX_DECODE_PIXELS = 64_000_000
_WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _to_rgb_uint8(array: np.ndarray, name: str) -> np.ndarray:
    """Normalize dtype and channels of a decoded image to (H, W, 3) uint8."""
    if array.ndim == 3 and array.shape[-1] not in (1, 2, 3, 4) and array.shape[0] in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channels-first TIFFs
    if array.dtype == np.uint8 and array.ndim in (2, 3):
        return _uint8_to_rgb(array, name)  # the common case, without float copies
    if array.dtype == np.uint16:
        array = array.astype(np.float64) / 257.0  # 65535 -> 255
    elif array.dtype.kind in "iu" and array.dtype != np.uint8:
        top = 65535.0 if array.max(initial=0) > 255 else 255.0
        array = np.clip(array.astype(np.float64), 0, top) / top * 255.0
    elif array.dtype == bool:
        array = array.astype(np.float64) * 255
    elif np.issubdtype(array.dtype, np.floating):
        scale = 255.0 if array.max(initial=0.0) <= 1.0 else 1.0
        array = array.astype(np.float64) * scale
    array = np.clip(array, 0, 255).astype(np.float32)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ImageError(f"{name}: unsupported image layout with shape {array.shape}")
    channels = array.shape[-1]
    if channels in (2, 4):  # luminance/colour + alpha: composite over white
        alpha = array[..., -1:] / 255.0
        array = array[..., :-1] * alpha + 255.0 * (1.0 - alpha)
        channels -= 1
    if channels == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.round(array).astype(np.uint8)


def _uint8_to_rgb(array: np.ndarray, name: str) -> np.ndarray:
    """(H, W[, C]) uint8 to (H, W, 3) uint8 in integer arithmetic, in bands of rows: a
    40-megapixel RGBA photo never needs more than a few bands' worth of extra memory."""
    if array.ndim == 2:
        array = array[..., None]
    channels = array.shape[-1]
    if channels == 3:
        return np.ascontiguousarray(array)
    if channels not in (1, 2, 4):
        raise ImageError(f"{name}: unsupported image layout with shape {array.shape}")
    out = np.empty((*array.shape[:2], 3), np.uint8)
    band = 512
    for top in range(0, array.shape[0], band):
        rows = array[top : top + band].astype(np.uint32)
        colour = rows[..., : 3 if channels == 4 else 1]
        if channels in (2, 4):  # composite over white, rounding as (x + 127) // 255
            alpha = rows[..., -1:]
            colour = (colour * alpha + 255 * (255 - alpha) + 127) // 255
        out[top : top + band] = colour.astype(np.uint8)  # 1 channel broadcasts to 3
    return out


def _shrink_in_bands(pil: Image.Image, max_pixels: int, name: str) -> np.ndarray:
    """An over-budget decoded image, box-averaged by a whole factor to within the budget
    and made RGB, one band of rows at a time: numpy never holds the full-size image (a
    60-megapixel RGBA photo costs its decoded buffer and little more)."""
    factor = math.ceil((pil.width * pil.height / max_pixels) ** 0.5)
    height, width = pil.height // factor, pil.width // factor
    out = np.empty((height, width, 3), np.uint8)
    band = max(1, (1 << 22) // (pil.width * factor))  # output rows per ~4-megapixel band
    for top in range(0, height, band):
        rows = min(band, height - top)
        box = (0, top * factor, width * factor, (top + rows) * factor)
        rgb = _uint8_to_rgb(np.asarray(pil.crop(box)), name)
        blocks = rgb.reshape(rows, factor, width, factor, 3).mean(axis=(1, 3))
        out[top : top + rows] = np.round(blocks).astype(np.uint8)
    return out


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, BMP or JPEG header without decoding, or None
    for other formats (and damaged headers): lets a reader refuse a huge image before
    any decoder allocates it."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:2] == b"BM" and len(data) >= 26:
        return (
            abs(int.from_bytes(data[18:22], "little", signed=True)),
            abs(int.from_bytes(data[22:26], "little", signed=True)),
        )
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG markers to the first start-of-frame and read its size."""
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            return int.from_bytes(data[at + 7 : at + 9], "big"), height
        at += 2 + length
    return None


def _check_pixel_count(width: int, height: int, name: str, limit: int) -> None:
    if width * height > limit:
        raise ImageError(
            f"{name}: image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"deepface-gen reads at most {limit / 1e6:.0f} megapixels: downscale it first"
        )


def _decode(source: bytes, name: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    size = header_size(source)
    if size is not None and source[:2] != b"\xff\xd8":
        _check_pixel_count(*size, name, MAX_DECODE_PIXELS)
    try:
        with Image.open(io.BytesIO(source)) as pil:
            if pil.format == "JPEG" and pil.width * pil.height > max_pixels:
                # Decode at 1/2, 1/4 or 1/8 scale, no smaller than the whole-factor box
                # average (_shrink_in_bands) would make it anyway.
                factor = math.ceil((pil.width * pil.height / max_pixels) ** 0.5)
                pil.draft("RGB", (pil.width // factor, pil.height // factor))
            _check_pixel_count(pil.width, pil.height, name, MAX_DECODE_PIXELS)
            pil.load()
            if getattr(pil, "n_frames", 1) > 1:
                pil.seek(0)  # animated: the first frame
            try:
                from PIL import ImageOps

                pil = ImageOps.exif_transpose(pil)
            except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
                pass
            if pil.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                pil = pil.convert(
                    "RGBA" if "transparency" in pil.info or pil.mode == "PA" else "RGB"
                )
            if pil.mode == "I;16" or pil.mode.startswith("I;16"):
                return np.asarray(pil, dtype=np.uint16)
            if pil.width * pil.height > max_pixels and pil.mode in ("L", "LA", "RGB", "RGBA"):
                return _shrink_in_bands(pil, max_pixels, name)
            return np.asarray(pil)
    except Image.DecompressionBombError as err:
        raise ImageError(f"{name}: image is too large to decode safely ({err})") from None
    except (OSError, SyntaxError, ValueError) as err:
        pass_err = err
    # Not something Pillow reads: let imageio try its other plugins (e.g. TIFF variants).
    try:
        with warnings.catch_warnings():  # imageio's legacy plugins warn while probing
            warnings.simplefilter("ignore")
            return iio.imread(source, index=0)
    except Exception as err:  # noqa: BLE001 - any decoder failure means "unreadable"
        reason = str(pass_err) or str(err) or type(err).__name__
        if isinstance(pass_err, UnidentifiedImageError):  # Pillow names its BytesIO here
            reason = "not an image format Pillow or imageio recognises"
        raise ImageError(f"{name}: not a readable image ({reason})") from None


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read any common image file as (H, W, 3) uint8 RGB.

    Grayscale is repeated to RGB, alpha is composited over white, 16-bit is
    scaled to 8-bit, palettes are expanded, animations give their first frame,
    and EXIF orientation is applied. Images over ``max_pixels`` are downscaled
    to fit; images under 16 pixels on a side, missing, corrupt, truncated or
    non-image files raise :class:`ImageError` naming the file and the reason.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise ImageError(f"{name}: no such file")
    if path.is_dir():
        raise ImageError(f"{name}: is a folder, not an image")
    return decode_image(path.read_bytes(), name, max_pixels)


def decode_image(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An encoded image (a file's bytes, an upload) as (H, W, 3) uint8 RGB, with every
    conversion and check of ``read_image``; errors call the image ``name``."""
    if not data:
        raise ImageError(f"{name}: file is empty")
    array = _to_rgb_uint8(_decode(data, name, max_pixels), name)
    height, width = array.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageError(
            f"{name}: image is {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed"
        )
    if height * width > max_pixels:
        factor = (height * width / max_pixels) ** 0.5
        array = resize(array, (int(height / factor), int(width / factor)))
    return array


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


# A CelebA layout keeps its portraits in this subfolder (CelebA itself, and what
# ``deepface-gen synth`` writes beside its contact sheet).
CELEBA_IMAGE_DIR = "img_align_celeba"


def portrait_folder(folder: str | os.PathLike) -> Path:
    """Where a folder's portraits are: its ``img_align_celeba/`` in a CelebA layout, else
    the folder itself; refuses a missing folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: no such folder")
    celeba = folder / CELEBA_IMAGE_DIR
    return celeba if celeba.is_dir() else folder


def image_files(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """The image files (by suffix) of a folder's portraits (``portrait_folder``), or of
    the folder and every folder below it when ``recursive``, sorted by path; refuses a
    missing folder or one without images."""
    where = Path(folder) if recursive else portrait_folder(folder)
    if not where.is_dir():
        raise ImageError(f"{where}: no such folder")
    found = where.rglob("*") if recursive else where.iterdir()
    paths = sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        hint = "" if recursive else "; --recursive also looks in subfolders"
        raise ImageError(f"{where}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}){hint}")
    return paths


def as_uint8(images) -> np.ndarray:
    """Float 0..255 pixels (numpy or JAX) as uint8 images, rounded."""
    return np.round(np.asarray(images)).astype(np.uint8)


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Antialiased resize of an (H, W, 3) uint8 image to ``shape`` = (height, width)."""
    pil = Image.fromarray(np.asarray(image, np.uint8))
    return np.asarray(pil.resize((shape[1], shape[0]), Image.Resampling.LANCZOS))


def zoom(image: np.ndarray, factor: int) -> np.ndarray:
    """An (H, W, 3) image enlarged ``factor`` times by repeating pixels (sharp sheets)."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1) if factor > 1 else image


def center_crop(image: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """The largest centred crop of ``image`` with width / height = ``aspect``."""
    height, width = image.shape[:2]
    if width / height > aspect:
        new_w = int(round(height * aspect))
        left = (width - new_w) // 2
        return image[:, left : left + new_w]
    new_h = int(round(width / aspect))
    top = (height - new_h) // 2
    return image[top : top + new_h]


def fit_to_model(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to ``size`` x ``size`` (how inputs meet a model)."""
    return resize(center_crop(image), (size, size))


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Write an (H, W, 3) or (H, W) image atomically, as PNG or JPEG by extension.

    The file appears complete or not at all: it is written to a temporary file
    in the same folder and renamed over the target.
    """
    path = Path(path)
    fmt = _WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unsupported output type {path.suffix!r}; use .png or .jpg")
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    options = {"quality": quality} if fmt == "JPEG" else {"optimize": True}
    Image.fromarray(array).save(buffer, format=fmt, **options)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes to ``path`` via a temporary file and rename, so readers never see half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        # Created with mode 0666 and O_EXCL: the process umask applies as for any new
        # file (no global umask juggling), and no other writer can share the name.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_grid(
    images: np.ndarray | Sequence[np.ndarray],
    columns: int | None = None,
    captions: Sequence[str] | None = None,
    pad: int = 2,
    background: int = 255,
    zoom: int = 1,
    title: str | None = None,
) -> np.ndarray:
    """Tile equally sized images into a contact sheet, with optional captions below each
    (a caption runs on under the following tiles of its row whose captions are empty);
    ``zoom`` enlarges every image that many times (nearest neighbour: pixels stay
    pixels, so texture can be judged); ``title`` is written above the sheet, wrapped to
    its width (what the whole sheet shows, where a caption has no room for it)."""
    images = [np.asarray(i) for i in images]
    if not images:
        raise ImageError("make_grid needs at least one image")
    if zoom > 1:
        images = [np.repeat(np.repeat(i, zoom, axis=0), zoom, axis=1) for i in images]
    images = [
        i if i.dtype == np.uint8 else np.round(np.clip(i, 0, 1) * 255).astype(np.uint8)
        for i in images
    ]
    height, width = images[0].shape[:2]
    columns = columns or int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / columns))
    caption_h = 12 if captions else 0
    cell_h, cell_w = height + caption_h + pad, width + pad
    sheet = np.full((rows * cell_h + pad, columns * cell_w + pad, 3), background, np.uint8)
    for index, image in enumerate(images):
        r, c = divmod(index, columns)
        top, left = r * cell_h + pad, c * cell_w + pad
        sheet[top : top + height, left : left + width] = image[..., :3]
    if captions:
        pil = Image.fromarray(sheet)
        draw = ImageDraw.Draw(pil)
        font = ImageFont.load_default()
        shown = list(captions[: len(images)])
        for index, text in enumerate(shown):
            r, c = divmod(index, columns)
            span = 1
            while c + span < columns and index + span < len(shown) and not shown[index + span]:
                span += 1
            room = span * cell_w - pad
            draw.text(
                (c * cell_w + pad, r * cell_h + pad + height),
                _fitted(text, font, room),
                fill=(0, 0, 0),
                font=font,
            )
        sheet = np.asarray(pil)
    if title:
        sheet = np.concatenate([_title_strip(title, sheet.shape[1], background), sheet])
    return sheet


def _spaced(text: str) -> str:
    """``text`` with its spaces doubled and a space after each comma: the default font's
    space is 2 pixels wide at the captions' size, which ran words together ("at
    strength" read "atstrength"), and its comma hides under a t ("hat,smiling" read
    "hatsmiling")."""
    return re.sub(r",(?=[^\s\d])", ", ", text).replace(" ", "  ")


def _fitted(text: str, font, room: float) -> str:
    """``_spaced(text)``, cut short where it would run past ``room`` pixels."""
    text = _spaced(text)
    while text and font.getlength(text) > room:
        text = text[:-1]
    return text.rstrip()


def _title_strip(text: str, width: int, background: int) -> np.ndarray:
    """``text`` word-wrapped into lines that fit ``width`` pixels, as an image strip."""
    font = ImageFont.load_default()
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and font.getlength(_spaced(trial)) > width - 4:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    strip = Image.new("RGB", (width, 12 * len(lines) + 4), (background,) * 3)
    draw = ImageDraw.Draw(strip)
    for i, part in enumerate(lines):
        draw.text((2, 2 + 12 * i), _spaced(part), fill=(0, 0, 0), font=font)
    return np.asarray(strip)


def face_box(
    image: np.ndarray, box: tuple[int, int, int, int] | None = None
) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the face: the given box checked against the image, or the centred
    square (portraits are assumed roughly centred, as in CelebA's aligned crops)."""
    height, width = image.shape[:2]
    if box is None:
        side = min(height, width)
        return ((width - side) // 2, (height - side) // 2, side, side)
    x, y, w, h = box
    if w < MIN_SIDE or h < MIN_SIDE or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ImageError(
            f"face box {box} does not fit a {width}x{height} image (or is under {MIN_SIDE} pixels)"
        )
    return box


def crop_face(image: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The box's content resized to ``size`` x ``size``."""
    x, y, w, h = box
    return resize(image[y : y + h, x : x + w], (size, size))


def paste_face(image: np.ndarray, face: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A copy of ``image`` with ``face`` resized into ``box`` (an edit at full resolution)."""
    x, y, w, h = box
    out = np.array(image, copy=True)
    out[y : y + h, x : x + w] = resize(face, (h, w))
    return out
