"""Realism measures: how far generated faces lie from real ones, in a feature space.

* ``frechet_distance`` (FID's formula) between Gaussians fitted to two feature sets;
* ``kernel_distance`` (KID: Binkowski et al. 2018), the unbiased squared MMD with
  the cubic polynomial kernel, which has no bias at small sample sizes and so
  compares fairly across sets of a few hundred faces;
* ``FeatureNet``: pooled deep-layer activations of a network that never saw the
  data (VGG16 trained on ImageNet), so the generator cannot have learned to please
  it, unlike the attribute judge.

Distances are only read against *floors* at the same sample size: real faces
against real faces (random portraits, and portraits that carry the same
descriptions), since both measures depend on how many samples they see.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen.models.classifier import Backbone, forward
from deepface_gen.models.pretrained import KNOWN_WEIGHTS, load_keras_h5, load_pretrained
from deepface_gen.models.vgg import VGGConfig

FEATURE_LAYER = "conv5_3"  # VGG16's deepest convolution, averaged over space: 512 numbers
FEATURE_INPUT = 128  # faces are resized to this side before VGG16 sees them
# VGG16's pooled conv5_3 features of faces have norms near 50; divided by this they are
# on the scale of Inception's pool features (norms near 5 for 512 numbers), where KID's
# kernel (x.y / d + 1)^3 is close to linear and its estimate does not swing with a few
# large products (unscaled, two sets of real faces scored -1.0; scaled, -0.0004).
FEATURE_SCALE = 10.0


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D), as in FID:
    |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)). Zero for identical statistics."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu = a.mean(0) - b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # tr((C_a C_b)^(1/2)) from the eigenvalues of the symmetric S C_b S, S = C_a^(1/2):
    # stable where C_a C_b itself is not symmetric.
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    cross = np.sum(np.sqrt(np.clip(middle, 0, None)))
    return float(mu @ mu + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)


def kernel_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """KID: the unbiased estimate of MMD^2 with k(x, y) = (x.y / d + 1)^3 (Binkowski et
    al.): the mean kernel within each set (diagonals left out) minus twice the mean
    across. Its expectation is 0 for two samples of one distribution; it can dip below."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the kernel distance needs at least two samples in each set")
    d = a.shape[1]

    def kernel(x, y):
        return (x @ y.T / d + 1.0) ** 3

    k_aa, k_bb, k_ab = kernel(a, a), kernel(b, b), kernel(a, b)
    m, n = len(a), len(b)
    within_a = (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1))
    within_b = (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
    return float(within_a + within_b - 2.0 * k_ab.mean())


@dataclass(frozen=True)
class FeatureNet:
    """A convolutional network read as a feature extractor: images are resized to its
    input side, and one layer's activations are averaged over space."""

    backbone: Backbone
    layer: str = FEATURE_LAYER
    scale: float = FEATURE_SCALE

    def features(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """(N, C) pooled features of uint8 / 0-255 images (N, H, W, 3), in batches."""
        images = np.asarray(images)
        size = self.backbone.input_size
        parts = []
        for i in range(0, len(images), batch_size):
            part = _pooled(
                self.backbone.module,
                self.backbone.preprocessing,
                self.backbone.params,
                jnp.asarray(images[i : i + batch_size], jnp.float32),
                size,
                self.layer,
            )
            parts.append(np.asarray(part) / self.scale)
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


@functools.partial(jax.jit, static_argnames=("module", "preprocessing", "size", "layer"))
def _pooled(module, preprocessing, params, images, size: int, layer: str) -> jax.Array:
    if images.shape[1:3] != (size, size):
        images = jax.image.resize(images, (len(images), size, size, 3), "linear")
    acts = forward(module, preprocessing, params, images, (layer,))[layer]
    return jnp.mean(acts.astype(jnp.float32), axis=(1, 2))


def vgg16_features(
    weights: str | os.PathLike | None = None, size: int = FEATURE_INPUT
) -> FeatureNet:
    """VGG16 (ImageNet) as the realism feature net: from a Keras weight file, or from
    the weights imported with ``deepface-gen weights import`` when ``weights`` is None."""
    known = KNOWN_WEIGHTS["vgg16"]
    if weights is None:
        config, params, preprocessing = load_pretrained("vgg16")
    else:
        config, params = known.config, load_keras_h5(weights, known.config)
        preprocessing = known.preprocessing
    conv_only = VGGConfig(config.name, config.stages, (), size)
    params = {k: v for k, v in params.items() if k.startswith("conv")}
    params = jax.tree_util.tree_map(jnp.asarray, params)
    return FeatureNet(Backbone(conv_only, params, preprocessing, "vgg16"))
