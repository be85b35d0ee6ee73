"""The edit algebra: where a portrait's activations should move to carry new attributes.

Pure functions of arrays, so the arithmetic is tested on its own (strength 0 is the
portrait itself; the move is linear in strength; only named attributes change).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from deepface_gen.attributes import AttributeSpec


def wanted_attributes(current: jax.Array, spec: AttributeSpec) -> jax.Array:
    """(N, 40): the portraits' current attribute values (-1..1) with the named ones
    replaced by the description's values."""
    named = jnp.asarray(spec.mask())
    return jnp.where(named[None], jnp.asarray(spec.vector())[None], current)


def edit_targets(
    own: jax.Array, current: jax.Array, wanted: jax.Array, ridge: jax.Array, strengths: jax.Array
) -> jax.Array:
    """Target activations (N, K, D) for N portraits at K strengths.

    ``own`` (N, D) are the portraits' flattened activations, ``current`` and ``wanted``
    (N, 40) their attribute values before and after, ``ridge`` (41, D) the cGMM's
    linear map from [attributes, 1] to activations. The portrait's own activations move
    by the predicted difference times the strength (the bias cancels), then stay
    non-negative as post-ReLU activations are.
    """
    delta = (wanted - current) @ ridge[:-1]  # (N, D)
    moved = own[:, None] + strengths[None, :, None] * delta[:, None]
    return jnp.maximum(moved, 0.0)


def guidance_values(spec: AttributeSpec, strengths: jax.Array, n: int) -> jax.Array:
    """(n * K, 40): the named values scaled by each strength (zero at strength 0, so the
    identity edit stays exact), repeated for each of ``n`` portraits."""
    scaled = strengths[:, None] * jnp.asarray(spec.vector())[None]  # (K, 40)
    return jnp.tile(scaled, (n, 1))
