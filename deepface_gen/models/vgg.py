"""The VGG family in Flax, with named layer taps.

One module serves VGG16 (ImageNet), VGG-Face (same layout, its own
preprocessing and fc layers) and the compact starter network. Layers carry
the names the literature uses (``conv3_1``, ``pool2``, ``fc7``); Keras names
(``block3_conv1``) are accepted as aliases. A forward pass computes only up
to the deepest tap asked for, so inverting conv3_1 never pays for conv5.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from deepface_gen.errors import DeepFaceGenError


@dataclasses.dataclass(frozen=True)
class VGGConfig:
    """Architecture of a VGG-style network.

    ``stages`` lists (number of 3x3 convolutions, channels) per block, each
    block ending in a 2x2 max-pool; ``dense`` lists fully connected widths
    after the last pool (fc6, fc7, ...), empty for convolution-only bases.
    """

    name: str
    stages: tuple[tuple[int, int], ...]
    dense: tuple[int, ...] = ()
    input_size: int = 224

    def layer_names(self) -> tuple[str, ...]:
        """Every tappable layer, input to output."""
        names: list[str] = []
        for block, (convs, _) in enumerate(self.stages, start=1):
            names += [f"conv{block}_{i}" for i in range(1, convs + 1)]
            names.append(f"pool{block}")
        names += [f"fc{i}" for i in range(6, 6 + len(self.dense))]
        return tuple(names)

    def weight_shapes(self) -> dict[str, dict[str, tuple[int, ...]]]:
        """Expected parameter shapes per layer, for validating loaded weights."""
        shapes: dict[str, dict[str, tuple[int, ...]]] = {}
        channels = 3
        for block, (convs, width) in enumerate(self.stages, start=1):
            for i in range(1, convs + 1):
                shapes[f"conv{block}_{i}"] = {"kernel": (3, 3, channels, width), "bias": (width,)}
                channels = width
        side = self.input_size // 2 ** len(self.stages)
        features = side * side * channels
        for i, width in enumerate(self.dense):
            shapes[f"fc{6 + i}"] = {"kernel": (features, width), "bias": (width,)}
            features = width
        return shapes

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "stages": [list(s) for s in self.stages],
            "dense": list(self.dense),
            "input_size": self.input_size,
        }

    @classmethod
    def from_json(cls, data: dict) -> VGGConfig:
        return cls(
            data["name"],
            tuple(tuple(s) for s in data["stages"]),
            tuple(data.get("dense", ())),
            int(data.get("input_size", 224)),
        )


VGG16 = VGGConfig("vgg16", ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)))
VGG_FACE = VGGConfig("vggface", VGG16.stages, dense=(4096, 4096))


def compact_config(width: int = 16, depth: int = 4, input_size: int = 64) -> VGGConfig:
    """A small VGG for the starter model: ``depth`` blocks, widths doubling from ``width``."""
    stages = tuple((1 if b < 2 else 2, width * 2 ** min(b, 3)) for b in range(depth))
    return VGGConfig(f"compact-w{width}-d{depth}", stages, input_size=input_size)


_KERAS_NAME = re.compile(r"block(\d+)_(conv|pool)(\d*)$")


def canonical_layer(name: str) -> str:
    """Map Keras-style names (``block3_conv1``, ``block2_pool``) to ``conv3_1``, ``pool2``."""
    match = _KERAS_NAME.match(name)
    if not match:
        return name
    block, kind, index = match.groups()
    return f"conv{block}_{index}" if kind == "conv" else f"pool{block}"


def resolve_taps(config: VGGConfig, taps: str | Sequence[str]) -> tuple[str, ...]:
    """Canonical, validated tap names; unknown names raise with the valid ones listed."""
    taps = (taps,) if isinstance(taps, str) else tuple(taps)
    names = config.layer_names()
    resolved = tuple(canonical_layer(t) for t in taps)
    for raw, tap in zip(taps, resolved, strict=True):
        if tap not in names:
            raise DeepFaceGenError(
                f"{config.name} has no layer {raw!r}; layers are: {', '.join(names)}"
            )
    return resolved


class VGG(nn.Module):
    """VGG backbone returning a dict of activations at the requested taps.

    Call as ``model.apply(params, x, taps=("conv3_1", "conv5_3"))`` with ``x``
    already preprocessed, shape (N, H, W, 3). Convolutions are 3x3 'same' with
    ReLU; each tap is the post-ReLU activation (pre-ReLU for the last fc).
    """

    config: VGGConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, taps: Sequence[str] | None = None) -> dict[str, jax.Array]:
        names = self.config.layer_names()
        wanted = resolve_taps(self.config, taps) if taps else names
        deepest = max(names.index(t) for t in wanted)
        outputs: dict[str, jax.Array] = {}
        x = x.astype(self.dtype)
        block_widths = {
            f"conv{b}_{i}": w
            for b, (c, w) in enumerate(self.config.stages, 1)
            for i in range(1, c + 1)
        }
        dense_widths = {f"fc{6 + i}": w for i, w in enumerate(self.config.dense)}
        for index, name in enumerate(names[: deepest + 1]):
            if name.startswith("conv"):
                conv = nn.Conv(
                    block_widths[name], (3, 3), padding="SAME", dtype=self.dtype, name=name
                )
                x = nn.relu(conv(x))
            elif name.startswith("pool"):
                x = max_pool_2x2(x)
            else:
                if x.ndim == 4:
                    x = x.reshape(x.shape[0], -1)
                x = nn.Dense(dense_widths[name], dtype=self.dtype, name=name)(x)
                if index < len(names) - 1:
                    x = nn.relu(x)
            if name in wanted:
                outputs[name] = x
        return outputs


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max-pooling with stride 2 (an odd last row or column is dropped, as VALID
    pooling does), as a reshape and a max: the same values as ``nn.max_pool``, but its
    gradient is an elementwise mask instead of XLA's select-and-scatter, which made a
    pixel-loop step on the CPU markedly slower (experiments/invert_vgg16.py times it)."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def init_params(config: VGGConfig, key: jax.Array, input_size: int | None = None) -> dict:
    """Randomly initialized parameters for every layer of ``config``."""
    size = input_size or config.input_size
    dummy = jnp.zeros((1, size, size, 3), jnp.float32)
    return VGG(config).init(key, dummy)["params"]


class FlatConfig:
    """JSON round trip for a frozen dataclass of plain fields (a head's settings)."""

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict):
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class HeadConfig(FlatConfig):
    """The attribute (and optional identity) head on top of a backbone layer.

    ``feature_layer`` is the backbone tap the head reads; ``pool`` is 'avg'
    (global average, any input size) or 'flatten' (keeps where things are);
    ``hidden`` adds one ReLU layer of that width (0 for none).
    """

    feature_layer: str = "pool5"
    pool: str = "avg"
    hidden: int = 0
    num_attributes: int = 40
    num_identities: int = 0
    dropout: float = 0.0


class AttributeClassifier(nn.Module):
    """A VGG backbone with multi-label attribute logits and an optional identity softmax.

    Returns a dict: ``attributes`` (N, 40) logits, ``identity`` (N, K) logits
    when the head has identities, ``features`` (the pooled head input) and any
    extra backbone ``taps`` asked for (for the cGMM and visualization).
    """

    backbone: VGGConfig
    head: HeadConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(
        self, x: jax.Array, train: bool = False, taps: Sequence[str] = ()
    ) -> dict[str, jax.Array]:
        layer = canonical_layer(self.head.feature_layer)
        wanted = tuple(dict.fromkeys((layer, *resolve_taps(self.backbone, taps))))
        acts = VGG(self.backbone, dtype=self.dtype, name="backbone")(x, taps=wanted)
        h = acts[layer]
        if h.ndim == 4:
            h = h.mean(axis=(1, 2)) if self.head.pool == "avg" else h.reshape(h.shape[0], -1)
        h = h.astype(jnp.float32)
        features = h
        if self.head.hidden:
            h = nn.relu(nn.Dense(self.head.hidden, name="head_hidden")(h))
        if self.head.dropout:
            h = nn.Dropout(self.head.dropout, deterministic=not train)(h)
        out = dict(acts)
        out["features"] = features
        out["attributes"] = nn.Dense(self.head.num_attributes, name="attribute_head")(h)
        if self.head.num_identities:
            out["identity"] = nn.Dense(self.head.num_identities, name="identity_head")(h)
        return out
