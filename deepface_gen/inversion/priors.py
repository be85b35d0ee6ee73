"""Natural-image priors: per-image penalties on pixels (0-255 scale), pure functions.

Each takes the image batch (N, S, S, 3) and its parameters as arrays, so the
render loop passes weights, centres and starts as data (one compile for all).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

ALPHA = 6.0  # Mahendran & Vedaldi's alpha-norm exponent ...
ALPHA_BOUND = 80.0  # ... and bound B
TV_BETA = 2.0
TV_SCALE = 80.0 / 6.5  # V = B / 6.5 (M&V)
ANCHOR_SCALE = 80.0


def alpha_norm(x: jax.Array, centre: jax.Array, alpha: float = ALPHA,
               bound: float = ALPHA_BOUND) -> jax.Array:  # fmt: skip
    """B^-alpha * mean ||x_uv - centre_uv||^alpha: keeps colours in range (M&V, alpha 6, B 80).

    M&V measure pixels from the data mean; ``centre`` is that mean image (the
    mean face) where one is known. Measured from mid-gray instead, dark hair
    (about 180 from gray) would cost (180/80)^6 ~ 125 per pixel: no black hair.
    """
    norm = jnp.sqrt(jnp.sum((x - centre) ** 2, axis=-1) + 1e-6)
    return jnp.mean((norm / bound) ** alpha, axis=(1, 2))


def total_variation(x: jax.Array, beta: float = TV_BETA, scale: float = TV_SCALE) -> jax.Array:
    """V^-beta * mean ((d_h x)^2 + (d_v x)^2)^(beta/2): favours piecewise-smooth images."""
    dh = x[:, :-1, :-1] - x[:, :-1, 1:]
    dv = x[:, :-1, :-1] - x[:, 1:, :-1]
    energy = jnp.sum(dh**2 + dv**2, axis=-1) / scale**2 + 1e-8
    return jnp.mean(energy ** (beta / 2.0), axis=(1, 2))


def anchor(x: jax.Array, start: jax.Array, scale: float = ANCHOR_SCALE) -> jax.Array:
    """mean ((x - start) / scale)^2: stay near the start unless the objective says otherwise."""
    return jnp.mean(((x - start) / scale) ** 2, axis=(1, 2, 3))


def change_smoothness(x: jax.Array, start: jax.Array) -> jax.Array:
    """Total variation of the change ``x - start``: zero at the start, so edits stay smooth."""
    return total_variation(x - start)
