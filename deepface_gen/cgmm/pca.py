"""PCA of rows that arrive in batches, in memory that does not grow with their number.

The cGMM's residual basis is a PCA of N activation residuals of width D (at VGG16's
``conv3_1`` and 224 px, D = 802,816). Stacking them costs N x D floats (6.6 GB for
1,024 residuals in float64), and scikit-learn's ``IncrementalPCA`` still decomposes
(K + chunk) x D float64 blocks (9.1 GB measured at that width). Here the rows are read
in a few passes of a randomized range finder (Halko, Martinsson & Tropp 2011,
algorithms 4.3/4.4 and 5.1): a sketch ``R @ Omega`` (N x l) finds the rows' span, one
power iteration sharpens it, and ``Q^T R`` (l x D) is decomposed exactly. Memory is a
few l x D blocks (l = K + 16: about 0.8 GB at that width, whatever N is), the passes
replay the same batches (the data are a function of the step, so they can).

With several processes each replays its own rows: the N x l sketches are concatenated
across processes and the l x D products summed (``deepface_gen/hosts.py``), so every
process finds the same basis as one process reading every row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from deepface_gen import hosts

OVERSAMPLE = 16  # extra sketch columns: the error bound's usual margin


def _orthonormal(columns: np.ndarray) -> np.ndarray:
    return np.linalg.qr(columns)[0]


def _same_rows(expected: int, seen: int) -> None:
    if seen != expected:
        raise ValueError(f"the rows changed between passes ({expected} then {seen})")


def _rows_times(passes, mean: np.ndarray, right: np.ndarray, count: int) -> np.ndarray:
    """(R - mean) @ right for the replayed rows R of every process, (N, l)."""
    out = np.concatenate([(np.asarray(b, np.float32) - mean) @ right for b in passes()], axis=0)
    _same_rows(count, len(out))
    return hosts.rows_across(out.astype(np.float64))[0]


def _left_times_rows(passes, mean: np.ndarray, left: np.ndarray) -> np.ndarray:
    """left^T @ (R - mean) for the replayed rows R of every process, (l, D): ``left``
    holds this process's rows of the global left factor."""
    return np.asarray(hosts.sum_across(_local_left_times_rows(passes, mean, left)), np.float32)


def _local_left_times_rows(passes, mean: np.ndarray, left: np.ndarray) -> np.ndarray:
    """left^T @ (R - mean) for this process's rows R, (l, D) float32 (l x D float64 would
    double the pass's largest array; a thousand rows lose nothing that matters here)."""
    total, start = np.zeros((left.shape[1], mean.shape[0]), np.float32), 0
    left = left.astype(np.float32)
    for batch in passes():
        rows = np.asarray(batch, np.float32) - mean
        _same_rows(len(left), max(len(left), start + len(rows)))  # more rows than the sketch
        total += left[start : start + len(rows)].T @ rows
        start += len(rows)
    _same_rows(len(left), start)
    return total


def streamed_pca(
    passes: Callable[[], Iterable[np.ndarray]],
    components: int,
    power_iterations: int = 1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(basis (K, D), standard deviation along each (K,)) of the rows that ``passes()``
    yields in batches (each (n, D); every call must yield the same rows in the same
    order), K = min(components, rows - 1).

    Reads the rows 2 + 2 * ``power_iterations`` times; with at most K + 16 rows the
    sketch spans them all and the result is an exact PCA. The sketch is seeded, so the
    same rows give the same basis.
    """
    rng = np.random.default_rng(seed)
    omega, sketches, row_sum, count = None, [], None, 0
    for batch in passes():
        rows = np.asarray(batch, np.float32)
        if omega is None:
            width = min(components + OVERSAMPLE, rows.shape[1])
            omega = rng.standard_normal((rows.shape[1], width), dtype=np.float32)
            row_sum = np.zeros(rows.shape[1])
        sketches.append(rows @ omega)
        row_sum += rows.sum(axis=0, dtype=np.float64)
        count += len(rows)
    mine = count  # this process's rows; ``total`` is every process's
    row_sum, total = hosts.sum_across((row_sum, np.array(count)))
    total = int(total)
    if total < 2:
        raise ValueError(f"a PCA needs at least 2 rows, got {total}")
    mean = (row_sum / total).astype(np.float32)
    sketch, first = hosts.rows_across(np.concatenate(sketches).astype(np.float64))
    mine_of = slice(first, first + mine)  # this process's rows of an (N, l) factor
    # (R - 1 mean^T) Omega = R Omega - 1 (mean^T Omega): centre the sketch's columns.
    span = _orthonormal(sketch - sketch.mean(axis=0))
    del omega, sketches
    for _ in range(power_iterations):
        projected = _left_times_rows(passes, mean, span[mine_of])  # (l, D)
        span = _orthonormal(_rows_times(passes, mean, projected.T, mine))
        del projected
    small = _left_times_rows(passes, mean, span[mine_of])  # (l, D): the rows in that span
    # SVD of the short, wide block through its l x l Gram matrix (no D-sized workspace).
    eigenvalues, vectors = np.linalg.eigh((small @ small.T).astype(np.float64))
    order = np.argsort(eigenvalues)[::-1][: min(components, total - 1)]
    singular = np.sqrt(np.maximum(eigenvalues[order], 0.0))
    rotation = vectors[:, order] / np.maximum(singular, 1e-30)  # (l, K): V^T = S^-1 U^T B
    basis = rotation.T.astype(np.float32) @ small
    # A direction's sign is arbitrary: fix it (largest entry positive, as scikit-learn's
    # svd_flip does), so the same rows in any order, or over any number of processes,
    # give the same basis and the same coordinates.
    largest = np.take_along_axis(basis, np.abs(basis).argmax(axis=1)[:, None], axis=1)
    basis *= np.where(largest < 0, -1.0, 1.0).astype(np.float32)
    return basis, singular / np.sqrt(total - 1)
