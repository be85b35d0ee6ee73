"""Transforms applied to the pixels before the network sees them, each step anew."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def jitter(key: jax.Array, x: jax.Array, max_shift: jax.Array) -> jax.Array:
    """Shift each image by up to ``max_shift`` pixels (wrapping), one draw per image.

    ``max_shift`` is data (0 leaves the images alone), so changing it never recompiles.
    """
    shifts = jax.random.randint(key, (x.shape[0], 2), -max_shift, max_shift + 1)
    return jax.vmap(lambda img, s: jnp.roll(img, (s[0], s[1]), axis=(0, 1)))(x, shifts)
