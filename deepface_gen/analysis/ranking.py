"""Scoring collections of faces by a described combination of attributes.

Karpathy's selfie network scored every image and showed the best and the worst, and
laid a collection out as a continuum from lowest to highest score. Here a
description ("smiling, -eyeglasses") is the score: the strength-weighted mean of the
named attributes' logits (positive where the classifier sees the combination), so
the same attribute language that draws faces also orders them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from deepface_gen.attributes import AttributeSpec
from deepface_gen.cgmm import domain
from deepface_gen.errors import DeepFaceGenError, ImageError
from deepface_gen.io.images import fit_to_model, image_files, portrait_folder, read_image
from deepface_gen.models.classifier import Classifier


def combined_score(logits: np.ndarray, spec: AttributeSpec) -> np.ndarray:
    """(N,) the strength-weighted mean of the named attributes' logits, each signed by
    its polarity: > 0 where the classifier sees the whole combination."""
    weights = np.asarray(spec.vector(), np.float64)
    total = np.abs(weights).sum()
    if total == 0:
        raise DeepFaceGenError("the score needs at least one attribute, e.g. --by smiling")
    return np.asarray(logits, np.float64) @ weights / total


@dataclass(frozen=True)
class ScoredCollection:
    """Readable images of a folder (as thumbnails at the model's input size) with the
    classifier's outputs, and the files that could not be read."""

    paths: list[Path]
    thumbnails: np.ndarray  # (N, S, S, 3) uint8
    outputs: dict  # the classifier's outputs: attributes, probabilities, features
    skipped: list[str]  # one reason per unreadable file
    source: Path | None = None  # the folder the images were read from
    domain_threshold: float | None = None  # over it (outputs' domain_distance): unreliable

    def summary(self) -> str:
        """How many images were read from where, how many were skipped, and how many lie
        outside the model's training domain (their scores are unreliable)."""
        where = f" from {self.source}" if self.source is not None else ""
        line = f"scored {len(self.paths)} images{where} ({len(self.skipped)} skipped, named above)"
        outside = self.outside_domain()
        if outside.any():
            line += (
                f"; {int(outside.sum())} of them lie outside what the model was trained on "
                f"(domain distance over {self.domain_threshold:.1f}): their scores are unreliable"
            )
        return line

    def outside_domain(self) -> np.ndarray:
        """(N,) bool: which images lie outside the model's training domain (none where
        the bundle has no calibrated threshold)."""
        if self.domain_threshold is None or "domain_distance" not in self.outputs:
            return np.zeros(len(self.paths), bool)
        return self.outputs["domain_distance"] > self.domain_threshold

    def scores(self, spec: AttributeSpec) -> np.ndarray:
        return combined_score(self.outputs["attributes"], spec)


def score_folder(
    classifier: Classifier,
    folder: str | os.PathLike,
    batch_size: int = 64,
    limit: int | None = None,
    quiet: bool = True,
    recursive: bool = False,
    read: Callable[[Path], np.ndarray] | None = None,
) -> ScoredCollection:
    """Read every image of ``folder`` (its portraits, ``io.images.image_files``: a CelebA
    layout's ``img_align_celeba/``, or every subfolder too when ``recursive``; sorted; at
    most ``limit``), bring it to the model's input (``read``: a path to the model's
    square; default the centred square), and score it in batches; unreadable files
    (an ``ImageError`` from ``read``) are skipped, counted and named on stderr, never
    fatal. Refuses a folder with no readable image."""
    paths = image_files(folder, recursive)[:limit]
    check = domain.load_for(classifier)  # (cGMM, threshold), or None: nothing to say
    taps = (check[0].layer,) if check else ()
    kept: list[Path] = []
    thumbs: list[np.ndarray] = []
    skipped: list[str] = []
    parts: list[dict] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if pending:
            part = classifier.outputs(np.stack(pending), batch_size, taps=taps)
            if check:
                part["domain_distance"] = domain.activation_distance(check[0], part.pop(taps[0]))
            parts.append(part)
            pending.clear()

    for path in tqdm(paths, unit="image", desc="scoring", disable=quiet):
        try:
            image = read(path) if read else fit_to_model(read_image(path), classifier.input_size)
        except ImageError as err:
            skipped.append(str(err))
            print(f"deepface-gen: skipped {err}", file=sys.stderr)
            continue
        kept.append(path)
        thumbs.append(image)
        pending.append(image)
        if len(pending) == batch_size:
            flush()
    flush()
    if not kept:
        raise DeepFaceGenError(f"{folder}: no readable images ({len(skipped)} skipped)")
    outputs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    source = Path(folder) if recursive else portrait_folder(folder)
    return ScoredCollection(
        kept, np.stack(thumbs), outputs, skipped, source, check[1] if check else None
    )


def ranked(scores: np.ndarray) -> np.ndarray:
    """Indices from the highest score to the lowest (ties keep their input order)."""
    return np.argsort(-np.asarray(scores), kind="stable")


def extremes(scores: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(top ``count`` from the highest down, bottom ``count`` from the lowest up); with
    fewer than 2 * count images the two overlap rather than come up short."""
    order = ranked(scores)
    count = min(count, len(order))
    return order[:count], order[::-1][:count]


def continuum_order(scores: np.ndarray, sample: int | None = None) -> np.ndarray:
    """Indices from the lowest score to the highest; with ``sample``, that many spread
    evenly over the ranks (so the page still spans the whole range)."""
    order = ranked(scores)[::-1]
    if sample is None or sample >= len(order):
        return order
    picks = np.round(np.linspace(0, len(order) - 1, sample)).astype(int)
    return order[picks]


def caption_scores(scores: Sequence[float]) -> list[str]:
    """Captions for a sheet: each score with its sign."""
    return [f"{s:+.2f}" for s in scores]
