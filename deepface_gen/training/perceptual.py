"""The losses the learned renderers share: feature, adversarial and attribute terms.

Both G (``training/inverter.py``) and the VAE's decoder (``training/vae.py``) are
trained to draw images that (1) look the same *to the frozen classifier* at several
layers (a feature loss: Dosovitskiy & Brox's DeePSiM, Hou et al.'s DFC-VAE) and
(2) fool a patch discriminator trained alongside (DeePSiM, VAE-GAN); the VAE's faces
drawn from its prior must also (3) carry their requested attributes to the classifier.
This module holds those pieces as pure functions plus the paired train state, so each
trainer only says what it renders and from what.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

from deepface_gen.models.classifier import Classifier
from deepface_gen.models.discriminator import PatchDiscriminator
from deepface_gen.training.classifier import TrainState


@struct.dataclass
class GANState:
    """A renderer's and its discriminator's train states, stepped together."""

    generator: TrainState
    discriminator: TrainState

    @property
    def step(self) -> jax.Array:
        return self.generator.step


def discriminator_state(
    widths: tuple[int, ...], size: int, learning_rate: float, key: jax.Array
) -> TrainState:
    """A fresh patch discriminator for ``size``-pixel images with its optimizer (Adam with
    beta1 = 0.5, the DCGAN setting that keeps the critic from overshooting)."""
    params = PatchDiscriminator(widths).init(key, jnp.zeros((1, size, size, 3)))["params"]
    return TrainState.create(apply_fn=None, params=params, tx=optax.adam(learning_rate, b1=0.5))


def feature_function(classifier: Classifier, taps: tuple[str, ...]) -> Callable:
    """``(net_params, pixels 0..255) -> outputs``: the frozen classifier's activations at
    ``taps`` and its ``attributes`` logits, with the weights as an argument (data, not a
    constant baked into the compiled step). Images of another side are resized
    (bilinear) to the classifier's input first, so a 64 px VAE can learn from a 224 px
    VGG16."""
    module, preprocessing, side = classifier.module, classifier.preprocessing, classifier.input_size

    def features(net_params, pixels: jax.Array) -> dict:
        if pixels.shape[1:3] != (side, side):
            n, c = pixels.shape[0], pixels.shape[-1]
            pixels = jax.image.resize(pixels, (n, side, side, c), "bilinear")
        return module.apply({"params": net_params}, preprocessing.apply(pixels), taps=taps)

    return features


def normalized_feature_loss(fake: dict, real: dict, layers: tuple[str, ...]) -> jax.Array:
    """Per image, the sum over ``layers`` of ||f(fake) - f(real)||^2 / ||f(real)||^2:
    a relative error, so a deep layer with large activations does not drown the rest."""
    total = 0.0
    for layer in layers:
        a, b = fake[layer], real[layer]
        axes = tuple(range(1, a.ndim))
        energy = jnp.mean(b**2, axis=axes) + 1e-6
        total = total + jnp.mean((a - b) ** 2, axis=axes) / energy
    return total


def fool_loss(logits: jax.Array) -> jax.Array:
    """Per image, the non-saturating generator loss: -log D(fake), averaged over patches."""
    return jnp.mean(jax.nn.softplus(-logits), axis=tuple(range(1, logits.ndim)))


def discriminator_loss(
    widths: tuple[int, ...], d_params, real: jax.Array, fakes: tuple[jax.Array, ...]
) -> jax.Array:
    """The critic's logistic loss: ``real`` pixels scored real, each of ``fakes`` fake."""
    discriminator = PatchDiscriminator(widths)
    on_real = discriminator.apply({"params": d_params}, real)
    loss = jnp.mean(jax.nn.softplus(-on_real))
    for fake in fakes:
        on_fake = discriminator.apply({"params": d_params}, jax.lax.stop_gradient(fake))
        loss = loss + jnp.mean(jax.nn.softplus(on_fake)) / len(fakes)
    return loss


def step_discriminator(
    state: TrainState, widths: tuple[int, ...], real: jax.Array, fakes: tuple[jax.Array, ...]
) -> tuple[TrainState, jax.Array]:
    """One update of the critic on ``real`` against ``fakes``; returns it and its loss."""
    loss, grads = jax.value_and_grad(discriminator_loss, argnums=1)(
        widths, state.params, real, fakes
    )
    return state.apply_gradients(grads=grads), loss


def masked_attribute_loss(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
    """Per image, the binary cross-entropy of attribute ``logits`` against ±1 ``labels``
    over the known (``mask``) attributes: how far a drawn face is from what it was asked."""
    targets = (labels > 0).astype(jnp.float32)
    per_attribute = optax.sigmoid_binary_cross_entropy(logits, targets) * mask
    return jnp.sum(per_attribute, -1) / jnp.maximum(jnp.sum(mask, -1), 1.0)
