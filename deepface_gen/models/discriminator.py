"""The adversarial critics the learned renderers train against.

The inverter G (``training/inverter.py``) and the VAE's decoder
(``training/vae.py``) are trained to fool a patch discriminator, as in DeePSiM
(Dosovitskiy & Brox) and VAE-GAN (Larsen et al.): it scores texture and local
structure, which a feature or pixel loss alone leaves blurred. G's critic can also
read the frozen classifier's feature maps (Projected GAN, Sauer et al. 2021): a
discriminator on pretrained features converges in far fewer steps than one that
must learn its own features from pixels.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class PatchDiscriminator(nn.Module):
    """Real-or-rendered logits per image patch (a PatchGAN) for 0..255 pixels."""

    widths: tuple[int, ...] = (32, 64, 128)

    @nn.compact
    def __call__(self, pixels: jax.Array) -> jax.Array:
        x = pixels / 127.5 - 1.0
        for width in self.widths:
            x = nn.leaky_relu(nn.Conv(width, (4, 4), strides=2)(x), 0.2)
        return nn.Conv(1, (3, 3))(x)[..., 0]


class FeatureHead(nn.Module):
    """Real-or-rendered logits per patch of one frozen feature map (N, h, w, c).

    Each image's map is divided by its RMS first, so the head judges the pattern of
    the features, not their overall strength (which the feature loss already ties)."""

    width: int = 64

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        rms = jnp.sqrt(jnp.mean(features**2, axis=(1, 2, 3), keepdims=True)) + 1e-6
        x = nn.leaky_relu(nn.Conv(self.width, (1, 1))(features / rms), 0.2)
        x = nn.leaky_relu(nn.Conv(self.width, (4, 4), strides=2)(x), 0.2)
        return nn.Conv(1, (3, 3))(x)[..., 0]


class Critic(nn.Module):
    """A patch discriminator on the pixels plus, for each of ``feature_layers``, a
    head on the frozen classifier's features there; one logit map per part."""

    widths: tuple[int, ...] = (32, 64, 128)
    feature_layers: tuple[str, ...] = ()
    feature_width: int = 64

    @nn.compact
    def __call__(self, pixels: jax.Array, features: dict | None = None) -> tuple[jax.Array, ...]:
        logits = [PatchDiscriminator(self.widths, name="pixels")(pixels)]
        for layer in self.feature_layers:
            head = FeatureHead(self.feature_width, name=f"features_{layer}")
            logits.append(head(features[layer]))
        return tuple(logits)
