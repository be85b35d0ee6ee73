"""Seeds as random keys: every result of the library is a pure function of its seed."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def seed_words(seed: int) -> tuple[int, int]:
    """A seed up to 2**64 - 1 as threefry key data: its high and low 32 bits."""
    return seed >> 32, seed & 0xFFFFFFFF


def seed_key(seed: int) -> jax.Array:
    """The random key of a seed, all 64 bits of it: ``jax.random.key`` keeps only the
    low 32 without x64 (seeds 3 and 2**32 + 3 drew the same faces). Below 2**32 it is
    ``jax.random.key(seed)`` exactly, so results of smaller seeds are unchanged."""
    return jax.random.wrap_key_data(jnp.asarray(seed_words(seed), jnp.uint32))


def plan_keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """A generation plan's (target, init, render) keys from its seed: the targets' draw,
    the VAE or pixel start's, and the render's (its jitter, or G's noise)."""
    k_target, k_init, k_render = jax.random.split(seed_key(seed), 3)
    return k_target, k_init, k_render
