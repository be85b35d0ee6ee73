"""The cGMM: from a sparse attribute description to target activations at a layer.

Two methods share one fitted object:

* ``paper`` - DeepFace's model with its code's flaws fixed: per attribute and
  polarity a diagonal Gaussian N(mu, sigma^2) (sigma, not the variance), a target
  t = (1/|C|) sum_{i in C} w_i z_i with z_i ~ N(mu_i, sigma_i^2), and weights w
  solved exactly (ridge normal equations from streamed sums) rather than by an
  SGD whose learning rate left them at 1.
* ``conditional`` (default) - ridge regression of the activations on the full
  attribute vector; attributes the description does not name are borrowed, face by
  face, from a training portrait whose labels agree with the named ones (its labels
  only: "male" draws a man's whole set of attributes, with or without a beard), or,
  where the model stores no portraits' labels, filled with their conditional
  expectation under a Gaussian fit to the label co-occurrence (``fill_in``);
  diversity comes from sampling the regression residual in its PCA basis, which
  keeps the activations' spatial correlations instead of adding speckle.

All sampling is a pure function of a ``jax.random`` key: same seed, same target.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from deepface_gen.cgmm import anchors as anchors_lib
from deepface_gen.cgmm import exemplars as exemplars_lib
from deepface_gen.cgmm import mixture as mixture_lib
from deepface_gen.cgmm.exemplars import Exemplars
from deepface_gen.cgmm.mixture import Mixture
from deepface_gen.errors import DeepFaceGenError

METHODS = ("conditional", "paper", "mixture", "exemplar")
# The methods whose faces borrow the unnamed attributes from agreeing training portraits
# (``completions_many``) where the cGMM stores exemplars.
BORROWING_METHODS = ("conditional", "mixture")
# How many of its portrait's leading residual coordinates (the broadest variations its
# labels leave) a face of the mixture borrows with the labels, its other coordinates
# drawn given them (``mixture.sample_given_many``). With 8, `net`'s VGG16 KID fell from
# 4.2 to 2.7 of the floor (experiments/bench_generate.py, ``net_unanchored``), and faces
# were verified as someone in the bank they came from no more often than with the labels
# alone (experiments/bench_anchors.py: 0.60 against 0.64; at 16, 0.64 at the same KID;
# at 32, 0.73).
ANCHORED_COORDINATES = 8


@dataclass(frozen=True)
class CGMM:
    """A fitted cGMM at one layer. Arrays are numpy; ``D`` = prod(shape)."""

    layer: str
    shape: tuple[int, ...]
    ridge: np.ndarray  # (41, D): activations ~ [attributes, 1] @ ridge
    attribute_mean: np.ndarray  # (40,) mean of the ±1 labels
    attribute_cov: np.ndarray  # (40, 40) their covariance
    components: np.ndarray  # (K, D) PCA basis of the ridge residuals
    component_std: np.ndarray  # (K,) residual standard deviation along each
    group_mean: np.ndarray  # (2, 40, D) per attribute [absent, present] means
    group_std: np.ndarray  # (2, 40, D) ... and standard deviations
    paper_weights: np.ndarray  # (40,) DeepFace weights w
    mean_image: np.ndarray  # (S, S, 3) 0-255 mean face
    counts: np.ndarray  # (2, 40) examples per group
    # K Gaussians over [attributes, residual coordinates] (``mixture.py``), where fitted;
    # stored in its own file of the bundle.
    mixture: Mixture | None = None
    # Training portraits' labels and residual coordinates (``exemplars.py``), where
    # stored; in their own file of the bundle too.
    exemplars: Exemplars | None = None
    # How many leading residual coordinates a mixture face borrows with the labels
    # (``ANCHORED_COORDINATES``; 0: the labels alone), and how many directions that set
    # the background beyond them (``anchors.BORDER_ANCHORED``). Sampling settings, not
    # stored.
    anchored: int = ANCHORED_COORDINATES
    border_anchored: int = anchors_lib.BORDER_ANCHORED

    def arrays(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("layer", "mixture", "exemplars", "anchored", "border_anchored"):
                continue
            if f.name == "shape":
                value = np.asarray(value, np.int64)
            elif f.name in ("group_mean", "group_std", "components"):
                value = np.asarray(value, np.float16)  # halves the shipped size
            out[f.name] = np.asarray(value)
        return out

    @classmethod
    def from_arrays(cls, layer: str, arrays: dict) -> CGMM:
        values = {k: np.asarray(v, np.float32) for k, v in arrays.items() if k != "shape"}
        return cls(layer=layer, shape=tuple(int(s) for s in arrays["shape"]), **values)

    def known(self, minimum: int = 5) -> np.ndarray:
        """(40,) True where both polarities were seen at least ``minimum`` times."""
        return (self.counts >= minimum).all(axis=0)


# ---------------------------------------------------------------------------
# Targets


def _gaussian_conditional(
    moments, values: np.ndarray, named: np.ndarray, ridge: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (clipped to [-1, 1]) and covariance of the unnamed attributes given the named
    ones, under a Gaussian fit to the label co-occurrence (``moments``: anything with
    ``attribute_mean`` and ``attribute_cov``). Conditioning uses the sign of a named
    value; its strength is applied by the caller."""
    m, cov = moments.attribute_mean.astype(np.float64), moments.attribute_cov.astype(np.float64)
    n, u = named, ~named
    mean_u, cov_u = m[u], cov[np.ix_(u, u)]
    if n.any():
        c_nn = cov[np.ix_(n, n)] + ridge * np.eye(n.sum())
        given = np.clip(values[n], -1.0, 1.0)
        gain = np.linalg.solve(c_nn, cov[np.ix_(n, u)]).T  # (unnamed, named)
        mean_u = mean_u + gain @ (given - m[n])
        cov_u = cov_u - gain @ cov[np.ix_(n, u)]
    return np.clip(mean_u, -1.0, 1.0), cov_u


def fill_in(cgmm, values: np.ndarray, named: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """Complete a description: unnamed attributes get E[a_u | a_named] under a Gaussian
    fit to the label co-occurrence, clipped to [-1, 1]; named values are kept as given.
    ``cgmm`` is anything with ``attribute_mean`` and ``attribute_cov`` (a VAE too)."""
    values, named = np.asarray(values, np.float64), np.asarray(named, bool)
    filled = values.copy()
    filled[~named] = _gaussian_conditional(cgmm, values, named, ridge)[0]
    return filled


def sample_completions(
    moments, values: np.ndarray, named: np.ndarray, key: jax.Array, n: int
) -> np.ndarray:
    """``n`` whole attribute vectors (n, 40) that keep the named values and draw the others.

    ``moments`` is anything with the labels' ``attribute_mean`` and ``attribute_cov``
    (a cGMM, a VAE). The unnamed attributes are drawn jointly from the Gaussian
    conditional of the label co-occurrence, so they stay coherent (no lipstick on
    the bearded), then thresholded to ±1 where each attribute's unconditional
    frequency is met (a Gaussian copula): a rare attribute stays rare.
    """
    values, named = np.asarray(values, np.float64), np.asarray(named, bool)
    m, cov = moments.attribute_mean.astype(np.float64), moments.attribute_cov.astype(np.float64)
    u = ~named
    mean_u, cov_u = _gaussian_conditional(moments, values, named)
    draws = jax.random.multivariate_normal(
        key, jnp.asarray(mean_u), jnp.asarray(cov_u + 1e-6 * np.eye(u.sum())), (n,), method="eigh"
    )
    sd = np.sqrt(np.clip(np.diag(cov)[u], 1e-6, None))
    positive = np.clip((1.0 + m[u]) / 2.0, 1e-4, 1 - 1e-4)
    threshold = m[u] - sd * np.asarray(norm.ppf(positive))
    out = np.tile(values, (n, 1))
    out[:, u] = np.where(np.asarray(draws) > threshold, 1.0, -1.0)
    out[:, u] = np.where(sd < 1e-3, 0.0, out[:, u])  # never-labelled attributes stay unknown
    return out.astype(np.float32)


def sample_conditional(ridge, x, components, component_std, key, temperature):
    """Targets for whole attribute vectors ``x`` (n, 40): the ridge's prediction plus
    the residual drawn in its PCA basis, scaled by ``temperature`` (a number, or (n, 1)
    for one per target)."""
    mean = jnp.concatenate([x, jnp.ones((len(x), 1))], axis=1) @ ridge
    z = jax.random.normal(key, (len(x), component_std.shape[0])) * temperature
    return jnp.maximum(mean + (z * component_std) @ components, 0.0)


@jax.jit
def _conditional_targets_many(ridge, completions, components, component_std, keys, temperatures):
    def one(x, key, temperature):
        return sample_conditional(ridge, x, components, component_std, key, temperature)

    return jax.vmap(one)(completions, keys, temperatures)


@functools.partial(jax.jit, static_argnames=("n",))
def _borrowed_rows(weights, keys, n):
    def one(chances, key):
        return exemplars_lib.distinct_rows(jax.random.fold_in(key, 1), chances, n)

    return jax.vmap(one)(weights, keys)


def borrowed_many(
    cgmm: CGMM, values: np.ndarray, named: np.ndarray, keys: jax.Array, n: int, anchored: int = 0
) -> tuple[jax.Array, jax.Array]:
    """``n`` whole attribute vectors for each of R descriptions (values, named: (R, 40);
    one key each): (R, n, 40), and each face's ``anchored`` leading residual coordinates
    (R, n, anchored), both from the same portrait. Named values are kept. Where the cGMM
    stores exemplars, each face borrows the unnamed attributes (and those coordinates) of a
    training portrait drawn (with ``fold_in(key, 1)``) among those agreeing with the
    description (``exemplars.draw_weights``), no two faces the same portrait while the
    description has others (``exemplars.distinct_rows``): a coherent whole that occurs in the data,
    where a Gaussian's expectations make every face the average person and its
    thresholded draws give a woman a moustache. Without exemplars, every face gets
    ``fill_in`` and no anchors (``anchored`` is then 0)."""
    values, named = np.asarray(values, np.float32), np.asarray(named, bool)
    if cgmm.exemplars is None:
        filled = np.stack([fill_in(cgmm, v, m) for v, m in zip(values, named, strict=True)])
        completions = jnp.repeat(jnp.asarray(filled, jnp.float32)[:, None], n, axis=1)
        return completions, jnp.zeros((*completions.shape[:2], 0), jnp.float32)
    labels = cgmm.exemplars.labels
    weights = jnp.stack(
        [exemplars_lib.draw_weights(labels, v, m) for v, m in zip(values, named, strict=True)]
    )
    rows = _borrowed_rows(weights, keys, n)  # (R, n)
    borrowed = jnp.asarray(labels)[rows]
    completions = jnp.where(jnp.asarray(named)[:, None], jnp.asarray(values)[:, None], borrowed)
    anchors = jnp.asarray(lent_coordinates(cgmm)[:, :anchored], jnp.float32)[rows]
    return completions, anchors


def _rotation(cgmm: CGMM) -> tuple[np.ndarray, np.ndarray] | None:
    """(``anchors.drawing_basis`` for the cGMM's broad and border anchors, the exemplars'
    coordinates in it), computed once per cGMM; None where no border direction is borrowed."""
    broad = min(cgmm.anchored, len(cgmm.component_std) - 1)
    border = min(cgmm.border_anchored, len(cgmm.component_std) - 1 - broad)
    if border <= 0:
        return None
    cache = cgmm.__dict__.setdefault("_rotation", {})  # the dataclass is frozen
    if (broad, border) not in cache:
        basis = anchors_lib.drawing_basis(cgmm.components, cgmm.component_std, cgmm.shape,
                                          broad, border)  # fmt: skip
        lent = None if cgmm.exemplars is None else cgmm.exemplars.coordinates @ basis.T
        cache[(broad, border)] = (basis, lent)
    return cache[(broad, border)]


def drawing_basis(cgmm: CGMM) -> np.ndarray | None:
    """The basis a mixture face's anchors are read in (``anchors.drawing_basis``: the
    broad coordinates, then the cGMM's ``border_anchored`` background directions), or
    None where it borrows no border direction (the leading coordinates as they are)."""
    rotation = _rotation(cgmm)
    return None if rotation is None else rotation[0]


def lent_coordinates(cgmm: CGMM) -> np.ndarray:
    """The exemplars' residual coordinates in ``drawing_basis``: what a face borrows the
    first ``anchored_count`` of."""
    rotation = _rotation(cgmm)
    return cgmm.exemplars.coordinates if rotation is None else rotation[1]


def completions_many(
    cgmm: CGMM, values: np.ndarray, named: np.ndarray, keys: jax.Array, n: int
) -> jax.Array:
    """``borrowed_many``'s attribute vectors alone: (R, n, 40)."""
    return borrowed_many(cgmm, values, named, keys, n)[0]


def borrows(cgmm: CGMM, method: str) -> bool:
    """Whether ``method``'s faces borrow whole attribute vectors from this cGMM's
    exemplars (the draws ``completions_many`` makes and ``targets_many`` batches)."""
    return method in BORROWING_METHODS and cgmm.exemplars is not None


def draws_many(cgmm: CGMM, method: str) -> bool:
    """Whether ``targets_many`` draws ``method``'s targets on this cGMM: the conditional
    method's always (``completions_many`` fills in where nothing is borrowed), the
    mixture's where it conditions on whole borrowed attribute vectors."""
    return method == "conditional" or borrows(cgmm, method)


def conditional_arrays(cgmm: CGMM) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(ridge, components, component_std) on the device: what conditional sampling
    reads, for a caller that samples often to move once."""
    return jnp.asarray(cgmm.ridge), jnp.asarray(cgmm.components), jnp.asarray(cgmm.component_std)


def targets_many(
    cgmm: CGMM,
    method: str,
    completions: jax.Array,
    keys: jax.Array,
    temperatures: np.ndarray,
    arrays: tuple[jax.Array, jax.Array, jax.Array] | None = None,
    anchors: jax.Array | None = None,
) -> jax.Array:
    """The ``conditional`` or ``mixture`` method's targets for R descriptions' whole
    attribute vectors at once (``completions`` (R, n, 40), and for the mixture the
    ``anchors`` (R, n, anchored), from ``borrowed_many`` with the same ``keys``):
    (R, n, *shape). Row ``r`` is exactly ``targets(..., keys[r], n, method,
    temperatures[r])`` (the mixture's where the cGMM stores exemplars), so requests
    batched together draw what each would alone. ``arrays``: the cGMM's
    ``conditional_arrays``, already on the device."""
    if method == "mixture":
        drawing_keys = jax.vmap(lambda key: jax.random.fold_in(key, 2))(keys)
        basis = drawing_basis(cgmm) if anchors is not None and anchors.shape[-1] else None
        return mixture_lib.sample_given_many(
            mixture_lib.require(cgmm), cgmm, completions, drawing_keys, temperatures, arrays,
            anchors, basis,
        )  # fmt: skip
    ridge, components, component_std = arrays or conditional_arrays(cgmm)
    flat = _conditional_targets_many(
        ridge,
        jnp.asarray(completions, jnp.float32),
        components,
        component_std,
        keys,
        jnp.asarray(temperatures, jnp.float32),
    )
    return flat.reshape(*completions.shape[:2], *cgmm.shape)


def anchored_count(cgmm: CGMM, method: str) -> int:
    """How many residual coordinates ``method``'s faces borrow on this cGMM (in
    ``drawing_basis``): the cGMM's ``anchored`` and ``border_anchored`` (at most all its
    coordinates but one) for the mixture where it borrows, else none."""
    if method != "mixture" or not borrows(cgmm, method):
        return 0
    return min(cgmm.anchored + cgmm.border_anchored, len(cgmm.component_std) - 1)


def targets_for_attributes(
    cgmm: CGMM, attributes: np.ndarray, key: jax.Array, temperature: float = 1.0
) -> jax.Array:
    """One conditional target per whole attribute vector (N, 40) -> (N, *shape), batched;
    row ``i`` draws its residual from ``fold_in(key, i)``."""
    rows = len(attributes)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(rows))
    temperatures = np.full(rows, temperature, np.float32)
    completions = jnp.asarray(attributes, jnp.float32)[:, None]
    return targets_many(cgmm, "conditional", completions, keys, temperatures)[:, 0]


@functools.partial(jax.jit, static_argnames=("n",))
def _paper_targets(group_mean, group_std, weights, x, named, key, temperature, n):
    polarity = (x > 0).astype(jnp.int32)  # which Gaussian of each attribute
    idx = jnp.arange(x.shape[0])
    mu, sigma = group_mean[polarity, idx], group_std[polarity, idx]  # (40, D)
    w = jnp.where(x > 0, weights, 1.0) * jnp.abs(x) * named
    z = mu[None] + temperature * sigma[None] * jax.random.normal(key, (n, *mu.shape))
    return jnp.maximum(jnp.einsum("a,nad->nd", w, z) / jnp.maximum(named.sum(), 1.0), 0.0)


def targets(
    cgmm: CGMM,
    values: np.ndarray,
    named: np.ndarray,
    key: jax.Array,
    n: int = 1,
    method: str = "conditional",
    temperature: float = 1.0,
) -> jax.Array:
    """``n`` target activations (n, *shape) for one description (values (40,), named mask)."""
    if method not in METHODS:
        raise DeepFaceGenError(f"unknown cGMM method {method!r}; use {' or '.join(METHODS)}")
    if method == "mixture":
        mixture_lib.require(cgmm)
    values, named = np.asarray(values, np.float32), np.asarray(named, bool)
    if draws_many(cgmm, method):  # one row of the batched draw: what serving batches
        completions, anchors = borrowed_many(
            cgmm, values[None], named[None], key[None], n, anchored_count(cgmm, method)
        )
        temperatures = np.asarray([temperature])
        return targets_many(cgmm, method, completions, key[None], temperatures, None, anchors)[0]
    if method == "mixture":
        return mixture_lib.sample_targets(cgmm.mixture, cgmm, values, named, key, n, temperature)
    if method == "exemplar":
        if cgmm.exemplars is None:
            raise DeepFaceGenError(
                "this model's cGMM has no stored exemplars; run: deepface-gen fit --model "
                "BUNDLE --mixture-only"
            )
        return exemplars_lib.sample_targets(
            cgmm.exemplars, cgmm, values, named, key, n, temperature, exemplars_lib.BANDWIDTH
        )
    flat = _paper_targets(
        jnp.asarray(cgmm.group_mean),
        jnp.asarray(cgmm.group_std),
        jnp.asarray(cgmm.paper_weights),
        jnp.asarray(values, jnp.float32),
        jnp.asarray(named, jnp.float32),
        key,
        temperature,
        n,
    )
    return flat.reshape(n, *cgmm.shape)
