import io

import numpy as np
import pytest
from PIL import Image

from deepface_gen.errors import ImageError
from deepface_gen.io.images import center_crop, fit_to_model, make_grid, read_image, write_image
from deepface_gen.models.preprocessing import CAFFE_VGG16


def _save(path, pil, **kw):
    pil.save(path, **kw)
    return path


@pytest.fixture
def rgb():
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([x * 4, y * 6, (x + y) * 2], -1).astype(np.uint8)


def test_rgb_round_trip_png(tmp_path, rgb):
    path = write_image(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(read_image(path), rgb)


def test_jpeg_written_by_extension(tmp_path, rgb):
    path = write_image(tmp_path / "a.jpg", rgb)
    assert path.read_bytes()[:2] == b"\xff\xd8"
    assert np.abs(read_image(path).astype(int) - rgb).mean() < 4


def test_float_images_written_as_0_1(tmp_path):
    path = write_image(tmp_path / "f.png", np.full((20, 20, 3), 0.5, np.float32))
    assert read_image(path)[0, 0, 0] == 128


def test_grayscale_becomes_rgb(tmp_path):
    path = _save(tmp_path / "g.png", Image.fromarray(np.full((20, 30), 77, np.uint8)))
    out = read_image(path)
    assert out.shape == (20, 30, 3) and (out == 77).all()


def test_rgba_composited_over_white(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:10, :, 3] = 255  # top half opaque red, bottom half transparent
    out = read_image(_save(tmp_path / "a.png", Image.fromarray(rgba, "RGBA")))
    assert out[0, 0].tolist() == [255, 0, 0] and out[-1, 0].tolist() == [255, 255, 255]


def test_16_bit_scaled_to_8_bit(tmp_path):
    data = np.full((20, 20), 65535, np.uint16)
    data[:, :10] = 32896  # 128 * 257
    out = read_image(_save(tmp_path / "d.png", Image.fromarray(data)))
    assert out[0, -1].tolist() == [255] * 3 and out[0, 0].tolist() == [128] * 3


def test_palette_expanded(tmp_path, rgb):
    pil = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    out = read_image(_save(tmp_path / "p.png", pil))
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb).mean() < 20


def test_animated_gives_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((20, 20, 3), v, np.uint8)) for v in (10, 200)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    assert abs(int(read_image(path)[5, 5, 0]) - 10) < 3


def test_exif_orientation_applied(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)  # wide
    pil = Image.fromarray(img)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = _save(tmp_path / "r.jpg", pil, exif=exif)
    assert read_image(path).shape == (40, 20, 3)


def test_huge_image_downscaled_to_budget(tmp_path):
    path = _save(tmp_path / "big.png", Image.fromarray(np.zeros((400, 300, 3), np.uint8)))
    out = read_image(path, max_pixels=30_000)
    assert out.shape[0] * out.shape[1] <= 30_000 and out.shape[0] > out.shape[1]


def test_tiny_refused(tmp_path):
    path = _save(tmp_path / "tiny.png", Image.fromarray(np.zeros((8, 30, 3), np.uint8)))
    with pytest.raises(ImageError, match=r"tiny.png: image is 30x8 pixels; at least 16x16"):
        read_image(path)


def test_truncated_jpeg_refused(tmp_path, rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match=r"cut.jpg: not a readable image"):
        read_image(path)


def test_non_image_and_missing_and_empty(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    with pytest.raises(ImageError, match="notes.png: not a readable image"):
        read_image(text)
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "missing.png")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="file is empty"):
        read_image(empty)
    with pytest.raises(ImageError, match="is a folder"):
        read_image(tmp_path)


def test_unsupported_output_extension(tmp_path, rgb):
    with pytest.raises(ImageError, match="unsupported output type '.bmp'"):
        write_image(tmp_path / "x.bmp", rgb)


def test_write_is_atomic_leaves_no_temp_files(tmp_path, rgb):
    write_image(tmp_path / "a.png", rgb)
    write_image(tmp_path / "a.png", rgb[::-1])
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_crop_resize_and_grid(rgb):
    assert center_crop(rgb).shape == (40, 40, 3)
    assert fit_to_model(rgb, 32).shape == (32, 32, 3)
    grid = make_grid([rgb] * 5, columns=3, captions=["a"] * 5)
    assert grid.shape[1] == 3 * (60 + 2) + 2 and grid.shape[0] == 2 * (40 + 12 + 2) + 2
    assert make_grid([rgb] * 4).shape == (2 * 42 + 2, 2 * 62 + 2, 3)


def test_a_caption_runs_on_under_the_empty_captions_after_it_in_its_row():
    tiles = [np.full((16, 16, 3), 128, np.uint8)] * 6
    text = "W" * 40  # wide letters, longer than any row

    def inked(captions):  # columns of the caption strip under each tile holding any ink
        strip = make_grid(tiles, columns=3, captions=captions)[2 + 16 : 2 + 16 + 12]
        return [bool((strip[:, 2 + 18 * c : 2 + 18 * c + 16] < 128).any()) for c in range(3)]

    assert inked([text, "x", "y"] * 2) == [True, True, True]  # each its own
    assert inked([text, "", "", "", "", ""]) == [True, True, True]  # run on
    assert inked([text, "", "z", "", "", ""]) == [True, True, True]
    assert inked(["ab", "", "", "", "", ""]) == [True, False, False]  # short: no run-on


def test_words_in_titles_and_captions_stay_apart():
    tiles = [np.full((16, 16, 3), 255, np.uint8)]

    def widest_gap(sheet: np.ndarray) -> int:  # longest run of ink-free columns between ink
        ink = np.flatnonzero((sheet < 128).any(axis=(0, 2)))
        return int(np.diff(ink).max()) - 1

    title = make_grid(tiles * 4, columns=4, title="at strength")[:14]
    caption = make_grid(tiles * 4, columns=4, captions=["at strength", "", "", ""])[-14:]
    # Pillow's default font draws a 2-pixel space, which read "at strength" as one word;
    # letters within a word sit at most 2 blank columns apart.
    assert widest_gap(title) >= 4 and widest_gap(caption) >= 4
    assert widest_gap(make_grid(tiles * 4, columns=4, title="atstrength")[:14]) < 4
    # Its comma hides under a t: "hat,smiling" read "hatsmiling" until a space followed it.
    assert widest_gap(make_grid(tiles * 4, columns=4, title="hat,smiling")[:14]) >= 4
    # A number's thousands stay together.
    assert widest_gap(make_grid(tiles * 4, columns=4, title="26,000")[:14]) < 4


def test_caffe_preprocessing_is_bgr_minus_mean():
    pixel = np.array([[[10.0, 20.0, 30.0]]])
    out = np.asarray(CAFFE_VGG16.apply(pixel))
    np.testing.assert_allclose(out[0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(CAFFE_VGG16.invert(out)), pixel, atol=1e-4)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny file whose PNG header claims a huge image (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + b"\x00" * (3 * width)
    data = zlib.compress(row * 4)  # a few rows are enough: the header is what counts
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_huge_png_refused_from_its_header_without_touching_pillow_globals(tmp_path, recwarn):
    from PIL import Image

    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(20000, 20000))
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match=r"bomb.png: image is 20000x20000 pixels .*megapixels"):
        read_image(path)
    assert before == Image.MAX_IMAGE_PIXELS
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]


def test_header_size_of_common_formats(tmp_path, rgb):
    from deepface_gen.io.images import header_size

    for suffix in (".png", ".jpg"):
        path = write_image(tmp_path / f"x{suffix}", rgb)
        assert header_size(path.read_bytes()) == (rgb.shape[1], rgb.shape[0])
    assert header_size(b"not an image") is None


def test_large_jpeg_decoded_at_reduced_scale(tmp_path):
    big = np.zeros((1200, 1600, 3), np.uint8)
    big[:, 800:] = 200
    path = write_image(tmp_path / "big.jpg", big)
    out = read_image(path, max_pixels=200_000)
    assert out.shape[0] * out.shape[1] <= 200_000
    assert abs(out.shape[1] / out.shape[0] - 4 / 3) < 0.02
    assert out[:, : out.shape[1] // 3].mean() < 20 and out[:, -out.shape[1] // 3 :].mean() > 180


def test_written_files_get_the_umask_mode_and_the_umask_is_untouched(tmp_path, rgb):
    import os

    previous = os.umask(0o027)
    try:
        path = write_image(tmp_path / "m.png", rgb)
        assert os.umask(0o027) == 0o027  # writing did not change it
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.slow
def test_a_huge_image_is_read_within_a_gigabyte(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "huge.png"
    Image.new("RGBA", (7800, 7800), (200, 30, 30, 128)).save(path)  # 61 megapixels
    # VmHWM is this process's own peak (ru_maxrss would include the forking parent's).
    script = (
        "import sys\n"
        "from deepface_gen.io.images import read_image\n"
        "image = read_image(sys.argv[1])\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "print(image.shape[0], image.shape[1], int(status.split()[0]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                          text=True, timeout=300, check=True)  # fmt: skip
    height, width, peak_kb = (int(v) for v in done.stdout.split())
    assert height * width <= 40_000_000 and abs(width / height - 1) < 0.01
    assert peak_kb / 1024 < 1000, f"reading took {peak_kb / 1024:.0f} MB"
