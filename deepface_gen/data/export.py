"""Export synthetic portraits as a CelebA-format folder, with a contact sheet."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

from deepface_gen.data import celeba, synth
from deepface_gen.io.images import make_grid, write_image


@dataclass(frozen=True)
class ExportSummary:
    root: Path
    count: int
    people: int
    split_counts: dict[str, int]
    contact_sheet: Path


def split_people(key: jax.Array, num_people: int, fractions=(0.8, 0.1, 0.1)) -> np.ndarray:
    """Assign each person to train (0), validation (1) or test (2): no one is in two splits."""
    order = np.asarray(jax.random.permutation(key, num_people))
    bounds = np.cumsum(np.array(fractions) / np.sum(fractions) * num_people).round().astype(int)
    split = np.zeros(num_people, np.int8)
    split[order[bounds[0] : bounds[1]]] = 1
    split[order[bounds[1] :]] = 2
    return split


def export_synthetic(
    out: str | os.PathLike,
    n: int,
    size: int = 64,
    seed: int = 0,
    people: int | None = None,
    image_format: str = "jpg",
    batch_size: int = 256,
    quiet: bool = False,
) -> ExportSummary:
    """Render ``n`` portraits of ``people`` people into a CelebA-format folder at ``out``.

    Writes img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt
    (split by person), identity_CelebA.txt and contact_sheet.png. Everything
    follows from ``seed``: the same call writes the same folder.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    people = people or max(1, n // 5)
    root = Path(out)
    image_dir = root / celeba.IMAGE_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    key_scene, key_split = jax.random.split(jax.random.key(seed))
    scene = synth.sample_scene(key_scene, n, people)
    filenames = [f"{i + 1:06d}.{image_format}" for i in range(n)]
    preview: list[np.ndarray] = []
    with tqdm(total=n, unit="img", desc="rendering", disable=quiet) as bar:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            # Pad the last batch to the full size so it reuses the compiled renderer.
            chunk = synth.slice_scene(scene, max(0, stop - batch_size), stop)
            images = synth.to_uint8(synth.render_scene(chunk, size))[-(stop - start) :]
            for offset, image in enumerate(images):
                write_image(image_dir / filenames[start + offset], image)
            preview.extend(images[: max(0, 64 - len(preview))])
            bar.update(stop - start)
    person_ids = np.asarray(scene.person_ids)
    partition = split_people(key_split, people)[person_ids]
    celeba.write_labels(root, filenames, np.asarray(scene.attributes), partition, person_ids + 1)
    sheet = write_image(root / "contact_sheet.png", make_grid(preview, columns=8))
    counts = {name: int(np.sum(partition == code)) for name, code in celeba.SPLITS.items()}
    return ExportSummary(root, n, people, counts, sheet)
