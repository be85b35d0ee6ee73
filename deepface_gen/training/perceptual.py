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
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from deepface_gen.config import Config
from deepface_gen.models.classifier import Classifier
from deepface_gen.models.discriminator import Critic
from deepface_gen.models.vgg import canonical_layer
from deepface_gen.training.loop import TrainState
from deepface_gen.training.settings import setting


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


def log_power_spectrum(images: jax.Array) -> jax.Array:
    """(N, S, S // 2 + 1): the log power of each grey image's 2-D Fourier transform, its
    mean removed, pixels (N, S, S, 3) in 0..255 read as 0..1."""
    grey = jnp.mean(images.astype(jnp.float32), axis=-1) / 255.0
    grey = grey - jnp.mean(grey, axis=(1, 2), keepdims=True)
    return jnp.log(jnp.abs(jnp.fft.rfft2(grey)) ** 2 + 1e-4)


def spectral_loss(fake: jax.Array, real: jax.Array, rows: jax.Array) -> jax.Array:
    """How far the drawings' mean log power spectrum lies from the portraits', squared
    (a peak counts more than scattered noise) and averaged over frequencies, each mean
    taken over the chosen ``rows`` (N,) of the batch only. A mean over the batch, not a
    per-image match: one image's periodogram is too noisy to pair, while a batch's mean
    pins down where energy sits: blotches are extra power at a middle scale, soft edges
    missing power at the finest, and a grid a peak (Durall et al. 2020)."""
    weights = rows.astype(jnp.float32)[:, None, None]
    count = jnp.maximum(jnp.sum(weights), 1.0)
    drawn = jnp.sum(weights * log_power_spectrum(fake), axis=0) / count
    wanted = jnp.sum(weights * log_power_spectrum(real), axis=0) / count
    return jnp.mean((drawn - wanted) ** 2)


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


# ---------------------------------------------------------------------------
# The critic recipe G and the VAE share: its settings, the critic, its update.


@dataclass(frozen=True)
class CriticSettings:
    """The ``train`` settings of a renderer trained against a critic (a schema mixin,
    ``training/settings.py``): each is off by default, so it is measured against the
    plain recipe (docs/renderer.md)."""

    discriminator_learning_rate: float = setting(2e-4, 1e-12, 10.0, help="the critic's")
    gan_loss: str = setting("logistic", choices=GAN_LOSSES, help="the critic's loss")
    r1_weight: float = setting(0.0, 0.0, 1e4, help="R1 penalty on real images (0: off)")
    r1_every: int = setting(16, 1, 10**6, help="lazy R1: one step in this many")
    diffaugment: bool = setting(False, help="DiffAugment on the critic's inputs")
    critic_features: list[str] = setting([], help="classifier layers the critic also reads")
    ema_decay: float = setting(0.0, 0.0, 0.99999, help="the weights' average, shipped (0: off)")


@dataclass(frozen=True)
class CriticRecipe:
    """How a renderer's critic is built and trained, and whether the renderer's weights
    are averaged (``CriticSettings``, read from a config)."""

    widths: tuple[int, ...]
    loss: str  # one of GAN_LOSSES
    r1_weight: float  # 0: no R1 penalty
    r1_every: int  # lazy regularization (StyleGAN2): R1 on one step in this many
    diffaugment: bool
    feature_layers: tuple[str, ...]  # classifier layers the critic also reads
    ema_decay: float  # 0: no average; else what ships

    @classmethod
    def from_config(cls, config: Config) -> CriticRecipe:
        t = config.train
        return cls(
            tuple(config.model.discriminator),
            str(t.gan_loss),
            float(t.r1_weight),
            int(t.r1_every),
            bool(t.diffaugment),
            tuple(dict.fromkeys(canonical_layer(name) for name in t.critic_features)),
            float(t.ema_decay),
        )

    @property
    def critic(self) -> Critic:
        return Critic(self.widths, self.feature_layers)


def recipe_critic_state(
    recipe: CriticRecipe,
    classifier: Classifier | None,
    size: int,
    learning_rate: float,
    key: jax.Array,
) -> TrainState:
    """A fresh critic for ``size``-pixel images (and, where the recipe says, the frozen
    classifier's features of them) with its optimizer."""
    example = (jnp.zeros((1, size, size, 3)),)
    if recipe.feature_layers:
        features = feature_function(classifier, recipe.feature_layers)
        shapes = jax.eval_shape(features, classifier.params, example[0])
        example += (jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape), shapes),)
    return critic_state(recipe.critic, example, learning_rate, key)


def make_score(recipe: CriticRecipe, features: Callable | None) -> Callable:
    """``score(d_params, net_params, pixels, feats, key)``: the critic's logit maps.
    Through DiffAugment the features are recomputed on the augmented pixels; otherwise
    ``feats`` (already computed for the feature loss) are reused, or computed when None."""
    critic = recipe.critic

    def score(d_params, net_params, pixels, feats, key):
        if recipe.diffaugment:
            pixels, feats = diff_augment(key, pixels), None
        if recipe.feature_layers and feats is None:
            feats = features(net_params, pixels)
        return critic.apply({"params": d_params}, pixels, feats)

    return score


def critic_update(
    recipe: CriticRecipe,
    state: TrainState,
    score: Callable,
    real: tuple,
    fakes: tuple[tuple, ...],
    step: jax.Array,
) -> tuple[TrainState, jax.Array]:
    """One update of the critic: ``real`` and each of ``fakes`` are ``(pixels, feats,
    key)`` for ``score(d_params, pixels, feats, key)``; the recipe's loss, plus its lazy
    R1 penalty on the real pixels. Returns the critic and its loss."""

    def loss_fn(d_params):
        on_real = score(d_params, *real)
        loss = critic_loss(on_real, tuple(score(d_params, *fake) for fake in fakes), recipe.loss)
        if recipe.r1_weight:
            pixels, _, key = real
            r1 = jax.lax.cond(
                step % recipe.r1_every == 0,
                lambda: r1_penalty(lambda p, x: score(p, x, None, key), d_params, pixels),
                lambda: jnp.zeros(()),
            )
            loss = loss + 0.5 * recipe.r1_weight * recipe.r1_every * r1
        return loss

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


def shipped_params(state: GANState) -> Any:
    """The renderer's weights an export ships: the moving average when the recipe keeps one."""
    return state.ema if state.ema is not None else state.generator.params


def step_average(recipe: CriticRecipe, state: GANState, updated: TrainState) -> Any:
    """The moving average after ``updated``'s step (None when the recipe keeps none)."""
    if not recipe.ema_decay:
        return state.ema
    return update_ema(state.ema, updated.params, recipe.ema_decay, state.step)
