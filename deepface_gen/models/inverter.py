"""The learned inverter G: a network that maps one layer's activations to an image.

Amortized feature inversion (Dosovitskiy & Brox 2016): instead of optimizing pixels
until the classifier's activations match a target, a convolutional network trained
on real portraits renders activations in one pass. Trained with the DeePSiM losses
(``training/inverter.py``), it is the learned image prior of the generator: ``net``
renders a cGMM target with one pass of G, ``refine`` optimizes G's *input* (the
DGN-AM recipe), so every image is one G can draw.

Activations are divided by a per-channel scale (their standard deviation on real
portraits) before G sees them; ``code_high`` (a high percentile per channel) bounds
the codes ``refine`` may reach, as DGN-AM clips its code to the range real
activations take.
"""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from deepface_gen.batching import bucket
from deepface_gen.errors import WeightsError
from deepface_gen.io import bundles

INVERTER_FILE = "inverter.safetensors"


@dataclass(frozen=True)
class InverterConfig:
    """Architecture: ``widths[0]`` channels at the code's resolution, then one entry per
    2x upsampling until the image side ``size``."""

    layer: str
    code_shape: tuple[int, int, int]  # (h, w, channels) of the layer's activations
    size: int
    widths: tuple[int, ...] = (128, 64, 32)
    # Per-pixel noise added at each of G's scales (StyleGAN's noise inputs), so fine
    # texture can be sampled rather than averaged into blotches; its per-channel
    # strengths start at zero, so a G trained without noise continues unchanged.
    noise: bool = False
    # The most sensor noise (standard deviation, 0..1 pixel units) added after G draws:
    # each face's own level, uniform up to this, i.i.d. per pixel and channel. A G
    # trained on portraits without their noise (``train.clean_targets``) draws the
    # scene, and the camera's noise, which no activation pins down, is sampled.
    sensor_noise: float = 0.0

    def __post_init__(self) -> None:
        h = self.code_shape[0]
        ratio = self.size // h if h else 0
        if h <= 0 or ratio * h != self.size or ratio & (ratio - 1):
            raise ValueError(
                f"image side {self.size} must be a power-of-two multiple of the code's {h}"
            )
        if len(self.widths) != self.upsamplings + 1:
            raise ValueError(
                f"{self.size // h}x upsampling needs {self.upsamplings + 1} widths, "
                f"got {len(self.widths)}"
            )

    @property
    def upsamplings(self) -> int:
        return (self.size // self.code_shape[0]).bit_length() - 1

    def to_json(self) -> dict:
        data = {**asdict(self), "code_shape": list(self.code_shape), "widths": list(self.widths)}
        if not self.noise:  # bundles written before noise inputs read the same
            del data["noise"]
        if not self.sensor_noise:  # and before sensor noise
            del data["sensor_noise"]
        return data

    @classmethod
    def from_json(cls, data: dict) -> InverterConfig:
        return cls(
            data["layer"],
            tuple(int(v) for v in data["code_shape"]),
            int(data["size"]),
            tuple(int(v) for v in data["widths"]),
            bool(data.get("noise", False)),
            float(data.get("sensor_noise", 0.0)),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip: detail is added to what passes through."""

    width: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.Conv(self.width, (3, 3))(nn.swish(x))
        h = nn.Conv(self.width, (3, 3))(nn.swish(h))
        return x + h


class NoiseInput(nn.Module):
    """Adds one map of unit Gaussian noise per face, times a learned per-channel
    strength (zero at first): StyleGAN's noise input."""

    @nn.compact
    def __call__(self, x: jax.Array, keys: jax.Array) -> jax.Array:
        strength = self.param("strength", nn.initializers.zeros, (x.shape[-1],))
        noise = jax.vmap(lambda key: jax.random.normal(key, (*x.shape[1:3], 1)))(keys)
        return x + strength * noise.astype(x.dtype)


def noise_keys(n: int, key: jax.Array | None = None) -> jax.Array:
    """One noise key per face: ``key`` split ``n`` ways, or, without a key, the same
    fixed key for every face (so a face renders the same wherever it sits in a batch)."""
    if key is None:
        return jnp.broadcast_to(jax.random.key(0), (n,))
    return jax.random.split(key, n)


class Generator(nn.Module):
    """(N, h, w, c) scaled activations -> (N, S, S, 3) pixels in 0..255.

    Nearest-neighbour upsampling then convolution (no transposed convolutions, so no
    checkerboard), residual blocks at every scale, a sigmoid to the pixel range. With
    ``config.noise``, each scale adds noise from the faces' ``keys`` (N,) (fixed keys
    where none are given).
    """

    config: InverterConfig

    @nn.compact
    def __call__(self, code: jax.Array, keys: jax.Array | None = None) -> jax.Array:
        widths = self.config.widths
        if self.config.noise and keys is None:
            keys = noise_keys(len(code))

        def with_noise(x: jax.Array, scale: int) -> jax.Array:
            if not self.config.noise:
                return x
            scale_keys = jax.vmap(lambda key: jax.random.fold_in(key, scale))(keys)
            return NoiseInput(name=f"noise_{scale}")(x, scale_keys)

        x = with_noise(nn.Conv(widths[0], (3, 3))(code), 0)
        x = ResidualBlock(widths[0])(x)
        for scale, width in enumerate(widths[1:], 1):
            n, h, w, c = x.shape
            x = jax.image.resize(x, (n, 2 * h, 2 * w, c), "nearest")
            x = with_noise(nn.Conv(width, (3, 3))(nn.swish(x)), scale)
            x = ResidualBlock(width)(x)
        return 255.0 * nn.sigmoid(nn.Conv(3, (3, 3))(nn.swish(x)))


def add_sensor_noise(images: jax.Array, keys: jax.Array, most: float) -> jax.Array:
    """Pixels 0..255 (N, S, S, 3) with a camera's noise: each face's level uniform in
    [0, ``most``] (0..1 units) from its key (N,), Gaussian per pixel and channel, then
    clipped, as the synthetic portraits are recorded (``synth._sensor``)."""

    def one(key: jax.Array, image: jax.Array) -> jax.Array:
        k_level, k_noise = jax.random.split(jax.random.fold_in(key, 1_000))
        level = 255.0 * most * jax.random.uniform(k_level)
        return image + level * jax.random.normal(k_noise, image.shape, image.dtype)

    return jnp.clip(jax.vmap(one)(keys, images), 0.0, 255.0)


@functools.partial(jax.jit, static_argnames=("module",))
def render_codes(
    module: Generator,
    params,
    codes: jax.Array,
    code_scale: jax.Array,
    keys: jax.Array | None = None,
) -> jax.Array:
    """G on raw activations (N, h, w, c): pixels (N, S, S, 3) in 0..255, with the
    sensor noise its config adds. Compiled once per architecture and batch shape;
    weights, scale and noise keys (N,) are data."""
    images = module.apply({"params": params}, codes / code_scale, keys)
    if module.config.sensor_noise:
        keys = noise_keys(len(codes)) if keys is None else keys
        images = add_sensor_noise(images, keys, module.config.sensor_noise)
    return images


def init_generator(config: InverterConfig, key: jax.Array) -> dict:
    """Fresh generator parameters for ``config``."""
    code = jnp.zeros((1, *config.code_shape))
    return Generator(config).init(key, code)["params"]


def grows_into(start: InverterConfig, arch: InverterConfig) -> bool:
    """Whether a G of architecture ``start`` can continue as one of ``arch`` unchanged:
    the same layer, code and image side, each width the same or wider, and noise
    inputs the same or added (``widen_params`` makes the larger G draw what the
    smaller one did)."""
    same_frame = (start.layer, start.code_shape, start.size) == (
        arch.layer, arch.code_shape, arch.size,
    )  # fmt: skip
    return (
        same_frame
        and len(start.widths) == len(arch.widths)
        and all(s <= a for s, a in zip(start.widths, arch.widths, strict=True))
        and (arch.noise or not start.noise)
    )


def _embed(fresh: jax.Array, trained: jax.Array) -> jax.Array:
    """``trained`` in the leading corner of ``fresh``. For a convolution kernel
    (kh, kw, in, out), the new input channels' weights into the old outputs are zero,
    so the old channels compute what they did; the new ones start from ``fresh``."""
    corner = tuple(slice(0, n) for n in trained.shape)
    grown = fresh.at[corner].set(trained)
    if grown.ndim == 4:
        grown = grown.at[:, :, trained.shape[2] :, : trained.shape[3]].set(0.0)
    return grown


def widen_params(fresh: dict, trained: dict) -> dict:
    """A wider G's parameters ``fresh`` with a narrower trained G's embedded (Net2Net's
    function-preserving growth, by zeros rather than copies): the new channels are
    read by nothing at first, so the wider G draws exactly what the trained one drew
    and training then puts the new capacity to work. Parameters the trained G lacks
    (noise inputs, at zero strength) keep their fresh values."""

    known = traverse_util.flatten_dict(trained)

    def grow(path: tuple, leaf: jax.Array) -> jax.Array:
        old = known.get(tuple(key.key for key in path))
        return leaf if old is None else _embed(leaf, jnp.asarray(old))

    return jax.tree_util.tree_map_with_path(grow, fresh)


@dataclass(frozen=True)
class Inverter:
    """A trained inverter for one layer of one classifier."""

    config: InverterConfig
    params: dict
    code_scale: np.ndarray  # (c,) per-channel std of real activations: G's input scale
    code_high: np.ndarray  # (c,) per-channel high percentile: the range refine keeps to
    record: dict

    @property
    def module(self) -> Generator:
        return Generator(self.config)

    @property
    def layer(self) -> str:
        return self.config.layer

    def arrays(self) -> dict:
        return {
            "params": self.params,
            "code_scale": np.asarray(self.code_scale, np.float32),
            "code_high": np.asarray(self.code_high, np.float32),
        }

    def camera(self, images: jax.Array, keys: jax.Array) -> jax.Array:
        """What G drew (N, S, S, 3) as the camera records it: with the sensor noise its
        config adds (from each face's key), or unchanged. ``render`` adds it itself;
        this is for drawings G's input was optimized for (``refine``)."""
        if not self.config.sensor_noise:
            return images
        return add_sensor_noise(jnp.asarray(images), keys, self.config.sensor_noise)

    def render(
        self, codes: np.ndarray | jax.Array, batch_size: int = 64, keys: jax.Array | None = None
    ) -> jax.Array:
        """Pixels (N, S, S, 3), float 0..255, for activations (N, h, w, c), in batches
        of ``batch_size``; fewer are padded to a ``batching.bucket`` size, so a handful
        of compiled programs serve every N. A G with noise inputs or a camera draws each
        face's noise from its entry of ``keys`` (N,) (``noise_keys``). Without keys every
        face gets the same fixed noise, so two drawings of one face differ only where
        their codes do (what an edit's change needs); a set of different faces to show
        or measure needs a key each, or they share one pattern of grain."""
        codes = jnp.asarray(codes, jnp.float32)
        if codes.shape[1:] != self.config.code_shape:
            raise WeightsError(
                f"the inverter takes {self.layer} activations of shape "
                f"{self.config.code_shape}, got {tuple(codes.shape[1:])}"
            )
        n = len(codes)
        size = min(batch_size, bucket(n))
        padded = jnp.pad(codes, ((0, -n % size), (0, 0), (0, 0), (0, 0)))
        scale = jnp.asarray(self.code_scale)
        if keys is not None and len(keys) != n:
            raise ValueError(f"one noise key per face: {n} faces, {len(keys)} keys")
        if self.config.noise or self.config.sensor_noise:
            keys = noise_keys(n) if keys is None else keys
            keys = jnp.concatenate([keys, jnp.broadcast_to(keys[-1:], (len(padded) - n,))])
        else:
            keys = None
        parts = [
            render_codes(
                self.module, self.params, padded[i : i + size], scale,
                None if keys is None else keys[i : i + size],
            )
            for i in range(0, len(padded), size)
        ]  # fmt: skip
        return jnp.concatenate(parts)[:n]


def inverter_record(
    config: InverterConfig, filename: str, classifier_params: str, training: dict
) -> dict:
    """The manifest entry that describes an inverter file inside a bundle.
    ``classifier_params`` is the sha256 of the classifier weights it was trained on."""
    return {
        "file": filename,
        "config": config.to_json(),
        "classifier_params": classifier_params,
        "training": training,
    }


def save_inverter(folder: str | os.PathLike, inverter: Inverter) -> Path:
    """Write ``inverter`` as a bundle of its own (``load_inverter`` reads it back), its
    record pointing at the bundle's array file wherever it was read from."""
    entry = {**inverter.record, "file": bundles.PARAMS_FILE}
    return bundles.save_bundle(folder, inverter.arrays(), {"kind": "inverter", "inverter": entry})


def load_inverter(folder: str | os.PathLike) -> Inverter:
    """The inverter recorded in a bundle's manifest (its own bundle, or one attached to a
    classifier bundle); its array file is checked against the manifest's sha256 as it
    is read, and its parameter shapes against its config."""
    folder = Path(folder)
    manifest = bundles.read_manifest(folder)
    record = manifest.get("inverter")
    if not isinstance(record, dict) or not isinstance(record.get("file"), str):
        raise WeightsError(
            f"{folder} has no learned inverter; train one with deepface-gen train-inverter "
            "--config configs/inverter_starter.py --workdir DIR --attach BUNDLE"
        )
    try:
        config = InverterConfig.from_json(record["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise WeightsError(f"{folder}: malformed inverter config ({err!r})") from None
    arrays = bundles.load_bundle_file(folder, record["file"])
    params = jax.tree_util.tree_map(jnp.asarray, arrays.get("params", {}))
    want = jax.eval_shape(lambda: init_generator(config, jax.random.key(0)))
    shapes = jax.tree_util.tree_map(lambda a: tuple(a.shape), params)
    if shapes != jax.tree_util.tree_map(lambda a: tuple(a.shape), want):
        raise WeightsError(f"{folder / record['file']}: parameter shapes do not match its config")
    channels = config.code_shape[-1]
    scale, high = (np.asarray(arrays.get(k, ()), np.float32) for k in ("code_scale", "code_high"))
    if scale.shape != (channels,) or high.shape != (channels,):
        raise WeightsError(f"{folder / record['file']}: code scale/range must be ({channels},)")
    return Inverter(config, params, scale, high, record)


def attached_inverter(folder: str | os.PathLike, manifest: dict, layer: str) -> Inverter | None:
    """The learned inverter attached to the classifier bundle ``folder`` (its verified
    ``manifest``) when it renders ``layer`` of these very weights; None where none is
    attached. One trained on other weights or another layer is refused, not guessed at."""
    if "inverter" not in manifest:
        return None
    inverter = load_inverter(folder)
    own = bundles.params_digest(manifest)
    if inverter.record.get("classifier_params") != own or inverter.layer != layer:
        raise WeightsError(
            f"{folder}: its inverter was trained for other weights or another layer "
            f"(it renders {inverter.layer}; the cGMM is at {layer}); retrain it with "
            f"deepface-gen train-inverter --attach {folder}"
        )
    return inverter
