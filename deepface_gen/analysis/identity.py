"""Identity, looked at: FaceVis beside real portraits, what an embedding keeps of a
photo, and verification on people the embedding never saw.

Each function returns numbers and the pictures that show them; the command line
(``deepface-gen identity``) and ``experiments/bench_identity.py`` write them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import numpy as np

from deepface_gen import inversion
from deepface_gen.analysis.verification import closest_person, verification
from deepface_gen.data.input_pipeline import SyntheticSource
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation.identity import ImagePrior, face_vis, render_embeddings
from deepface_gen.generation.tools import prepare
from deepface_gen.io.images import make_grid
from deepface_gen.models.identity import IDENTITY_LOGITS, IdentityModel

HELD_OUT_SPLIT = "test"  # the split whose pool of people no identity model trains on


def people_source(model: IdentityModel, split: str = "train", people: int | None = None):
    """The synthetic pool of people a model trained on (``split='train'``), or a pool it
    never saw (another split, ``people`` of them); refused for non-synthetic training."""
    record = model.people
    source = str(record.get("source", ""))
    if not source.startswith("synthetic:"):
        raise DeepFaceGenError(
            f"{model.path}: trained on {source or 'an unrecorded source'}; portraits of its "
            "people can only be drawn for synthetic:PEOPLE training"
        )
    count = people or int(source.partition(":")[2])
    return SyntheticSource(int(record["size"]), 64, int(record["seed"]), split, count)


def person_probabilities(model: IdentityModel, images: np.ndarray) -> np.ndarray:
    """Softmax over the training identities (N, K) for 0-255 images at the input size,
    in batches."""
    images = np.asarray(images, np.float32)
    parts = [
        jax.nn.softmax(model.apply(images[i : i + 128])[IDENTITY_LOGITS], axis=-1)
        for i in range(0, len(images), 128)
    ]
    return np.concatenate([np.asarray(p) for p in parts])


@dataclass(frozen=True)
class PersonView:
    """FaceVis's picture of one training person, real portraits of them, and how the
    network classifies each (the person's softmax probability and rank)."""

    person: int
    face_vis: np.ndarray  # (S, S, 3) uint8
    portraits: np.ndarray  # (k, S, S, 3) uint8
    probability: float  # of ``person``, on the FaceVis image
    rank: int  # 1 = FaceVis's image is classified as the person
    mean_face_probability: float  # of ``person``, on the mean face it started from
    portrait_probability: float | None  # mean over the real portraits (None: none drawn)


def view_people(
    model: IdentityModel,
    people: Sequence[int],
    photos: int = 5,
    seed: int = 0,
    settings: inversion.RenderSettings | None = None,
    quiet: bool = True,
    prior: ImagePrior | None = None,
) -> list[PersonView]:
    """FaceVis of ``people`` (one batched render, through ``prior`` where given) with
    ``photos`` new portraits of each."""
    images = face_vis(model, people, seed, settings, quiet, prior)
    people = [int(p) for p in people]
    seen = person_probabilities(model, images)
    start = person_probabilities(model, model.mean_image[None])[0]
    real = np.full((len(people), max(photos, 1), seen.shape[1]), np.nan, np.float32)
    portraits = np.zeros((len(people), photos, *images.shape[1:]), np.uint8)
    if photos:
        ids = np.repeat(np.asarray(people), photos)
        portraits = people_source(model).portraits_of(ids, seed).reshape(portraits.shape)
        real = person_probabilities(model, portraits.reshape(-1, *images.shape[1:]))
        real = real.reshape(len(people), photos, -1)
    views = []
    for i, person in enumerate(people):
        rank = 1 + int(np.sum(seen[i] > seen[i, person]))
        views.append(PersonView(
            person, images[i], portraits[i], float(seen[i, person]), rank,
            float(start[person]), float(real[i, :, person].mean()) if photos else None,
        ))  # fmt: skip
    return views


def people_sheet(views: Sequence[PersonView]) -> np.ndarray:
    """A row per person: FaceVis's picture (captioned with its probability), then the
    real portraits."""
    tiles, captions = [], []
    for view in views:
        tiles.append(view.face_vis)
        captions.append(f"#{view.person} p={view.probability:.2f}")
        tiles += list(view.portraits)
        captions += ["photo"] * len(view.portraits)
    return make_grid(tiles, columns=1 + len(views[0].portraits), captions=captions)


@dataclass(frozen=True)
class SeenFaces:
    """Photos, what the embedding keeps of each (rendered from the mean face), and the
    cosine of each rendering's embedding to its photo's."""

    photos: np.ndarray  # (N, S, S, 3) uint8, as the model sees them
    seen: np.ndarray  # (N, S, S, 3) uint8
    cosine: np.ndarray  # (N,)


def see_photos(
    model: IdentityModel,
    images: Sequence[np.ndarray],
    seed: int = 0,
    settings: inversion.RenderSettings | None = None,
    quiet: bool = True,
    prior: ImagePrior | None = None,
) -> SeenFaces:
    """Invert each photo's embedding (one batched render, through ``prior`` where given)
    and measure the match."""
    photos = np.concatenate([np.asarray(prepare(i, model.input_size)) for i in images])
    e_photo = model.embed(photos)  # the target, and what the rendering is measured against
    seen = render_embeddings(model, e_photo, seed, settings, quiet, prior)
    cosine = np.sum(e_photo * model.embed(seen), axis=1)
    return SeenFaces(np.round(photos).astype(np.uint8), seen, cosine)


def seen_sheet(seen: SeenFaces) -> np.ndarray:
    """Pairs of columns: the photo, and what the embedding keeps of it (with its cosine)."""
    tiles, captions = [], []
    for photo, face, cos in zip(seen.photos, seen.seen, seen.cosine, strict=True):
        tiles += [photo, face]
        captions += ["photo", f"seen {cos:.2f}"]  # the cosine; captions hold 10 characters
    return make_grid(tiles, columns=min(len(tiles), 8), captions=captions)


def held_out_photos(
    model: IdentityModel, people: int, photos: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``photos`` portraits of each of ``people`` people the model never trained on:
    (images (people*photos, S, S, 3) uint8, person ids)."""
    ids = np.repeat(np.arange(people), photos)
    source = people_source(model, HELD_OUT_SPLIT, people)
    return source.portraits_of(ids, seed), ids


def verify_held_out(
    model: IdentityModel, people: int = 200, photos: int = 10, seed: int = 0, far: float = 1e-3
) -> dict:
    """Verification (ROC AUC, TAR at ``far``) over every pair of ``photos`` portraits each
    of ``people`` held-out people."""
    images, ids = held_out_photos(model, people, photos, seed)
    return {"people": people, "photos_each": photos, **verification(model.embed(images), ids, far)}


def identify_seen(
    model: IdentityModel,
    people: int = 20,
    gallery_photos: int = 5,
    seed: int = 0,
    settings: inversion.RenderSettings | None = None,
    quiet: bool = True,
    prior: ImagePrior | None = None,
) -> tuple[dict, SeenFaces]:
    """Is what the embedding keeps of a photo still that person? One query photo each of
    ``people`` held-out people is inverted; each rendering is matched against a gallery
    of other photos of those people (mean embedding per person). Reports how often the
    rendering's nearest person is the photo's (and the photo's own rate, and chance),
    and its cosine to its person against the mean to the others."""
    images, ids = held_out_photos(model, people, gallery_photos + 1, seed)
    query = ids[:: gallery_photos + 1]
    is_query = np.zeros(len(ids), bool)
    is_query[:: gallery_photos + 1] = True
    seen = see_photos(model, images[is_query], seed, settings, quiet, prior)
    gallery, gallery_ids = model.embed(images[~is_query]), ids[~is_query]
    nearest_seen, cos_seen = closest_person(model.embed(seen.seen), gallery, gallery_ids)
    nearest_photo, _ = closest_person(model.embed(seen.photos), gallery, gallery_ids)
    own = cos_seen[np.arange(people), query]
    others = (cos_seen.sum(1) - own) / (people - 1)
    summary = {
        "people": people,
        "gallery_photos_each": gallery_photos,
        "seen_identified": float(np.mean(nearest_seen == query)),
        "photo_identified": float(np.mean(nearest_photo == query)),
        "chance": 1.0 / people,
        "seen_cosine_to_own_person": float(own.mean()),
        "seen_cosine_to_other_people": float(others.mean()),
        "seen_cosine_to_photo": float(seen.cosine.mean()),
    }
    return summary, seen
