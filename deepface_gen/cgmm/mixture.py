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
"""

from __future__ import annotations

import functools
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
