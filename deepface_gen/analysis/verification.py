"""Face verification measures: are two photos the same person?

Every pair of photos of known people is scored by the cosine of their embeddings;
the same-person pairs are the positives. Reported as the literature does (LFW,
IJB): ROC AUC, and the true-accept rate at a fixed false-accept rate (TAR at FAR
1e-3), read off scikit-learn's ROC curve, not computed by hand.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from deepface_gen.errors import DeepFaceGenError


def pair_scores(embeddings: np.ndarray, person_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cosine, same person) for every unordered pair of photos with a known person (id >= 0).

    ``embeddings`` (N, D) are normalized here, so any scale is fine.
    """
    known = np.asarray(person_ids) >= 0
    e = np.asarray(embeddings, np.float64)[known]
    ids = np.asarray(person_ids)[known]
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    upper = np.triu_indices(len(ids), k=1)
    return (e @ e.T)[upper], (ids[:, None] == ids[None, :])[upper]


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    """(true-accept rate, threshold) at the largest false-accept rate not above ``far``."""
    false_accept, true_accept, thresholds = roc_curve(same, scores)
    i = int(np.searchsorted(false_accept, far, side="right") - 1)
    return float(true_accept[i]), float(thresholds[i])


def verification(
    embeddings: np.ndarray, person_ids: np.ndarray, far: float = 1e-3
) -> dict[str, float]:
    """ROC AUC, TAR at ``far`` (and its threshold), the pair counts and the mean cosine of
    same- and different-person pairs; refuses data with no pair of either kind."""
    scores, same = pair_scores(embeddings, person_ids)
    positives, negatives = int(same.sum()), int((~same).sum())
    if positives == 0 or negatives == 0:
        raise DeepFaceGenError(
            f"verification needs same- and different-person pairs; got {positives} and "
            f"{negatives} (use several photos each of several people)"
        )
    if negatives * far < 1:
        raise DeepFaceGenError(
            f"{negatives} different-person pairs cannot measure a false-accept rate of {far:g}; "
            f"use at least {int(np.ceil(1 / far))}"
        )
    tar, threshold = tar_at_far(scores, same, far)
    return {
        "roc_auc": float(roc_auc_score(same, scores)),
        "tar_at_far": tar,
        "far": far,
        "threshold": threshold,
        "same_pairs": positives,
        "different_pairs": negatives,
        "mean_cosine_same": float(scores[same].mean()),
        "mean_cosine_different": float(scores[~same].mean()),
    }


def closest_person(
    queries: np.ndarray, gallery: np.ndarray, gallery_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each query embedding, the person whose mean gallery embedding (normalized) is
    nearest by cosine, and the cosine to every person: ((Q,), (Q, people)) with people
    in ``np.unique(gallery_ids)`` order."""
    people = np.unique(gallery_ids)
    g = np.asarray(gallery, np.float64)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    centres = np.stack([g[gallery_ids == p].mean(0) for p in people])
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    q = np.asarray(queries, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    cosines = q @ centres.T
    return people[np.argmax(cosines, axis=1)], cosines
