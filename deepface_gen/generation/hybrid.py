"""The conditional VAE in generation: its faces as a backend, or as the start of
inversion (the hybrid), with the unnamed attributes drawn once per face so the VAE
image and the cGMM target describe the same person."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from deepface_gen.attributes import AttributeSpec
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.models.vae import VAE


def require_vae(vae: VAE | None, path: object) -> VAE:
    """The model's VAE, or a refusal that says how to train one for ``path``."""
    if vae is None:
        raise DeepFaceGenError(
            f"{path} has no conditional VAE; train one with deepface-gen "
            "train-vae --config configs/vae_starter.py --workdir DIR --attach BUNDLE"
        )
    return vae


def vae_faces(
    vae: VAE,
    size: int,
    conditions: np.ndarray,
    key: jax.Array,
    temperature: float,
    prior: str | None = None,
) -> jax.Array:
    """VAE samples for whole attribute vectors (N, 40): float 0..255 at ``size``;
    ``prior`` as for ``VAE.sample``."""
    faces = vae.sample(conditions, key, temperature, prior)
    if faces.shape[1] != size:
        faces = jax.image.resize(faces, (len(faces), size, size, 3), "linear")
    return faces


def vae_start(
    vae: VAE,
    size: int,
    specs: Sequence[AttributeSpec],
    n: int,
    key: jax.Array,
    temperature: float,
    prior: str | None = None,
) -> tuple[np.ndarray, jax.Array]:
    """(whole attribute vectors, VAE faces) for ``n`` faces per description. Unnamed
    attributes are drawn once per face (from the VAE's label statistics)."""
    k_complete, k_latent = jax.random.split(key)
    conditions = np.concatenate(
        [
            cgmm_lib.sample_completions(
                vae, s.vector(), s.mask(), jax.random.fold_in(k_complete, i), n
            )
            for i, s in enumerate(specs)
        ]
    )
    return conditions, vae_faces(vae, size, conditions, k_latent, temperature, prior)
