"""Data sources with one interface: deterministic batches by step number.

Every source answers ``source.batch(step)`` with the same :class:`Batch` for
the same (seed, step), whatever happened before. That makes resumed training
see exactly the data it would have seen, and lets a background thread
prefetch ahead. Sources:

* :class:`SyntheticSource`: portraits rendered on the fly (endless; train,
  validation and test from disjoint seeds);
* :class:`FileSource` via :func:`celeba_folder` (official CelebA folder or a
  synthetic export) or :func:`image_folder_csv` (any folder + attribute CSV);
* :class:`TFDSSource`: CelebA through tensorflow-datasets (``celeb_a``).

Images come out as uint8 at the model's input size; preprocessing and
augmentation happen inside the jit-compiled step (see ``augment``).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import queue
import threading
import warnings
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen.attributes import ATTRIBUTE_INDEX, CELEBA_ATTRIBUTES, NUM_ATTRIBUTES
from deepface_gen.data import celeba, synth
from deepface_gen.errors import DataError, ImageError
from deepface_gen.io.images import fit_to_model, read_image

_SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}


@dataclass(frozen=True)
class Batch:
    """A batch of labelled faces (numpy, host memory)."""

    images: np.ndarray  # (N, S, S, 3) uint8 RGB
    attributes: np.ndarray  # (N, 40) float32 in {-1, +1}
    label_mask: np.ndarray  # (N, 40) bool: False where a label is unknown
    identity: np.ndarray  # (N,) int32, -1 where unknown
    # (N,) bool: False for the padding rows of a pass's last batch (see ``epoch``);
    # None means every row is an example.
    valid: np.ndarray | None = None
    # (N, S, S, 3) uint8: the same faces without their sensor noise, where the source
    # can draw them (the synthetic one, asked to); None otherwise.
    clean: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def valid_rows(self) -> np.ndarray:
        """(N,) bool: which rows are examples (not padding)."""
        return np.ones(len(self), bool) if self.valid is None else self.valid

    def rows(self, part: slice) -> Batch:
        """Rows ``part`` of this batch (one process's share of a global batch)."""
        fields = (getattr(self, field.name) for field in dataclasses.fields(self))
        return Batch(*(None if a is None else a[part] for a in fields))

    def masked_after(self, count: int) -> Batch:
        """This batch with rows from ``count`` on marked as padding: not valid, no labels.
        The shape stays the same, so a jitted consumer compiles nothing new."""
        valid = np.arange(len(self)) < count
        return dataclasses.replace(
            self,
            label_mask=self.label_mask & valid[:, None],
            identity=np.where(valid, self.identity, -1),
            valid=valid,
        )


# A scene is a few hundred small random draws: run eagerly, each is its own dispatch
# (33 ms a batch of 32 on this CPU; compiled, 1 ms). On a lent H100 every trainer ran at
# 11 to 14 steps/s whatever its model and however many shared the GPU: this bound.
_sample_scene = jax.jit(synth.sample_scene, static_argnums=(1, 2))


class SyntheticSource:
    """Endless synthetic portraits; ``split`` picks a disjoint seed stream.

    With ``num_people`` the portraits show a fixed pool of people (identity
    labels 0..num_people-1); otherwise every portrait is a new person (-1).
    """

    def __init__(
        self,
        size: int = 64,
        batch_size: int = 64,
        seed: int = 0,
        split: str = "train",
        num_people: int | None = None,
        clean: bool = False,
    ) -> None:
        if split not in _SPLIT_SEEDS:
            raise DataError(f"unknown split {split!r}; choose one of {', '.join(_SPLIT_SEEDS)}")
        self.size, self.batch_size, self.num_people = size, batch_size, num_people
        self.clean = clean  # batches carry their portraits without sensor noise too
        self.name = f"synthetic:{split}:seed{seed}"
        # Seeds of different splits never meet: each is its own fold of the root key.
        self._key = jax.random.fold_in(jax.random.key(seed), 1000 + _SPLIT_SEEDS[split])
        self._people_key = jax.random.fold_in(self._key, 2**20) if num_people else None
        self.num_examples = None

    def batch(self, step: int) -> Batch:
        return self.batch_rows(step, slice(0, self.batch_size))

    def batch_rows(self, step: int, part: slice) -> Batch:
        """Rows ``part`` of batch ``step``, rendering only those: the whole batch's
        random draws (cheap) are made, so the rows are the ones the whole batch has."""
        key = jax.random.fold_in(self._key, step)
        scene = _sample_scene(key, self.batch_size, self.num_people, self._people_key)
        if part != slice(0, self.batch_size):  # the whole batch (one process): no copy
            scene = synth.slice_scene(scene, part.start, part.stop)
        clean = None
        if self.clean:
            images, clean = map(synth.to_uint8, synth.render_scene_with_clean(scene, self.size))
        else:
            images = synth.to_uint8(synth.render_scene(scene, self.size))
        identity = np.asarray(scene.person_ids) if self.num_people else None
        n = len(images)
        return Batch(
            images,
            np.asarray(scene.attributes, np.float32),
            np.ones((n, NUM_ATTRIBUTES), bool),
            identity.astype(np.int32) if identity is not None else np.full(n, -1, np.int32),
            clean=clean,
        )

    def portraits_of(self, person_ids: np.ndarray, seed: int = 0) -> np.ndarray:
        """New photos (uint8 (N, S, S, 3)) of people of this source's pool, in the
        training data's distribution but never one of its batches (``seed`` picks them)."""
        if not self.num_people:
            raise DataError("this synthetic source has no fixed pool of people")
        ids = np.asarray(person_ids)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_people):
            raise DataError(f"people are numbered 0 to {self.num_people - 1}; got {ids.tolist()}")
        key = jax.random.fold_in(jax.random.fold_in(self._key, 2**21), seed)
        scene = synth.scene_of_people(key, ids, self.num_people, self._people_key)
        return synth.to_uint8(synth.render_scene(scene, self.size))


class FileSource:
    """Images on disk with labels in memory; shuffled per epoch from the seed.

    An unreadable image is skipped (a readable one of the same epoch takes its place,
    see ``_readable_at``) and counted; a warning reports the count. Each row of a batch
    depends only on its place, so a process reads only its rows (``batch_rows``).
    """

    def __init__(
        self,
        paths: list[Path],
        attributes: np.ndarray,
        label_mask: np.ndarray,
        identity: np.ndarray,
        size: int,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        name: str = "files",
        workers: int = 8,
    ) -> None:
        if not paths:
            raise DataError(f"{name}: no images")
        self.paths, self.attributes, self.label_mask = paths, attributes, label_mask
        self.identity = identity
        self.size, self.batch_size, self.shuffle, self.name = size, batch_size, shuffle, name
        self.num_examples = len(paths)
        self._key = jax.random.key(seed)
        self._orders: dict[int, np.ndarray] = {}
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="deepface-gen-read")
        # The readers stop with the source (or at exit), never left running.
        self.close = weakref.finalize(self, self._pool.shutdown, wait=False)
        self.skipped: set[int] = set()
        # An unreadable image's stand-in is this far on (coprime with n: every image is
        # tried once; about n / golden ratio, so stand-ins of neighbours lie far apart).
        self._stride = next(s for s in range(max(1, round(len(paths) / 1.618)), 0, -1)
                            if math.gcd(s, len(paths)) == 1)  # fmt: skip

    def _order(self, epoch: int) -> np.ndarray:
        # Read by the reader threads at once: the order is returned from this call, never
        # looked up again in a cache another thread may just have replaced.
        order = self._orders.get(epoch)
        if order is None:
            n = self.num_examples
            order = (
                np.asarray(jax.random.permutation(jax.random.fold_in(self._key, epoch), n))
                if self.shuffle
                else np.arange(n)
            )
            # Two epochs (a batch may straddle them); memory stays flat.
            kept = {e: o for e, o in self._orders.items() if e == epoch - 1}
            self._orders = {**kept, epoch: order}
        return order

    def _load(self, index: int) -> np.ndarray | None:
        if index in self.skipped:  # known unreadable: not read again
            return None
        try:
            return fit_to_model(read_image(self.paths[index]), self.size)
        except ImageError as err:
            if index not in self.skipped:
                self.skipped.add(index)
                warnings.warn(
                    f"skipping unreadable image ({err}); {len(self.skipped)} skipped so far",
                    stacklevel=2,
                )
            return None

    def _readable_at(self, place: int) -> tuple[int, np.ndarray]:
        """(index, image) of the row at ``place`` in the epochs' orders; where that image is
        unreadable, the first readable one a fixed stride on in the same epoch (every image
        is tried once), so a row depends on its place alone and any process can read it."""
        n = self.num_examples
        epoch, offset = divmod(place, n)
        order = self._order(epoch)
        for attempt in range(n):
            index = int(order[(offset + attempt * self._stride) % n])
            image = self._load(index)
            if image is not None:
                return index, image
        raise DataError(f"{self.name}: none of its {n} images could be read")

    def batch(self, step: int) -> Batch:
        return self.batch_rows(step, slice(0, self.batch_size))

    def batch_rows(self, step: int, part: slice) -> Batch:
        """Rows ``part`` of batch ``step``, reading only those images (one process's share)."""
        places = range(step * self.batch_size + part.start, step * self.batch_size + part.stop)
        rows = list(self._pool.map(self._readable_at, places))
        sel = np.array([index for index, _ in rows])
        return Batch(
            np.stack([image for _, image in rows]),
            self.attributes[sel].astype(np.float32),
            self.label_mask[sel],
            self.identity[sel].astype(np.int32),
        )


def celeba_folder(
    root: str | os.PathLike,
    split: str = "train",
    size: int = 64,
    batch_size: int = 64,
    seed: int = 0,
    shuffle: bool = True,
) -> FileSource:
    """A CelebA-format folder (the official download or ``deepface-gen synth`` output)."""
    index = celeba.read_celeba_folder(root).split(split)
    n = len(index.filenames)
    identity = index.identity if index.identity is not None else np.full(n, -1)
    paths = [index.image_path(i) for i in range(n)]
    return FileSource(
        paths,
        index.attributes.astype(np.float32),
        np.ones((n, 40), bool),
        identity,
        size,
        batch_size,
        seed,
        shuffle,
        name=f"{root}:{split}",
    )


def read_attribute_csv(path: str | os.PathLike) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Parse a CSV whose first column is a filename and the others CelebA attribute names.

    Values may be 1/-1, 1/0, true/false or yes/no; an empty cell is an unknown
    label. Returns filenames, (N, 40) values and a (N, 40) mask of known labels.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such CSV file")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise DataError(f"{path}: empty CSV")
    header = [h.strip() for h in rows[0]]
    unknown = [h for h in header[1:] if h not in ATTRIBUTE_INDEX]
    if unknown:
        raise DataError(f"{path}:1: unknown attribute columns {unknown}; use CelebA names")
    columns = [ATTRIBUTE_INDEX[h] for h in header[1:]]
    truth = {"1": 1.0, "true": 1.0, "yes": 1.0, "-1": -1.0, "0": -1.0, "false": -1.0, "no": -1.0}
    names, values, mask = [], [], []
    for number, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}:{number}: expected {len(header)} fields, got {len(row)}")
        vec, known = np.zeros(NUM_ATTRIBUTES, np.float32), np.zeros(NUM_ATTRIBUTES, bool)
        for column, cell in zip(columns, row[1:], strict=True):
            cell = cell.strip().lower()
            if cell == "":
                continue
            if cell not in truth:
                raise DataError(f"{path}:{number}: value {cell!r} is not 1/-1/0/true/false")
            vec[column], known[column] = truth[cell], True
        names.append(row[0].strip())
        values.append(vec)
        mask.append(known)
    return names, np.array(values), np.array(mask)


def image_folder_csv(
    folder: str | os.PathLike,
    csv_path: str | os.PathLike,
    size: int = 64,
    batch_size: int = 64,
    seed: int = 0,
    shuffle: bool = True,
) -> FileSource:
    """Any folder of images with a CSV of attributes (see :func:`read_attribute_csv`)."""
    names, values, mask = read_attribute_csv(csv_path)
    paths = [Path(folder) / name for name in names]
    return FileSource(
        paths,
        values,
        mask,
        np.full(len(paths), -1),
        size,
        batch_size,
        seed,
        shuffle,
        name=str(folder),
    )


class TFDSSource:
    """CelebA through tensorflow-datasets (``celeb_a``); install with the ``celeba`` extra.

    The dataset is shuffled with a fixed seed, so ``batch(step)`` is
    deterministic. Images are read undecoded (``SkipDecoding``) and decoded after
    the skip, so a resume at step S (or a jump backwards) opens the stream at
    record S x batch without decoding the S batches before it; serving steps in
    order walks forward.
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 64,
        batch_size: int = 64,
        seed: int = 0,
        data_dir: str | None = None,
        name: str = "celeb_a",
        download: bool = False,
    ) -> None:
        try:
            import tensorflow_datasets as tfds
        except ImportError:
            raise DataError(
                "tensorflow-datasets is not installed; run: pip install 'deepface-gen[celeba]'"
            ) from None
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.name = f"tfds:{name}:{split}"
        self._tfds, self._dataset_name, self._split = tfds, name, split
        self._data_dir, self._download = data_dir, download
        self._iterator: Iterator | None = None
        self._next_step, self._rows = 0, (0, batch_size)
        self.num_examples = None

    def _open(self, step: int, part: tuple[int, int]) -> Iterator:
        """The stream of rows ``part`` of every batch from ``step`` on: records before it,
        and other processes' rows, are skipped undecoded."""
        tfds = self._tfds
        import tensorflow as tf

        read_config = tfds.ReadConfig(shuffle_seed=self.seed)
        try:
            ds = tfds.load(
                self._dataset_name,
                split=self._split,
                data_dir=self._data_dir,
                download=self._download,
                shuffle_files=True,
                read_config=read_config,
                decoders={"image": tfds.decode.SkipDecoding()},
            )
        except Exception as err:  # noqa: BLE001 - tfds raises many kinds; all mean "not here"
            raise DataError(
                f"could not load {self._dataset_name} with tensorflow-datasets ({err}). "
                "Download CelebA once with download=True (it needs the internet), or use "
                "a local CelebA folder with --data celeba:PATH"
            ) from None
        ds = ds.shuffle(4096, seed=self.seed, reshuffle_each_iteration=True).repeat()
        ds = ds.skip(step * self.batch_size)
        start, stop = part
        if (start, stop) != (0, self.batch_size):  # the whole stream read, these rows kept
            rows = lambda batch: tf.nest.map_structure(lambda v: v[start:stop], batch)  # noqa: E731
            ds = ds.batch(self.batch_size, drop_remainder=True).map(rows).unbatch()

        def decode(example):
            image = tf.io.decode_image(example["image"], channels=3, expand_animations=False)
            return {**example, "image": image}

        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return iter(tfds.as_numpy(ds.batch(stop - start, drop_remainder=True)))

    def batch(self, step: int) -> Batch:
        return self.batch_rows(step, slice(0, self.batch_size))

    def batch_rows(self, step: int, part: slice) -> Batch:
        """Rows ``part`` of batch ``step``, decoding only those (one process's share)."""
        rows = (part.start, part.stop)
        if self._iterator is None or (step, rows) != (self._next_step, self._rows):
            self._iterator, self._next_step, self._rows = self._open(step, rows), step, rows
        raw = next(self._iterator)
        self._next_step += 1
        attrs = np.stack([np.asarray(raw["attributes"][a]) for a in CELEBA_ATTRIBUTES], 1)
        images = np.stack([fit_to_model(im, self.size) for im in raw["image"]])
        n = len(images)
        return Batch(
            images,
            np.where(attrs, 1.0, -1.0).astype(np.float32),
            np.ones((n, NUM_ATTRIBUTES), bool),
            np.full(n, -1, np.int32),
        )


def make_source(
    spec: str,
    split: str,
    size: int,
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
    clean: bool = False,
):
    """A source from a short spec: ``synthetic``, ``synthetic:PEOPLE``, ``celeba:PATH``,
    ``csv:FOLDER:CSVFILE``, ``tfds`` or ``tfds:DATA_DIR``; a bare folder path is read
    as a CelebA-format folder. ``clean``: batches also carry their faces without
    sensor noise, which only the synthetic source can draw."""
    kind, _, rest = spec.partition(":")
    if clean and kind != "synthetic":
        raise DataError(
            f"{spec!r} cannot give faces without their sensor noise (clean targets): "
            "only the synthetic source draws them; turn clean targets off for this source"
        )
    if kind == "synthetic":
        people = int(rest) if rest else None
        return SyntheticSource(size, batch_size, seed, split, people, clean)
    if kind == "celeba":
        return celeba_folder(rest, split, size, batch_size, seed, shuffle)
    if kind == "csv":
        folder, _, csv_path = rest.partition(":")
        return image_folder_csv(folder, csv_path, size, batch_size, seed, shuffle)
    if kind == "tfds":
        return TFDSSource(split, size, batch_size, seed, data_dir=rest or None)
    if Path(spec).is_dir():
        return celeba_folder(spec, split, size, batch_size, seed, shuffle)
    raise DataError(
        f"unknown data source {spec!r}; use synthetic, celeba:PATH, csv:FOLDER:CSV or tfds"
    )


def batch_rows(source, step: int, part: slice | None = None) -> Batch:
    """Rows ``part`` of ``source``'s batch ``step`` (the whole batch: None), the rows a
    process feeds in a multi-process run. A source that can make only those rows
    (``batch_rows``) does; any other makes the whole batch and keeps them, so every
    process sees exactly the rows one process would."""
    if part is None:
        return source.batch(step)
    if hasattr(source, "batch_rows"):
        return source.batch_rows(step, part)
    return source.batch(step).rows(part)


def prefetch(
    source, start_step: int, stop_step: int, depth: int = 2, part: slice | None = None
) -> Iterator[Batch]:
    """Yield ``source.batch(step)`` for steps [start, stop) (only rows ``part`` of each:
    ``batch_rows``), prepared by a background thread.

    A consumer that stops early (``break``, an exception, closing the generator) stops
    the thread too: it never blocks forever on a full queue.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item) -> None:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def work() -> None:
        try:
            for step in range(start_step, stop_step):
                if stop.is_set():
                    return
                hand_over(batch_rows(source, step, part))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer to raise
            hand_over(err)

    thread = threading.Thread(target=work, daemon=True, name="deepface-gen-prefetch")
    thread.start()
    try:
        for _ in range(start_step, stop_step):
            item = slots.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5.0)


def epoch(
    source,
    num_examples: int | None = None,
    desc: str = "batches",
    quiet: bool = True,
    part: slice | None = None,
) -> Iterator[Batch]:
    """One pass over exactly ``num_examples`` examples (default: all of a finite source;
    an endless one needs the number), prefetched, with a progress bar that ``quiet``
    silences. The last batch keeps the full batch shape, its rows past the end marked
    as padding (``Batch.valid``, no labels), as big_vision pads and masks: a finite
    source's wrapped-around rows are never counted twice. With ``part``, only those
    rows of every batch (one process's share, ``batch_rows``), padded alike."""
    from tqdm.auto import tqdm

    total = num_examples if num_examples is not None else source.num_examples
    if total is None:
        raise ValueError("an endless source needs num_examples")
    if total < 1:
        raise ValueError(f"a pass needs at least one example, not {total}")
    size, first = source.batch_size, 0 if part is None else part.start
    steps = -(-total // size)
    batches = tqdm(
        prefetch(source, 0, steps, part=part), total=steps, unit="batch", desc=desc, disable=quiet
    )
    for step, batch in enumerate(batches):
        remaining = total - step * size - first  # examples left from this batch's first row
        yield batch if remaining >= len(batch) else batch.masked_after(max(remaining, 0))


def row_numbers(source, step: int, batch: Batch, part: slice | None = None) -> np.ndarray:
    """(N,) each row's place in a pass (``epoch``) over ``source``: step x batch size +
    its row in the whole batch, so rows read by several processes sort into the order
    one process reads them."""
    return step * source.batch_size + (0 if part is None else part.start) + np.arange(len(batch))


def first_labels(source, batches: int) -> tuple[np.ndarray, np.ndarray]:
    """Attributes and label mask of the first ``batches`` batches (a trainer's label
    statistics: positive rates, co-occurrence), stacked: (N, 40) each."""
    seen = [source.batch(step) for step in range(batches)]
    return (
        np.concatenate([b.attributes for b in seen]),
        np.concatenate([b.label_mask for b in seen]),
    )


def augment(key: jax.Array, images: jax.Array, max_shift: int) -> jax.Array:
    """Random horizontal flips and shifts up to ``max_shift`` pixels (edge-padded), batched.

    Runs inside jit: one key per image via ``vmap``; no Python over pixels.
    """

    def one(k: jax.Array, image: jax.Array) -> jax.Array:
        k_flip, k_shift = jax.random.split(k)
        image = jnp.where(jax.random.bernoulli(k_flip), image[:, ::-1], image)
        if max_shift <= 0:
            return image
        size = image.shape[0]
        padded = jnp.pad(
            image, ((max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode="edge"
        )
        offset = jax.random.randint(k_shift, (2,), 0, 2 * max_shift + 1)
        return jax.lax.dynamic_slice(padded, (offset[0], offset[1], 0), (size, size, 3))

    return jax.vmap(one)(jax.random.split(key, images.shape[0]), images)
