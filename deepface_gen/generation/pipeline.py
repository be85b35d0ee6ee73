"""One request's path: a checked plan -> target activations -> pixels.

``draw`` is what ``FaceGenerator.generate`` runs once ``plan`` has checked a request:
keys from the seed; VAE faces where the plan uses the VAE (as the result, or as the
start of inversion); the method's objective (``methods.py``); then the plan's render
(``renderers.py``). ``draw_many`` draws many plans, batching those one pass of the
learned inverter renders (``batched.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np

from deepface_gen.generation import hybrid, methods, renderers
from deepface_gen.generation.batched import batched_targets
from deepface_gen.generation.requests import GenerationPlan
from deepface_gen.generation.seeds import plan_keys
from deepface_gen.io.images import as_uint8
from deepface_gen.models.inverter import noise_keys

if TYPE_CHECKING:
    from deepface_gen.generation.generator import FaceGenerator


def draw(generator: FaceGenerator, plan: GenerationPlan, quiet: bool = True) -> np.ndarray:
    """The faces of a checked plan: uint8 (len(specs) * n, S, S, 3)."""
    k_target, k_init, k_render = plan_keys(plan.seed)
    cgmm = generator.cgmm
    conditions, start = None, None
    if plan.uses_vae:
        vae = hybrid.require_vae(generator.vae, generator.classifier.path)
        conditions, start = hybrid.vae_start(
            vae, generator.size, plan.specs, plan.n, k_init, plan.temperature, plan.vae_prior
        )
        if plan.backend == "vae":
            return as_uint8(start)
    # The hybrid's targets describe the very attribute vectors its VAE faces were drawn for.
    drawn_for = conditions if plan.method in methods.DRAWN_FOR_ATTRIBUTES else None
    request = methods.Request(
        plan.specs, plan.n, k_target, plan.temperature, plan.guidance, drawn_for
    )
    objective = methods.METHODS[plan.method](cgmm, request)
    if plan.render != "optimize":
        return renderers.render_target(
            generator.classifier, generator.inverter, objective, plan.render, k_render,
            plan.steps, cgmm.mean_image, quiet,
        )  # fmt: skip
    settings = renderers.pixel_settings(generator.settings, plan.steps)
    if start is None:  # only pixel optimization starts from the mean face
        start = renderers.mean_start(cgmm.mean_image, plan.faces, k_init, settings)
    return renderers.render_pixels(
        generator.classifier, objective, start, k_render, settings, cgmm.mean_image, quiet
    )


def draw_many(generator: FaceGenerator, plans: Sequence[GenerationPlan]) -> list[np.ndarray]:
    """Draw many checked plans, each as ``draw`` would alone (to within a grey level:
    batched arithmetic rounds differently). Plans the learned inverter renders in one
    pass share batched target sampling and one G call (how a service serves concurrent
    requests); the rest are drawn in turn."""
    faces = [None if plan.one_pass else draw(generator, plan) for plan in plans]
    batched = [i for i, plan in enumerate(plans) if plan.one_pass]
    if batched:
        chosen = [plans[i] for i in batched]
        targets = batched_targets(generator.cgmm, chosen, generator.conditional_arrays)
        inverter = renderers.require_inverter(generator.inverter, generator.classifier.path)
        keys = [noise_keys(len(t), plan_keys(plan.seed)[2])
                for t, plan in zip(targets, chosen, strict=True)]  # fmt: skip
        pixels = as_uint8(inverter.render(jnp.concatenate(targets), keys=jnp.concatenate(keys)))
        ends = np.cumsum([len(t) for t in targets])
        for i, part in zip(batched, np.split(pixels, ends[:-1]), strict=True):
            faces[i] = part
    return faces  # type: ignore[return-value]
