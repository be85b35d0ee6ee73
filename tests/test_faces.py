"""Photographs in and out: the alignment maths, the paste-back, the --align policy, and
(where the photos extra is installed) the real detector on the sample photographs."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from deepface_gen import cli
from deepface_gen.faces import alignment, detection, layout, pasting, photos
from deepface_gen.io.images import read_image, write_image

PHOTOS = Path(__file__).parents[1] / "experiments" / "photos"
ASTRONAUT_EYES = np.array([[204.0, 102.5], [247.0, 105.0]])  # dlib's, checked by eye


def has_detector() -> bool:
    try:
        detection.default_detector()
    except detection.DetectorMissingError:
        return False
    return True


needs_detector = pytest.mark.skipif(not has_detector(), reason="the photos extra is absent")


def random_similarity(rng):
    angle, scale = rng.uniform(-1, 1), rng.uniform(0.3, 3)
    linear = scale * np.array([[math.cos(angle), -math.sin(angle)],
                               [math.sin(angle), math.cos(angle)]])  # fmt: skip
    return np.hstack([linear, rng.uniform(-50, 50, (2, 1))])


def test_similarity_recovers_a_known_transform_and_inverts():
    rng = np.random.default_rng(0)
    truth = random_similarity(rng)
    source = rng.uniform(0, 100, (5, 2))
    for points in (source[:2], source):  # two points exactly, more by least squares
        found = alignment.similarity(points, alignment.apply(truth, points))
        np.testing.assert_allclose(found, truth, atol=1e-9)
    back = alignment.apply(alignment.invert(truth), alignment.apply(truth, source))
    np.testing.assert_allclose(back, source, atol=1e-9)
    with pytest.raises(ValueError, match="coincide"):
        alignment.similarity(np.ones((2, 2)), source[:2])


def dots(shape, points, value=255):
    """A black image with a 3 x 3 white dot at each continuous (x, y) point."""
    image = np.zeros((*shape, 3), np.uint8)
    for x, y in points:
        image[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = value
    return image


def dot_centre(image):
    """Brightness-weighted centre of an image's dots, in continuous coordinates."""
    weight = image.astype(float).sum(-1)
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    return np.array([(weight * (xs + 0.5)).sum(), (weight * (ys + 0.5)).sum()]) / weight.sum()


def test_warp_puts_a_point_where_the_matrix_sends_it():
    point = np.array([[60.5, 40.5]])
    matrix = np.array([[0.8, -0.3, 30.0], [0.3, 0.8, 10.0]])
    warped = alignment.warp(dots((100, 120), point), matrix, (120, 140))
    np.testing.assert_allclose(dot_centre(warped), alignment.apply(matrix, point)[0], atol=0.3)


@pytest.mark.parametrize("size", [64, 178])
def test_aligned_crop_has_the_eyes_where_the_layout_has_them(size):
    eyes = np.array([[310.5, 420.5], [420.5, 380.5]])  # tilted, far larger than the crop
    photo = dots((900, 700), eyes)
    placed = alignment.align(eyes, layout.SYNTHETIC, size)
    crop = alignment.crop(photo, placed)
    assert crop.shape == (size, size, 3)
    expected = layout.SYNTHETIC.eye_points(size)
    for half, eye in zip((slice(0, size // 2), slice(size // 2, size)), expected, strict=True):
        part = np.zeros_like(crop)
        part[:, half] = crop[:, half]
        np.testing.assert_allclose(dot_centre(part), eye, atol=0.6)


def test_feather_window_is_one_inside_and_zero_at_the_edges():
    window = pasting.feather_window(64)
    assert window.shape == (64, 64) and window.min() >= 0 and window.max() == 1
    assert window[32, 32] == 1 and window[0].max() < 0.01 and window[:, -1].max() < 0.01


def test_paste_changes_only_the_window_and_carries_the_change():
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 200, (300, 400, 3), dtype=np.uint8)
    placed = alignment.align(np.array([[180.0, 150.0], [220.0, 152.0]]), layout.SYNTHETIC, 64)
    before = alignment.crop(photo, placed)
    after = np.clip(before.astype(int) + 40, 0, 255).astype(np.uint8)
    pasted = pasting.paste_change(photo, placed, before, after)
    back = alignment.invert(placed.matrix)
    window = alignment.warp(pasting.feather_window(64), back, photo.shape[:2])
    changed = np.any(pasted != photo, axis=-1)
    assert changed.any() and not (changed & (window <= 0)).any()
    centre = np.round(alignment.apply(back, [[32.0, 32.0]])[0]).astype(int)
    lift = pasted[centre[1], centre[0]].astype(int) - photo[centre[1], centre[0]]
    np.testing.assert_array_equal(lift, [40, 40, 40])


def test_layout_of_a_manifest():
    assert layout.of_manifest({"training": {"config": {"data": {"source": "synthetic:2000"}}}}) \
        is layout.SYNTHETIC  # fmt: skip
    assert layout.of_manifest({"training": {"config": {"data": {"source": "celeba:/x"}}}}) \
        is layout.CELEBA  # fmt: skip
    assert layout.of_manifest({}) is layout.CELEBA  # imported networks
    own = layout.FaceLayout("mine", ((0.3, 0.4), (0.7, 0.4)))
    assert layout.of_manifest({"face_layout": own.to_json()}) == own
    with pytest.raises(ValueError, match="image-left eye first"):
        layout.FaceLayout.from_json({"eyes": [[0.7, 0.4], [0.3, 0.4]]})


class FakeDetector:
    """Finds the given faces, and counts its calls."""

    def __init__(self, *faces):
        self.faces, self.calls = list(faces), 0

    def __call__(self, photo):
        self.calls += 1
        return self.faces


def fake_face(eyes, score=1.0):
    eyes = np.asarray(eyes, float)
    return detection.Face((0, 0, 10, 10), eyes, eyes.mean(0) + [0, 10], score)


def test_prepare_follows_the_align_modes():
    photo = np.zeros((300, 400, 3), np.uint8)
    found = FakeDetector(fake_face([[100, 100], [140, 110]]))  # off the centred square's
    aligned = photos.prepare(photo, 64, layout.SYNTHETIC, "auto", detector=found)
    assert aligned.alignment is not None and aligned.crop.shape == (64, 64, 3)
    small = FakeDetector()
    crop = photos.prepare(np.zeros((64, 64, 3), np.uint8), 64, layout.SYNTHETIC, detector=small)
    assert small.calls == 0 and crop.alignment is None  # already an aligned portrait
    none = FakeDetector()
    fallback = photos.prepare(photo, 64, layout.SYNTHETIC, "auto", detector=none, name="a.jpg")
    assert fallback.box == (50, 0, 300, 300) and "a.jpg: no face found" in fallback.note
    with pytest.raises(photos.NoFaceError, match="a.jpg: no face found"):
        photos.prepare(photo, 64, layout.SYNTHETIC, "on", detector=none, name="a.jpg")
    with pytest.raises(photos.NoFaceError, match="face 1 asked for, but 1 face"):
        photos.prepare(photo, 64, layout.SYNTHETIC, "auto", face_index=1, detector=found)
    tiny = FakeDetector(fake_face([[180, 150], [184, 150]]))
    with pytest.raises(photos.NoFaceError, match="eyes are 4 px apart, the minimum is 8 px"):
        photos.prepare(photo, 64, layout.SYNTHETIC, "on", detector=tiny)
    # A portrait enlarged (here 5x the layout's eyes): an aligned crop, kept as it is.
    big = np.zeros((320, 320, 3), np.uint8)
    enlarged = FakeDetector(fake_face(layout.SYNTHETIC.eye_points(320) + 1.0))
    kept = photos.prepare(big, 64, layout.SYNTHETIC, "auto", detector=enlarged)
    assert kept.alignment is None and kept.box == (0, 0, 320, 320) and enlarged.calls == 1
    calls = found.calls
    boxed = photos.prepare(photo, 64, layout.SYNTHETIC, "on", box=(10, 10, 50, 50), detector=found)
    assert boxed.box == (10, 10, 50, 50) and found.calls == calls  # --box wins over --align


def test_prepare_without_the_detector_installed(monkeypatch):
    def missing():
        raise detection.DetectorMissingError("finding faces in photos needs dlib: pip install x")

    monkeypatch.setattr(detection, "default_detector", missing)
    photo = np.zeros((300, 400, 3), np.uint8)
    portrait = photos.prepare(photo, 64, layout.SYNTHETIC)
    assert portrait.alignment is None and "needs dlib" in portrait.note
    with pytest.raises(detection.DetectorMissingError):
        photos.prepare(photo, 64, layout.SYNTHETIC, "on")


@needs_detector
def test_detector_finds_the_sample_faces_and_ignores_the_badge():
    faces = detection.default_detector()(read_image(PHOTOS / "astronaut.jpg"))
    assert len(faces) == 1  # the mission patch scores under MIN_SCORE
    np.testing.assert_allclose(faces[0].eyes, ASTRONAUT_EYES, atol=3)
    assert len(detection.default_detector()(read_image(PHOTOS / "grace_hopper.jpg"))) == 1


@needs_detector
def test_detector_agrees_with_itself_on_a_turned_and_scaled_photo():
    photo = read_image(PHOTOS / "astronaut.jpg")
    angle = math.radians(28)
    matrix = 1.5 * np.array([[math.cos(angle), -math.sin(angle), 0],
                             [math.sin(angle), math.cos(angle), 0]])  # fmt: skip
    matrix[:, 2] = [400, 0]
    faces = detection.default_detector()(alignment.warp(photo, matrix, (900, 900)))
    eyes = alignment.apply(alignment.invert(matrix), faces[0].eyes)
    error = np.linalg.norm(eyes - ASTRONAUT_EYES, axis=1).mean()
    assert error <= 0.03 * np.linalg.norm(ASTRONAUT_EYES[1] - ASTRONAUT_EYES[0])


@needs_detector
def test_align_command_writes_crops_and_their_record(tmp_path, capsys):
    out = tmp_path / "aligned"
    assert cli.main(["align", str(PHOTOS / "astronaut.jpg"), "--out", str(out), "--marked"]) == 0
    record = json.loads((out / "faces.json").read_text())
    (face,) = record["photos"][str(PHOTOS / "astronaut.jpg")]["faces"]
    assert read_image(out / face["crop"]).shape == (64, 64, 3)
    assert face["alignment"]["crop_size"] == 64 and (out / "astronaut_marked.png").exists()
    blank = tmp_path / "blank.png"
    write_image(blank, np.full((200, 300, 3), 128, np.uint8))
    capsys.readouterr()
    assert cli.main(["align", str(blank), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"deepface-gen: error: {blank}: no face found"


@needs_detector
def test_edit_pastes_into_the_photo_and_refuses_a_faceless_one(tmp_path, capsys):
    source = PHOTOS / "astronaut.jpg"
    out = tmp_path / "edited.png"
    args = ["edit", str(source), "--attrs", "+eyeglasses", "--paste", "--quiet", "--out"]
    assert cli.main([*args, str(out)]) == 0
    photo, edited = read_image(source), read_image(out)
    assert edited.shape == photo.shape
    changed = np.any(edited != photo, axis=-1)
    rows, cols = np.nonzero(changed)
    assert changed.any() and rows.max() < 250 and cols.min() > 100  # the face, not the suit
    blank = tmp_path / "blank.png"
    write_image(blank, np.full((200, 300, 3), 128, np.uint8))
    capsys.readouterr()
    refused = ["edit", str(blank), "--attrs", "+eyeglasses", "--align", "on", "--out"]
    assert cli.main([*refused, str(tmp_path / "b.png")]) == 2
    assert "no face found" in capsys.readouterr().err


def test_shipped_bundles_record_the_layout_they_were_trained_on():
    from deepface_gen.models.classifier import load_classifier
    from deepface_gen.models.identity import load_identity_model

    assert load_classifier("starter").manifest["face_layout"] == layout.SYNTHETIC.to_json()
    assert load_classifier("starter").face_layout == layout.SYNTHETIC
    assert load_identity_model("identity").face_layout == layout.SYNTHETIC
