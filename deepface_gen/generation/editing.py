"""Editing portraits: read each one, move its activations (``edit.py``'s algebra), and
render the move (``renderers.py``), for ``FaceGenerator.edit``.

The default ``change`` render draws only the change through the learned inverter and
adds it to the portrait's pixels; ``polish`` then takes a few pixel steps from there
toward the edited activations; ``net``/``refine`` redraw the portrait through G;
``optimize`` descends on the portrait's own pixels with priors on the change alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen import checks, inversion
from deepface_gen.attributes import AttributeSpec
from deepface_gen.cgmm import domain
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation import defaults, renderers
from deepface_gen.generation import edit as edit_algebra
from deepface_gen.generation.requests import Description, EditOptions, parse_descriptions
from deepface_gen.generation.seeds import seed_key
from deepface_gen.generation.tools import prepare
from deepface_gen.models.vgg import canonical_layer

if TYPE_CHECKING:
    from deepface_gen.generation.generator import FaceGenerator


class EditedPortraits(NamedTuple):
    """An edit's images with how far each portrait lay from the model's training domain,
    as data: the library warns with it, the CLI prints it, the server returns it."""

    images: np.ndarray  # uint8 (N, K, S, S, 3): N portraits at K strengths
    distances: np.ndarray | None  # (N,) domain distances (None: no calibrated threshold)
    threshold: float | None

    def messages(self, names: Sequence[str]) -> list[str | None]:
        """Per portrait (called by its entry in ``names``), why its edit may be
        unreliable, or None where it lies inside the domain."""
        if self.distances is None or self.threshold is None:
            return [None] * len(self.images)
        return [
            domain.out_of_domain_message(name, float(d), self.threshold)
            if d > self.threshold else None
            for name, d in zip(names, self.distances, strict=True)
        ]  # fmt: skip


def check_edit(
    generator: FaceGenerator, description: Description, options: EditOptions
) -> tuple[AttributeSpec, EditOptions]:
    """``edit``'s options that do not need the portrait, checked: (the parsed
    description, the options checked with the render mode resolved), or the error
    ``edit`` would raise."""
    spec = parse_descriptions(description, generator.known_attributes)[0]
    checked = options.check()
    render = generator.resolve_render(
        checked.render, defaults.EDIT_RENDER, choices=defaults.EDIT_RENDERS
    )
    return spec, replace(checked, render=render)


def default_strength(generator: FaceGenerator) -> float:
    """The strength an edit gets when none is asked for: 1 where the model calibrates what
    strength means per attribute (``calibration.py``: 1 reaches the calibrated level),
    ``defaults.EDIT_STRENGTH`` of the raw change where it does not."""
    return 1.0 if generator.edit_gains is not None else defaults.EDIT_STRENGTH


def check_strengths(strengths: Sequence[float]) -> list[float]:
    """The strengths: at least one, each within the limit."""
    if not len(strengths):
        raise DeepFaceGenError("edit needs at least one strength")
    limit = checks.MAX_EDIT_STRENGTH
    return [checks.real("strength", v, -limit, limit) for v in strengths]


def edit_portraits(
    generator: FaceGenerator,
    images: np.ndarray,
    description: Description,
    strengths: Sequence[float] | None,
    options: EditOptions,
    quiet: bool = True,
) -> EditedPortraits:
    """``FaceGenerator.edit``'s work (its arguments; ``strengths`` None: the model's
    ``default_strength``), with each portrait's domain distance beside the images
    instead of a warning."""
    spec, o = check_edit(generator, description, options)
    if strengths is None:
        strengths = (default_strength(generator),)
    strengths, render = check_strengths(strengths), o.render
    if len(images) == 0:
        raise DeepFaceGenError("edit needs at least one portrait")
    cgmm = generator.cgmm
    layer = canonical_layer(o.layer or cgmm.layer)
    if layer != cgmm.layer:
        raise DeepFaceGenError(f"the cGMM is fitted at {cgmm.layer}, not {layer}")
    pixels = jnp.concatenate([prepare(image, generator.size) for image in images])
    count, k = len(pixels), len(strengths)
    seen = generator.classifier.outputs(pixels, taps=(layer,))  # one pass: attributes and layer
    threshold = generator.domain_threshold
    distances = None if threshold is None else domain.activation_distance(cgmm, seen[layer])
    scale = jnp.asarray(strengths, jnp.float32)
    # The gains were measured with the change render; every render follows them, so a
    # strength means one thing whichever draws it.
    target = moved_targets(generator, seen, layer, spec, scale, generator.edit_gains, o.focus)
    if render in ("change", "polish"):
        out = renderers.render_change(generator.inverter, pixels, seen[layer], target, k)
    if render != "change":  # polish starts from the drawn change, optimize from the portrait
        start = jnp.asarray(out, jnp.float32) if render == "polish" else None
        out = _render_edit(generator, pixels, target, spec, scale, o, quiet, start)
    return EditedPortraits(out.reshape(count, k, *out.shape[1:]), distances, threshold)


def moved_targets(
    generator: FaceGenerator,
    seen: dict,
    layer: str,
    spec: AttributeSpec,
    scale: jax.Array,
    gains: np.ndarray | None,
    focus: float = defaults.EDIT_FOCUS,
) -> jax.Array:
    """(N * K, *shape): each portrait's activations moved to carry ``spec`` at each
    strength (``edit.edit_targets``) through the cGMM's ridge confined by ``focus``
    (``edit.focused_ridge``), the attributes the classifier read as the start."""
    count = len(seen[layer])
    current = 2.0 * jnp.asarray(seen["probabilities"]) - 1.0
    ridge = generator.conditional_arrays[0]  # on the device already (focus 0: as it is)
    ridge = edit_algebra.focused_ridge(ridge, tuple(generator.cgmm.shape), float(focus))
    return edit_algebra.edit_targets(
        jnp.asarray(seen[layer]).reshape(count, -1),
        current,
        edit_algebra.wanted_attributes(current, spec),
        ridge,
        scale,
        None if gains is None else jnp.asarray(gains),
    ).reshape(count * len(scale), *generator.cgmm.shape)


def _render_edit(
    generator: FaceGenerator,
    pixels: jax.Array,
    target: jax.Array,
    spec: AttributeSpec,
    scale: jax.Array,
    options: EditOptions,
    quiet: bool,
    start: jax.Array | None = None,
) -> np.ndarray:
    """The moved targets through ``net``/``refine``, or by pixel optimization from each
    portrait (``optimize``) or from ``start`` (``polish``: the change render, for
    ``defaults.POLISH_STEPS`` steps unless ``options.steps``), with the classifier's
    guidance toward the named values."""
    layer, mean_image = generator.cgmm.layer, generator.cgmm.mean_image
    objective = inversion.feature_match(layer, target, defaults.FEATURE_WEIGHT)
    if options.guidance > 0:
        values = edit_algebra.guidance_values(spec, scale, len(pixels))
        objective = objective + inversion.attribute_likelihood(values, options.guidance)
    key = seed_key(options.seed)
    if options.render not in ("optimize", "polish"):
        return renderers.render_target(
            generator.classifier, generator.inverter, objective, options.render, key,
            options.steps, mean_image, quiet,
        )  # fmt: skip
    steps = options.steps
    if options.render == "polish" and steps is None:
        steps = defaults.POLISH_STEPS
    settings = renderers.edit_pixel_settings(generator.settings, steps, options.smoothness)
    if start is None:
        start = jnp.repeat(pixels, len(scale), axis=0)
    return renderers.render_pixels(
        generator.classifier, objective, start, key, settings, mean_image, quiet
    )


def edit_photo(
    generator, photo: np.ndarray, description, strength: float | None, face: int, align: str,
    quiet: bool, options: dict,
) -> np.ndarray:  # fmt: skip
    """``FaceGenerator.edit_photo``: the photo's face found and aligned
    (``faces.photos.prepare``; its note, such as no face found, is warned), edited at
    ``strength`` (None: the model's default), and the change put back into the photo at
    its resolution."""
    from deepface_gen.faces import photos

    portrait = photos.prepare(photo, generator.size, generator.classifier.face_layout, align, face)
    if portrait.note:
        warnings.warn(portrait.note, stacklevel=3)
    strengths = None if strength is None else (strength,)
    edited = generator.edit(portrait.crop[None], description, strengths, quiet=quiet, **options)
    return portrait.paste(photo, edited[0, 0])
