"""Checks at the boundary: every count, size and number a user gives, and every output
path, is refused before any work starts, with one sentence that names the culprit.

The library calls these on its arguments; the command line uses the same checks as
argparse types (``cli/common.py``), so both refuse the same things the same way.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

from deepface_gen.errors import DeepFaceGenError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Documented limits (README, "Limits"): what one call may ask for.
MAX_FACES = 1024  # faces in one generate/visualize call (descriptions x n)
MAX_STEPS = 10_000
MAX_OUTPUT_SIZE = 4096
MAX_STRENGTH = 5.0  # |strength| of a named attribute in a description
MAX_EDIT_STRENGTH = 10.0
MAX_TEMPERATURE = 5.0
MAX_GUIDANCE = 100.0
MAX_SEED = 2**63 - 1  # seeds are 64-bit keys (generation/seeds.py)


def _subject(name: str) -> str:
    """The start of a message: the value's name, or nothing where the caller names it
    itself (argparse says 'argument --n: ...')."""
    return f"{name} " if name else ""


def whole(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int in [low, high]: booleans, fractions, NaN and text are refused."""
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not integral and isinstance(value, numbers.Real) and not isinstance(value, bool):
        integral = math.isfinite(value) and float(value).is_integer()
    if not integral:
        raise DeepFaceGenError(
            f"{_subject(name)}must be a whole number from {low} to {high}, not {value!r}",
            field=name or None,
        )
    number = int(value)
    if not low <= number <= high:
        raise DeepFaceGenError(
            f"{_subject(name)}must be from {low} to {high}, not {number}", field=name or None
        )
    return number


def real(name: str, value: object, low: float, high: float) -> float:
    """``value`` as a finite float in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DeepFaceGenError(
            f"{_subject(name)}must be a number from {low:g} to {high:g}, not {value!r}",
            field=name or None,
        )
    number = float(value)
    if not math.isfinite(number):
        raise DeepFaceGenError(
            f"{_subject(name)}must be a finite number, not {number}", field=name or None
        )
    if not low <= number <= high:
        raise DeepFaceGenError(
            f"{_subject(name)}must be from {low:g} to {high:g}, not {number:g}",
            field=name or None,
        )
    return number


def choice(what: str, value: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; else refused, naming them (and ``what``
    as the field the error concerns)."""
    if value not in choices:
        raise DeepFaceGenError(f"unknown {what} {value!r}; use {', '.join(choices)}", field=what)
    return value


def output_file(path: str | os.PathLike, what: str = "output") -> Path:
    """An image file that can be written: a known extension, and a place to write it."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DeepFaceGenError(
            f"{what} {path}: unsupported image type {path.suffix or '(none)'!r}; "
            f"use {', '.join(IMAGE_SUFFIXES)}"
        )
    if path.is_dir():
        raise DeepFaceGenError(f"{what} {path} is a folder, not a file")
    _writable_folder(path.parent, what, path)
    return path


def output_data_file(path: str | os.PathLike | None, what: str = "output") -> Path | None:
    """A data file (JSON, ...) that can be written: not a folder, with a place to write it;
    None passes (the option was not given). Checked before any work, so a bad path never
    costs a finished result."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir() or str(path).endswith(("/", os.sep)):
        raise DeepFaceGenError(f"{what} {path} is a folder, not a file")
    _writable_folder(path.parent, what, path)
    return path


def output_folder(path: str | os.PathLike, what: str = "output") -> Path:
    """A folder that exists and is writable, or can be created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DeepFaceGenError(f"{what} {path} exists and is not a folder")
    _writable_folder(path, what, path)
    return path


def _writable_folder(folder: Path, what: str, target: Path) -> None:
    """The nearest existing ancestor of ``folder`` must be a writable folder."""
    existing = folder if str(folder) else Path(".")
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise DeepFaceGenError(f"cannot write {what} {target}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DeepFaceGenError(f"cannot write {what} {target}: {existing} is not writable")


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters for an error message (a pasted essay stays short)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sweep(text: str, name: str, max_count: int) -> tuple[float, ...]:
    """Edit strengths written as ``0,0.5,1``: 1 to ``max_count`` finite numbers, each
    within the edit strength limit; errors start with ``name`` (``--sweep``, ``sweep``)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise DeepFaceGenError(f"{name} {shorten(text)!r} must be numbers like 0,0.5,1") from None
    if not 1 <= len(values) <= max_count:
        raise DeepFaceGenError(f"{name} takes 1 to {max_count} strengths, not {len(values)}")
    limit = MAX_EDIT_STRENGTH
    return tuple(real(f"{name} strength", v, -limit, limit) for v in values)
