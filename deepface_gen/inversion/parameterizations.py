"""How the optimized parameters become pixels: the pixels themselves, or a pyramid.

A Laplacian-style pyramid (base + upsampled levels, each starting at zero) lets
each step move coarse structure and fine detail at once (coarse-to-fine), which
gives smoother images in fewer steps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Params = jax.Array | tuple[jax.Array, ...]


def init_params(base: jax.Array, levels: int) -> Params:
    """The starting parameters: ``base`` itself, or ``levels`` zero residual levels."""
    if levels <= 1:
        return base
    n, h, w, c = base.shape
    return tuple(jnp.zeros((n, max(h >> k, 1), max(w >> k, 1), c)) for k in range(levels))


def to_pixels(params: Params, base: jax.Array) -> jax.Array:
    """Pixels (N, S, S, 3) in 0..255 from the parameters and the start image."""
    if not isinstance(params, tuple):
        return params
    x = base
    for level in params:
        x = x + jax.image.resize(level, base.shape, "linear")
    return jnp.clip(x, 0.0, 255.0)


def project(params: Params) -> Params:
    """The box constraint on plain pixels, by projection (a pyramid clips in ``to_pixels``)."""
    return params if isinstance(params, tuple) else jnp.clip(params, 0.0, 255.0)
