"""The edit algebra: where a portrait's activations should move to carry new attributes.

Pure functions of arrays, so the arithmetic is tested on its own (strength 0 is the
portrait itself; the move is linear in strength; only named attributes change).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from deepface_gen.attributes import AttributeSpec


def wanted_attributes(current: jax.Array, spec: AttributeSpec) -> jax.Array:
    """(N, 40): the portraits' current attribute values (-1..1) with the named ones
    replaced by the description's values."""
    named = jnp.asarray(spec.mask())
    return jnp.where(named[None], jnp.asarray(spec.vector())[None], current)


def edit_direction(
    current: jax.Array, wanted: jax.Array, ridge: jax.Array, gains: jax.Array | None = None
) -> jax.Array:
    """(N, D): the cGMM's predicted activation change from ``current`` to ``wanted``
    attributes (N, 40) at strength 1, through ``ridge`` (41, D; the bias cancels), each
    attribute's part times its calibrated gain where there are ``gains`` (2, 40): row 0
    where the attribute rises (is added), row 1 where it falls."""
    difference = wanted - current
    if gains is not None:
        difference = difference * jnp.where(difference > 0, gains[0], gains[1])
    return difference @ ridge[:-1]


@functools.partial(jax.jit, static_argnames=("shape",))
def focused_ridge(ridge: jax.Array, shape: tuple[int, int, int], focus: float) -> jax.Array:
    """(41, D): ``ridge`` with each attribute's change confined to where it is strong.

    Per attribute, the strength of its predicted change at each location of the layer
    (``shape`` (h, w, c): the norm over channels) is compared with its ``focus``
    quantile over locations: locations at or above it keep the whole change, weaker
    ones a share in proportion. The global difference of attribute means also carries
    what merely comes with the attribute (hair with lipstick), spread thinly over the
    face; focusing keeps the change where the attribute lives, so edits land nearer the
    true counterfactual and keep the person (experiments/bench_edit_focus.py). Focus 0
    is the ridge itself; the bias row is untouched."""
    h, w, c = shape
    rows = ridge[:-1].reshape(len(ridge) - 1, h * w, c)
    strength = jnp.sqrt(jnp.sum(rows**2, axis=-1))  # (40, h * w)
    level = jnp.quantile(strength, focus, axis=1, keepdims=True)
    share = jnp.clip(strength / jnp.maximum(level, 1e-12), 0.0, 1.0)
    focused = (rows * share[..., None]).reshape(len(ridge) - 1, -1)
    return jnp.concatenate([focused, ridge[-1:]])


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
    part times its calibrated gain where there are ``gains`` (2, 40: adding, removing;
    ``generation/calibration.py``), then stay non-negative as post-ReLU activations are.
    """
    delta = edit_direction(current, wanted, ridge, gains)  # (N, D)
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


def change_magnitude(change: jax.Array, blur: jax.Array) -> jax.Array:
    """(M, S, S): a rendered change's per-pixel magnitude (RMS over the colours of
    M, S, S, 3, in pixel units 0..255), blurred by ``blur`` (``blur_matrix``)."""
    magnitude = jnp.sqrt(jnp.mean(change**2, axis=-1))
    return jnp.einsum("ij,mjk,lk->mil", blur, magnitude, blur)


def change_mask(magnitude: jax.Array, low: float, high: float) -> jax.Array:
    """(M, S, S) soft mask of where a rendered change lies: its blurred magnitude
    (``change_magnitude``) as a fraction of its own peak, mapped linearly from ``low``
    (0) to ``high`` (1). Where nothing changes the mask is 0."""
    peak = jnp.max(magnitude, axis=(1, 2), keepdims=True)
    fraction = magnitude / jnp.maximum(peak, 1e-6)
    return jnp.clip((fraction - low) / (high - low), 0.0, 1.0) * (peak > 1e-3)


def opacity(magnitude: jax.Array, low: float, high: float) -> jax.Array:
    """(M, S, S) where a change is large enough to cover what lay beneath: 0 below a
    blurred magnitude of ``low``, 1 above ``high`` (pixel units), linear between."""
    return jnp.clip((magnitude - low) / jnp.maximum(high - low, 1e-6), 0.0, 1.0)


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
    smooth: jax.Array, detail: float = 1.0, low: float = 0.1, high: float = 0.35,
    opaque_low: float = 1e9, opaque_high: float = 1e9,
) -> jax.Array:  # fmt: skip
    """Portraits (M, S, S, 3, 0..255) with only a rendered change drawn on them.

    ``before`` is the renderer's drawing of each portrait's own activations, ``after``
    of the edited ones. Where they differ (``change_mask`` of their blurred difference,
    from ``low`` to ``high`` of its peak) the change is added, calmed
    (``calm_change``: ``smooth``, ``detail``): ``x + m * calm(after - before)``. Where
    the change is large (``opacity`` from ``opaque_low`` to ``opaque_high``; off by
    default) it is drawn opaque instead, ``after`` itself, so a hat covers the hair
    beneath rather than showing it through. Pixels the edit does not touch stay the
    portrait's own, so its identity and detail survive. The defaults draw the change as
    drawn (no calming, never opaque); ``renderers.ChangeStyle`` holds the shipped ones."""
    change = after - before
    magnitude = change_magnitude(change, blur)
    mask = change_mask(magnitude, low, high)[..., None]
    added = portraits + mask * calm_change(change, smooth, detail)
    cover = opacity(magnitude, opaque_low, opaque_high)[..., None]
    return jnp.clip((1.0 - cover) * added + cover * after, 0.0, 255.0)
