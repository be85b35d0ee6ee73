"""Inversion tools for any network (a trained classifier, or a bare backbone such as
VGG16): invert an image from one layer, caricature it, visualize a unit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen import inversion
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io.images import fit_to_model
from deepface_gen.models.vgg import canonical_layer


def prepare(image: np.ndarray, size: int) -> jax.Array:
    """(1, size, size, 3) float pixels: centre-cropped and resized when needed."""
    image = np.asarray(image)
    if image.shape[:2] != (size, size):
        image = fit_to_model(image.astype(np.uint8), size)
    return jnp.asarray(image, jnp.float32)[None]


def _start(size: int, mean_image: np.ndarray | None) -> np.ndarray:
    return mean_image if mean_image is not None else np.full((size, size, 3), 127.5, np.float32)


def invert_image(
    network: inversion.Network,
    image: np.ndarray,
    layer: str,
    seed: int = 0,
    settings: inversion.RenderSettings = inversion.DEFAULT_SETTINGS,
    mean_image: np.ndarray | None = None,
    quiet: bool = True,
) -> np.ndarray:
    """Feature inversion: an image whose ``layer`` activations match the given image's."""
    layer = canonical_layer(layer)
    pixels = prepare(image, network.input_size)
    target = network.apply(pixels, taps=(layer,))[layer]
    key = jax.random.key(seed)
    init = inversion.noisy_start(_start(network.input_size, mean_image), 1, key)
    objective = inversion.feature_match(layer, target, weight=100.0)
    images, _ = inversion.render(network, objective, init, key, settings, quiet)
    return np.round(images[0]).astype(np.uint8)


def caricature_image(
    network: inversion.Network,
    image: np.ndarray,
    layer: str,
    seed: int = 0,
    settings: inversion.RenderSettings = inversion.DEFAULT_SETTINGS,
    strength: float = 30.0,
    quiet: bool = True,
) -> np.ndarray:
    """Exaggerate what ``layer`` sees in an image, starting from the image itself."""
    layer = canonical_layer(layer)
    pixels = prepare(image, network.input_size)
    reference = network.apply(pixels, taps=(layer,))[layer]
    objective = inversion.caricature(layer, reference, weight=strength)
    images, _ = inversion.render(network, objective, pixels, jax.random.key(seed), settings, quiet)
    return np.round(images[0]).astype(np.uint8)


def visualize_unit(
    network: inversion.Network,
    unit: str,
    n: int = 1,
    seed: int = 0,
    settings: inversion.RenderSettings = inversion.DEFAULT_SETTINGS,
    mean_image: np.ndarray | None = None,
    quiet: bool = True,
) -> np.ndarray:
    """Activation maximization of one channel, ``unit`` = 'LAYER:CHANNEL'; uint8 (n, S, S, 3)."""
    layer, _, index = unit.partition(":")
    if not index.isdigit():
        raise DeepFaceGenError(f"unit {unit!r} must look like LAYER:CHANNEL, e.g. conv3_1:7")
    layer = canonical_layer(layer)
    start = _start(network.input_size, mean_image)
    channels = network.apply(start[None], taps=(layer,))[layer].shape[-1]
    if int(index) >= channels:
        raise DeepFaceGenError(f"{layer} has {channels} channels; {index} is out of range")
    key = jax.random.key(seed)
    init = inversion.noisy_start(start, n, key)
    objective = inversion.channel(layer, int(index), weight=1.0)
    images, _ = inversion.render(network, objective, init, key, settings, quiet)
    return np.round(images).astype(np.uint8)
