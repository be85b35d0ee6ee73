import dataclasses
import json
import shutil
import urllib.error

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepface_gen.errors import DownloadError, WeightsError
from deepface_gen.io import bundles
from deepface_gen.models import pretrained
from deepface_gen.models.preprocessing import CAFFE_VGG16
from deepface_gen.models.vgg import VGG, VGG16, compact_config, init_params


def write_keras_h5(path, params, keras_names=True, drop=(), reshape=None):
    """Write params in the legacy Keras HDF5 layout (layer_names / weight_names)."""
    with h5py.File(path, "w") as f:
        names = []
        for layer, arrays in params.items():
            if layer in drop:
                continue
            name = layer
            if keras_names and layer.startswith("conv"):
                block, idx = layer[4:].split("_")
                name = f"block{block}_conv{idx}"
            group = f.create_group(name)
            kernel = np.asarray(arrays["kernel"])
            if reshape and layer == reshape[0]:
                kernel = np.zeros(reshape[1], np.float32)
            group.create_dataset(f"{name}_W_1:0", data=kernel)
            group.create_dataset(f"{name}_b_1:0", data=np.asarray(arrays["bias"]))
            group.attrs["weight_names"] = [f"{name}_W_1:0".encode(), f"{name}_b_1:0".encode()]
            names.append(name.encode())
        f.create_group("input_1").attrs["weight_names"] = []
        f.attrs["layer_names"] = [b"input_1", *names]
    return path


@pytest.fixture(scope="module")
def small_params():
    return jax.tree_util.tree_map(
        np.asarray, init_params(compact_config(8, 3, 32), jax.random.key(0))
    )


def test_keras_round_trip(tmp_path, small_params):
    config = compact_config(8, 3, 32)
    path = write_keras_h5(tmp_path / "w.h5", small_params)
    loaded = pretrained.load_keras_h5(path, config)
    for layer in small_params:
        np.testing.assert_array_equal(loaded[layer]["kernel"], small_params[layer]["kernel"])


def test_mismatched_shape_named(tmp_path, small_params):
    config = compact_config(8, 3, 32)
    path = write_keras_h5(tmp_path / "w.h5", small_params, reshape=("conv2_1", (3, 3, 16, 7)))
    with pytest.raises(WeightsError, match=r"conv2_1 kernel has shape \(3, 3, 16, 7\), expected"):
        pretrained.load_keras_h5(path, config)


def test_missing_layer_named(tmp_path, small_params):
    path = write_keras_h5(tmp_path / "w.h5", small_params, drop=("conv3_1",))
    with pytest.raises(WeightsError, match="missing layers conv3_1"):
        pretrained.load_keras_h5(path, compact_config(8, 3, 32))


def test_not_hdf5_and_truncated_and_missing(tmp_path, small_params):
    bad = tmp_path / "bad.h5"
    bad.write_text("hello")
    with pytest.raises(WeightsError, match="not a readable HDF5 weight file"):
        pretrained.load_keras_h5(bad)
    good = write_keras_h5(tmp_path / "w.h5", small_params)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsError, match="truncated|damaged"):
        pretrained.load_keras_h5(cut, compact_config(8, 3, 32))
    with pytest.raises(WeightsError, match="no such weight file"):
        pretrained.load_keras_h5(tmp_path / "nope.h5")


def test_plain_hdf5_without_keras_layout(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(WeightsError, match="not a Keras weight file"):
        pretrained.load_keras_h5(path)


def test_bundle_round_trip_and_checksum(tmp_path, small_params):
    folder = bundles.save_bundle(tmp_path / "b", {"backbone": small_params}, {"name": "t"})
    arrays, manifest = bundles.load_bundle(folder)
    assert manifest["name"] == "t" and manifest["format"] == bundles.BUNDLE_FORMAT
    np.testing.assert_array_equal(
        arrays["backbone"]["conv1_1"]["kernel"], small_params["conv1_1"]["kernel"]
    )
    data = bytearray((folder / bundles.PARAMS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (folder / bundles.PARAMS_FILE).write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        bundles.load_bundle(folder)
    (folder / bundles.PARAMS_FILE).unlink()
    with pytest.raises(WeightsError, match="file is missing"):
        bundles.load_bundle(folder)
    with pytest.raises(WeightsError, match="not a model bundle"):
        bundles.load_bundle(tmp_path)


def test_download_offline_fails_fast_with_advice(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(pretrained.urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError, match="weights import PATH"):
        pretrained.download_weights("vgg16")
    assert not list((bundles.home() / "downloads").glob("*.partial"))


def test_load_pretrained_not_installed_says_how():
    with pytest.raises(WeightsError, match="weights download vgg16"):
        pretrained.load_pretrained("vgg16")


# --- the real VGG16 file ------------------------------------------------------


def _conv_numpy(x, kernel, bias):
    """Reference 3x3 'same' convolution + ReLU in float64, written independently."""
    h, w, _ = x.shape
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, kernel.shape[-1]))
    for dy in range(3):
        for dx in range(3):
            out += padded[dy : dy + h, dx : dx + w] @ kernel[dy, dx]
    return np.maximum(out + bias, 0.0)


def _pool_numpy(x):
    h, w, c = x.shape
    return x[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))


def reference_vgg16(params, image, until):
    x = np.asarray(CAFFE_VGG16.apply(image), np.float64)
    outs = {}
    for block, (convs, _) in enumerate(VGG16.stages, start=1):
        for i in range(1, convs + 1):
            name = f"conv{block}_{i}"
            x = _conv_numpy(x, params[name]["kernel"].astype(np.float64), params[name]["bias"])
            outs[name] = x
            if name == until:
                return outs
        x = _pool_numpy(x)
    return outs


def test_vgg16_matches_numpy_reference(vgg16_file):
    from deepface_gen.data import synth

    params = pretrained.load_keras_h5(vgg16_file)
    image = synth.to_uint8(synth.sample_portraits(jax.random.key(7), 1, size=48).images)[0]
    ref = reference_vgg16(params, image.astype(np.float64), "conv5_3")
    got = VGG(VGG16).apply(
        {"params": params}, CAFFE_VGG16.apply(image[None]), taps=("block3_conv1", "block5_conv3")
    )
    for ours, theirs in (("conv3_1", "conv3_1"), ("conv5_3", "conv5_3")):
        a, b = np.asarray(got[ours][0], np.float64), ref[theirs]
        assert a.shape == b.shape
        rel = np.abs(a - b).max() / np.abs(b).max()
        assert rel < 1e-4, (ours, rel)


def test_vgg16_import_and_load_from_cache(vgg16_file, tmp_path):
    target = pretrained.import_weights(vgg16_file)
    assert target == pretrained.cached_weights_path("vgg16")
    record = json.loads(target.with_suffix(".json").read_text())
    assert record["sha256"] == "db4f0aa7a405ba4e60a229c1ca3a5403b5f20c078124acb1a462631d14c253c1"
    # Not Keras's own file (re-saved from an ONNX export), but its very values.
    assert record["verified"] == "weights" == pretrained.installed_record("vgg16")["verified"]
    config, params, prep = pretrained.load_pretrained("vgg16")
    assert config.name == "vgg16" and prep.channel_order == "BGR"
    out = VGG(config).apply({"params": params}, jnp.zeros((1, 32, 32, 3)), taps=("conv1_1",))
    assert out["conv1_1"].shape == (1, 32, 32, 64)


def test_truncated_real_file_refused(vgg16_file, tmp_path):
    cut = tmp_path / "cut.h5"
    with open(vgg16_file, "rb") as src, open(cut, "wb") as dst:
        shutil.copyfileobj(src, dst)
        dst.truncate(vgg16_file.stat().st_size // 3)
    with pytest.raises(WeightsError):
        pretrained.import_weights(cut)
    assert not pretrained.cached_weights_path("vgg16").exists()


def test_altered_published_weights_refused_unless_unverified(vgg16_file, tmp_path, capsys):
    """One value changed inside the real file keeps it structurally sound, yet it is not
    the published VGG16: refused, nothing installed; --unverified installs it, saying so."""
    from deepface_gen import cli

    altered = shutil.copyfile(vgg16_file, tmp_path / "altered.h5")
    with h5py.File(altered, "r+") as f:
        f["block3_conv1"]["block3_conv1_W_1:0"][0, 0, 0, 0] += 1e-3
    assert cli.main(["weights", "import", str(altered)]) == 2
    err = capsys.readouterr().err
    assert "has the layers and shapes of vgg16 but not its published weights" in err
    assert "--unverified" in err and not pretrained.cached_weights_path("vgg16").exists()
    assert cli.main(["weights", "import", str(altered), "--unverified"]) == 0
    assert "NOT the published weights" in capsys.readouterr().out
    assert pretrained.installed_record("vgg16")["verified"] == "unverified"
    assert cli.main(["weights", "list"]) == 0
    assert "NOT the published weights" in capsys.readouterr().out


def test_unknown_published_weights_are_installed_as_structurally_sound(tmp_path, monkeypatch):
    """Weights whose publisher gives no checksum (VGG-Face's Keras port) are installed
    with that said."""
    from deepface_gen.models.vgg import VGGConfig

    config = VGGConfig("small-face", ((1, 4), (1, 8)), dense=(16, 16), input_size=8)
    params = jax.tree_util.tree_map(np.asarray, init_params(config, jax.random.key(3)))
    path = write_keras_h5(tmp_path / "face.h5", params, keras_names=False)
    small = dataclasses.replace(pretrained.KNOWN_WEIGHTS["vggface"], config=config)
    monkeypatch.setitem(pretrained.KNOWN_WEIGHTS, "vggface", small)
    target = pretrained.import_weights(path, "vggface")
    assert pretrained.installed_record(target.stem)["verified"] == "unknown"
    assert "no checksum" in pretrained.VERDICTS["unknown"]


def test_vggface_layout_with_fc_layers(tmp_path):
    """The Keras VGG-Face file names layers conv1_1.../fc6/fc7/fc8; fc8 (identities) is unused."""
    from deepface_gen.models.vgg import VGGConfig

    config = VGGConfig("small-face", ((1, 4), (1, 8)), dense=(16, 16), input_size=8)
    params = jax.tree_util.tree_map(np.asarray, init_params(config, jax.random.key(3)))
    params["fc8"] = {"kernel": np.zeros((16, 5), np.float32), "bias": np.zeros(5, np.float32)}
    path = write_keras_h5(tmp_path / "face.h5", params, keras_names=False)
    loaded = pretrained.load_keras_h5(path, config)
    assert set(loaded) == {"conv1_1", "conv2_1", "fc6", "fc7"}
    np.testing.assert_array_equal(loaded["fc6"]["kernel"], params["fc6"]["kernel"])
    assert pretrained.detect_known(pretrained.read_keras_layers(path)).name == "vggface"
    out = VGG(config).apply({"params": loaded}, jnp.zeros((1, 8, 8, 3)), taps=("fc7",))
    assert out["fc7"].shape == (1, 16)


def test_replacing_a_bundle_file_is_atomic(tmp_path, small_params, monkeypatch):
    folder = bundles.save_bundle(tmp_path / "b", {"params": small_params}, {"kind": "x"})
    first = bundles.add_to_bundle(folder, "extra", "extra.msgpack", {"a": np.ones(3)}, {"n": 1})
    assert bundles.read_manifest(folder)["extra"] == {"n": 1, "file": first.name}

    # A crash after the new arrays are written but before the manifest swap...
    real_write = bundles.atomic_write_bytes

    def crash_on_manifest(path, data):
        if path.name == bundles.MANIFEST:
            raise KeyboardInterrupt("killed")
        real_write(path, data)

    monkeypatch.setattr(bundles, "atomic_write_bytes", crash_on_manifest)
    with pytest.raises(KeyboardInterrupt):
        bundles.add_to_bundle(folder, "extra", "extra.msgpack", {"a": np.zeros(3)}, {"n": 2})
    monkeypatch.setattr(bundles, "atomic_write_bytes", real_write)
    # ...leaves the old bundle, whole and verified.
    manifest = bundles.verify_bundle(folder)
    assert manifest["extra"]["n"] == 1
    np.testing.assert_array_equal(bundles.load_bundle_file(folder, first.name)["a"], np.ones(3))

    # A completed replacement points at the new file and removes the old one.
    second = bundles.add_to_bundle(folder, "extra", "extra.msgpack", {"a": np.zeros(3)}, {"n": 3})
    manifest = bundles.verify_bundle(folder)
    assert manifest["extra"] == {"n": 3, "file": second.name} and not first.exists()
    assert first.name not in manifest["files"]
    np.testing.assert_array_equal(bundles.load_bundle_file(folder, second.name)["a"], np.zeros(3))


def test_safetensors_files_round_trip_memory_mapped_and_match_the_reference_format(tmp_path):
    from deepface_gen.io import safetensors as st

    tree = {
        "backbone": {"conv1_1": {"kernel": np.arange(27, dtype=np.float32).reshape(3, 3, 3)}},
        "half": np.array([0.5, -2.0, 3.0], np.float16),  # odd byte length before wider arrays
        "counts": np.array([[1, 2], [3, 4]], np.int64),
        "mask": np.array([True, False]),
        "scalar": np.float64(2.5),
    }
    digest = st.write(tmp_path / "a.safetensors", tree)
    assert digest == bundles.file_digest(tmp_path / "a.safetensors")
    back = st.read(tmp_path / "a.safetensors", sha256=digest)
    for name, value in st.flatten(tree).items():
        got = st.flatten(back)[name]
        assert got.dtype == value.dtype and got.shape == value.shape
        np.testing.assert_array_equal(got, value)
        assert not got.flags.writeable  # a view of the mapped file, not a copy
    reference = pytest.importorskip("safetensors.numpy")
    theirs = reference.load_file(tmp_path / "a.safetensors")
    np.testing.assert_array_equal(
        theirs["backbone/conv1_1/kernel"], tree["backbone"]["conv1_1"]["kernel"]
    )
    reference.save_file({"x/y": np.ones((2, 3), np.float32)}, tmp_path / "b.safetensors")
    np.testing.assert_array_equal(st.read(tmp_path / "b.safetensors")["x"]["y"], np.ones((2, 3)))
    with pytest.raises(ValueError, match="dtype <U1 cannot be stored"):
        st.write(tmp_path / "c.safetensors", {"name": np.array(["a"])})
    with pytest.raises(st.ChecksumError, match="checksum mismatch"):
        st.read(tmp_path / "a.safetensors", sha256="0" * 64)
    (tmp_path / "d.safetensors").write_bytes((10**6).to_bytes(8, "little") + b"{}")
    with pytest.raises(st.FormatError, match="header of 1000000 bytes"):
        st.read(tmp_path / "d.safetensors")


def test_a_bundle_file_is_hashed_once_per_process_and_older_msgpack_bundles_still_load(
    tmp_path, small_params, monkeypatch
):
    import os
    import time

    from deepface_gen.io import safetensors as st

    folder = bundles.save_bundle(tmp_path / "b", {"params": small_params}, {"kind": "x"})
    extra = bundles.add_to_bundle(folder, "extra", "extra.safetensors", {"a": np.ones(3)}, {})
    old = time.time() - 60  # files older than the racy window are remembered once hashed
    for path in folder.iterdir():
        os.utime(path, (old, old))
    hashed = []
    real_file_digest, real_digest_of = bundles.file_digest, st.digest_of
    monkeypatch.setattr(bundles, "file_digest", lambda p: hashed.append(p) or real_file_digest(p))
    monkeypatch.setattr(st, "digest_of", lambda b: hashed.append("mapped") or real_digest_of(b))
    bundles.load_bundle(folder)  # verifies both array files
    bundles.load_bundle_file(folder, extra.name)
    bundles.load_bundle(folder)
    assert len(hashed) == 2  # the params and extra files: each hashed once
    # A bundle written before safetensors (msgpack arrays) reads the same.
    from flax import serialization

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    data = serialization.msgpack_serialize({"params": {"w": np.arange(4.0)}})
    (legacy / bundles.LEGACY_PARAMS_FILE).write_bytes(data)
    import hashlib
    import json

    digest = hashlib.sha256(data).hexdigest()
    manifest = {"format": bundles.BUNDLE_FORMAT, "files": {bundles.LEGACY_PARAMS_FILE: digest}}
    (legacy / bundles.MANIFEST).write_text(json.dumps(manifest))
    arrays, _ = bundles.load_bundle(legacy)
    np.testing.assert_array_equal(arrays["params"]["w"], np.arange(4.0))
    assert bundles.params_digest(manifest) == digest
