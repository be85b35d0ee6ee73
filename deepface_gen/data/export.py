"""Export synthetic portraits as a CelebA-format folder, with a contact sheet."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

from deepface_gen.attributes import ATTRIBUTE_INDEX
from deepface_gen.data import celeba, synth
from deepface_gen.io.images import atomic_write_bytes, make_grid, write_image


@dataclass(frozen=True)
class ExportSummary:
    root: Path
    count: int
    people: int
    split_counts: dict[str, int]
    contact_sheet: Path


PIXELS_PER_BATCH = 256 * 128 * 128


def split_people(key: jax.Array, num_people: int, fractions=(0.8, 0.1, 0.1)) -> np.ndarray:
    """Assign each person to train (0), validation (1) or test (2): no one is in two splits."""
    order = np.asarray(jax.random.permutation(key, num_people))
    bounds = np.cumsum(np.array(fractions) / np.sum(fractions) * num_people).round().astype(int)
    split = np.zeros(num_people, np.int8)
    split[order[bounds[0] : bounds[1]]] = 1
    split[order[bounds[1] :]] = 2
    return split


# CelebA's aligned crops (178 x 218) put the eyes about 39 px apart on row 111 and
# the mouth on row 152 (the means of list_landmarks_align_celeba.txt). The renderer's
# eyes are 0.32 image units apart, so a 244 px render has them 39 px apart; its eyes
# sit near row 120, so rows 9..227 and columns 33..211 of it are the CelebA crop.
CELEBA_RENDER_SIZE = 244
CELEBA_CROP = (slice(9, 227), slice(33, 211))


def celeba_crop(images: np.ndarray) -> np.ndarray:
    """(N, 244, 244, 3) renders to (N, 218, 178, 3) CelebA-aligned crops."""
    return images[:, CELEBA_CROP[0], CELEBA_CROP[1]]


def landmarks(scene: synth.Scene, size: int, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(N, 5, 2) pixel (x, y) of both eyes, the nose tip and both mouth corners, from the
    scene (the renderer's head frame mapped through each photo's pose), minus
    ``offset`` (rows, columns cut off above and to the left)."""
    ident, nuis = scene.identity, scene.nuisance
    zeros = np.zeros_like(np.asarray(ident.eye_spacing))
    spacing, eye_y = np.asarray(ident.eye_spacing), np.asarray(ident.eye_height)
    nose_y = 0.1 + 0.05 * np.asarray(ident.nose_length)  # the tip, as the renderer draws it
    mouth_y, mouth_half = np.asarray(ident.mouth_height), 0.09
    head = np.stack([
        np.stack([-spacing, eye_y], -1), np.stack([spacing, eye_y], -1),
        np.stack([zeros, nose_y], -1),
        np.stack([zeros - mouth_half, mouth_y], -1), np.stack([zeros + mouth_half, mouth_y], -1),
    ], 1)  # fmt: skip
    c, s = np.cos(np.asarray(nuis.roll))[:, None], np.sin(np.asarray(nuis.roll))[:, None]
    # The renderer maps image to head frame by p = R (img - shift) / scale; invert it.
    x = c * head[..., 0] - s * head[..., 1]
    y = s * head[..., 0] + c * head[..., 1]
    scale, shift = np.asarray(nuis.scale)[:, None], np.asarray(nuis.shift)
    img = np.stack([x * scale + shift[:, None, 0], y * scale + shift[:, None, 1]], -1)
    pixels = (img + 1.0) / 2.0 * size
    return np.round(pixels - np.array([offset[1], offset[0]])).astype(np.int32)


def export_synthetic(
    out: str | os.PathLike,
    n: int,
    size: int = 64,
    seed: int = 0,
    people: int | None = None,
    image_format: str = "jpg",
    batch_size: int = 256,
    quiet: bool = False,
    celeba_layout: bool = False,
) -> ExportSummary:
    """Render ``n`` portraits of ``people`` people into a CelebA-format folder at ``out``.

    Writes img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt
    (split by person), identity_CelebA.txt and contact_sheet.png. With
    ``celeba_layout`` the images are laid out as CelebA's aligned set is (178 x 218,
    the eyes and mouth where CelebA puts them; ``size`` is ignored) and
    list_landmarks_align_celeba.txt is written too. Everything follows from
    ``seed``: the same call writes the same folder.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    # Five photos a person, but a small set shows several people (4 photos of one
    # person surprise a first look).
    people = people or max(min(n, 8), n // 5)
    root = Path(out)
    image_dir = root / celeba.IMAGE_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    key_scene, key_split = jax.random.split(jax.random.key(seed))
    scene = synth.sample_scene(key_scene, n, people)
    filenames = [f"{i + 1:06d}.{image_format}" for i in range(n)]
    render_size = CELEBA_RENDER_SIZE if celeba_layout else size
    # The renderer's working memory grows with batch x pixels: 256 portraits at the
    # CelebA layout's 244 px peaked at 8.1 GB; keep a batch within 256 at 128 px.
    batch_size = max(8, min(batch_size, PIXELS_PER_BATCH // render_size**2))
    preview: list[np.ndarray] = []
    with tqdm(total=n, unit="img", desc="rendering", disable=quiet) as bar:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            # Pad the last batch to the full size so it reuses the compiled renderer.
            chunk = synth.slice_scene(scene, max(0, stop - batch_size), stop)
            images = synth.to_uint8(synth.render_scene(chunk, render_size))[-(stop - start) :]
            if celeba_layout:
                images = celeba_crop(images)
            for offset, image in enumerate(images):
                write_image(image_dir / filenames[start + offset], image)
            preview.extend(images[: max(0, 64 - len(preview))])
            bar.update(stop - start)
    person_ids = np.asarray(scene.person_ids)
    partition = split_people(key_split, people)[person_ids]
    labels = np.array(scene.attributes)
    # What no pixel shows is not labelled present (CelebA's format has no "unknown"):
    # a model trained on the folder then sees it one way only and does not claim it.
    labels[:, [ATTRIBUTE_INDEX[a] for a in synth.UNDRAWN_ATTRIBUTES]] = -1.0
    celeba.write_labels(root, filenames, labels, partition, person_ids + 1)
    if celeba_layout:
        cut = (CELEBA_CROP[0].start, CELEBA_CROP[1].start)
        points = landmarks(scene, CELEBA_RENDER_SIZE, cut)
        text = celeba.format_landmarks_file(filenames, points)
        atomic_write_bytes(root / celeba.LANDMARKS_FILE, text.encode())
    sheet = write_image(root / "contact_sheet.png", make_grid(preview, columns=min(8, n)))
    counts = {name: int(np.sum(partition == code)) for name, code in celeba.SPLITS.items()}
    return ExportSummary(root, n, people, counts, sheet)
