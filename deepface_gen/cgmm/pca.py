"""PCA of rows that arrive in batches, in bounded memory.

The cGMM's residual basis is a PCA of N activation residuals of width D (at VGG16's
``conv3_1`` and 224 px, D = 802,816). Stacking them first costs N x D floats (6.6 GB
for 1,024 residuals in float64); here rows are gathered into float32 chunks (up to
256 rows and 256 MB) and folded into scikit-learn's ``IncrementalPCA`` one chunk at a time, so
memory is two chunks and the basis, whatever N is.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sklearn.decomposition import PCA, IncrementalPCA

CHUNK_BYTES = 256 * 2**20  # float32 rows gathered before each partial fit


def chunk_rows_for(components: int, width: int) -> int:
    """Rows per chunk: up to 256 while a chunk of ``width``-wide float32 rows stays within
    ``CHUNK_BYTES``, and never fewer than twice the components (each partial fit needs
    at least as many rows as components)."""
    return max(2 * components, min(256, CHUNK_BYTES // (4 * max(width, 1))))


def streamed_pca(
    batches: Iterable[np.ndarray], components: int, chunk_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(basis (K, D), standard deviation along each (K,)) of the rows of ``batches``
    (each (n, D)), K = min(components, rows - 1).

    A full chunk is folded in only once the next one has begun, so the last, possibly
    short, chunk joins the one before it and no row is left out. Data that never fill
    a chunk get an exact PCA of all rows.
    """
    pca = IncrementalPCA(n_components=components)
    ready: np.ndarray | None = None
    pending: list[np.ndarray] = []
    rows = 0
    for batch in batches:
        pending.append(np.asarray(batch, np.float32))
        rows += len(pending[-1])
        chunk_rows = chunk_rows or chunk_rows_for(components, pending[-1].shape[1])
        if rows >= chunk_rows:
            if ready is not None:
                pca.partial_fit(ready)
            ready, pending, rows = np.concatenate(pending), [], 0
    last = np.concatenate(([ready] if ready is not None else []) + pending)
    if not hasattr(pca, "components_"):  # never filled two chunks: one exact fit
        k = min(components, len(last) - 1)
        if k < 1:
            raise ValueError(f"a PCA needs at least 2 rows, got {len(last)}")
        exact = PCA(n_components=k, svd_solver="full").fit(last)
        return exact.components_, np.sqrt(exact.explained_variance_)
    pca.partial_fit(last)
    return pca.components_, np.sqrt(np.maximum(pca.explained_variance_, 0.0))
