"""Fitting the cGMM from data: everything that reads images or streamed statistics.

``model.py`` holds the fitted cGMM and samples from it (all a service needs);
``fit.py`` drives the fitting below and stores the result in a bundle. Here: the ridge
regression, the label and group moments and the paper's weights from the streamed
statistics (``statistics.py``), the PCA of the ridge residuals (``pca.py``), and the
mixture over [attributes, residual coordinates] (``mixture.py`` conditions it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.mixture import GaussianMixture

from deepface_gen import hosts
from deepface_gen.attributes import NUM_ATTRIBUTES
from deepface_gen.cgmm.mixture import Mixture
from deepface_gen.cgmm.model import CGMM
from deepface_gen.cgmm.pca import streamed_pca
from deepface_gen.cgmm.statistics import ActivationStats
from deepface_gen.data import input_pipeline
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.models.classifier import Classifier


def fit_ridge(stats: ActivationStats, l2: float = 1.0) -> np.ndarray:
    """Closed-form ridge regression of activations on [attributes, 1] (bias unpenalized)."""
    penalty = np.eye(NUM_ATTRIBUTES + 1) * l2
    penalty[-1, -1] = 0.0
    return np.linalg.solve(stats.gram + penalty, stats.cross)


def fit_paper_weights(stats: ActivationStats, l2: float = 1e-5) -> np.ndarray:
    """DeepFace's weights exactly: min_w sum_I ||phi_I - sum_j p_Ij w_j mu_j / |C_I| ||^2 + l2|w|^2.

    The objective is quadratic in w; its normal equations need only the
    streamed sums ``paper_gram`` and ``paper_cross`` and the means mu_j.
    """
    mu = stats.total[1] / np.maximum(stats.count[1], 1)[:, None]  # (40, D) present means
    gram = stats.paper_gram * (mu @ mu.T)
    rhs = np.einsum("jd,jd->j", mu, stats.paper_cross)
    scale = np.trace(gram) / len(gram) or 1.0
    w = np.linalg.solve(gram + np.eye(len(gram)) * (l2 * scale + 1e-12), rhs)
    return np.where(stats.count[1] > 0, w, 1.0)


def attribute_moments(stats: ActivationStats) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the ±1 attribute labels, from the Gram matrix."""
    n = max(stats.gram[-1, -1], 1.0)
    mean = stats.gram[-1, :-1] / n
    cov = stats.gram[:-1, :-1] / n - np.outer(mean, mean)
    return mean, cov


def residual_pca(
    classifier: Classifier,
    source,
    ridge: np.ndarray,
    layer: str,
    examples: int,
    components: int,
    quiet: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """PCA of phi(I) - [a_I, 1] @ ridge over ``examples`` images: basis and std per
    component, from a few replayed passes over the images (``pca.streamed_pca``), never
    N x D at once."""

    part = hosts.share(source.batch_size)  # several processes: each its rows (pca.py)

    def residuals():
        for batch in input_pipeline.epoch(source, examples, "residual PCA", quiet, part):
            acts = np.asarray(classifier.apply(batch.images, taps=(layer,))[layer], np.float32)
            x = np.concatenate([batch.attributes * batch.label_mask, np.ones((len(acts), 1))], 1)
            flat = acts.reshape(len(acts), -1)
            yield (flat - (x @ ridge).astype(np.float32))[batch.valid_rows]

    return streamed_pca(residuals, components)


def group_moments(stats: ActivationStats, chunk: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(2, 40, D) float32 mean and standard deviation of each attribute group, computed
    ``chunk`` attributes at a time, so the float64 temporaries stay (chunk, D)."""
    mean = np.empty(stats.total.shape, np.float32)
    std = np.empty(stats.total.shape, np.float32)
    for polarity in range(2):
        for first in range(0, stats.total.shape[1], chunk):
            rows = slice(first, first + chunk)
            count = np.maximum(stats.count[polarity, rows], 1)[:, None]
            group_mean = stats.total[polarity, rows] / count
            mean[polarity, rows] = group_mean
            square = stats.total_sq[polarity, rows] / count - group_mean**2
            std[polarity, rows] = np.sqrt(np.maximum(square, 0))
    return mean, std


def summarize(stats: ActivationStats) -> CGMM:
    """Everything of the cGMM that the statistics determine, in float32: the ridge
    regression, the label moments, the group moments and the paper's weights. The
    residual basis is empty until :func:`with_residual_basis`; the caller can free the
    (float64) statistics before that pass."""
    ridge = fit_ridge(stats)
    mean, cov = attribute_moments(stats)
    group_mean, group_std = group_moments(stats)
    width = int(np.prod(stats.shape))
    return CGMM(
        stats.layer,
        stats.shape,
        ridge.astype(np.float32),
        mean,
        cov,
        np.zeros((0, width), np.float32),
        np.zeros((0,), np.float32),
        group_mean,
        group_std,
        fit_paper_weights(stats).astype(np.float32),
        stats.mean_image.astype(np.float32),
        stats.count,
    )


def with_residual_basis(
    summary: CGMM,
    classifier: Classifier,
    pca_source,
    pca_examples: int = 1024,
    components: int = 64,
    quiet: bool = True,
) -> CGMM:
    """The cGMM with the PCA basis of its regression residuals over ``pca_examples``
    images (a few replayed passes, see :func:`residual_pca`)."""
    basis, std = residual_pca(
        classifier, pca_source, summary.ridge, summary.layer, pca_examples, components, quiet
    )
    return dataclasses.replace(
        summary, components=basis.astype(np.float32), component_std=std.astype(np.float32)
    )


def residual_coordinates(cgmm: CGMM, activations: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, P) flattened activations' (N, D) residual from the ridge's prediction for their
    ``labels`` (N, 40; 0 where unknown), in the residual basis, in units of each
    component's standard deviation."""
    x = np.concatenate([labels, np.ones((len(labels), 1))], 1)
    residual = np.asarray(activations, np.float64) - x @ cgmm.ridge.astype(np.float64)
    std = np.maximum(cgmm.component_std.astype(np.float64), 1e-6)
    return residual @ cgmm.components.astype(np.float64).T / std


def coordinates(classifier, source, cgmm, examples: int, quiet: bool = True) -> np.ndarray:
    """y = [labels (0 where unknown), residual coordinates / std] (N, 40 + P) of
    ``examples`` images, streamed: nothing of size N x D is held. With several
    processes each reads its rows and every process gets all N, in one process's order."""
    rows, places = [], []
    part = hosts.share(source.batch_size)
    batches = input_pipeline.epoch(source, examples, "mixture coordinates", quiet, part)
    for step, batch in enumerate(batches):
        acts = classifier.apply(batch.images, taps=(cgmm.layer,))[cgmm.layer]
        labels = batch.attributes * batch.label_mask
        coords = residual_coordinates(cgmm, np.asarray(acts).reshape(len(batch), -1), labels)
        rows.append(np.concatenate([labels, coords], 1)[batch.valid_rows])
        places.append(input_pipeline.row_numbers(source, step, batch, part)[batch.valid_rows])
    y, _ = hosts.rows_across(np.concatenate(rows))
    order, _ = hosts.rows_across(np.concatenate(places))
    return y[np.argsort(order, kind="stable")]


def fit_mixture(y: np.ndarray, components: int, seed: int = 0) -> Mixture:
    """EM (scikit-learn's ``GaussianMixture``, full covariances, k-means start)."""
    if not 1 <= components <= len(y) // 10:
        raise DeepFaceGenError(
            f"{components} mixture components need at least {10 * components} examples "
            f"(got {len(y)})"
        )
    gmm = GaussianMixture(
        components, covariance_type="full", reg_covar=1e-3, max_iter=200, random_state=seed
    ).fit(y)
    return Mixture(gmm.weights_, gmm.means_, gmm.covariances_)
