"""Arrays in the safetensors format, written in a stream and read memory-mapped.

The format (https://github.com/huggingface/safetensors, "Format"): 8 bytes of
little-endian header length N, N bytes of JSON (``{name: {"dtype", "shape",
"data_offsets": [begin, end]}, "__metadata__": {str: str}}``), then the raw
little-endian bytes of every array, back to back. It holds numbers only, so nothing
in it can execute, and an array is a slice of the file: reading maps the file and
returns views, so a 0.5 GB cGMM costs no copy and pages in only what is used.

Nested dicts (Flax parameters) are stored flat under ``/``-joined names.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import secrets
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

SEPARATOR = "/"
_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}  # fmt: skip
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
_HASH_CHUNK = 16 * 2**20


class FormatError(ValueError):
    """A file that is not a well-formed safetensors file of the dtypes read here."""


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """``{"a": {"b": x}}`` -> ``{"a/b": x}`` (arrays as numpy, little-endian)."""
    flat = {}
    for key, value in tree.items():
        key = str(key)
        if SEPARATOR in key or not key:
            raise ValueError(f"array name {key!r} is empty or contains {SEPARATOR!r}")
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{prefix}{key}{SEPARATOR}")
        else:
            array = np.asarray(value)
            if array.dtype not in _CODES:
                raise ValueError(f"{prefix}{key}: dtype {array.dtype} cannot be stored")
            flat[prefix + key] = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return flat


def unflatten(flat: Mapping[str, np.ndarray]) -> dict:
    """Inverse of :func:`flatten`."""
    tree: dict = {}
    for name, array in flat.items():
        *parents, leaf = name.split(SEPARATOR)
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = array
    return tree


def _layout(flat: Mapping[str, np.ndarray]) -> tuple[bytes, list[str]]:
    """The padded header and the order the arrays follow it in (widest dtype first, as
    the reference writer does, so every array starts aligned to its own size)."""
    order = sorted(flat, key=lambda k: (-flat[k].dtype.itemsize, k))
    header, offset = {}, 0
    for name in order:
        array = flat[name]
        header[name] = {
            "dtype": _CODES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the data start on an 8-byte boundary
    return struct.pack("<Q", len(text)) + text, order


def write(path: str | os.PathLike, tree: Mapping[str, Any]) -> str:
    """Write ``tree`` (nested dicts of arrays) to ``path`` atomically (temporary file,
    then rename), array by array, hashing as it goes; returns the file's sha256."""
    flat = flatten(tree)
    header, order = _layout(flat)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    digest = hashlib.sha256()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            for chunk in [header] + [
                memoryview(np.ascontiguousarray(flat[k])).cast("B") for k in order
            ]:
                digest.update(chunk)
                handle.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def _mapped(path: Path) -> np.ndarray:
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise FormatError(f"{path}: empty file")
        return np.frombuffer(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ), np.uint8)


def digest_of(buffer: np.ndarray) -> str:
    """sha256 of a byte buffer (a mapped file), read in chunks."""
    digest = hashlib.sha256()
    for start in range(0, len(buffer), _HASH_CHUNK):
        digest.update(buffer[start : start + _HASH_CHUNK])
    return digest.hexdigest()


def _arrays(buffer: np.ndarray, path: Path) -> Iterator[tuple[str, np.ndarray]]:
    if len(buffer) < 8:
        raise FormatError(f"{path}: too short for a safetensors header")
    (length,) = struct.unpack("<Q", buffer[:8].tobytes())
    if length > len(buffer) - 8:
        raise FormatError(f"{path}: header of {length} bytes in a {len(buffer)}-byte file")
    try:
        header = json.loads(buffer[8 : 8 + length].tobytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FormatError(f"{path}: header is not JSON ({err})") from None
    if not isinstance(header, dict):
        raise FormatError(f"{path}: header is not a JSON object")
    data = buffer[8 + length :]
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(_DTYPES[entry["dtype"]]).newbyteorder("<")
            shape = tuple(int(s) for s in entry["shape"])
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{path}: bad header entry for {name!r}: {entry!r}") from None
        if not 0 <= begin <= end <= len(data) or end - begin != dtype.itemsize * int(
            np.prod(shape, dtype=np.int64)
        ):
            raise FormatError(f"{path}: {name!r} does not fit its data_offsets")
        yield name, data[begin:end].view(dtype).reshape(shape)


def read(path: str | os.PathLike, sha256: str | None = None) -> dict:
    """Nested dicts of read-only arrays mapped from ``path`` (no copy; pages load as
    they are used). With ``sha256`` the mapped bytes are hashed first, in the same
    mapping the arrays are read from (one read of the file), and a mismatch raises
    :class:`ChecksumError`."""
    path = Path(path)
    buffer = _mapped(path)
    if sha256 is not None:
        actual = digest_of(buffer)
        if actual != sha256:
            raise ChecksumError(path, actual, sha256)
    return unflatten(dict(_arrays(buffer, path)))


class ChecksumError(ValueError):
    """A file whose sha256 is not the one its manifest records."""

    def __init__(self, path: Path, actual: str, expected: str):
        super().__init__(
            f"{path}: checksum mismatch (sha256 {actual[:12]}…, manifest says {expected[:12]}…); "
            "the file is damaged or was replaced"
        )
