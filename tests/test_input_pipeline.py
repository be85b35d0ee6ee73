import jax
import numpy as np
import pytest

from deepface_gen.attributes import ATTRIBUTE_INDEX as A
from deepface_gen.data import input_pipeline as ip
from deepface_gen.data.export import export_synthetic
from deepface_gen.errors import DataError


def test_synthetic_batches_deterministic_by_step():
    src = ip.SyntheticSource(size=32, batch_size=4, seed=0, split="train")
    a, b = src.batch(5), src.batch(5)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.images.shape == (4, 32, 32, 3) and a.images.dtype == np.uint8
    assert a.attributes.shape == (4, 40) and set(np.unique(a.attributes)) <= {-1.0, 1.0}
    assert not np.array_equal(src.batch(6).images, a.images)
    test = ip.SyntheticSource(size=32, batch_size=4, seed=0, split="test")
    assert not np.array_equal(test.batch(5).images, a.images)


def test_a_synthetic_source_gives_its_portraits_without_sensor_noise_on_request(exported):
    plain = ip.SyntheticSource(size=32, batch_size=4, seed=0).batch(5)
    both = ip.SyntheticSource(size=32, batch_size=4, seed=0, clean=True).batch(5)
    assert plain.clean is None
    np.testing.assert_array_equal(both.images, plain.images)  # the same portraits
    assert both.clean.shape == both.images.shape and both.clean.dtype == np.uint8
    difference = np.abs(both.images.astype(int) - both.clean).mean(axis=(1, 2, 3))
    assert 0 < difference.max() < 8  # sensor noise only: a few levels of 255
    np.testing.assert_array_equal(both.rows(slice(1, 3)).clean, both.clean[1:3])
    made = ip.make_source("synthetic", "train", 32, 4, clean=True).batch(5)
    np.testing.assert_array_equal(made.clean, both.clean)
    with pytest.raises(DataError, match="only the synthetic source draws them"):
        ip.make_source(f"celeba:{exported}", "train", 32, 4, clean=True)


def test_synthetic_people_pool_keeps_identity():
    src = ip.SyntheticSource(size=32, batch_size=16, seed=0, num_people=3)
    b1, b2 = src.batch(0), src.batch(1)
    ids = np.concatenate([b1.identity, b2.identity])
    attrs = np.concatenate([b1.attributes, b2.attributes])
    assert set(ids) <= {0, 1, 2}
    for person in set(ids):
        assert len(set(attrs[ids == person, A["Male"]])) == 1


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("celeba")
    export_synthetic(root, 30, size=32, seed=3, people=6, quiet=True)
    return root


def test_celeba_folder_source_reads_export(exported):
    src = ip.celeba_folder(exported, "train", size=24, batch_size=5, seed=1)
    batch = src.batch(0)
    assert batch.images.shape == (5, 24, 24, 3)
    np.testing.assert_array_equal(batch.images, src.batch(0).images)
    # An epoch visits every training image once.
    seen = set()
    steps = src.num_examples // 5
    for step in range(steps):
        seen |= {img.tobytes() for img in src.batch(step).images}
    assert len(seen) == steps * 5


def test_unreadable_image_skipped_and_counted(exported, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(exported, root)
    src = ip.celeba_folder(root, "train", size=24, batch_size=4, seed=0, shuffle=False)
    src.paths[0].write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="skipping unreadable image.*1 skipped"):
        batch = src.batch(0)
    assert len(batch) == 4 and src.skipped == {0}


def test_a_process_reads_only_its_rows_and_they_are_the_whole_batchs(exported, tmp_path):
    """Rows of a folder batch read apart equal the whole batch, an unreadable image's
    stand-in included, and a process never opens another process's images."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(exported, root)
    src = ip.celeba_folder(root, "train", size=24, batch_size=6, seed=0)
    garbage = int(src._order(0)[1])
    src.paths[garbage].write_bytes(b"garbage")  # row 1 of batch 0
    with pytest.warns(UserWarning, match="1 skipped"):
        whole = src.batch(0)
    again = ip.celeba_folder(root, "train", size=24, batch_size=6, seed=0)
    second = again.batch_rows(0, slice(3, 6))
    assert again.skipped == set()  # the unreadable row belongs to the first half
    with pytest.warns(UserWarning, match="1 skipped"):
        first = again.batch_rows(0, slice(0, 3))
    for name in ("images", "attributes", "label_mask", "identity"):
        glued = np.concatenate([getattr(first, name), getattr(second, name)])
        np.testing.assert_array_equal(glued, getattr(whole, name), err_msg=name)
    assert len({image.tobytes() for image in whole.images}) == 6  # the stand-in is another
    # A batch over several epochs of a small folder, its rows read by many threads at once.
    # Read by the record the source keeps, not by a warning: warnings raised in reader
    # threads reach pytest's recorder only while no other thread swaps the process-wide
    # warning state, and one CI run lost it so.
    tiny = ip.celeba_folder(root, "train", size=24, batch_size=3 * src.num_examples + 1, seed=0)
    assert len(tiny.batch(0)) == 3 * src.num_examples + 1
    assert tiny.skipped == {garbage}  # in every epoch its row takes a stand-in


def test_csv_source_and_errors(exported, tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("file,Smiling,Male\n000001.jpg,1,\n000002.jpg,false,yes\n")
    src = ip.image_folder_csv(exported / "img_align_celeba", csv, size=20, batch_size=2)
    batch = src.batch(0)
    assert batch.images.shape == (2, 20, 20, 3)
    assert batch.label_mask.sum() == 3  # Male unknown for the first image
    csv.write_text("file,Smilling\nx.jpg,1\n")
    with pytest.raises(DataError, match="unknown attribute columns"):
        ip.read_attribute_csv(csv)
    csv.write_text("file,Smiling\nx.jpg,maybe\n")
    with pytest.raises(DataError, match=r":2: value 'maybe'"):
        ip.read_attribute_csv(csv)


def test_make_source_specs(exported):
    assert isinstance(ip.make_source("synthetic", "train", 32, 4), ip.SyntheticSource)
    assert ip.make_source(f"celeba:{exported}", "test", 32, 2).num_examples > 0
    assert ip.make_source(str(exported), "train", 32, 2).num_examples > 0
    with pytest.raises(DataError, match="unknown data source"):
        ip.make_source("imagenet", "train", 32, 4)


def test_augment_flips_and_shifts_deterministically():
    images = np.zeros((8, 16, 16, 3), np.uint8)
    images[:, :, :4] = 255  # a bright band on the left
    out1 = np.asarray(ip.augment(jax.random.key(0), images, 0))
    out2 = np.asarray(ip.augment(jax.random.key(0), images, 0))
    np.testing.assert_array_equal(out1, out2)
    flipped = out1[:, 8, -1, 0] == 255
    assert 0 < flipped.sum() < 8  # some flipped, some not
    shifted = np.asarray(ip.augment(jax.random.key(1), images, 2))
    assert shifted.shape == images.shape
    # Each image is the band, flipped or not, moved by at most 2 pixels (edges padded).
    bright = shifted[:, 8, :, 0] == 255  # (8, 16) one row per image
    widths = bright.sum(1)
    assert ((widths >= 2) & (widths <= 6)).all()
    left = bright[:, 0]
    edges = np.where(left, bright.argmin(1), 16 - bright[:, ::-1].argmin(1))
    assert (np.where(left, abs(edges - 4), abs(edges - 12)) <= 2).all()
    assert len(set(edges.tolist())) > 2  # shifts differ between images


def test_prefetch_yields_in_order():
    class Counting:
        def batch(self, step):
            return step

    assert list(ip.prefetch(Counting(), 3, 8)) == [3, 4, 5, 6, 7]


def test_tfds_missing_is_clear(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tfds(name, *args, **kwargs):
        if name == "tensorflow_datasets":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tfds)
    with pytest.raises(DataError, match=r"pip install 'deepface-gen\[celeba\]'"):
        ip.TFDSSource()


def test_tfds_celeb_a_with_its_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        source = ip.TFDSSource("train", size=32, batch_size=4, seed=0)
        batch = source.batch(0)
        assert batch.images.shape == (4, 32, 32, 3) and batch.images.dtype == np.uint8
        assert batch.attributes.shape == (4, 40)
        assert set(np.unique(batch.attributes)) <= {-1.0, 1.0}
        later = source.batch(2)
        assert later.images.shape == (4, 32, 32, 3)
        assert not np.array_equal(later.images, batch.images)
        # Asking for an earlier step (as a resumed run does) restarts and skips forward
        # to the very same data, not just data of the same shape.
        again = source.batch(0)
        np.testing.assert_array_equal(again.images, batch.images)
        np.testing.assert_array_equal(again.attributes, batch.attributes)
        resumed = ip.TFDSSource("train", size=32, batch_size=4, seed=0).batch(2)
        np.testing.assert_array_equal(resumed.images, later.images)
        # A process's rows, decoded alone, are the whole batch's.
        mine = ip.TFDSSource("train", size=32, batch_size=4, seed=0).batch_rows(2, slice(2, 4))
        np.testing.assert_array_equal(mine.images, later.images[2:])
        np.testing.assert_array_equal(mine.attributes, later.attributes[2:])


class _Numbered:
    """A finite source of ``n`` examples whose batches wrap around (as files do)."""

    def __init__(self, n: int, batch_size: int):
        self.num_examples, self.batch_size = n, batch_size

    def batch(self, step: int) -> ip.Batch:
        rows = (step * self.batch_size + np.arange(self.batch_size)) % self.num_examples
        return ip.Batch(
            np.full((self.batch_size, 4, 4, 3), rows[:, None, None, None], np.uint8),
            np.ones((self.batch_size, 40), np.float32),
            np.ones((self.batch_size, 40), bool),
            rows.astype(np.int32),
        )


@pytest.mark.parametrize("n, given", [(10, None), (7, 7), (8, None), (1, 1)])
def test_epoch_counts_each_example_once_and_keeps_the_batch_shape(n, given):
    batches = list(ip.epoch(_Numbered(n, 4), given))
    assert all(len(b) == 4 for b in batches)
    seen = np.concatenate([b.identity[b.valid_rows] for b in batches])
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))  # each once, none twice
    labelled = sum(int(b.label_mask[:, 0].sum()) for b in batches)
    assert labelled == n  # padding rows carry no labels


def test_epoch_refuses_an_empty_pass():
    with pytest.raises(ValueError, match="at least one"):
        list(ip.epoch(_Numbered(5, 4), 0))


def test_prefetch_stops_its_thread_when_the_consumer_stops_early():
    import threading
    import time

    def workers():
        return [t for t in threading.enumerate() if t.name == "deepface-gen-prefetch"]

    before = len(workers())
    stream = ip.prefetch(_Numbered(100, 2), 0, 100, depth=1)
    next(stream)
    time.sleep(0.2)  # the worker has filled the queue and waits on it
    stream.close()
    assert len(workers()) == before


def test_synthetic_rows_of_a_batch_are_the_rows_the_whole_batch_has():
    from deepface_gen.data.input_pipeline import SyntheticSource, batch_rows

    source = SyntheticSource(size=16, batch_size=6, seed=4)
    whole, part = source.batch(3), batch_rows(source, 3, slice(2, 5))
    np.testing.assert_array_equal(part.images, whole.images[2:5])
    np.testing.assert_array_equal(part.attributes, whole.attributes[2:5])
