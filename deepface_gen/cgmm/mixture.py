"""A real mixture: K Gaussians over [attributes, residual coordinates], conditioned in
closed form on the attributes a description names.

The ``conditional`` method is one Gaussian: a ridge prediction from the attributes
plus independent residual noise in a PCA basis, so its samples are an average plus
noise. Real activations form clusters (hair styles, hats, glasses are modes, not
noise), and which residual goes with which attributes matters. This model keeps
the cGMM's coordinates (activations = [a, 1] @ ridge + coords @ components, the very
family of targets the learned inverter was trained on) and fits a Gaussian
mixture to the joint vector y = [a (40 labels, ±1), coords / std (K_pca)].

Conditioning a Gaussian mixture on some of its dimensions gives a Gaussian mixture:
each component's weight is rescaled by how well it explains the named values, and
its mean and covariance become the Gaussian conditional. A sample picks a
component, draws the unnamed attributes and the residual coordinates jointly, and
maps them back to activations.

Where every face comes with a whole attribute vector (the unnamed attributes borrowed
from a training portrait, ``model.completions_many``), the mixture is conditioned on
all 40 at once (``sample_given``): then each component's gain, conditional covariance
and attribute precision are the same for every face, so they are computed once per
call and the draws of a whole batch are one compiled call. A face may also borrow its
portrait's first ``anchored`` residual coordinates (the broadest variations its labels
leave), conditioned on like the attributes, so only the rest is drawn: a Gaussian
draws those broad factors between the data's modes, where no portrait lies, while the
finer coordinates stay new (faces are verified as someone in the bank no more often than
without anchors: experiments/bench_anchors.py).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen.attributes import NUM_ATTRIBUTES
from deepface_gen.errors import DeepFaceGenError

JITTER = 1e-4  # added to conditional covariances before their Cholesky factor


@dataclass(frozen=True)
class Mixture:
    """A fitted mixture over y = [attributes (40), residual coordinates / std (P)]."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, 40 + P)
    covariances: np.ndarray  # (K, 40 + P, 40 + P)

    @property
    def components(self) -> int:
        return len(self.weights)

    def given(self, anchored: int = 0, basis: np.ndarray | None = None) -> tuple[jax.Array, ...]:
        """``attribute_conditionals`` of this mixture (rotated into ``basis`` where given,
        ``rotated``) on the device, computed once per mixture, ``anchored`` and basis: what
        every draw given whole attribute vectors reads."""
        cache = self.__dict__.setdefault("_given", {})  # the dataclass is frozen
        key = (anchored, None if basis is None else hashlib.sha1(basis.tobytes()).hexdigest())
        if key not in cache:
            mixture = self if basis is None else rotated(self, basis)
            cache[key] = tuple(jnp.asarray(x) for x in attribute_conditionals(mixture, anchored))
        return cache[key]

    def arrays(self) -> dict:
        return {
            k: np.asarray(getattr(self, k), np.float32) for k in ("weights", "means", "covariances")
        }

    @classmethod
    def from_arrays(cls, arrays: dict) -> Mixture:
        values = {k: np.asarray(arrays[k], np.float64) for k in ("weights", "means", "covariances")}
        k, dims = values["means"].shape
        if values["weights"].shape != (k,) or values["covariances"].shape != (k, dims, dims):
            raise DeepFaceGenError("the mixture's weights, means and covariances disagree in shape")
        return cls(**values)


def rotated(mixture: Mixture, basis: np.ndarray) -> Mixture:
    """The same mixture over [attributes, ``basis`` @ coordinates] (``basis`` (P, P)
    orthonormal rows): draws in it, rotated back by ``basis``, are draws of ``mixture``."""
    turn = np.eye(mixture.means.shape[1])
    turn[NUM_ATTRIBUTES:, NUM_ATTRIBUTES:] = basis
    return Mixture(mixture.weights, mixture.means @ turn.T, turn @ mixture.covariances @ turn.T)


def condition(
    mixture: Mixture, values: np.ndarray, named: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mixture over the unnamed dimensions given the named attributes: (log weights
    (K,), means (K, R), Cholesky factors of the covariances (K, R, R)), R the unnamed
    attributes then the coordinates. Components are reweighted by the likelihood of
    the named values' signs (the strength scales the conditional mean's shift)."""
    values, named = np.asarray(values, np.float64), np.asarray(named, bool)
    full = np.concatenate([named, np.zeros(mixture.means.shape[1] - NUM_ATTRIBUTES, bool)])
    n, r = full, ~full
    given = values[named]
    signs = np.clip(given, -1.0, 1.0)
    log_w, means, chols = [], [], []
    for w, mu, cov in zip(mixture.weights, mixture.means, mixture.covariances, strict=True):
        mean_r, cov_rr = mu[r], cov[np.ix_(r, r)]
        log_like = 0.0
        if n.any():
            cov_nn = cov[np.ix_(n, n)] + JITTER * np.eye(n.sum())
            gain = np.linalg.solve(cov_nn, cov[np.ix_(n, r)]).T  # (R, named)
            mean_r = mean_r + gain @ (given - mu[n])
            cov_rr = cov_rr - gain @ cov[np.ix_(n, r)]
            diff = signs - mu[n]
            _, logdet = np.linalg.slogdet(cov_nn)
            log_like = -0.5 * (diff @ np.linalg.solve(cov_nn, diff) + logdet)
        log_w.append(np.log(max(w, 1e-300)) + log_like)
        cov_rr = 0.5 * (cov_rr + cov_rr.T) + JITTER * np.eye(len(cov_rr))
        chols.append(np.linalg.cholesky(cov_rr))
        means.append(mean_r)
    log_w = np.asarray(log_w)
    return log_w - np.logaddexp.reduce(log_w), np.stack(means), np.stack(chols)


@functools.partial(jax.jit, static_argnames=("n",))
def _draw(log_weights, means, chols, key, temperature, n: int):
    k_pick, k_draw = jax.random.split(key)
    pick = jax.random.categorical(k_pick, log_weights, shape=(n,))
    noise = jax.random.normal(k_draw, (n, means.shape[1]))
    return means[pick] + temperature * jnp.einsum("nij,nj->ni", chols[pick], noise)


def sample_targets(
    mixture: Mixture,
    cgmm,
    values: np.ndarray,
    named: np.ndarray,
    key: jax.Array,
    n: int = 1,
    temperature: float = 1.0,
) -> jax.Array:
    """``n`` target activations (n, *shape) for one description: a component and the
    unnamed attributes and residual coordinates drawn jointly, mapped through the
    cGMM's ridge and residual basis. Pure in ``key``."""
    values, named = np.asarray(values, np.float32), np.asarray(named, bool)
    log_w, means, chols = condition(mixture, values, named)
    rest = _draw(
        jnp.asarray(log_w, jnp.float32),
        jnp.asarray(means, jnp.float32),
        jnp.asarray(chols, jnp.float32),
        key,
        jnp.float32(temperature),
        n,
    )
    unnamed = int((~named).sum())
    attributes = np.tile(values, (n, 1))
    attributes[:, ~named] = np.clip(np.asarray(rest[:, :unnamed]), -1.0, 1.0)
    coords = rest[:, unnamed:] * jnp.asarray(cgmm.component_std)
    x = jnp.concatenate([jnp.asarray(attributes), jnp.ones((n, 1))], axis=1)
    flat = x @ jnp.asarray(cgmm.ridge) + coords @ jnp.asarray(cgmm.components)
    return jnp.maximum(flat, 0.0).reshape(n, *cgmm.shape)


def require(cgmm) -> Mixture:
    """The cGMM's fitted mixture, or a refusal that says how to fit one."""
    if cgmm.mixture is None:
        raise DeepFaceGenError(
            "this model's cGMM has no fitted mixture; run: deepface-gen fit --model "
            "BUNDLE --mixture-only"
        )
    return cgmm.mixture


def attribute_conditionals(mixture: Mixture, anchored: int = 0) -> tuple[np.ndarray, ...]:
    """Each component's residual coordinates given all 40 attributes and the first
    ``anchored`` coordinates (the given dimensions, G = 40 + ``anchored``), as arrays a
    draw reads: (log weights (K,), means of the given dimensions (K, G), their precisions
    (K, G, G) and log determinants (K,), means of the other coordinates (K, R), gains
    (K, R, G), Cholesky factors of the conditional covariances (K, R, R))."""
    a = NUM_ATTRIBUTES + anchored
    if not 0 <= anchored < mixture.means.shape[1] - NUM_ATTRIBUTES:
        raise DeepFaceGenError(
            f"can anchor 0 to {mixture.means.shape[1] - NUM_ATTRIBUTES - 1} of the mixture's "
            f"coordinates, not {anchored}"
        )
    given_cov = mixture.covariances[:, :a, :a] + JITTER * np.eye(a)
    cross = mixture.covariances[:, :a, a:]  # (K, G, R)
    precision = np.linalg.inv(given_cov)
    gains = np.swapaxes(precision @ cross, 1, 2)  # (K, R, G)
    conditional = mixture.covariances[:, a:, a:] - gains @ cross
    conditional = 0.5 * (conditional + np.swapaxes(conditional, 1, 2))
    chols = np.linalg.cholesky(conditional + JITTER * np.eye(conditional.shape[-1]))
    log_weights = np.log(np.maximum(mixture.weights, 1e-300))
    logdets = np.linalg.slogdet(given_cov)[1]
    arrays = (log_weights, mixture.means[:, :a], precision, logdets, mixture.means[:, a:],
              gains, chols)  # fmt: skip
    return tuple(np.asarray(x, np.float32) for x in arrays)


def _draw_given(conditionals, attributes, anchors, key, temperature):
    """(n, P) coordinates: the ``anchors`` (n, anchored) as given, the rest drawn."""
    log_w, given_means, precision, logdets, coordinate_means, gains, chols = conditionals
    k_pick, k_draw = jax.random.split(key)
    # A component is picked by how well it explains each face's attribute signs (and
    # anchors); the shift of its mean uses the values themselves (a strength moves further).
    given = jnp.concatenate([attributes, anchors], axis=1)
    signs = jnp.concatenate([jnp.clip(attributes, -1.0, 1.0), anchors], axis=1)
    diff = signs[:, None] - given_means[None]  # (n, K, G)
    distance = jnp.einsum("nki,kij,nkj->nk", diff, precision, diff)
    pick = jax.random.categorical(k_pick, log_w[None] - 0.5 * (distance + logdets[None]))
    shift = given - given_means[pick]
    mean = coordinate_means[pick] + jnp.einsum("npa,na->np", gains[pick], shift)
    noise = jax.random.normal(k_draw, mean.shape)
    drawn = mean + temperature * jnp.einsum("npq,nq->np", chols[pick], noise)
    return jnp.concatenate([anchors, drawn], axis=1)


@jax.jit
def _targets_given_many(
    conditionals, ridge, components, std, attributes, anchors, keys, temperatures, basis
):
    def one(rows, anchored, key, temperature):
        coordinates = _draw_given(conditionals, rows, anchored, key, temperature)
        if basis is not None:  # drawn in the rotated basis: back to the residual one
            coordinates = coordinates @ basis
        x = jnp.concatenate([rows, jnp.ones((len(rows), 1))], axis=1)
        return jnp.maximum(x @ ridge + (coordinates * std) @ components, 0.0)

    return jax.vmap(one)(attributes, anchors, keys, temperatures)


def sample_given_many(
    mixture: Mixture,
    cgmm,
    attributes: jax.Array,
    keys: jax.Array,
    temperatures: np.ndarray,
    arrays: tuple[jax.Array, jax.Array, jax.Array] | None = None,
    anchors: jax.Array | None = None,
    basis: np.ndarray | None = None,
) -> jax.Array:
    """Targets (R, n, *shape) for R rows of whole attribute vectors (R, n, 40) at once,
    row ``r`` drawn with ``keys[r]`` at ``temperatures[r]``: each face's component and
    residual coordinates given all 40 attributes and its ``anchors`` (R, n, anchored),
    the first coordinates as given (in standard deviations, along the rows of ``basis``
    where given (``anchors.drawing_basis``), else the leading coordinates; none by
    default), mapped through the cGMM's ridge and residual basis (``arrays``: (ridge,
    components, component_std) already on the device). Row ``r`` is exactly
    ``sample_given`` of that row alone."""
    attributes = jnp.asarray(attributes, jnp.float32)
    if anchors is None:
        anchors = jnp.zeros((*attributes.shape[:2], 0), jnp.float32)
    ridge, components, std = arrays or (cgmm.ridge, cgmm.components, cgmm.component_std)
    flat = _targets_given_many(
        mixture.given(anchors.shape[-1], basis),
        jnp.asarray(ridge),
        jnp.asarray(components),
        jnp.asarray(std),
        attributes,
        jnp.asarray(anchors, jnp.float32),
        keys,
        jnp.asarray(temperatures, jnp.float32),
        None if basis is None else jnp.asarray(basis, jnp.float32),
    )
    return flat.reshape(*attributes.shape[:2], *cgmm.shape)


def sample_given(
    mixture: Mixture,
    cgmm,
    attributes: jax.Array,
    key: jax.Array,
    temperature: float,
    anchors: jax.Array | None = None,
    basis: np.ndarray | None = None,
) -> jax.Array:
    """One target (n, *shape) for each whole attribute vector (n, 40), given its
    ``anchors`` (n, anchored) along ``basis`` where any: a component and the other
    residual coordinates drawn (``sample_given_many``'s one row). Pure in ``key``."""
    rows = jnp.asarray(attributes, jnp.float32)[None]
    anchors = None if anchors is None else jnp.asarray(anchors, jnp.float32)[None]
    return sample_given_many(
        mixture, cgmm, rows, key[None], np.asarray([temperature]), anchors=anchors, basis=basis
    )[0]
