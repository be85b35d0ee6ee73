"""The project's model bundles and its cache folder.

A *bundle* is the native model format: a folder with a JSON manifest (architecture,
preprocessing, attribute names, provenance, sha256 of every file) and array files in
the safetensors format (``io/safetensors.py``: numbers only, nothing in it can
execute; read memory-mapped, hashed in the same mapping, so a large cGMM is neither
copied nor read twice). Bundles written before it hold Flax msgpack files (data only
too), which are still read. Pickle is never used. The cache (``$DEEPFACE_GEN_HOME``,
default ``~/.cache/deepface-gen``) holds imported and downloaded weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from flax import serialization

from deepface_gen.errors import WeightsError
from deepface_gen.io import safetensors
from deepface_gen.io.images import atomic_write_bytes

MANIFEST = "manifest.json"
PARAMS_FILE = "params.safetensors"
LEGACY_PARAMS_FILE = "params.msgpack"  # bundles written before safetensors
BUNDLE_FORMAT = 1
# Files already hashed by this process: (path, inode, size, mtime, ctime) -> sha256. A
# bundle's files are checked when it is opened; loading one of them afterwards does not
# hash it again. As git does with "racily clean" files, a file changed within the last
# couple of seconds is not remembered: a rewrite inside one timestamp tick could keep
# every field of its stat.
_verified: dict[tuple, str] = {}
_RACY_SECONDS = 2.0


def home() -> Path:
    """The project's cache folder: ``$DEEPFACE_GEN_HOME`` or the user's cache dir."""
    if os.environ.get("DEEPFACE_GEN_HOME"):
        return Path(os.environ["DEEPFACE_GEN_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deepface-gen"


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _to_numpy_tree(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {str(k): _to_numpy_tree(v) for k, v in tree.items()}
    return np.asarray(tree)


def _stat_key(path: Path) -> tuple:
    stat = path.stat()
    return str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _remember(path: Path, digest: str) -> None:
    key = _stat_key(path)
    if time.time() - key[3] / 1e9 > _RACY_SECONDS:  # mtime
        _verified[key] = digest


def _non_finite(arrays: Mapping[str, Any], prefix: str = "") -> list[tuple[str, int, int]]:
    """(name, non-finite count, size) of every float array in ``arrays`` with a NaN or
    an infinity."""
    found = []
    for key, value in arrays.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found += _non_finite(value, f"{name}/")
            continue
        array = np.asarray(value)
        if np.issubdtype(array.dtype, np.floating):
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            if bad:
                found.append((name, bad, int(array.size)))
    return found


def _write_arrays(path: Path, arrays: Mapping[str, Any]) -> str:
    """Write an array file atomically in the format its suffix names; returns its sha256.
    Refuses arrays with NaN or infinite values: a model that diverged is never shipped."""
    broken = _non_finite(arrays)
    if broken:
        bad, total = sum(b for _, b, _ in broken), sum(n for _, _, n in broken)
        names = ", ".join(name for name, _, _ in broken[:3]) + (", ..." if len(broken) > 3 else "")
        raise WeightsError(
            f"{path.parent}: refusing to write non-finite weights ({bad} of {total} values in "
            f"{names} are NaN or infinite): training diverged; lower the learning rate or "
            "the offending setting and train again"
        )
    if path.suffix == ".msgpack":
        data = serialization.msgpack_serialize(_to_numpy_tree(arrays))
        atomic_write_bytes(path, data)
        digest = hashlib.sha256(data).hexdigest()
    else:
        digest = safetensors.write(path, arrays)
    return digest


def save_bundle(
    folder: str | os.PathLike, arrays: Mapping[str, Any], manifest: Mapping[str, Any]
) -> Path:
    """Write a bundle: ``arrays`` (a nested dict of arrays) and a JSON ``manifest``.

    The array file is written first, then the manifest with its sha256, each
    atomically, so an interrupted save never leaves a manifest that points at
    a half-written file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digest = _write_arrays(folder / PARAMS_FILE, arrays)
    full = dict(manifest)
    full["format"] = BUNDLE_FORMAT
    files = dict(full.get("files", {}))
    files.pop(LEGACY_PARAMS_FILE, None)
    files[PARAMS_FILE] = digest
    full["files"] = files
    atomic_write_bytes(folder / MANIFEST, json.dumps(full, indent=2, sort_keys=True).encode())
    return folder


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of a bundle, checked for presence and format version."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise WeightsError(f"{folder}: not a model bundle (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise WeightsError(f"{path}: manifest is not valid JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise WeightsError(f"{path}: a manifest is a JSON object, not a {type(manifest).__name__}")
    files = manifest.get("files", {})
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise WeightsError(f"{path}: 'files' must map file names to sha256 digests")
    if any(Path(name).name != name for name in files):
        raise WeightsError(f"{path}: 'files' may only name files inside the bundle folder")
    if manifest.get("format") != BUNDLE_FORMAT:
        raise WeightsError(
            f"{path}: bundle format {manifest.get('format')!r}; this version reads {BUNDLE_FORMAT}"
        )
    return manifest


def _check_file(folder: Path, name: str, digest: str) -> None:
    """Refuse a listed file that is missing or whose sha256 differs from ``digest``
    (hashed once per process while the file is unchanged)."""
    path = folder / name
    if not path.exists():
        raise WeightsError(f"{folder}: manifest lists {name} but the file is missing")
    key = _stat_key(path)
    if _verified.get(key) == digest:
        return
    actual = file_digest(path)
    if actual != digest:
        raise WeightsError(str(safetensors.ChecksumError(path, actual, digest)))
    _remember(path, digest)


def verify_bundle(folder: str | os.PathLike) -> dict:
    """Check every file a bundle's manifest lists against its sha256; returns the manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    for name, digest in manifest.get("files", {}).items():
        _check_file(folder, name, digest)
    return manifest


def require(manifest: dict, folder: str | os.PathLike, fields: dict[str, type]) -> None:
    """Refuse a manifest that lacks a field a loader needs, or has one of the wrong type,
    naming the field (not a KeyError from deep inside the loader)."""
    for name, kind in fields.items():
        if name not in manifest:
            raise WeightsError(
                f"{Path(folder) / MANIFEST}: no {name!r} entry; the bundle is damaged"
            )
        if not isinstance(manifest[name], kind):
            raise WeightsError(
                f"{Path(folder) / MANIFEST}: {name!r} must be a {kind.__name__}, "
                f"not a {type(manifest[name]).__name__}"
            )


def params_file(manifest: Mapping[str, Any]) -> str:
    """The name of a bundle's main array file (``params.msgpack`` in older bundles)."""
    files = manifest.get("files", {})
    return LEGACY_PARAMS_FILE if LEGACY_PARAMS_FILE in files else PARAMS_FILE


def params_digest(manifest: Mapping[str, Any]) -> str | None:
    """The sha256 of a bundle's main array file: what identifies its weights."""
    return manifest.get("files", {}).get(params_file(manifest))


def load_bundle(folder: str | os.PathLike) -> tuple[dict, dict]:
    """Verify a bundle and return (its main arrays, manifest)."""
    manifest = verify_bundle(folder)
    return load_bundle_file(folder, params_file(manifest)), manifest


def add_to_bundle(
    folder: str | os.PathLike,
    section: str,
    filename: str,
    arrays: Mapping[str, Any],
    record: Mapping[str, Any],
) -> Path:
    """Add (or replace) one array file of a bundle, described by ``manifest[section]``.

    The arrays go to a new, content-addressed file (``stem.<sha256[:12]>.msgpack``),
    never over the file the manifest names; then the manifest is swapped atomically to
    point at it; only then is the old file deleted. A crash at any point leaves a bundle
    that verifies: the old one, or the new one (at worst with an unlisted file beside).
    ``record["file"]`` is set to the new file's name. Returns the new file's path.
    """
    folder = Path(folder)
    manifest = verify_bundle(folder)
    stem, suffix = os.path.splitext(filename)
    draft = folder / f".{stem}.{secrets.token_hex(6)}{suffix}"  # renamed once hashed
    digest = _write_arrays(draft, arrays)
    new_name = f"{stem}.{digest[:12]}{suffix}"
    os.replace(draft, folder / new_name)
    previous = (
        manifest.get(section, {}).get("file") if isinstance(manifest.get(section), dict) else None
    )
    files = {**manifest.get("files", {}), new_name: digest}
    if previous and previous != new_name:
        files.pop(previous, None)
    manifest[section] = {**record, "file": new_name}
    manifest["files"] = files
    atomic_write_bytes(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    if previous and previous != new_name:
        (folder / previous).unlink(missing_ok=True)
    return folder / new_name


def update_record(folder: str | os.PathLike, section: str, updates: Mapping[str, Any]) -> dict:
    """Add keys to ``manifest[section]`` (no array file changes), atomically; returns it."""
    folder = Path(folder)
    manifest = verify_bundle(folder)
    if not isinstance(manifest.get(section), dict):
        raise WeightsError(f"{folder / MANIFEST}: no {section!r} record to update")
    manifest[section] = {**manifest[section], **updates}
    atomic_write_bytes(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    return manifest[section]


def load_bundle_file(folder: str | os.PathLike, filename: str) -> dict:
    """Arrays of one file of a bundle, checked against the manifest's sha256 (unless
    this process has just checked it). safetensors files come memory-mapped (read-only
    views, hashed in the same mapping); msgpack files (older bundles) are decoded."""
    folder = Path(folder)
    files = read_manifest(folder).get("files", {})
    if filename not in files:
        raise WeightsError(f"{folder / MANIFEST}: {filename} is not listed in 'files'")
    path, digest = folder / filename, files[filename]
    if not path.exists():
        raise WeightsError(f"{folder}: manifest lists {filename} but the file is missing")
    checked = _verified.get(_stat_key(path)) == digest
    try:
        if path.suffix == ".msgpack":
            data = path.read_bytes()  # read once: hashed and decoded from these bytes
            actual = digest if checked else hashlib.sha256(data).hexdigest()
            if actual != digest:
                raise safetensors.ChecksumError(path, actual, digest)
            arrays = serialization.msgpack_restore(data)
        else:
            arrays = safetensors.read(path, sha256=None if checked else digest)
    except safetensors.ChecksumError as err:
        raise WeightsError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - any decoding failure is a bad file
        raise WeightsError(f"{path}: cannot decode arrays ({err})") from None
    _remember(path, digest)
    return arrays
