"""Many ``generate`` requests drawn together: one batched target sampling for the plans
the learned inverter renders in one pass (how a service serves concurrent requests).

The keys and targets equal ``FaceGenerator.draw``'s for each plan alone (tests hold
them to it), so batching never changes a face beyond rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen.batching import bucket
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.generation import methods
from deepface_gen.generation.requests import GenerationPlan
from deepface_gen.generation.seeds import plan_keys, seed_words


@jax.jit
def target_keys(words: jax.Array, indices: jax.Array) -> jax.Array:
    """``fold_in(split(key(seed), 3)[0], index)`` for many (seed, index) pairs in one
    call (``draw``'s target key for a plan's ``index``-th description); ``words``
    (R, 2) uint32 are each seed's ``seed_words``."""

    def one(words: jax.Array, index: jax.Array) -> jax.Array:
        key = jax.random.wrap_key_data(words)
        return jax.random.fold_in(jax.random.split(key, 3)[0], index)

    return jax.vmap(one)(words, indices)


class _Row(NamedTuple):
    """One description of a plan ``model.draws_many`` serves, as batched sampling needs it."""

    plan: int  # index of its plan
    method: str  # conditional or mixture
    n: int  # faces it asks for
    values: np.ndarray  # (40,) the description's named values
    named: np.ndarray  # (40,) which attributes it names
    words: tuple[int, int]  # its plan's seed as key data
    index: int  # its place among the plan's descriptions
    temperature: float


def batched_targets(
    cgmm: cgmm_lib.CGMM, plans: Sequence[GenerationPlan], arrays=None
) -> list[jax.Array]:
    """Each plan's target activations, as ``draw`` samples them: the methods
    ``model.draws_many`` serves for all plans at once (keys derived in one call, then
    one sampling call per method and faces-per-description ``n``, the description count
    padded to a bucket size), the others' plan by plan."""
    rows: list[_Row] = []
    out: list[list[jax.Array]] = [[] for _ in plans]
    for p, plan in enumerate(plans):
        if not cgmm_lib.draws_many(cgmm, plan.method):
            k_target = plan_keys(plan.seed)[0]
            request = methods.Request(plan.specs, plan.n, k_target, plan.temperature, 0.0)
            out[p].append(methods.METHODS[plan.method](cgmm, request).target(cgmm.layer))
            continue
        words = seed_words(plan.seed)
        for i, spec in enumerate(plan.specs):
            rows.append(
                _Row(p, plan.method, plan.n, spec.vector(), spec.mask(), words, i, plan.temperature)
            )
    for method, n in sorted({(row.method, row.n) for row in rows}):
        group = [row for row in rows if (row.method, row.n) == (method, n)]
        padded = group + [group[-1]] * (bucket(len(group)) - len(group))
        keys = target_keys(
            jnp.asarray(np.array([row.words for row in padded], np.uint32)),
            jnp.asarray(np.array([row.index for row in padded], np.uint32)),
        )
        completions, anchors = cgmm_lib.borrowed_many(
            cgmm,
            np.stack([row.values for row in padded]),
            np.stack([row.named for row in padded]),
            keys,
            n,
            cgmm_lib.anchored_count(cgmm, method),
        )
        temperatures = np.asarray([row.temperature for row in padded])
        drawn = cgmm_lib.targets_many(
            cgmm, method, completions, keys, temperatures, arrays, anchors
        )
        for row, targets in zip(group, drawn, strict=False):
            out[row.plan].append(targets)
    # A plan's descriptions were appended in order, and all of them fall in one group
    # (one method, one n), so concatenating restores draw's order.
    return [jnp.concatenate(parts) for parts in out]
