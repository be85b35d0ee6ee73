"""Generation methods: each turns a batch of descriptions into an inversion objective.

A method is a pure function ``(cgmm, request) -> Objective`` registered by name;
``FaceGenerator.generate(method=NAME)`` looks it up here. Adding a method is adding a
function, not editing the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen import inversion
from deepface_gen.attributes import AttributeSpec
from deepface_gen.cgmm import mixture as mixture_lib
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.generation import defaults


@dataclass(frozen=True)
class Request:
    """What a method is asked for: ``n`` faces for each description, drawn with ``key``.

    ``conditions`` (len(specs) * n, 40), when given, are whole attribute vectors already
    drawn for each face (the hybrid's VAE faces), so targets must describe the same people.
    """

    specs: tuple[AttributeSpec, ...]
    n: int
    key: jax.Array
    temperature: float = defaults.TEMPERATURE
    guidance: float = defaults.GUIDANCE
    conditions: np.ndarray | None = None

    def requested(self) -> np.ndarray:
        """(len(specs) * n, 40): each face's named attribute values, 0 where unnamed."""
        return np.repeat(np.stack([s.vector() for s in self.specs]), self.n, axis=0)


Method = Callable[[cgmm_lib.CGMM, Request], inversion.Objective]
METHODS: dict[str, Method] = {}
# Methods that can draw one target per face for whole attribute vectors already drawn
# (``Request.conditions``: the hybrid's VAE faces).
DRAWN_FOR_ATTRIBUTES = frozenset({"conditional", "mixture"})
# Methods whose objective has no target activations, so only pixel optimization can
# render them (the learned inverter has nothing to draw).
NO_TARGET = frozenset({"baseline"})


def register(name: str) -> Callable[[Method], Method]:
    """Register a generation method under ``name`` (a name already taken is refused:
    a second registration would silently replace the first)."""

    def add(fn: Method) -> Method:
        if name in METHODS:
            raise ValueError(f"generation method {name!r} is already registered")
        METHODS[name] = fn
        return fn

    return add


def _guided(objective: inversion.Objective, request: Request) -> inversion.Objective:
    """The target term plus the classifier agreeing with the named attributes (a
    saturating nudge; guidance 0 leaves the term out)."""
    if request.guidance > 0:
        objective = objective + inversion.attribute_likelihood(
            request.requested(), request.guidance
        )
    return objective


def _per_description_targets(cgmm, request: Request, method: str) -> jax.Array:
    keys = [jax.random.fold_in(request.key, i) for i in range(len(request.specs))]
    return jnp.concatenate(
        [
            cgmm_lib.targets(cgmm, s.vector(), s.mask(), k, request.n, method, request.temperature)
            for s, k in zip(request.specs, keys, strict=True)
        ]
    )


@register("conditional")
def conditional(cgmm: cgmm_lib.CGMM, request: Request) -> inversion.Objective:
    """The cGMM's conditional Gaussian: ridge prediction plus residual PCA noise."""
    if request.conditions is not None:
        # One target per face, for the very attribute vector it was drawn with.
        target = cgmm_lib.targets_for_attributes(
            cgmm, request.conditions, request.key, request.temperature
        )
    else:
        target = _per_description_targets(cgmm, request, "conditional")
    objective = inversion.feature_match(cgmm.layer, target, defaults.FEATURE_WEIGHT)
    return _guided(objective, request)


@register("mixture")
def mixture(cgmm: cgmm_lib.CGMM, request: Request) -> inversion.Objective:
    """K Gaussians over [attributes, residual coordinates], conditioned on each face's
    whole attribute vector (the unnamed attributes borrowed from a training portrait,
    with its broadest residual coordinates, or the hybrid's VAE faces' own), else on the
    named ones: a component (a mode: a hair style, glasses) and the residual drawn given
    it."""
    if request.conditions is not None:
        mixture_lib.require(cgmm)
        target = mixture_lib.sample_given(
            cgmm.mixture, cgmm, request.conditions, request.key, request.temperature
        )
    else:
        target = _per_description_targets(cgmm, request, "mixture")
    return _guided(inversion.feature_match(cgmm.layer, target, defaults.FEATURE_WEIGHT), request)


@register("exemplar")
def exemplar(cgmm: cgmm_lib.CGMM, request: Request) -> inversion.Objective:
    """A kernel density over training portraits' residual coordinates, drawn among the
    portraits that carry the named attributes: a real arrangement, moved a little."""
    target = _per_description_targets(cgmm, request, "exemplar")
    return _guided(inversion.feature_match(cgmm.layer, target, defaults.FEATURE_WEIGHT), request)


@register("paper")
def paper(cgmm: cgmm_lib.CGMM, request: Request) -> inversion.Objective:
    """The DeepFace paper's cGMM: a weighted mix of per-attribute Gaussians."""
    target = _per_description_targets(cgmm, request, "paper")
    return _guided(inversion.feature_match(cgmm.layer, target, defaults.FEATURE_WEIGHT), request)


@register("baseline")
def baseline(cgmm: cgmm_lib.CGMM, request: Request) -> inversion.Objective:
    """DeepFace's class visualization: ascend the named attributes' logits."""
    return inversion.attribute_logits(request.requested(), weight=defaults.LOGIT_WEIGHT)
