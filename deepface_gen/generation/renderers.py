"""How target activations become pixels: the render modes, one function each.

* ``net``: one pass of the learned inverter G (batched; what serving batches);
* ``refine``: Adam on G's input from the target, G as the image prior;
* ``optimize``: gradient descent on pixels with hand-made priors (M&V), from a start;
* ``change`` (edits only): G's drawing of the change alone, added to the portrait's
  own pixels (``edit.paste_change``);
* ``polish`` (edits only): ``change``, then ``optimize``'s edit steps from it.

``resolve_render`` chooses the mode once per request; the functions below take what
they need (networks, objective, key, settings) as arguments and return uint8 images.
Adding a mode is adding a function here and its name to ``defaults.RENDERS``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen import checks, inversion
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation import defaults, methods
from deepface_gen.generation import edit as edit_algebra
from deepface_gen.io.images import as_uint8
from deepface_gen.models.classifier import Classifier
from deepface_gen.models.inverter import Inverter, noise_keys


def resolve_render(
    inverter: Inverter | None,
    path: object,
    render: str | None,
    default: str,
    init: str = "mean",
    method: str | None = None,
    choices: Sequence[str] = defaults.RENDERS,
) -> str:
    """The rendering mode to use: the one asked for (checked against ``choices``), or
    ``default`` where the model at ``path`` can (it has an ``inverter``; the start is not
    a VAE sample; the method makes target activations, see ``methods.NO_TARGET``)."""
    drawable = method not in methods.NO_TARGET
    if render is None:
        usable = inverter is not None and init == "mean" and drawable
        return default if usable or default == "optimize" else "optimize"
    checks.choice("render", render, choices)
    if render != "optimize":
        require_inverter(inverter, path)
        if init != "mean":
            raise DeepFaceGenError(
                f"init={init!r} starts pixel optimization; use render='optimize' with it"
            )
        if not drawable:
            raise DeepFaceGenError(
                f"method {method!r} has no target activations to render; use render='optimize'"
            )
    return render


def require_inverter(inverter: Inverter | None, path: object) -> Inverter:
    """The learned inverter, or a refusal that says how to train one for ``path``."""
    if inverter is None:
        raise DeepFaceGenError(
            f"{path} has no learned inverter, so render 'net' and 'refine' are not "
            "available; use 'optimize', or train one: deepface-gen train-inverter --config "
            f"configs/inverter_starter.py --workdir DIR --attach {path}"
        )
    return inverter


def pixel_settings(
    settings: inversion.RenderSettings, steps: int | None
) -> inversion.RenderSettings:
    """Pixel optimization's settings with ``steps`` (checked) where given."""
    if steps is None:
        return settings
    return replace(settings, steps=checks.whole("steps", steps, 1, checks.MAX_STEPS))


def refine_settings(steps: int | None) -> inversion.RenderSettings:
    """Adam on G's input from the target: G is the image prior, so no hand-made
    priors, jitter or pyramid."""
    steps = defaults.REFINE_STEPS if steps is None else steps
    return replace(
        inversion.DEFAULT_SETTINGS,
        steps=checks.whole("steps", steps, 1, checks.MAX_STEPS),
        learning_rate=defaults.REFINE_RATE,
        jitter=0,
        polish_steps=0,
        alpha_weight=0.0,
        tv_weight=0.0,
        pyramid_levels=1,
    )


def edit_pixel_settings(
    settings: inversion.RenderSettings, steps: int | None, smoothness: float
) -> inversion.RenderSettings:
    """Pixel optimization from the portrait itself (an edit's ``optimize``). The start
    is already a natural image, so no image priors or jitter, only priors on the
    change: Adam rescales any gradient to full steps, and with the target at the
    portrait's own activations every gradient is zero, so strength 0 returns the
    portrait itself."""
    return replace(
        pixel_settings(settings, steps),
        jitter=0,
        tv_weight=0.0,
        alpha_weight=0.0,
        anchor_weight=defaults.EDIT_ANCHOR,
        change_tv_weight=smoothness,
    )


def mean_start(
    mean_image: np.ndarray, count: int, key: jax.Array, settings: inversion.RenderSettings
) -> jax.Array:
    """``count`` copies of the mean face with a little noise (calmer for a pyramid)."""
    plain = settings.pyramid_levels <= 1
    sigma = defaults.START_NOISE if plain else defaults.PYRAMID_START_NOISE
    return inversion.noisy_start(mean_image, count, key, sigma)


def render_pixels(
    classifier: Classifier,
    objective: inversion.Objective,
    start: jax.Array,
    key: jax.Array,
    settings: inversion.RenderSettings,
    mean_image: np.ndarray,
    quiet: bool = True,
) -> np.ndarray:
    """``optimize``: gradient descent on pixels from ``start``, with the priors of
    ``settings``."""
    images, _ = inversion.render(classifier, objective, start, key, settings, quiet, mean_image)
    return as_uint8(images)


def render_target(
    classifier: Classifier,
    inverter: Inverter,
    objective: inversion.Objective,
    render: str,
    key: jax.Array,
    steps: int | None,
    mean_image: np.ndarray,
    quiet: bool = True,
) -> np.ndarray:
    """``net`` (one pass of G on the objective's target) or ``refine`` (optimize G's
    input from there, against the whole objective: target and guidance)."""
    target = objective.target(inverter.layer)
    if target is None:  # resolve_render refuses this first; kept for direct callers
        raise DeepFaceGenError("this objective has no target activations to render")
    if render == "net":  # a G with noise inputs draws each face's noise from the key
        return as_uint8(inverter.render(target, keys=noise_keys(len(target), key)))
    images, _ = inversion.render(
        classifier, objective, target, key, refine_settings(steps), quiet, mean_image,
        generator=inverter,
    )  # fmt: skip
    return as_uint8(inverter.camera(images, noise_keys(len(images), key)))


def render_change(
    inverter: Inverter, pixels: jax.Array, own: jax.Array, target: jax.Array, k: int
) -> np.ndarray:
    """Each portrait with only its change drawn (``change``): two passes of G, on the
    portrait's own activations (N, ...) and on the edited ones (N * K, ...), and the
    difference added to the portrait's pixels where it lies (``paste_drawn_change``)."""
    before = jnp.repeat(inverter.render(own), k, axis=0)
    after = inverter.render(target)
    return as_uint8(paste_drawn_change(jnp.repeat(pixels, k, axis=0), before, after))


class ChangeStyle(NamedTuple):
    """How the ``change`` render draws a change (``edit.paste_change``): the calming blur
    (a fraction of the image side; 0: the change as drawn), the share of detail kept,
    the mask's thresholds (fractions of the change's peak) and where it turns opaque
    (blurred magnitude in pixel units, from and fully at; None: never)."""

    smooth: float = defaults.CHANGE_SMOOTH
    detail: float = defaults.CHANGE_DETAIL
    mask: tuple[float, float] = defaults.CHANGE_MASK
    opaque: tuple[float, float] | None = defaults.CHANGE_OPAQUE


@functools.lru_cache(maxsize=16)
def _change_blurs(size: int, smooth: float) -> tuple[jax.Array, jax.Array]:
    """The mask's blur and the calming blur at ``size`` (the identity where ``smooth``
    is 0), built once per size rather than on every edit (concrete even when first
    asked for inside a trace, so the cache never holds a tracer)."""
    with jax.ensure_compile_time_eval():
        calm = edit_algebra.blur_matrix(size, smooth * size) if smooth else jnp.eye(size)
        return edit_algebra.blur_matrix(size, defaults.CHANGE_BLUR * size), calm


SHIPPED_CHANGE = ChangeStyle()


def paste_drawn_change(
    pixels: jax.Array, before: jax.Array, after: jax.Array, style: ChangeStyle = SHIPPED_CHANGE
) -> jax.Array:
    """``edit.paste_change`` drawn in ``style`` (by default the measured settings,
    ``defaults.CHANGE_*``) at the portraits' size: float pixels (M, S, S, 3)."""
    blur, calm = _change_blurs(pixels.shape[1], style.smooth)
    opaque = () if style.opaque is None else style.opaque  # paste_change's default: never
    return edit_algebra.paste_change(
        pixels, before, after, blur, calm, style.detail, *style.mask, *opaque
    )
