import numpy as np
import pytest

from deepface_gen.attributes import CELEBA_ATTRIBUTES
from deepface_gen.data import celeba
from deepface_gen.data.export import export_synthetic
from deepface_gen.errors import DataError

# The first rows of the official list_attr_celeba.txt, byte for byte in layout.
OFFICIAL_HEAD = (
    "3\n" + " ".join(CELEBA_ATTRIBUTES) + " \n"
    "000001.jpg -1  1  1 -1 -1 -1 -1 -1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1  1  1 -1  1 -1 -1  1"
    " -1 -1  1 -1 -1 -1  1  1 -1  1 -1  1 -1 -1  1\n"
    "000002.jpg -1 -1 -1  1 -1 -1 -1  1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1 -1  1 -1  1 -1 -1  1"
    " -1 -1 -1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1 -1  1\n"
    "000003.jpg -1 -1 -1 -1 -1 -1  1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1 -1 -1 -1  1 -1 -1  1  1"
    " -1 -1  1 -1 -1 -1 -1 -1  1 -1 -1 -1 -1 -1  1\n"
)


def _official_folder(root):
    (root / celeba.IMAGE_DIR).mkdir(parents=True)
    (root / celeba.ATTR_FILE).write_text(OFFICIAL_HEAD)
    (root / celeba.PARTITION_FILE).write_text("000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n")
    (root / celeba.IDENTITY_FILE).write_text("000001.jpg 2880\n000002.jpg 2937\n000003.jpg 8692\n")
    return root


def test_reads_official_format(tmp_path):
    index = celeba.read_celeba_folder(_official_folder(tmp_path))
    assert index.filenames == ("000001.jpg", "000002.jpg", "000003.jpg")
    assert index.attributes.shape == (3, 40) and index.attributes.dtype == np.int8
    assert index.attributes[0, CELEBA_ATTRIBUTES.index("Arched_Eyebrows")] == 1
    assert index.attributes[2, CELEBA_ATTRIBUTES.index("Male")] == 1
    assert index.identity.tolist() == [2880, 2937, 8692]
    assert index.split("validation").filenames == ("000002.jpg",)


def test_writer_matches_official_layout(tmp_path):
    index = celeba.read_celeba_folder(_official_folder(tmp_path))
    text = celeba.format_attribute_file(list(index.filenames), index.attributes)
    assert text == OFFICIAL_HEAD


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace("Young", "Youngish"), r":2: header .*Youngish"),
        (
            lambda t: t.replace("000002.jpg -1 -1", "000002.jpg -1"),
            r":4: expected a filename and 40",
        ),
        (lambda t: "x\n" + t.split("\n", 1)[1], r":1: expected the number of images"),
        (lambda t: t.replace("000003.jpg -1", "000003.jpg 7"), r":5: values must be 1 or -1"),
        (lambda t: "5\n" + t.split("\n", 1)[1], r"says 5 images but the file has 3"),
    ],
)
def test_bad_label_files_name_the_line(tmp_path, mutate, message):
    root = _official_folder(tmp_path)
    (root / celeba.ATTR_FILE).write_text(mutate(OFFICIAL_HEAD))
    with pytest.raises(DataError, match=message):
        celeba.read_celeba_folder(root)


def test_not_a_celeba_folder(tmp_path):
    with pytest.raises(DataError, match="no img_align_celeba"):
        celeba.read_celeba_folder(tmp_path)


def test_synthetic_export_round_trip(tmp_path):
    summary = export_synthetic(tmp_path / "s", 40, size=32, seed=1, people=10, quiet=True)
    index = celeba.read_celeba_folder(summary.root)
    assert len(index.filenames) == 40 and summary.contact_sheet.exists()
    assert sum(summary.split_counts.values()) == 40
    assert all(index.image_path(i).exists() for i in range(40))
    # No person appears in two splits.
    for person in np.unique(index.identity):
        assert len(np.unique(index.partition[index.identity == person])) == 1
    # Same seed, same folder.
    again = export_synthetic(tmp_path / "t", 40, size=32, seed=1, people=10, quiet=True)
    assert (again.root / celeba.ATTR_FILE).read_text() == (
        summary.root / celeba.ATTR_FILE
    ).read_text()
    assert (again.root / celeba.IMAGE_DIR / "000040.jpg").read_bytes() == index.image_path(
        39
    ).read_bytes()
    # Attractive is sampled but never drawn: no portrait is labelled with it.
    assert np.all(index.attributes[:, CELEBA_ATTRIBUTES.index("Attractive")] == -1)


def test_a_small_export_shows_several_people_on_a_full_sheet(tmp_path):
    from deepface_gen.io.images import read_image

    summary = export_synthetic(tmp_path / "four", 4, size=32, seed=0, quiet=True)
    assert summary.people == 4  # not 4 photos of 1 person
    sheet = read_image(summary.contact_sheet)
    assert sheet.shape[1] < 6 * 32  # one row of 4, not a half-empty row of 8


def test_celeba_layout_export_looks_like_the_aligned_set(tmp_path):
    from deepface_gen.data.input_pipeline import make_source
    from deepface_gen.io.images import read_image

    summary = export_synthetic(tmp_path / "c", 24, seed=3, people=6, quiet=True, celeba_layout=True)
    index = celeba.read_celeba_folder(summary.root)
    assert read_image(index.image_path(0)).shape == (*celeba.ALIGNED_SIZE, 3)
    lines = (summary.root / celeba.LANDMARKS_FILE).read_text().splitlines()
    assert lines[0] == "24" and lines[1].split()[:2] == ["lefteye_x", "lefteye_y"]
    points = np.array([[int(v) for v in line.split()[1:]] for line in lines[2:]])
    assert points.shape == (24, 10)
    # Eyes and nose where CelebA's mean landmarks put them (69,111), (108,111), (88,135).
    mean = points.mean(0)
    assert np.allclose(mean[:6], [69, 111, 108, 111, 88, 135], atol=6)
    # The folder trains like CelebA: the source crops and resizes it.
    batch = make_source(f"celeba:{summary.root}", "train", 64, 4).batch(0)
    assert batch.images.shape == (4, 64, 64, 3)
