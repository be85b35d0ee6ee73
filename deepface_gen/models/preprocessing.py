"""How a network wants its pixels: channel order, mean and scale, per published model."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How a backbone wants its pixels: channel order, mean and scale.

    ``mean`` is per channel in the model's own channel order, in 0-255 units;
    the model sees ``(pixels[..., order] - mean) * scale``.
    """

    channel_order: str = "RGB"  # or "BGR"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0

    def apply(self, images: jax.Array) -> jax.Array:
        """uint8 or 0-255 float RGB (..., H, W, 3) to model input, float32."""
        x = jnp.asarray(images, jnp.float32)
        if self.channel_order == "BGR":
            x = x[..., ::-1]
        return (x - jnp.asarray(self.mean, jnp.float32)) * self.scale

    def invert(self, inputs: jax.Array) -> jax.Array:
        """Model input back to 0-255 float RGB (not clipped)."""
        x = inputs / self.scale + jnp.asarray(self.mean, jnp.float32)
        return x[..., ::-1] if self.channel_order == "BGR" else x

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Preprocessing:
        return cls(data["channel_order"], tuple(data["mean"]), float(data["scale"]))


CAFFE_VGG16 = Preprocessing("BGR", (103.939, 116.779, 123.68), 1.0)
CAFFE_VGGFACE = Preprocessing("BGR", (93.5940, 104.7624, 129.1863), 1.0)
STARTER = Preprocessing("RGB", (127.5, 127.5, 127.5), 1.0 / 127.5)
