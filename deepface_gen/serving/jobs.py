"""What the engine's worker runs: batched generate, edit and score calls on one model,
each padded to a bucket size (``batching``) so a warmed server compiles nothing new."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from deepface_gen.batching import bucket, buckets
from deepface_gen.cgmm import domain
from deepface_gen.generation.generator import FaceGenerator, GenerationPlan
from deepface_gen.generation.requests import EditOptions
from deepface_gen.serving.engine import Runner


def _pad(images: np.ndarray) -> np.ndarray:
    """Repeat the last image up to the batch's bucket size."""
    extra = bucket(len(images)) - len(images)
    return np.concatenate([images, np.repeat(images[-1:], extra, axis=0)]) if extra else images


@dataclass(frozen=True)
class EditJob:
    """One portrait to edit, with the options every job of its group shares."""

    face: np.ndarray  # (S, S, 3) uint8, already cropped to the model's size
    name: str
    attrs: str
    strengths: tuple[float, ...]
    options: EditOptions

    @property
    def group(self) -> tuple:
        return (self.attrs, self.strengths, self.options)


@dataclass(frozen=True)
class EditResult:
    images: np.ndarray  # (K, S, S, 3) one per strength
    warning: str | None  # out of the model's domain: why the edit may be unreliable


@dataclass(frozen=True)
class ScoreResult:
    probabilities: np.ndarray  # (A,) over the classifier's attributes
    distance: float  # domain distance (``cgmm/domain.py``)
    threshold: float | None  # None: the model has no calibrated threshold

    def warning(self, name: str) -> str | None:
        """Why this image's scores are unreliable, or None where it lies in the domain."""
        if self.threshold is None or self.distance <= self.threshold:
            return None
        return domain.out_of_domain_message(name, self.distance, self.threshold)


def runners(generator: FaceGenerator) -> dict[str, Runner]:
    """The engine's runner for each kind of job on ``generator``."""

    def generate(plans: Sequence[GenerationPlan]) -> list[np.ndarray]:
        return generator.generate_many(plans)

    def edit(jobs: Sequence[EditJob]) -> list[EditResult]:
        first = jobs[0]
        faces = _pad(np.stack([job.face for job in jobs]))
        options = dataclasses.asdict(first.options)
        report = generator.edit_report(faces, first.attrs, first.strengths, **options)
        names = [job.name for job in jobs] + [f"padding#{i}" for i in range(len(faces) - len(jobs))]
        messages = report.messages(names)
        return [EditResult(report.images[i], messages[i]) for i in range(len(jobs))]

    def score(faces: Sequence[np.ndarray]) -> list[ScoreResult]:
        layer, threshold = generator.cgmm.layer, generator.domain_threshold
        seen = generator.classifier.outputs(_pad(np.stack(faces)), taps=(layer,))
        distances = domain.activation_distance(generator.cgmm, seen[layer])
        return [
            ScoreResult(seen["probabilities"][i], float(distances[i]), threshold)
            for i in range(len(faces))
        ]

    return {"generate": generate, "edit": edit, "score": score}


def warm(
    generator: FaceGenerator,
    max_batch_faces: int,
    edit_steps: int | None = None,
    quiet: bool = True,
) -> None:
    """Compile what the default requests run, at every bucket size up to
    ``max_batch_faces``: one-face generate requests batched together, scoring, and a
    one-portrait edit with one strength and with the web page's strip of four
    (``edit_steps`` caps its steps; None: the default), with a progress bar over the
    programs compiled unless ``quiet``."""
    jobs = runners(generator)
    face = np.asarray(generator.cgmm.mean_image, np.uint8)
    sizes = buckets(max_batch_faces)
    bar = tqdm(total=len(sizes) + 2, unit="program", desc="warming", disable=quiet)
    for size in sizes:
        bar.set_postfix_str(f"generate and score, batch {size}")
        if generator.inverter is not None:
            jobs["generate"]([generator.plan("smiling", seed=i) for i in range(size)])
        jobs["score"]([face] * size)
        bar.update(1)
    for strengths in ((1.0,), (0.0, 1.0, 2.0, 3.0)):  # one strength, and the page's strip
        bar.set_postfix_str(f"edit, {len(strengths)} strengths")
        options = EditOptions(steps=edit_steps)
        jobs["edit"]([EditJob(face, "warm-up", "smiling", strengths, options)])
        bar.update(1)
    bar.close()
