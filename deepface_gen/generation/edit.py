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
    own: jax.Array,
    current: jax.Array,
    wanted: jax.Array,
    ridge: jax.Array,
    strengths: jax.Array,
    gains: jax.Array | None = None,
) -> jax.Array:
    """Target activations (N, K, D) for N portraits at K strengths.

    ``own`` (N, D) are the portraits' flattened activations, ``current`` and ``wanted``
    (N, 40) their attribute values before and after, ``ridge`` (41, D) the cGMM's
    linear map from [attributes, 1] to activations. The portrait's own activations move
    by the predicted difference times the strength (the bias cancels), each attribute's
    part times its calibrated ``gain`` (40,) where there is one
    (``generation/calibration.py``), then stay non-negative as post-ReLU activations are.
    """
    difference = wanted - current if gains is None else (wanted - current) * gains[None]
    delta = difference @ ridge[:-1]  # (N, D)
    moved = own[:, None] + strengths[None, :, None] * delta[:, None]
    return jnp.maximum(moved, 0.0)


def guidance_values(spec: AttributeSpec, strengths: jax.Array, n: int) -> jax.Array:
    """(n * K, 40): the named values scaled by each strength (zero at strength 0, so the
    identity edit stays exact), repeated for each of ``n`` portraits."""
    scaled = strengths[:, None] * jnp.asarray(spec.vector())[None]  # (K, 40)
    return jnp.tile(scaled, (n, 1))


def blur_matrix(size: int, sigma: float) -> jax.Array:
    """(size, size) row-normalized Gaussian weights: ``B @ x @ B.T`` blurs a map."""
    offsets = jnp.arange(size)[:, None] - jnp.arange(size)[None, :]
    weights = jnp.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / jnp.sum(weights, axis=1, keepdims=True)


def change_mask(change: jax.Array, blur: jax.Array, low: float, high: float) -> jax.Array:
    """(M, S, S) soft mask of where a rendered change lies: the change's per-pixel
    magnitude (M, S, S, 3 in), blurred, as a fraction of its own peak, mapped linearly
    from ``low`` (0) to ``high`` (1). Where nothing changes the mask is 0."""
    magnitude = jnp.sqrt(jnp.mean(change**2, axis=-1))
    smooth = jnp.einsum("ij,mjk,lk->mil", blur, magnitude, blur)
    peak = jnp.max(smooth, axis=(1, 2), keepdims=True)
    fraction = smooth / jnp.maximum(peak, 1e-6)
    return jnp.clip((fraction - low) / (high - low), 0.0, 1.0) * (peak > 1e-3)


def calm_change(change: jax.Array, smooth: jax.Array, detail: float) -> jax.Array:
    """A rendered change (M, S, S, 3) with its fine detail damped: the change blurred by
    ``smooth`` (``blur_matrix``) plus ``detail`` times what the blur removed. The
    renderer's texture differs between two renderings as speckle that no edit means (a
    hair colour drawn as coloured noise); damping it keeps colour shifts whole and thin
    additions (glasses' frames) visible at part of their contrast."""
    smoothed = jnp.einsum("ij,mjkc,lk->milc", smooth, change, smooth)
    return smoothed + detail * (change - smoothed)


@jax.jit
def paste_change(
    portraits: jax.Array, before: jax.Array, after: jax.Array, blur: jax.Array,
    smooth: jax.Array, detail: float = 0.5, low: float = 0.1, high: float = 0.35,
) -> jax.Array:  # fmt: skip
    """Portraits (M, S, S, 3, 0..255) with only a rendered change added:
    ``x + m * calm(after - before)``, where ``before`` is the renderer's drawing of the
    portrait's own activations, ``after`` of the edited ones, ``m`` the soft mask of
    where they differ (``change_mask``, its magnitude blurred by ``blur``) and ``calm``
    the change with its fine detail damped (``calm_change``: ``smooth``, ``detail``).
    Pixels the edit does not touch stay the portrait's own, so its identity and detail
    survive; the renderer only says what changes, not how the rest looks."""
    change = after - before
    mask = change_mask(change, blur, low, high)
    drawn = calm_change(change, smooth, detail)
    return jnp.clip(portraits + mask[..., None] * drawn, 0.0, 255.0)
