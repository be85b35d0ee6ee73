"""The CelebA folder format, read and written by one module.

The official layout::

    img_align_celeba/000001.jpg ...
    list_attr_celeba.txt      line 1: count; line 2: the 40 names; then
                              "000001.jpg -1  1  1 -1 ..." (values +1 / -1)
    list_eval_partition.txt   "000001.jpg 0"   (0 train, 1 validation, 2 test)
    identity_CelebA.txt       "000001.jpg 2880" (optional)

The synthetic exporter writes exactly this, so one reader serves a real CelebA
download and the project's own portraits. Malformed files stop with the file
name and line number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepface_gen.attributes import CELEBA_ATTRIBUTES
from deepface_gen.errors import DataError
from deepface_gen.io.images import atomic_write_bytes

IMAGE_DIR = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IDENTITY_FILE = "identity_CelebA.txt"
LANDMARKS_FILE = "list_landmarks_align_celeba.txt"
LANDMARK_NAMES = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
ALIGNED_SIZE = (218, 178)  # height, width of img_align_celeba
SPLITS = {"train": 0, "validation": 1, "test": 2}


@dataclass(frozen=True)
class CelebAIndex:
    """The labels of a CelebA-format folder: one row per image."""

    root: Path
    filenames: tuple[str, ...]
    attributes: np.ndarray  # (N, 40) int8 in {-1, +1}, CelebA order
    partition: np.ndarray  # (N,) int8: 0 train, 1 validation, 2 test
    identity: np.ndarray | None  # (N,) int64 person ids, when identity_CelebA.txt exists

    def split(self, name: str) -> CelebAIndex:
        """The rows of one split ('train', 'validation' or 'test')."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        keep = self.partition == SPLITS[name]
        return CelebAIndex(
            self.root,
            tuple(f for f, k in zip(self.filenames, keep, strict=True) if k),
            self.attributes[keep],
            self.partition[keep],
            None if self.identity is None else self.identity[keep],
        )

    def image_path(self, index: int) -> Path:
        return self.root / IMAGE_DIR / self.filenames[index]


def format_attribute_file(filenames: list[str], attributes: np.ndarray) -> str:
    """Text of list_attr_celeba.txt, formatted as the official file is."""
    lines = [str(len(filenames)), " ".join(CELEBA_ATTRIBUTES) + " "]
    for name, row in zip(filenames, np.asarray(attributes), strict=True):
        lines.append(name + " " + " ".join(f"{int(v):2d}" for v in np.where(row > 0, 1, -1)))
    return "\n".join(lines) + "\n"


def _pairs_file(filenames: list[str], values: np.ndarray) -> str:
    return "".join(f"{f} {int(v)}\n" for f, v in zip(filenames, values, strict=True))


def write_labels(
    root: str | os.PathLike,
    filenames: list[str],
    attributes: np.ndarray,
    partition: np.ndarray,
    identity: np.ndarray | None = None,
) -> None:
    """Write the CelebA label files for ``filenames`` (atomically, each)."""
    root = Path(root)
    atomic_write_bytes(root / ATTR_FILE, format_attribute_file(filenames, attributes).encode())
    atomic_write_bytes(root / PARTITION_FILE, _pairs_file(filenames, partition).encode())
    if identity is not None:
        atomic_write_bytes(root / IDENTITY_FILE, _pairs_file(filenames, identity).encode())


def format_landmarks_file(filenames: list[str], landmarks: np.ndarray) -> str:
    """Text of list_landmarks_align_celeba.txt: a count, the header, then per image the
    (x, y) of both eyes, the nose and both mouth corners, as the official file is."""
    header = " ".join(f"{n}_x {n}_y" for n in LANDMARK_NAMES)
    rows = [
        name + " " + " ".join(f"{int(v):4d}" for v in row)
        for name, row in zip(
            filenames, np.asarray(landmarks).reshape(len(filenames), -1), strict=True
        )
    ]
    return "\n".join([str(len(filenames)), header, *rows]) + "\n"


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a text file ({err})") from None


def read_attribute_file(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Parse list_attr_celeba.txt into filenames and an (N, 40) int8 array.

    The second line must name CelebA's 40 attributes in order (they are
    reordered if the file has them in another order); every row must have a
    filename and 40 values of +1 / -1 (0 is read as -1, as some copies use it).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: label file not found")
    lines = _read_lines(path)
    if len(lines) < 2:
        raise DataError(f"{path}: too short; expected a count line and a header line")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DataError(f"{path}:1: expected the number of images, got {lines[0][:40]!r}") from None
    header = lines[1].split()
    if sorted(header) != sorted(CELEBA_ATTRIBUTES):
        unknown = sorted(set(header) - set(CELEBA_ATTRIBUTES))
        missing = sorted(set(CELEBA_ATTRIBUTES) - set(header))
        raise DataError(
            f"{path}:2: header does not list CelebA's 40 attributes "
            f"(unknown: {unknown or 'none'}; missing: {missing or 'none'})"
        )
    order = [header.index(name) for name in CELEBA_ATTRIBUTES]
    rows = [line for line in lines[2:] if line.strip()]
    if len(rows) != count:
        raise DataError(f"{path}:1: says {count} images but the file has {len(rows)} rows")
    filenames: list[str] = []
    values = np.empty((len(rows), len(header)), np.int8)
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(header) + 1:
            raise DataError(
                f"{path}:{number}: expected a filename and {len(header)} values, "
                f"got {len(fields)} fields"
            )
        try:
            row = [int(v) for v in fields[1:]]
        except ValueError:
            raise DataError(f"{path}:{number}: values must be 1 or -1") from None
        if any(v not in (-1, 0, 1) for v in row):
            raise DataError(f"{path}:{number}: values must be 1 or -1, got {set(row)}")
        values[len(filenames)] = row
        filenames.append(fields[0])
    values = np.where(values[:, order] > 0, 1, -1).astype(np.int8)
    return filenames, values


def read_pairs_file(path: str | os.PathLike) -> dict[str, int]:
    """Parse a "filename integer" file (partition or identity list)."""
    path = Path(path)
    pairs: dict[str, int] = {}
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DataError(f"{path}:{number}: expected 'filename number', got {line[:60]!r}")
        try:
            pairs[fields[0]] = int(fields[1])
        except ValueError:
            raise DataError(f"{path}:{number}: {fields[1]!r} is not an integer") from None
    return pairs


def read_celeba_folder(root: str | os.PathLike) -> CelebAIndex:
    """Read the labels of a CelebA-format folder (real CelebA or a synthetic export).

    Without list_eval_partition.txt every image counts as training data.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if not (root / IMAGE_DIR).is_dir():
        raise DataError(f"{root}: no {IMAGE_DIR}/ folder; is this a CelebA-format folder?")
    filenames, attributes = read_attribute_file(root / ATTR_FILE)
    partition = np.zeros(len(filenames), np.int8)
    if (root / PARTITION_FILE).exists():
        pairs = read_pairs_file(root / PARTITION_FILE)
        missing = [f for f in filenames if f not in pairs]
        if missing:
            raise DataError(
                f"{root / PARTITION_FILE}: no split for {missing[0]} and {len(missing) - 1} more"
            )
        partition = np.array([pairs[f] for f in filenames], np.int8)
    identity = None
    if (root / IDENTITY_FILE).exists():
        pairs = read_pairs_file(root / IDENTITY_FILE)
        identity = np.array([pairs.get(f, -1) for f in filenames], np.int64)
    return CelebAIndex(root, tuple(filenames), attributes, partition, identity)
