"""Inversion tools for any network (a trained classifier, or a bare backbone such as
VGG16): invert an image from one layer, caricature it, visualize a unit.

``network`` is anything with ``module``, ``params``, ``preprocessing``, ``input_size``
and ``apply`` (:class:`~deepface_gen.models.classifier.Classifier` or ``Backbone``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen import inversion
from deepface_gen.errors import DeepFaceGenError, ImageError
from deepface_gen.generation import defaults
from deepface_gen.generation.seeds import seed_key
from deepface_gen.io.images import MIN_SIDE, as_uint8, fit_to_model
from deepface_gen.models.classifier import Network
from deepface_gen.models.vgg import canonical_layer


def prepare(image: np.ndarray, size: int) -> jax.Array:
    """(1, size, size, 3) float pixels: centre-cropped and resized when needed.

    Refuses what no model can read (not (H, W, 3), smaller than ``MIN_SIDE``), as the
    command line's image reader does.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ImageError(f"an image must be (height, width, 3) RGB; got shape {image.shape}")
    if min(image.shape[:2]) < MIN_SIDE:
        raise ImageError(
            f"image is {image.shape[1]}x{image.shape[0]} pixels; need at least {MIN_SIDE} a side"
        )
    if not np.all(np.isfinite(image)):
        raise ImageError("image has NaN or infinite pixels")
    if image.shape[:2] != (size, size):
        image = fit_to_model(np.clip(image, 0, 255).astype(np.uint8), size)
    return jnp.asarray(image, jnp.float32)[None]


def colour_centre(network: Network, mean_image: np.ndarray | None) -> np.ndarray:
    """Where the alpha-norm measures colours from: the mean face where the model has one,
    else the mean colour the network was trained on (its preprocessing mean), never a
    fixed mid-gray that would forbid dark hair."""
    if mean_image is not None:
        return np.asarray(mean_image, np.float32)
    rgb_mean = network.preprocessing.invert(jnp.zeros((3,), jnp.float32))
    size = network.input_size
    return np.broadcast_to(np.asarray(rgb_mean, np.float32), (size, size, 3)).copy()


def _read_layer(
    network: Network, image: np.ndarray, layer: str
) -> tuple[str, jax.Array, jax.Array]:
    """(canonical layer, the image as model pixels (1, S, S, 3), its activations there)."""
    layer = canonical_layer(layer)
    pixels = prepare(image, network.input_size)
    return layer, pixels, network.apply(pixels, taps=(layer,))[layer]


def invert_image(
    network: Network,
    image: np.ndarray,
    layer: str,
    seed: int = 0,
    settings: inversion.RenderSettings = inversion.DEFAULT_SETTINGS,
    mean_image: np.ndarray | None = None,
    quiet: bool = True,
) -> np.ndarray:
    """Feature inversion: an image whose ``layer`` activations match the given image's,
    rendered from noise around the colour centre; uint8 (S, S, 3)."""
    layer, _, target = _read_layer(network, image, layer)
    centre = colour_centre(network, mean_image)
    k_start, k_render = jax.random.split(seed_key(seed))
    init = inversion.noisy_start(centre, 1, k_start)
    objective = inversion.feature_match(layer, target, defaults.INVERT_FEATURE_WEIGHT)
    images, _ = inversion.render(network, objective, init, k_render, settings, quiet, centre)
    return as_uint8(images[0])


def caricature_image(
    network: Network,
    image: np.ndarray,
    layer: str,
    seed: int = 0,
    settings: inversion.RenderSettings = inversion.DEFAULT_SETTINGS,
    mean_image: np.ndarray | None = None,
    quiet: bool = True,
    strength: float = defaults.CARICATURE_STRENGTH,
) -> np.ndarray:
    """Exaggerate what ``layer`` sees in an image, starting from the image itself;
    uint8 (S, S, 3)."""
    layer, pixels, reference = _read_layer(network, image, layer)
    objective = inversion.caricature(layer, reference, weight=strength)
    centre = colour_centre(network, mean_image)
    images, _ = inversion.render(
        network, objective, pixels, seed_key(seed), settings, quiet, centre
    )
    return as_uint8(images[0])


def parse_unit(unit: str) -> tuple[str, int]:
    """'LAYER:CHANNEL' as (canonical layer, channel index)."""
    layer, _, index = unit.partition(":")
    if not index.isdigit():
        raise DeepFaceGenError(f"unit {unit!r} must look like LAYER:CHANNEL, e.g. conv3_1:7")
    return canonical_layer(layer), int(index)


def visualize_unit(
    network: Network,
    unit: str,
    n: int = 1,
    seed: int = 0,
    settings: inversion.RenderSettings = inversion.DEFAULT_SETTINGS,
    mean_image: np.ndarray | None = None,
    quiet: bool = True,
) -> np.ndarray:
    """Activation maximization of one channel, ``unit`` = 'LAYER:CHANNEL'; uint8 (n, S, S, 3)."""
    layer, index = parse_unit(unit)
    centre = colour_centre(network, mean_image)
    channels = network.apply(centre[None], taps=(layer,))[layer].shape[-1]
    if index >= channels:
        raise DeepFaceGenError(f"{layer} has {channels} channels; {index} is out of range")
    k_start, k_render = jax.random.split(seed_key(seed))
    init = inversion.noisy_start(centre, n, k_start)
    objective = inversion.channel(layer, index, channels, weight=1.0)
    images, _ = inversion.render(network, objective, init, k_render, settings, quiet, centre)
    return as_uint8(images)


def visualize_attribute(
    network: Network,
    values: np.ndarray,
    seed: int = 0,
    settings: inversion.RenderSettings = inversion.DEFAULT_SETTINGS,
    mean_image: np.ndarray | None = None,
    quiet: bool = True,
) -> np.ndarray:
    """DeepFace's class visualization: ascend the attribute heads' logits toward
    ``values`` (n, 40), one face per row, from noise around the colour centre; uint8
    (n, S, S, 3)."""
    centre = colour_centre(network, mean_image)
    k_start, k_render = jax.random.split(seed_key(seed))
    objective = inversion.attribute_logits(values, weight=defaults.LOGIT_WEIGHT)
    start = inversion.noisy_start(centre, len(values), k_start)
    images, _ = inversion.render(network, objective, start, k_render, settings, quiet, centre)
    return as_uint8(images)
