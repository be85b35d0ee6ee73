"""An identity embedding: a VGG backbone whose head maps a face to a unit vector that
stays put across photos of one person and moves between people.

Trained as classification over the training identities with an additive cosine
margin (CosFace, Wang et al. 2018): the logit of identity ``k`` is
``scale * cos(embedding, centre_k)``, and the true identity's cosine is lowered by
the margin during training, so a face must sit well inside its person's cone.
Verification compares embeddings by cosine; FaceVis pushes one identity's logit
up; inversion matches an embedding. Shipped as its own bundle
(``deepface_gen/assets/identity``, kind ``identity_embedding``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen.errors import WeightsError
from deepface_gen.faces import layout as layouts
from deepface_gen.faces.layout import FaceLayout
from deepface_gen.io.images import fit_to_model
from deepface_gen.models.classifier import forward, open_bundle
from deepface_gen.models.preprocessing import Preprocessing
from deepface_gen.models.vgg import VGG, FlatConfig, VGGConfig, canonical_layer, resolve_taps

IDENTITY = "identity"  # the shipped identity bundle's name
KIND = "identity_embedding"
EMBEDDING = "embedding"  # output names, also the objectives' pseudo-layers
IDENTITY_LOGITS = "identity"


@dataclasses.dataclass(frozen=True)
class EmbeddingConfig(FlatConfig):
    """The head: backbone tap, pooling, a hidden ReLU layer, the embedding's width, the
    number of training identities and the cosine logits' scale."""

    feature_layer: str = "pool4"
    pool: str = "flatten"
    hidden: int = 256
    dim: int = 128
    num_identities: int = 2000
    scale: float = 30.0


def l2_normalize(x: jax.Array, axis: int = -1) -> jax.Array:
    """``x`` scaled to unit length along ``axis`` (safe at zero)."""
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=axis, keepdims=True), 1e-12))


class IdentityNet(nn.Module):
    """Backbone + embedding head + cosine identity logits.

    Returns a dict: ``embedding`` (N, dim) unit vectors, ``identity`` (N, K) the
    scaled cosines to each training identity's centre, ``features`` (the pooled
    head input) and any backbone ``taps`` asked for.
    """

    backbone: VGGConfig
    head: EmbeddingConfig

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, taps: Sequence[str] = ()):
        layer = canonical_layer(self.head.feature_layer)
        wanted = tuple(dict.fromkeys((layer, *resolve_taps(self.backbone, taps))))
        acts = VGG(self.backbone, name="backbone")(x, taps=wanted)
        h = acts[layer]
        if h.ndim == 4:
            h = h.mean(axis=(1, 2)) if self.head.pool == "avg" else h.reshape(h.shape[0], -1)
        features = h.astype(jnp.float32)
        h = features
        if self.head.hidden:
            h = nn.relu(nn.Dense(self.head.hidden, name="embedding_hidden")(h))
        embedding = l2_normalize(nn.Dense(self.head.dim, name="embedding_head")(h))
        centres = self.param(
            "identity_centres",
            nn.initializers.normal(1.0),
            (self.head.dim, self.head.num_identities),
        )
        cosines = embedding @ l2_normalize(centres, axis=0)
        out = dict(acts)
        out.update(features=features, embedding=embedding, identity=self.head.scale * cosines)
        return out


@dataclass(frozen=True)
class IdentityModel:
    """A trained identity embedding: architecture, weights, preprocessing, the mean
    training face (where FaceVis and inversion start) and where its people came from."""

    backbone: VGGConfig
    head: EmbeddingConfig
    preprocessing: Preprocessing
    params: dict
    mean_image: np.ndarray  # (S, S, 3) float 0-255
    manifest: dict
    path: Path

    @property
    def input_size(self) -> int:
        return self.backbone.input_size

    @property
    def face_layout(self) -> FaceLayout:
        """Where this model's training portraits have their eyes (photos are aligned to it)."""
        return layouts.of_manifest(self.manifest)

    @property
    def num_identities(self) -> int:
        return self.head.num_identities

    @functools.cached_property
    def module(self) -> IdentityNet:
        return IdentityNet(self.backbone, self.head)

    def apply(self, images: np.ndarray | jax.Array, taps: tuple[str, ...] = ()) -> dict:
        """Forward 0-255 RGB images (N, S, S, 3) at the model's input size."""
        images = jnp.asarray(images, jnp.float32)
        return forward(self.module, self.preprocessing, self.params, images, tuple(taps))

    def embed(self, images: np.ndarray | jax.Array, batch_size: int = 128) -> np.ndarray:
        """Unit embeddings (N, dim) of 0-255 images at the input size, in batches."""
        images = np.asarray(images)
        parts = [
            np.asarray(self.apply(images[i : i + batch_size])[EMBEDDING])
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.head.dim), np.float32)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """An (H, W, 3) uint8 image centre-cropped and resized to the model's input."""
        return fit_to_model(image, self.input_size)

    @property
    def people(self) -> dict:
        """Where the training identities come from: ``{"source", "seed", "size"}``."""
        return dict(self.manifest.get("people", {}))


def load_identity_model(name_or_path: str | os.PathLike = IDENTITY) -> IdentityModel:
    """Load and verify (sha256) an identity bundle; the shipped one by default."""
    path, arrays, manifest = open_bundle(
        name_or_path,
        KIND,
        "an identity embedding (train one with deepface-gen train-identity)",
        {"backbone": dict, "head": dict, "preprocessing": dict},
    )
    if "params" not in arrays or "mean_image" not in arrays:
        raise WeightsError(f"{path}: the weights file needs 'params' and 'mean_image'")
    try:
        backbone = VGGConfig.from_json(manifest["backbone"])
        head = EmbeddingConfig.from_json(manifest["head"])
        prep = Preprocessing.from_json(manifest["preprocessing"])
    except (KeyError, TypeError, ValueError) as err:
        raise WeightsError(f"{path}: malformed architecture in the manifest ({err!r})") from None
    mean_image = np.asarray(arrays["mean_image"], np.float32)
    size = backbone.input_size
    if mean_image.shape != (size, size, 3):
        raise WeightsError(
            f"{path}: mean_image has shape {mean_image.shape}, expected {(size, size, 3)}"
        )
    params = jax.tree_util.tree_map(jnp.asarray, arrays["params"])
    return IdentityModel(backbone, head, prep, params, mean_image, manifest, path)
