"""The conditional VAE backend: faces decoded from a latent code and an attribute vector.

A convolutional encoder q(z | x, y) and decoder p(x | z, y), both conditioned
on the (N, 40) attribute vector y in [-1, 1] (0 where a label is unknown).
Generation decodes z ~ N(0, T^2 I) with y completed from the description by
the label co-occurrence (as the cGMM does), so the same description with
different seeds gives different people. It is the fast backend (one decoder
pass per face) and the hybrid's starting image (``--init vae``).

Training lives in :mod:`deepface_gen.training.vae`; this module holds the model,
its loss and the loaded, ready-to-sample object.
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

from deepface_gen.attributes import NUM_ATTRIBUTES
from deepface_gen.errors import WeightsError
from deepface_gen.io import bundles

VAE_FILE = "vae.safetensors"
LATENT_PRIORS = ("gaussian", "fitted")


@dataclass(frozen=True)
class VAEConfig:
    """Architecture: ``widths`` are the encoder's stride-2 stages (mirrored by the decoder)."""

    size: int = 64
    widths: tuple[int, ...] = (32, 64, 128, 128)
    latent: int = 64
    num_attributes: int = NUM_ATTRIBUTES

    def __post_init__(self) -> None:
        if self.size % (2 ** len(self.widths)):
            raise ValueError(f"size {self.size} must divide by 2^{len(self.widths)}")

    @property
    def base(self) -> int:
        """Side of the smallest feature map."""
        return self.size // 2 ** len(self.widths)

    def to_json(self) -> dict:
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_json(cls, data: dict) -> VAEConfig:
        return cls(**{**data, "widths": tuple(data["widths"])})


class Encoder(nn.Module):
    """(x in [-1, 1], y) -> (mean, log-variance) of q(z | x, y)."""

    config: VAEConfig

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        for width in self.config.widths:
            x = nn.swish(nn.Conv(width, (4, 4), strides=2)(x))
        h = jnp.concatenate([x.reshape(x.shape[0], -1), y], -1)
        h = nn.swish(nn.Dense(256)(h))
        stats = nn.Dense(2 * self.config.latent)(h)
        mean, log_var = jnp.split(stats, 2, -1)
        return mean, jnp.clip(log_var, -10.0, 5.0)


class Decoder(nn.Module):
    """(z, y) -> image in [0, 1]: stride-2 transposed convolutions mirror the encoder
    (a 4x4 kernel divides by the stride, so no checkerboard), then a 3x3 to RGB."""

    config: VAEConfig

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array) -> jax.Array:
        c = self.config
        h = nn.swish(nn.Dense(256)(jnp.concatenate([z, y], -1)))
        h = nn.swish(nn.Dense(c.base * c.base * c.widths[-1])(h))
        x = h.reshape(-1, c.base, c.base, c.widths[-1])
        for width in (*reversed(c.widths[:-1]), max(c.widths[0] // 2, 8)):
            x = nn.swish(nn.ConvTranspose(width, (4, 4), strides=(2, 2))(x))
        return nn.sigmoid(nn.Conv(3, (3, 3))(x))


class ConditionalVAE(nn.Module):
    """Encoder and decoder; ``__call__`` is the training pass (reparameterized sample)."""

    config: VAEConfig

    def setup(self) -> None:
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    def __call__(
        self, x: jax.Array, y: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        mean, log_var = self.encoder(x, y)
        z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape)
        return self.decoder(z, y), mean, log_var

    def encode(self, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.encoder(x, y)

    def decode(self, z: jax.Array, y: jax.Array) -> jax.Array:
        return self.decoder(z, y)


def to_model_range(images: jax.Array) -> jax.Array:
    """uint8-valued pixels (0..255) to the encoder's [-1, 1]."""
    return images.astype(jnp.float32) / 127.5 - 1.0


def elbo_terms(
    module: ConditionalVAE,
    params: dict,
    images: jax.Array,
    conditions: jax.Array,
    key: jax.Array,
    pixel_sigma: float,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Per-example (reconstruction, KL) in nats, the reconstructions (0..1) and the
    posterior means: a Gaussian likelihood with a fixed ``pixel_sigma`` (in 0..1 units;
    smaller trusts pixels more, so sharper and less regular) and the KL of q(z | x, y)
    to N(0, I)."""
    target = images.astype(jnp.float32) / 255.0
    recon, mean, log_var = module.apply({"params": params}, to_model_range(images), conditions, key)
    squared = jnp.sum((recon - target) ** 2, axis=(1, 2, 3))
    reconstruction = squared / (2.0 * pixel_sigma**2)
    kl = 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0 - log_var, -1)
    return reconstruction, kl, recon, mean


def masked_conditions(attributes: jax.Array, label_mask: jax.Array) -> jax.Array:
    """The conditioning vector: ±1 where a label is known, 0 where it is not."""
    return jnp.where(label_mask, attributes, 0.0).astype(jnp.float32)


# ---------------------------------------------------------------------------
# A trained VAE, ready to sample


@functools.partial(jax.jit, static_argnames=("module",))
def encode_batch(module: ConditionalVAE, params, images: jax.Array, conditions: jax.Array):
    """The encoder's means, compiled once per architecture and batch shape."""
    return module.apply({"params": params}, images, conditions, method="encode")[0]


@functools.partial(jax.jit, static_argnames=("module",))
def decode_batch(module: ConditionalVAE, params, latents: jax.Array, conditions: jax.Array):
    """The decoder, compiled once per architecture and batch shape; weights are data."""
    return module.apply({"params": params}, latents, conditions, method="decode")


@dataclass(frozen=True)
class LatentDensity:
    """A Gaussian mixture fitted to the encoder's aggregate posterior (the means of
    q(z | x, y) over training faces): where the decoder has actually seen codes, which
    N(0, I) only approximates (Ghosh et al., "From variational to deterministic
    autoencoders", 2020)."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, latent)
    cholesky: np.ndarray  # (K, latent, latent) lower factors of the covariances

    def arrays(self) -> dict:
        return {f"latent_{k}": np.asarray(getattr(self, k), np.float32)
                for k in ("weights", "means", "cholesky")}  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays: dict, latent: int) -> LatentDensity | None:
        """The density stored beside a VAE's weights, or None where it has none."""
        if "latent_weights" not in arrays:
            return None
        values = [np.asarray(arrays[f"latent_{k}"]) for k in ("weights", "means", "cholesky")]
        k = len(values[0])
        if values[1].shape != (k, latent) or values[2].shape != (k, latent, latent):
            raise WeightsError(f"the VAE's latent density does not fit a {latent}-d latent")
        return cls(*values)


@functools.partial(jax.jit, static_argnames=("n",))
def _draw_latents(weights, means, cholesky, key, temperature, n: int):
    """``n`` latents from the mixture, their spread around each component's mean scaled
    by ``temperature`` (as N(0, T^2 I) scales the unit Gaussian)."""
    k_pick, k_noise = jax.random.split(key)
    pick = jax.random.categorical(k_pick, jnp.log(weights), shape=(n,))
    noise = jax.random.normal(k_noise, (n, means.shape[1]))
    return means[pick] + temperature * jnp.einsum("nij,nj->ni", cholesky[pick], noise)


@dataclass(frozen=True)
class VAE:
    """A trained conditional VAE with the label co-occurrence it was trained on."""

    config: VAEConfig
    params: dict
    attribute_mean: np.ndarray  # (40,) mean of the ±1 training labels
    attribute_cov: np.ndarray  # (40, 40) their covariance, to complete descriptions
    known_attributes: tuple[str, ...]
    manifest: dict
    density: LatentDensity | None = None  # the aggregate posterior, where fitted

    @property
    def module(self) -> ConditionalVAE:
        return ConditionalVAE(self.config)

    @property
    def default_prior(self) -> str:
        """Where latents come from when a caller does not say: the bundle's measured
        choice (``experiments/bench_vae_prior.py --write``), else N(0, T^2 I)."""
        chosen = (self.manifest.get("vae") or {}).get("default_prior", "gaussian")
        usable = chosen in LATENT_PRIORS and (chosen != "fitted" or self.density is not None)
        return chosen if usable else "gaussian"

    def arrays(self) -> dict:
        out = {
            "params": self.params,
            "attribute_mean": np.asarray(self.attribute_mean, np.float32),
            "attribute_cov": np.asarray(self.attribute_cov, np.float32),
        }
        return out if self.density is None else {**out, **self.density.arrays()}

    def encode(self, images: np.ndarray, conditions: np.ndarray) -> jax.Array:
        """Means of q(z | x, y) for uint8 / 0-255 images (N, S, S, 3) and conditions (N, 40)."""
        return encode_batch(
            self.module, self.params, to_model_range(jnp.asarray(images)), jnp.asarray(conditions)
        )

    def decode(self, latents: jax.Array, conditions: jax.Array) -> jax.Array:
        """Images as float 0..255, (N, S, S, 3), for latents (N, latent) and conditions (N, 40)."""
        images = decode_batch(
            self.module, self.params, jnp.asarray(latents), jnp.asarray(conditions)
        )
        return 255.0 * images

    def sample(
        self,
        conditions: np.ndarray,
        key: jax.Array,
        temperature: float = 1.0,
        prior: str | None = None,
    ) -> jax.Array:
        """One face per row of ``conditions`` (N, 40): float 0..255 (N, S, S, 3).

        ``prior`` is where latents come from: ``gaussian`` (N(0, T^2 I)) or ``fitted``
        (the aggregate posterior's mixture, where this VAE has one); None takes the
        bundle's measured choice (``default_prior``). The more a VAE spends on its latent,
        the further its aggregate posterior sits from N(0, I), and the fitted density
        draws where the decoder learned to draw (``experiments/bench_vae_prior.py``).
        """
        conditions = jnp.asarray(conditions, jnp.float32)
        prior = prior or self.default_prior
        if prior not in LATENT_PRIORS:
            raise WeightsError(f"unknown latent prior {prior!r}; use {' or '.join(LATENT_PRIORS)}")
        if prior == "fitted":
            if self.density is None:
                raise WeightsError("this VAE has no fitted latent density; use prior='gaussian'")
            d = self.density
            z = _draw_latents(
                jnp.asarray(d.weights), jnp.asarray(d.means), jnp.asarray(d.cholesky), key,
                jnp.float32(temperature), len(conditions),
            )  # fmt: skip
        else:
            z = temperature * jax.random.normal(key, (len(conditions), self.config.latent))
        return self.decode(z, conditions)


def vae_record(config: VAEConfig, filename: str, known: list[str], training: dict) -> dict:
    """The manifest entry that describes a VAE file inside a bundle."""
    return {
        "file": filename,
        "config": config.to_json(),
        "known_attributes": list(known),
        "training": training,
    }


def load_vae(folder: str | os.PathLike) -> VAE:
    """The VAE recorded in a bundle's manifest (its own bundle, or one attached to a
    classifier bundle); its array file is checked against the manifest's sha256 as it
    is read."""
    folder = Path(folder)
    manifest = bundles.read_manifest(folder)
    record = manifest.get("vae")
    if not record:
        raise WeightsError(
            f"{folder} has no conditional VAE; train one with "
            "deepface-gen train-vae --config configs/vae_starter.py --workdir DIR"
        )
    arrays = bundles.load_bundle_file(folder, record["file"])
    config = VAEConfig.from_json(record["config"])
    params = jax.tree_util.tree_map(jnp.asarray, arrays["params"])
    expected = jax.eval_shape(
        lambda: ConditionalVAE(config).init(
            jax.random.key(0),
            jnp.zeros((1, config.size, config.size, 3)),
            jnp.zeros((1, config.num_attributes)),
            jax.random.key(0),
        )["params"]
    )
    got = jax.tree_util.tree_map(lambda a: a.shape, params)
    want = jax.tree_util.tree_map(lambda a: a.shape, expected)
    if got != want:
        raise WeightsError(f"{folder / record['file']}: parameter shapes do not match its config")
    return VAE(
        config,
        params,
        np.asarray(arrays["attribute_mean"]),
        np.asarray(arrays["attribute_cov"]),
        tuple(record["known_attributes"]),
        manifest,
        LatentDensity.from_arrays(arrays, config.latent),
    )
