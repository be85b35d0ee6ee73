"""Seeing identity through an identity embedding: FaceVis and embedding inversion.

* :func:`face_vis` (identity visualization): start from the mean training face
  and push one training person's logit up and the others down (softmax), with
  momentum 0.8 for about 200 steps: what the network thinks that person looks like.
  On plain pixels that finds blobs the network reads as the person; through a
  learned inverter (:class:`ImagePrior`, DGN-AM's recipe) it finds faces.
* :func:`invert_embeddings` ("Inverting face embeddings with convolutional neural
  networks", Zhmoginov & Sandler 2016): from the mean face, find an image whose
  embedding matches a photo's; pose, light and expression, which the embedding was
  trained to ignore, fall away and the person remains.

Both are one batched render through the shared loop (``inversion.render``): the
person or the target embedding is data, so every person and every photo runs the
same compiled program.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen import inversion
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation.seeds import seed_key
from deepface_gen.generation.tools import prepare
from deepface_gen.models.classifier import load_classifier
from deepface_gen.models.identity import EMBEDDING, IdentityModel
from deepface_gen.models.inverter import Inverter, load_inverter

# FaceVis: momentum 0.8, about 200 steps, from the mean face. Through a learned
# inverter (the default where one is at hand) the optimized variable is G's input and
# the rate is in G's units per step of a unit-RMS gradient: 0.003 keeps the code among
# faces (0.05 and up left the manifold for colour noise, as DGN-AM warns); on plain
# pixels the rate is in grey levels and the pyramid and priors keep changes smooth.
FACEVIS_CODE_SETTINGS = inversion.RenderSettings(
    steps=200, learning_rate=0.003, optimizer="momentum", polish_steps=0, jitter=2,
    alpha_weight=0.0, tv_weight=0.0,
)  # fmt: skip
FACEVIS_PIXEL_SETTINGS = inversion.RenderSettings(
    steps=200, learning_rate=0.6, optimizer="momentum", polish_steps=25, jitter=2
)
FACEVIS_WEIGHT = 1.0
# Embedding inversion uses the same settings. The momentum step is blind to the loss's
# scale, so a weight only sets the balance with the pixel priors: 1 - cos is at most
# 2, and 10 puts it on the scale of the softmax FaceVis pushes.
EMBEDDING_WEIGHT = 10.0


@dataclass(frozen=True)
class ImagePrior:
    """A learned generator to optimize through (DGN-AM): every image is one it can draw.
    ``start_code`` (1, h, w, c) is the mean face's code, where renders begin."""

    generator: Inverter
    start_code: jax.Array


def image_prior(model: IdentityModel, bundle: str = "starter") -> ImagePrior:
    """The learned inverter of a classifier bundle (the starter's by default) as the image
    prior for ``model``, starting from the code of ``model``'s mean face; refused where
    the bundle has none or draws another size."""
    classifier = load_classifier(bundle)
    generator = load_inverter(classifier.path)
    if generator.config.size != model.input_size:
        raise DeepFaceGenError(
            f"{classifier.path}'s inverter draws {generator.config.size} px faces; the identity "
            f"model reads {model.input_size} px; draw on plain pixels instead (--prior pixels, "
            "or prior=None)"
        )
    mean = jnp.asarray(model.mean_image, jnp.float32)[None]
    code = classifier.apply(mean, taps=(generator.layer,))[generator.layer]
    return ImagePrior(generator, code)


def _render(model, objective, n, seed, settings, quiet, prior: ImagePrior | None):
    if prior is None:
        start = jnp.broadcast_to(jnp.asarray(model.mean_image, jnp.float32),
                                 (n, *model.mean_image.shape))  # fmt: skip
        generator = None
    else:
        start, generator = jnp.repeat(prior.start_code, n, axis=0), prior.generator
    images, _ = inversion.render(
        model, objective, start, seed_key(seed), settings, quiet, model.mean_image, generator
    )
    return np.round(images).astype(np.uint8)


def default_settings(prior: ImagePrior | None) -> inversion.RenderSettings:
    """FaceVis's settings for a render through ``prior`` or on plain pixels."""
    return FACEVIS_PIXEL_SETTINGS if prior is None else FACEVIS_CODE_SETTINGS


def check_people(model: IdentityModel, people: Sequence[int]) -> np.ndarray:
    """The people as an int array, refused (with the valid range) where one is unknown."""
    people = np.asarray(list(people), np.int64).reshape(-1)
    if people.size == 0:
        raise DeepFaceGenError("name at least one person")
    bad = people[(people < 0) | (people >= model.num_identities)]
    if bad.size:
        raise DeepFaceGenError(
            f"person {int(bad[0])} is not one of this model's training identities "
            f"(0 to {model.num_identities - 1})"
        )
    return people


def face_vis(
    model: IdentityModel,
    people: Sequence[int],
    seed: int = 0,
    settings: inversion.RenderSettings | None = None,
    quiet: bool = True,
    prior: ImagePrior | None = None,
) -> np.ndarray:
    """FaceVis images of training identities ``people``: uint8 (len(people), S, S, 3), one
    batched render from the mean face (through ``prior`` where given)."""
    people = check_people(model, people)
    objective = inversion.identity_softmax(people, model.num_identities, FACEVIS_WEIGHT)
    settings = settings or default_settings(prior)
    return _render(model, objective, len(people), seed, settings, quiet, prior)


def render_embeddings(
    model: IdentityModel,
    targets: np.ndarray | jax.Array,
    seed: int = 0,
    settings: inversion.RenderSettings | None = None,
    quiet: bool = True,
    prior: ImagePrior | None = None,
) -> np.ndarray:
    """Faces whose embeddings match ``targets`` (N, dim): uint8 (N, S, S, 3), one batched
    render from the mean face (through ``prior`` where given)."""
    objective = inversion.embedding_match(targets, EMBEDDING_WEIGHT)
    settings = settings or default_settings(prior)
    return _render(model, objective, len(targets), seed, settings, quiet, prior)


def invert_embeddings(
    model: IdentityModel,
    images: Sequence[np.ndarray],
    seed: int = 0,
    settings: inversion.RenderSettings | None = None,
    quiet: bool = True,
    prior: ImagePrior | None = None,
) -> np.ndarray:
    """What the embedding keeps of each photo: uint8 (N, S, S, 3) rendered from the mean
    face (through ``prior`` where given) to match its embedding. Photos of any size are
    centre-cropped and resized."""
    pixels = jnp.concatenate([prepare(image, model.input_size) for image in images])
    return render_embeddings(model, model.apply(pixels)[EMBEDDING], seed, settings, quiet, prior)
