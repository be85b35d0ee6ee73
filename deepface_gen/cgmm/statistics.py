"""Streaming sufficient statistics of a layer's activations, per attribute and polarity.

One pass over a data source accumulates:

* per attribute i and polarity (present / absent): count, sum and sum of
  squares of the activations (so means and variances of each group);
* the Gram matrix of the attribute design [a, 1] and its cross-product with
  the activations (so the ridge regression of activations on attributes is
  closed-form);
* the paper's weighted sums (each image's activations divided over its
  present attributes) for the DeepFace cGMM weights;
* the mean image (the "mean face" that inversion starts from).

Each batch's contribution is a few matrix products computed under jit; on a
sharded batch XLA turns the sums into a cross-device reduction (a psum). The sums
stay on the device in float32 with Kahan compensation, updated in place
(:func:`accumulate`), so a pass never copies (2, 40, D) arrays to the host per batch
and a million images lose no more precision than float64 would; they come to the host
as float64 once, at the end. :meth:`ActivationStats.merge` adds statistics from separate passes.
With several processes (``deepface_gen/hosts.py``) each sums its rows of every batch,
and the totals are added across processes at the end.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen import hosts
from deepface_gen.data import input_pipeline
from deepface_gen.models.classifier import Classifier


@dataclass
class ActivationStats:
    """Sufficient statistics at one layer; arrays are float64 numpy (summed in float32
    on the device with compensation, see :func:`kahan_add`)."""

    layer: str
    shape: tuple[int, ...]  # activation shape (H, W, C)
    count: np.ndarray  # (2, 40): [absent, present] label counts
    total: np.ndarray  # (2, 40, D) sums of activations
    total_sq: np.ndarray  # (2, 40, D) sums of squared activations
    gram: np.ndarray  # (41, 41) sum of x x^T with x = [attributes, 1]
    cross: np.ndarray  # (41, D) sum of x phi^T
    paper_gram: np.ndarray  # (40, 40) sum of p p^T / |C|^2, p = present attributes
    paper_cross: np.ndarray  # (40, D) sum of p phi^T / |C|
    image_sum: np.ndarray  # (S, S, 3) sum of input images (0-255)
    images: int  # number of images seen

    @classmethod
    def empty(cls, layer: str, shape: tuple[int, ...], image_size: int) -> ActivationStats:
        d = int(np.prod(shape))
        z = np.zeros
        return cls(
            layer,
            tuple(shape),
            z((2, 40)),
            z((2, 40, d)),
            z((2, 40, d)),
            z((41, 41)),
            z((41, d)),
            z((40, 40)),
            z((40, d)),
            z((image_size, image_size, 3)),
            0,
        )

    def merge(self, other: ActivationStats) -> ActivationStats:
        """Statistics of the union of two disjoint sets of images."""
        if (self.layer, self.shape) != (other.layer, other.shape):
            raise ValueError("cannot merge statistics of different layers")
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            out[f.name] = a if f.name in ("layer", "shape") else a + b
        return ActivationStats(**out)

    @property
    def mean(self) -> np.ndarray:
        """(2, 40, D) mean activation of images without / with each attribute."""
        return self.total / np.maximum(self.count, 1)[..., None]

    @property
    def variance(self) -> np.ndarray:
        """(2, 40, D) per-dimension variance within each group (population)."""
        return np.maximum(self.total_sq / np.maximum(self.count, 1)[..., None] - self.mean**2, 0)

    @property
    def mean_image(self) -> np.ndarray:
        return self.image_sum / max(self.images, 1)

    def arrays(self) -> dict:
        return {
            f.name: np.asarray(getattr(self, f.name))
            for f in fields(self)
            if f.name not in ("layer", "shape")
        }


@jax.jit
def batch_statistics(acts: jax.Array, labels: jax.Array, mask: jax.Array, valid: jax.Array) -> dict:
    """One batch's contribution: acts (N, D) float, labels (N, 40) in ±1, mask (N, 40)
    bool, valid (N,) bool (padding rows contribute nothing)."""
    mask = mask & valid[:, None]
    present = ((labels > 0) & mask).astype(jnp.float32)
    absent = ((labels <= 0) & mask).astype(jnp.float32)
    groups = jnp.stack([absent, present])  # (2, N, 40)
    x = jnp.concatenate([labels * mask, jnp.ones((labels.shape[0], 1))], axis=1)
    x = x * valid[:, None]
    per_image = jnp.maximum(present.sum(1, keepdims=True), 1.0)
    weighted = present / per_image
    return {
        "count": groups.sum(1),
        "total": jnp.einsum("gna,nd->gad", groups, acts),
        "total_sq": jnp.einsum("gna,nd->gad", groups, acts * acts),
        "gram": x.T @ x,
        "cross": x.T @ acts,
        "paper_gram": weighted.T @ weighted,
        "paper_cross": weighted.T @ acts,
    }


@jax.jit
def kahan_add(sums: dict, compensation: dict, part: dict) -> tuple[dict, dict]:
    """``sums + part`` with Kahan's compensated summation, leaf by leaf: ``compensation``
    carries the low-order bits each addition rounded away, so float32 sums of many
    batches keep float32 precision instead of losing a bit every doubling."""

    def add(total, lost, value):
        corrected = value - lost
        new_total = total + corrected
        return new_total, (new_total - total) - corrected

    pairs = jax.tree_util.tree_map(add, sums, compensation, part)
    is_pair = lambda x: isinstance(x, tuple)  # noqa: E731
    first = jax.tree_util.tree_map(lambda pair: pair[0], pairs, is_leaf=is_pair)
    second = jax.tree_util.tree_map(lambda pair: pair[1], pairs, is_leaf=is_pair)
    return first, second


@functools.partial(jax.jit, donate_argnums=(0, 1))
def accumulate(
    sums: dict,
    compensation: dict,
    acts: jax.Array,
    labels: jax.Array,
    mask: jax.Array,
    valid: jax.Array,
) -> tuple[dict, dict]:
    """Add one batch's statistics to the Kahan sums in one compiled step, updating the
    sums in place (their buffers are donated): a batch's (2, 40, D) contribution is
    never a separate array, so the pass holds the sums and their compensation only
    (2 x 241 x D float32: 1.5 GB at VGG16's ``conv3_1`` and 224 px)."""
    return kahan_add(sums, compensation, batch_statistics(acts, labels, mask, valid))


def compensated_total(sums: dict, compensation: dict) -> dict:
    """The Kahan sums as float64 numpy, their compensation subtracted. The device arrays
    are released one by one as they are converted (the dicts are emptied), so the
    host never holds a float32 and a float64 copy of every statistic at once."""
    out = {}
    for name in list(sums):
        total, lost = sums.pop(name), compensation.pop(name)
        out[name] = np.asarray(total, np.float64)
        out[name] -= np.asarray(lost)  # in place: no second float64 array
        del total, lost
    return out


def collect(
    classifier: Classifier, source, layer: str, num_examples: int | None = None, quiet: bool = True
) -> ActivationStats:
    """One streaming pass over ``source`` computing :class:`ActivationStats` at ``layer``."""
    sums = compensation = None
    shape, image_sum, images = None, None, 0
    part = hosts.share(source.batch_size)  # several processes: each sums its rows
    desc = f"statistics at {layer}"
    for batch in input_pipeline.epoch(source, num_examples, desc, quiet, part):
        acts = classifier.apply(batch.images, taps=(layer,))[layer]
        valid = batch.valid_rows
        args = (
            acts.reshape(acts.shape[0], -1),
            jnp.asarray(batch.attributes),
            jnp.asarray(batch.label_mask),
            jnp.asarray(valid),
        )
        if sums is None:
            shape = tuple(acts.shape[1:])
            image_sum = np.zeros(batch.images.shape[1:], np.float64)
            zeros = lambda s: jnp.zeros(s.shape, s.dtype)  # noqa: E731
            sums = jax.tree_util.tree_map(zeros, jax.eval_shape(batch_statistics, *args))
            compensation = jax.tree_util.tree_map(jnp.zeros_like, sums)
        sums, compensation = accumulate(sums, compensation, *args)
        del acts, args
        image_sum += batch.images[valid].astype(np.float64).sum(0)
        images += int(valid.sum())
    assert sums is not None and shape is not None
    # Built from the totals (no zero-filled float64 arrays allocated first).
    totals = {**compensated_total(sums, compensation), "image_sum": image_sum, "images": images}
    totals = hosts.sum_across(totals)
    return ActivationStats(layer, shape, **{**totals, "images": int(totals["images"])})
