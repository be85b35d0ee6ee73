"""A patch discriminator: the adversarial critic both learned renderers train against.

The inverter G (``training/inverter.py``) and the VAE's decoder
(``training/vae.py``) are trained to fool it, as in DeePSiM (Dosovitskiy & Brox)
and VAE-GAN (Larsen et al.): it scores texture and local structure, which a
feature or pixel loss alone leaves blurred.
"""

from __future__ import annotations

import flax.linen as nn
import jax


class PatchDiscriminator(nn.Module):
    """Real-or-rendered logits per image patch (a PatchGAN) for 0..255 pixels."""

    widths: tuple[int, ...] = (32, 64, 128)

    @nn.compact
    def __call__(self, pixels: jax.Array) -> jax.Array:
        x = pixels / 127.5 - 1.0
        for width in self.widths:
            x = nn.leaky_relu(nn.Conv(width, (4, 4), strides=2)(x), 0.2)
        return nn.Conv(1, (3, 3))(x)[..., 0]
