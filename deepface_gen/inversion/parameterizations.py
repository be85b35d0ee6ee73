"""How the optimized parameters become pixels: the pixels themselves, a pyramid, or
the input of a learned generator.

A Laplacian-style pyramid (base + upsampled levels, each starting at zero) lets
each step move coarse structure and fine detail at once (coarse-to-fine), which
gives smoother images in fewer steps.

A *code space* optimizes a learned inverter's input instead (the DGN-AM recipe of
Nguyen et al. 2016): every image is one the generator can draw, so the generator is
the image prior. The code is kept in the range real activations take (each channel
in [0, its high percentile]) by projection, as DGN-AM clips its code.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

Params = jax.Array | tuple[jax.Array, ...]


@struct.dataclass
class CodeSpace:
    """A generator's weights and its code's scale and range, as data (the generator's
    architecture is static, in the render ``Plan``). Codes are optimized divided by
    ``scale``, the units the generator reads."""

    params: Any
    scale: jax.Array  # (c,) per-channel scale of the raw activations
    high: jax.Array  # (c,) per-channel upper bound of the raw activations


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


def init_code(start_code: jax.Array, space: CodeSpace) -> jax.Array:
    """The starting code (raw activations (N, h, w, c)) in the generator's units."""
    return project_code(start_code / space.scale, space)


def code_pixels(generator, code: jax.Array, space: CodeSpace) -> jax.Array:
    """Pixels (N, S, S, 3) in 0..255: the generator applied to a scaled code."""
    return generator.apply({"params": space.params}, code)


def project_code(code: jax.Array, space: CodeSpace) -> jax.Array:
    """Each channel clipped to [0, high]: the range real activations take."""
    return jnp.clip(code, 0.0, space.high / space.scale)
