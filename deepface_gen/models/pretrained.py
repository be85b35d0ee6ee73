"""Published weight files: the Keras HDF5 layout (VGG16 ImageNet "notop", VGG-Face),
checked layer by layer, and their download and import into the cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepface_gen.errors import DownloadError, WeightsError
from deepface_gen.io.bundles import file_digest, home
from deepface_gen.io.images import atomic_write_bytes
from deepface_gen.models.preprocessing import CAFFE_VGG16, CAFFE_VGGFACE, Preprocessing
from deepface_gen.models.vgg import VGG16, VGG_FACE, VGGConfig, canonical_layer


@dataclass(frozen=True)
class KnownWeights:
    """A published weight file the project knows how to fetch and read."""

    name: str
    config: VGGConfig
    preprocessing: Preprocessing
    url: str
    md5: str | None  # the checksum its publisher gives, where there is one
    filename: str
    citation: str
    # sha256 of the published weights' values (``weights_fingerprint``): the same
    # weights re-saved in another container (another HDF5 writer) still match.
    weights_sha256: str | None = None


KNOWN_WEIGHTS: dict[str, KnownWeights] = {
    "vgg16": KnownWeights(
        "vgg16", VGG16, CAFFE_VGG16,
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "Simonyan & Zisserman 2014, VGG16 ImageNet weights (Oxford VGG, CC BY 4.0)",
        "d9a27cc1fc7f975ef8cff49180e794ccd7c4bc868ebb49740803b3bbaa8dbefd",
    ),
    "vggface": KnownWeights(
        "vggface", VGG_FACE, CAFFE_VGGFACE,
        "https://github.com/rcmalli/keras-vggface/releases/download/v2.0/"
        "rcmalli_vggface_tf_vgg16.h5",
        None,
        "rcmalli_vggface_tf_vgg16.h5",
        "Parkhi, Vedaldi & Zisserman 2015, VGG-Face (Keras port by R. C. Malli)",
    ),
}  # fmt: skip


def _open_h5(path: Path):
    import h5py

    if not path.exists():
        raise WeightsError(f"{path}: no such weight file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        size = path.stat().st_size
        raise WeightsError(
            f"{path}: not a readable HDF5 weight file ({size:,} bytes; {err}). "
            "It may be truncated or not a Keras .h5 file; download it again."
        ) from None


def _decode(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def read_keras_layers(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Raw arrays of a legacy Keras HDF5 weight file, per layer in file order.

    Layer names are canonicalized (``block3_conv1`` -> ``conv3_1``); weightless
    layers are dropped. Whole-model files (a ``model_weights`` group) work too.
    """
    path = Path(path)
    with _open_h5(path) as handle:
        root = handle.get("model_weights", handle)
        if "layer_names" not in root.attrs:
            raise WeightsError(
                f"{path}: HDF5 file without Keras 'layer_names'; not a Keras weight file"
            )
        layers: dict[str, list[np.ndarray]] = {}
        for raw_name in root.attrs["layer_names"]:
            name = _decode(raw_name)
            if name not in root:
                raise WeightsError(f"{path}: layer {name!r} is listed but has no group")
            group = root[name]
            arrays = []
            for weight_name in group.attrs.get("weight_names", []):
                weight_name = _decode(weight_name)
                try:
                    arrays.append(np.asarray(group[weight_name], dtype=np.float32))
                except (KeyError, OSError) as err:
                    raise WeightsError(
                        f"{path}: cannot read {name}/{weight_name} ({err}); "
                        "the file is damaged or truncated"
                    ) from None
            if arrays:
                layers[canonical_layer(name)] = arrays
        return layers


def keras_to_params(
    layers: Mapping[str, list[np.ndarray]], config: VGGConfig, source: str = "weights"
) -> dict:
    """Check raw Keras layers against ``config`` and arrange them as Flax params.

    Every conv layer of the config must be present with exactly the expected
    kernel and bias shapes; fc layers are taken when the config has them.
    Errors name the layer and both shapes.
    """
    expected = config.weight_shapes()
    missing = [name for name in expected if name not in layers]
    if missing:
        raise WeightsError(
            f"{source}: missing layers {', '.join(missing)} for {config.name} "
            f"(file has {', '.join(layers) or 'no weighted layers'})"
        )
    params: dict[str, dict[str, np.ndarray]] = {}
    for name, shapes in expected.items():
        arrays = layers[name]
        kernels = [a for a in arrays if a.ndim > 1]
        biases = [a for a in arrays if a.ndim == 1]
        if len(kernels) != 1 or len(biases) != 1:
            raise WeightsError(
                f"{source}: layer {name} should hold one kernel and one bias, "
                f"found arrays of shapes {[a.shape for a in arrays]}"
            )
        for kind, array in (("kernel", kernels[0]), ("bias", biases[0])):
            if tuple(array.shape) != shapes[kind]:
                raise WeightsError(
                    f"{source}: layer {name} {kind} has shape {tuple(array.shape)}, "
                    f"expected {shapes[kind]} for {config.name}"
                )
            if not np.all(np.isfinite(array)):
                raise WeightsError(f"{source}: layer {name} {kind} holds NaN or infinity")
        params[name] = {"kernel": kernels[0], "bias": biases[0]}
    return params


def detect_known(layers: Mapping[str, list[np.ndarray]]) -> KnownWeights:
    """Which known architecture a Keras file holds (VGG-Face if it has fc6/fc7)."""
    return KNOWN_WEIGHTS["vggface" if "fc6" in layers and "fc7" in layers else "vgg16"]


def load_keras_h5(path: str | os.PathLike, config: VGGConfig | None = None) -> dict:
    """Read and validate a Keras VGG weight file; returns Flax params for ``config``.

    Without ``config`` the architecture is detected from the layers present.
    """
    layers = read_keras_layers(path)
    config = config or detect_known(layers).config
    return keras_to_params(layers, config, source=str(path))


def cached_weights_path(name: str) -> Path:
    """Where the cache keeps weights called ``name`` (``vgg16``, ``vggface``)."""
    return home() / "weights" / f"{name}.h5"


def weights_fingerprint(params: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    """sha256 of the weights' values: each layer's kernel then bias, float32 little-endian
    in C order, layers in name order. The same weights in any file give the same value."""
    digest = hashlib.sha256()
    for layer in sorted(params):
        for kind in ("kernel", "bias"):
            digest.update(np.ascontiguousarray(params[layer][kind], "<f4").tobytes())
    return digest.hexdigest()


def verify_published(path: Path, params: Mapping, known: KnownWeights) -> str:
    """How ``path`` matches the published ``known`` weights: ``file`` (its publisher's
    checksum), ``weights`` (the published values in another container) or ``unknown``
    (nothing published to compare with); a file that differs from what was published
    raises :class:`WeightsError`."""
    if known.md5 and file_digest(path, "md5") == known.md5:
        return "file"
    if known.weights_sha256 is None and known.md5 is None:
        return "unknown"
    if known.weights_sha256 and weights_fingerprint(params) == known.weights_sha256:
        return "weights"
    raise WeightsError(
        f"{path} has the layers and shapes of {known.name} but not its published weights "
        "(neither the file's checksum nor its values' match): a damaged or altered copy. "
        f"Download it again (deepface-gen weights download {known.name}), or install it as "
        "it is with --unverified"
    )


VERDICTS = {
    "file": "the file its publisher gives, checksum verified",
    "weights": "the published weights value for value (in another container)",
    "unknown": "structurally sound; its publisher gives no checksum to verify it against",
    "unverified": "structurally sound, NOT the published weights (installed with --unverified)",
}


def import_weights(
    path: str | os.PathLike, name: str | None = None, unverified: bool = False
) -> Path:
    """Validate a Keras weight file and copy it into the cache under ``name``.

    The architecture is detected when ``name`` is not given. A file of known published
    weights must be them (``verify_published``) unless ``unverified``. The copy is atomic
    and a sidecar JSON records its sha256, source, architecture and verdict
    (``VERDICTS``; ``installed_record`` reads it).
    """
    path = Path(path)
    layers = read_keras_layers(path)
    known = KNOWN_WEIGHTS[name] if name else detect_known(layers)
    params = keras_to_params(layers, known.config, source=str(path))
    try:
        verdict = verify_published(path, params, known)
    except WeightsError:
        if not unverified:
            raise
        verdict = "unverified"
    target = cached_weights_path(known.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".h5.partial")
    shutil.copyfile(path, tmp)
    os.replace(tmp, target)
    record = {
        "name": known.name,
        "architecture": known.config.to_json(),
        "preprocessing": known.preprocessing.to_json(),
        "sha256": file_digest(target),
        "verified": verdict,
        "source": str(path.resolve()),
        "citation": known.citation,
    }
    atomic_write_bytes(target.with_suffix(".json"), json.dumps(record, indent=2).encode())
    return target


def installed_record(name: str) -> dict:
    """The sidecar record of installed weights ``name`` (empty where none was written)."""
    record = cached_weights_path(name).with_suffix(".json")
    return json.loads(record.read_text()) if record.exists() else {}


def download_weights(
    name: str, timeout: float = 20.0, progress: Callable[[int, int], None] | None = None
) -> Path:
    """Fetch a known weight file, verify its published checksum, and import it.

    Offline or unreachable hosts raise :class:`DownloadError` at once with what
    to do instead (download by hand, then ``deepface-gen weights import``).
    """
    if name not in KNOWN_WEIGHTS:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(KNOWN_WEIGHTS)}")
    known = KNOWN_WEIGHTS[name]
    target_dir = home() / "downloads"
    target_dir.mkdir(parents=True, exist_ok=True)
    partial = target_dir / (known.filename + ".partial")
    try:
        with (
            urllib.request.urlopen(known.url, timeout=timeout) as response,
            open(partial, "wb") as handle,
        ):
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            for chunk in iter(lambda: response.read(1 << 20), b""):
                handle.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        partial.unlink(missing_ok=True)
        reason = getattr(err, "reason", err)
        raise DownloadError(
            f"could not download {name} from {known.url} ({reason}). If this machine is "
            f"offline, fetch the file elsewhere and run: deepface-gen weights import PATH"
        ) from None
    if known.md5:
        actual = file_digest(partial, "md5")
        if actual != known.md5:
            partial.unlink(missing_ok=True)
            raise DownloadError(
                f"downloaded {name} has md5 {actual}, expected {known.md5}; file discarded"
            )
    downloaded = partial.with_suffix("")
    os.replace(partial, downloaded)
    return import_weights(downloaded, name)


def load_pretrained(name: str) -> tuple[VGGConfig, dict, Preprocessing]:
    """Config, params and preprocessing of imported weights ``name`` from the cache."""
    if name not in KNOWN_WEIGHTS:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(KNOWN_WEIGHTS)}")
    known = KNOWN_WEIGHTS[name]
    path = cached_weights_path(name)
    if not path.exists():
        raise WeightsError(
            f"{name} weights are not installed. Run `deepface-gen weights download {name}`, "
            f"or `deepface-gen weights import PATH` with a copy of {known.filename}"
        )
    record_path = path.with_suffix(".json")
    if record_path.exists():
        recorded = json.loads(record_path.read_text()).get("sha256")
        if recorded and recorded != file_digest(path):
            raise WeightsError(f"{path}: checksum differs from when it was imported; re-import it")
    return known.config, load_keras_h5(path, known.config), known.preprocessing
