"""Exemplars: a kernel density over the training portraits' own residual coordinates.

The ``conditional`` method draws what a portrait's attributes do not say (pose, face
shape, hair style, background) as independent Gaussian coordinates in the cGMM's
residual PCA basis. Real residuals are not Gaussian: a hair style or a hat brim is a
mode, and independent coordinates blend modes into blotches. This model keeps the
residual coordinates of M training portraits with their labels (``fitting.coordinates``,
the numbers the mixture is fitted on) and samples a kernel density over them: a
Gaussian mixture with one component per portrait, of width ``bandwidth`` residual
standard deviations, so a sample is a real portrait's arrangement, moved a little.

A description is conditioned by selection: the portraits whose labels agree with every
attribute it names (those agreeing with the most, where none agrees with all), less those
with a flaw of the photograph nobody asked for (blur), are drawn uniformly, a different
one for each face while any remain. A target is
the cGMM ridge's prediction for that portrait's labels with the named values put in,
plus its coordinates and the kernel's draw, scaled by the temperature, mapped back to
activations: the family of targets the learned inverter was trained on. A draw may
instead blend the drawn portrait's coordinates with one of its nearest agreeing
portraits' (``neighbours``), which measured no better.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen.attributes import ATTRIBUTE_INDEX, NUM_ATTRIBUTES
from deepface_gen.errors import DeepFaceGenError

# The kernel's width in residual standard deviations (experiments/bench_exemplars.py sweeps
# 0 to 1: realism against how often a face verifies as the portrait it was drawn from, or
# as anyone in the bank): wider loses faithfulness and realism, narrower redraws the
# training portraits more often. At 0.5 faces verify as someone in the bank a little more
# often than new people do.
BANDWIDTH = 0.5
# A blended draw (``neighbours`` > 0) puts a face a uniform MIX of the way from the drawn
# portrait to one of its nearest agreeing portraits: between two people of one mode. The
# method ships unblended: bench_exemplars.py measures blends on the same realism-against-
# memorization line as kernel widths, not beyond it.
MIX = (0.3, 0.7)
# Flaws of the photograph rather than traits of the person: a portrait carrying one lends
# to a face only when the description asks for it (or no portrait without it agrees).
# Borrowed unasked, 4% of faces came out wholly blurred, as the bank's blurry portraits
# are, where a person asking for "smiling" expects a sharp face.
UNASKED_FLAWS = ("Blurry",)


@dataclass(frozen=True)
class Exemplars:
    """M training portraits' labels (±1, 0 where unknown) and residual coordinates, in
    units of each component's standard deviation."""

    labels: np.ndarray  # (M, 40)
    coordinates: np.ndarray  # (M, P)

    def __len__(self) -> int:
        return len(self.labels)

    def arrays(self) -> dict:
        return {
            "labels": np.asarray(np.sign(self.labels), np.int8),
            "coordinates": np.asarray(self.coordinates, np.float16),  # halves the size
        }

    @classmethod
    def from_arrays(cls, arrays: dict) -> Exemplars:
        labels = np.asarray(arrays["labels"], np.float32)
        coordinates = np.asarray(arrays["coordinates"], np.float32)
        if (
            labels.ndim != 2
            or labels.shape[1] != NUM_ATTRIBUTES
            or coordinates.ndim != 2
            or len(coordinates) != len(labels)
            or not len(labels)
        ):
            raise DeepFaceGenError(
                f"the exemplars' labels {labels.shape} and coordinates {coordinates.shape} "
                f"disagree in shape (expected (M, {NUM_ATTRIBUTES}) and (M, P), M > 0)"
            )
        return cls(labels, coordinates)

    @classmethod
    def from_coordinates(cls, y: np.ndarray, count: int) -> Exemplars:
        """The first ``count`` rows of ``fitting.coordinates``' y = [labels, coordinates]."""
        return cls(y[:count, :NUM_ATTRIBUTES], y[:count, NUM_ATTRIBUTES:])


def agreeing(labels: np.ndarray, values: np.ndarray, named: np.ndarray) -> np.ndarray:
    """(M,) True for the exemplars whose labels agree with the most named attributes
    (every one of them where any exemplar does); all of them where nothing is named."""
    named = np.asarray(named, bool)
    agree = np.sum(np.sign(labels[:, named]) == np.sign(values[named])[None], axis=1)
    return agree == agree.max()


def lenders(labels: np.ndarray, values: np.ndarray, named: np.ndarray) -> np.ndarray:
    """(M,) True for the exemplars a description draws among: the ``agreeing`` ones,
    less those carrying an ``UNASKED_FLAWS`` attribute it does not name (kept where no
    other portrait agrees)."""
    chosen = agreeing(labels, values, named)
    named = np.asarray(named, bool)
    unasked = [ATTRIBUTE_INDEX[flaw] for flaw in UNASKED_FLAWS if not named[ATTRIBUTE_INDEX[flaw]]]
    clean = chosen & ~np.any(labels[:, unasked] > 0, axis=1)
    return clean if clean.any() else chosen


def draw_weights(labels: np.ndarray, values: np.ndarray, named: np.ndarray) -> jax.Array:
    """(M,) the chance of drawing each exemplar for a description: uniform over its
    ``lenders``."""
    chosen = lenders(labels, values, named)
    return jnp.asarray(chosen / chosen.sum(), jnp.float32)


def blend_partners(
    key: jax.Array, coordinates: jax.Array, weights: jax.Array, rows: jax.Array, neighbours: int
) -> jax.Array:
    """(n,) for each drawn row, one of its ``neighbours`` nearest exemplars (squared
    distance in residual coordinates) among those a description may draw (``weights`` >
    0), uniformly; the row itself where it has no such neighbour."""
    distance = jnp.sum((coordinates[rows][:, None] - coordinates[None]) ** 2, axis=-1)
    allowed = (weights[None] > 0) & (jnp.arange(len(weights))[None] != rows[:, None])
    distance = jnp.where(allowed, distance, jnp.inf)
    nearest_negated, near = jax.lax.top_k(-distance, neighbours)  # (n, neighbours)
    available = jnp.maximum(jnp.sum(jnp.isfinite(nearest_negated), axis=1), 1)
    pick = jax.random.randint(key, rows.shape, 0, available)
    chosen = jnp.take_along_axis(near, pick[:, None], axis=1)[:, 0]
    found = jnp.isfinite(jnp.take_along_axis(nearest_negated, pick[:, None], axis=1)[:, 0])
    return jnp.where(found, chosen, rows)


def distinct_rows(key: jax.Array, weights: jax.Array, n: int) -> jax.Array:
    """(n,) which exemplars ``n`` faces borrow from (``weights``: ``draw_weights``): each
    drawn on its own with ``key``, except that a face whose portrait an earlier face
    already drew takes instead one no face drew, while any remains (those drawn without
    replacement in proportion to ``weights``, with ``fold_in(key, 3)``). So the faces of
    one description come from as many different portraits as it has, up to ``n``: drawn
    independently, 6 faces of a description 17 portraits carry would share one nearly
    two times in three, and two faces borrowing one portrait look alike. A face whose own
    draw repeats nobody's keeps it."""
    rows = jax.random.choice(key, len(weights), (n,), p=weights)
    same = rows[:, None] == rows[None, :]
    repeat = jnp.any(jnp.tril(same, k=-1), axis=1)  # an earlier face drew the same portrait
    free = (weights > 0) & ~jnp.zeros(len(weights), bool).at[rows].set(True)
    scores = jnp.log(jnp.where(free, weights, 1.0)) + jax.random.gumbel(
        jax.random.fold_in(key, 3), weights.shape
    )
    unused = jnp.argsort(-jnp.where(free, scores, -jnp.inf))  # free ones first, drawn in order
    nth = jnp.cumsum(repeat) - 1  # a repeating face's place among the repeats
    takes = repeat & (nth < jnp.sum(free))
    return jnp.where(takes, unused[jnp.clip(nth, 0, len(weights) - 1)], rows)


def drawn_rows(key: jax.Array, weights: jax.Array, n: int) -> jax.Array:
    """(n,) which exemplars a draw with ``key`` uses (``weights``: ``draw_weights``): the
    portraits its faces come from, a different one for each face while the description
    has them (``distinct_rows``: two faces moved a kernel's width from one portrait are
    the same person)."""
    return distinct_rows(jax.random.split(key)[0], weights, n)


def drawn_pairs(
    key: jax.Array, coordinates: jax.Array, weights: jax.Array, n: int, neighbours: int
) -> tuple[jax.Array, jax.Array]:
    """(rows, partners), each (n,): the two portraits each face of a draw with ``key``
    blends (``partners`` is ``rows`` without neighbours)."""
    rows = drawn_rows(key, weights, n)
    neighbours = min(neighbours, len(weights) - 1)  # top_k needs that many others
    if not neighbours:
        return rows, rows
    return rows, blend_partners(jax.random.fold_in(key, 2), coordinates, weights, rows, neighbours)


@functools.partial(jax.jit, static_argnames=("n", "neighbours"))
def _draw(
    ridge, components, std, labels, coordinates, weights, values, named, key, scale, n, neighbours
):
    kernel_key = jax.random.split(key)[1]
    rows, partners = drawn_pairs(key, coordinates, weights, n, neighbours)
    temperature, bandwidth, mix_low, mix_high = scale
    nearer, blended = rows, coordinates[rows]
    if neighbours:
        mix = jax.random.uniform(
            jax.random.fold_in(key, 3), (n, 1), minval=mix_low, maxval=mix_high
        )
        # The nearer portrait lends the unnamed attributes: a blend of labels is no label.
        nearer = jnp.where(mix[:, 0] < 0.5, rows, partners)
        blended = blended + mix * (coordinates[partners] - blended)
    x = jnp.where(named[None], values[None], labels[nearer])
    mean = jnp.concatenate([x, jnp.ones((n, 1))], axis=1) @ ridge
    kernel = bandwidth * jax.random.normal(kernel_key, (n, coordinates.shape[1]))
    residual = temperature * ((blended + kernel) * std) @ components
    return jnp.maximum(mean + residual, 0.0)


def sample_targets(
    exemplars: Exemplars,
    cgmm,
    values: np.ndarray,
    named: np.ndarray,
    key: jax.Array,
    n: int,
    temperature: float,
    bandwidth: float,
    neighbours: int = 0,
    mix: tuple[float, float] = MIX,
) -> jax.Array:
    """``n`` targets (n, *shape) for one description (values (40,), named mask) from the
    kernel density over ``exemplars`` with the cGMM's ridge and residual basis (``cgmm``:
    a ``model.CGMM``). With ``neighbours``, each face blends the drawn portrait's
    coordinates with a near one's (``blend_partners``) by a uniform fraction in ``mix``.
    Temperature 0 is the ridge's prediction for a drawn portrait's labels; the same key
    draws the same targets."""
    if exemplars.coordinates.shape[1] != len(cgmm.component_std):
        raise DeepFaceGenError(
            f"the exemplars have {exemplars.coordinates.shape[1]} residual coordinates but "
            f"the cGMM has {len(cgmm.component_std)} components; refit them: deepface-gen "
            "fit --model BUNDLE --mixture-only"
        )
    flat = _draw(
        jnp.asarray(cgmm.ridge),
        jnp.asarray(cgmm.components),
        jnp.asarray(cgmm.component_std),
        jnp.asarray(exemplars.labels),
        jnp.asarray(exemplars.coordinates),
        draw_weights(exemplars.labels, values, named),
        jnp.asarray(values, jnp.float32),
        jnp.asarray(named, bool),
        key,
        jnp.asarray([temperature, bandwidth, *mix], jnp.float32),
        n,
        neighbours,
    )
    return flat.reshape(n, *cgmm.shape)
