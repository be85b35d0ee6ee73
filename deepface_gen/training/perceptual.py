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
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from deepface_gen.models.classifier import Classifier
from deepface_gen.models.discriminator import PatchDiscriminator
from deepface_gen.training.loop import TrainState


@struct.dataclass
class GANState:
    """A renderer's and its discriminator's train states, stepped together, and (when
    the recipe keeps one) an exponential moving average of the renderer's weights:
    the weights that ship, since an average over the last steps of a GAN is smoother
    and more stable than any one of them (Karras et al., progressive GAN)."""

    generator: TrainState
    discriminator: TrainState
    ema: Any = None

    @property
    def step(self) -> jax.Array:
        return self.generator.step


def update_ema(ema: Any, params: Any, decay: float, step: jax.Array) -> Any:
    """The moving average after one more step. Early on the decay is capped at
    (1 + step) / (10 + step), so a fresh average is not dominated by the first weights."""
    rate = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
    return jax.tree_util.tree_map(lambda e, p: rate * e + (1.0 - rate) * p, ema, params)


def critic_state(
    module: nn.Module, example: tuple, learning_rate: float, key: jax.Array
) -> TrainState:
    """A fresh critic ``module`` (initialized on ``example`` inputs) with its optimizer
    (Adam with beta1 = 0.5, the DCGAN setting that keeps the critic from overshooting)."""
    params = module.init(key, *example)["params"]
    return TrainState.create(apply_fn=None, params=params, tx=optax.adam(learning_rate, b1=0.5))


def discriminator_state(
    widths: tuple[int, ...], size: int, learning_rate: float, key: jax.Array
) -> TrainState:
    """A fresh patch discriminator for ``size``-pixel images with its optimizer."""
    example = (jnp.zeros((1, size, size, 3)),)
    return critic_state(PatchDiscriminator(widths), example, learning_rate, key)


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


GAN_LOSSES = ("logistic", "hinge")


def fool_loss(logits: jax.Array, kind: str = "logistic") -> jax.Array:
    """Per image, the generator's adversarial loss averaged over patches: the
    non-saturating -log D(fake) (``logistic``) or -D(fake) (``hinge``)."""
    axes = tuple(range(1, logits.ndim))
    if kind == "hinge":
        return -jnp.mean(logits, axis=axes)
    return jnp.mean(jax.nn.softplus(-logits), axis=axes)


def _critic_term(logits: jax.Array, real: bool, kind: str) -> jax.Array:
    sign = -1.0 if real else 1.0  # real patches are pushed up, fakes down
    if kind == "hinge":
        return jnp.mean(jax.nn.relu(1.0 + sign * logits))
    return jnp.mean(jax.nn.softplus(sign * logits))


def critic_loss(
    on_real: tuple[jax.Array, ...], on_fakes: tuple[tuple[jax.Array, ...], ...], kind: str
) -> jax.Array:
    """The critic's loss (``kind`` in ``GAN_LOSSES``) from its logit maps: ``on_real``
    scored real, each of ``on_fakes`` scored fake (averaged), summed over the maps."""
    loss = sum(_critic_term(logits, True, kind) for logits in on_real)
    for on_fake in on_fakes:
        loss = loss + sum(_critic_term(logits, False, kind) for logits in on_fake) / len(on_fakes)
    return loss


def r1_penalty(score: Callable, d_params, real: jax.Array) -> jax.Array:
    """R1 (Mescheder et al. 2018): the mean squared norm of the gradient of the critic's
    mean logits on real images, in [-1, 1] pixel units, which keeps the critic from
    sharpening without bound around the data."""

    def summed(unit: jax.Array) -> jax.Array:
        maps = score(d_params, (unit + 1.0) * 127.5)
        return sum(jnp.sum(jnp.mean(m, axis=tuple(range(1, m.ndim)))) for m in maps)

    grads = jax.grad(summed)(real / 127.5 - 1.0)
    return jnp.mean(jnp.sum(grads**2, axis=tuple(range(1, grads.ndim))))


def discriminator_loss(
    widths: tuple[int, ...], d_params, real: jax.Array, fakes: tuple[jax.Array, ...]
) -> jax.Array:
    """The patch critic's logistic loss: ``real`` pixels scored real, each of ``fakes`` fake."""
    critic = PatchDiscriminator(widths)
    score = lambda x: (critic.apply({"params": d_params}, jax.lax.stop_gradient(x)),)
    return critic_loss(score(real), tuple(score(fake) for fake in fakes), "logistic")


def step_discriminator(
    state: TrainState, widths: tuple[int, ...], real: jax.Array, fakes: tuple[jax.Array, ...]
) -> tuple[TrainState, jax.Array]:
    """One update of the patch critic on ``real`` against ``fakes``; returns it and its loss."""
    loss, grads = jax.value_and_grad(discriminator_loss, argnums=1)(
        widths, state.params, real, fakes
    )
    return state.apply_gradients(grads=grads), loss


def diff_augment(key: jax.Array, images: jax.Array) -> jax.Array:
    """DiffAugment (Zhao et al. 2020) for 0..255 images (N, S, S, 3): random brightness,
    saturation and contrast, a shift of up to 1/8 of the side (zero-filled) and a
    cutout of half the side, all differentiable, so the critic sees real and rendered
    images through the same random lens and cannot memorize a small data set."""
    n, size = images.shape[0], images.shape[1]
    k = jax.random.split(key, 6)
    x = images / 255.0
    x = x + jax.random.uniform(k[0], (n, 1, 1, 1), minval=-0.5, maxval=0.5)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    x = (x - mean) * jax.random.uniform(k[1], (n, 1, 1, 1), maxval=2.0) + mean
    mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    x = (x - mean) * jax.random.uniform(k[2], (n, 1, 1, 1), minval=0.5, maxval=1.5) + mean
    rows = jnp.arange(size)[None, :, None]
    cols = jnp.arange(size)[None, None, :]
    reach = size // 8
    shift = jax.random.randint(k[3], (n, 2, 1, 1), -reach, reach + 1)
    src_r, src_c = rows - shift[:, 0], cols - shift[:, 1]
    inside = (src_r >= 0) & (src_r < size) & (src_c >= 0) & (src_c < size)
    batch = jnp.arange(n)[:, None, None]
    x = x[batch, jnp.clip(src_r, 0, size - 1), jnp.clip(src_c, 0, size - 1)]
    x = x * inside[..., None]
    half = size // 2
    corner = jax.random.randint(k[4], (n, 2, 1, 1), -(half // 2), size - half // 2)
    cut = ((rows >= corner[:, 0]) & (rows < corner[:, 0] + half)
           & (cols >= corner[:, 1]) & (cols < corner[:, 1] + half))  # fmt: skip
    return 255.0 * x * (~cut)[..., None]


def masked_attribute_loss(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
    """Per image, the binary cross-entropy of attribute ``logits`` against ±1 ``labels``
    over the known (``mask``) attributes: how far a drawn face is from what it was asked."""
    targets = (labels > 0).astype(jnp.float32)
    per_attribute = optax.sigmoid_binary_cross_entropy(logits, targets) * mask
    return jnp.sum(per_attribute, -1) / jnp.maximum(jnp.sum(mask, -1), 1.0)
