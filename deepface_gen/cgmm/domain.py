"""How far an image lies from what a model was trained on.

The statistics the cGMM was fitted from already describe the training activations at
its layer: per attribute and polarity, the mean and standard deviation of every unit.
Pooled over the two polarities of one attribute they give the whole training
distribution, unit by unit. An image's *domain distance* is the mean squared z-score
of its activations under that distribution (a diagonal Mahalanobis distance):
training-domain images score near 1, a photograph shown to a model that has only seen
rendered portraits scores far higher. The threshold is calibrated on held-out
training-domain images when the cGMM is fitted, and stored in the bundle.
"""

from __future__ import annotations

import numpy as np

from deepface_gen.cgmm.model import CGMM
from deepface_gen.models.classifier import Classifier

# The threshold: this quantile of held-out training-domain distances times a margin,
# so a training-domain image is flagged rarely and a photograph to the starter always.
CALIBRATION_QUANTILE = 0.99
CALIBRATION_MARGIN = 1.5
CALIBRATION_EXAMPLES = 256
CALIBRATION_FIRST_STEP = 100_000  # batches of an endless source no statistics pass read


def training_distribution(cgmm: CGMM) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std), each (D,): the training activations unit by unit, pooled over the
    two polarities of the attribute seen most evenly (any attribute gives the whole
    distribution; the most even one gives the best estimate of both groups)."""
    counts = cgmm.counts.astype(np.float64)  # (2, 40)
    a = int(np.argmax(counts.min(axis=0)))
    w = counts[:, a] / counts[:, a].sum()
    means, stds = cgmm.group_mean[:, a].astype(np.float64), cgmm.group_std[:, a].astype(np.float64)
    mean = w[0] * means[0] + w[1] * means[1]
    var = sum(w[g] * (stds[g] ** 2 + (means[g] - mean) ** 2) for g in (0, 1))
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


def domain_distance(classifier: Classifier, cgmm: CGMM, images: np.ndarray) -> np.ndarray:
    """(N,) domain distances of images (N, S, S, 3), 0-255, at the model's input size."""
    return activation_distance(cgmm, classifier.outputs(images, taps=(cgmm.layer,))[cgmm.layer])


def activation_distance(cgmm: CGMM, activations: np.ndarray) -> np.ndarray:
    """(N,) domain distances of activations (N, ...) at the cGMM's layer, for callers
    that already ran the network."""
    mean, std = training_distribution(cgmm)
    floor = np.float32(max(float(np.median(std)) * 0.05, 1e-3))  # dead units do not explode
    acts = np.asarray(activations, np.float32).reshape(len(activations), -1)
    z = (acts - mean) / np.maximum(std, floor)
    return np.mean(z * z, axis=1)


def calibrate(
    classifier: Classifier, cgmm: CGMM, source, examples: int = CALIBRATION_EXAMPLES
) -> tuple[float, np.ndarray]:
    """(threshold, the held-out distances). ``source`` is the fit's own data source;
    batches far beyond those the statistics pass read stand in for held-out images (an
    endless source draws new ones; a finite one wraps around, still in-domain)."""
    batches = -(-examples // source.batch_size)
    # Batch by batch: 256 images at once would hold every layer's activations for all of
    # them (gigabytes at 224 px).
    distances = np.concatenate(
        [
            domain_distance(classifier, cgmm, source.batch(CALIBRATION_FIRST_STEP + i).images)
            for i in range(batches)
        ]
    )[:examples]
    threshold = float(np.quantile(distances, CALIBRATION_QUANTILE) * CALIBRATION_MARGIN)
    return threshold, distances


def out_of_domain_message(name: str, distance: float, threshold: float) -> str:
    """What to tell a person whose image lies outside the model's training domain."""
    return (
        f"{name} lies outside what this model was trained on (domain distance "
        f"{distance:.1f}, threshold {threshold:.1f}): its readings of this image are "
        "unreliable. The starter has only seen rendered portraits; for photographs use a "
        "model trained on CelebA (README: Training on CelebA)"
    )


class OutOfDomainWarning(UserWarning):
    """An input lies outside what the model was trained on; its results are unreliable."""


def load_for(classifier: Classifier) -> tuple[CGMM, float] | None:
    """(the bundle's cGMM, its calibrated threshold), or None for a bundle fitted before
    thresholds were stored (or with no cGMM): then nothing can be said."""
    from deepface_gen.cgmm import stored

    threshold = stored.domain_threshold(classifier)
    if threshold is None:
        return None
    return stored.load_cgmm(classifier, with_mixture=False), threshold
