"""Each trainer's settings as typed, frozen dataclasses: the one place where a setting's
default, type, range or choices, and meaning live.

A trainer declares its schema (``seed``, ``data``, ``model`` and ``train`` sections,
each a dataclass of :func:`setting` fields); from it come the defaults a config file may
leave out (so every key can be set from the command line), the check of a whole config
before anything is created (unknown keys with the nearest known one, types, ranges and
choices, each refused in one line naming the key), and the table that
``deepface-gen train --show-settings`` prints. Configs stay plain Python files read into
a :class:`~deepface_gen.config.Config`, as big_vision's are; the schema checks them.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deepface_gen import checks
from deepface_gen.config import Config, nearest
from deepface_gen.errors import DeepFaceGenError

BIG = 10**9  # "any count": steps, batches, intervals


def setting(
    default: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    choices: tuple = (),
    help: str = "",
) -> Any:
    """A dataclass field with its default, inclusive range (for a list: of each element;
    whole-number bounds mean a whole number), allowed ``choices``, and one-line meaning
    (the metadata keys of a request's ``option``, ``generation/requests.py``)."""
    meta = {"low": low, "high": high, "choices": tuple(choices), "help": help}
    if isinstance(default, list):
        return field(default_factory=functools.partial(list, default), metadata=meta)
    return field(default=default, metadata=meta)


def section(schema: type) -> Any:
    """A nested section of settings (``data``, ``model``, ``train``)."""
    return field(default_factory=schema)


@dataclass(frozen=True)
class DataSettings:
    source: str = setting(
        "synthetic",
        help="synthetic, synthetic:N (a fixed pool of N people), tfds (CelebA) or a CelebA folder",
    )
    size: int = setting(64, 16, 1024, help="image side in pixels")


@dataclass(frozen=True)
class LoopSettings:
    """The ``train`` settings the shared loop reads (``training/loop.py``)."""

    batch_size: int = setting(32, 1, BIG, help="images per step, over all devices and hosts")
    steps: int = setting(3000, 1, BIG, help="the run's length; the schedule decays to zero there")
    learning_rate: float = setting(1e-3, 1e-12, 10.0, help="peak, after the linear warmup")
    warmup_steps: int = setting(100, 0, BIG, help="linear warmup, then cosine decay")
    log_every: int = setting(25, 1, BIG, help="steps per line of metrics.jsonl (window means)")
    checkpoint_every: int = setting(250, 1, BIG, help="steps between checkpoints")
    keep_every: int = setting(0, 0, BIG, help="also keep checkpoints at multiples of this (0: off)")
    eval_every: int = setting(0, 0, BIG, help="steps between held-out evaluations (0: never)")
    eval_batches: int = setting(4, 1, BIG, help="held-out batches per evaluation")


@dataclass(frozen=True)
class Settings:
    """A trainer's schema: subclasses add their ``model`` and ``train`` sections."""

    seed: int = setting(0, 0, checks.MAX_SEED, help="the root key: data order, initialization")
    data: DataSettings = section(DataSettings)


def defaults(schema: type) -> dict:
    """Every setting of ``schema`` with its default, as nested plain data."""
    return dataclasses.asdict(schema())


@functools.cache
def _fields(schema: type) -> dict[str, tuple[Any, dataclasses.Field]]:
    hints = typing.get_type_hints(schema)
    return {f.name: (hints[f.name], f) for f in dataclasses.fields(schema)}


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is None and hasattr(kind, "__name__"):
        return kind.__name__
    return str(kind).replace("typing.", "").replace("NoneType", "None")


def _bound(number: float) -> str:
    return f"{number:g}".replace("e+0", "e").replace("e+", "e")


def _is(kind: Any, value: Any) -> bool:
    """Whether ``value`` has the annotated type (an int counts as a float)."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_is(option, value) for option in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(kind)
        return isinstance(value, list | tuple) and all(_is(item, v) for v in value)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind)


def check(config: Mapping, schema: type, prefix: str = "") -> None:
    """Refuse, in one line naming the key, the first setting of ``config`` that
    ``schema`` does not know (suggesting the nearest), or whose value has the wrong type,
    lies outside its range, or is not one of its choices."""
    known = _fields(schema)
    for key, value in config.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise DeepFaceGenError(
                f"unknown setting {name!r}{nearest(key, known)}; "
                f"{prefix.rstrip('.') or 'the config'} has: {', '.join(known)}",
                field=name,
            )
        kind, spec = known[key]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, Mapping):
                raise DeepFaceGenError(f"{name!r} is a section of settings, not {value!r}")
            check(value, kind, f"{name}.")
            continue
        if not _is(kind, value):
            raise DeepFaceGenError(
                f"{name}={value!r}: expected {_type_name(kind)}, got {type(value).__name__}",
                field=name,
            )
        _check_bounds(name, value, spec.metadata)


def _check_bounds(name: str, value: Any, meta: Mapping) -> None:
    choices, low, high = meta.get("choices"), meta.get("low"), meta.get("high")
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if item is None:
            continue
        if choices:
            checks.choice(name, item, choices)
        if low is not None:
            whole = isinstance(low, int) and isinstance(high, int)
            (checks.whole if whole else checks.real)(name, item, low, high)


def describe(schema: type, prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    """(key, type, default, allowed values, meaning) for every setting of ``schema``."""
    rows, instance = [], schema()
    for key, (kind, spec) in _fields(schema).items():
        name = f"{prefix}{key}"
        if dataclasses.is_dataclass(kind):
            rows += describe(kind, f"{name}.")
            continue
        meta = spec.metadata
        default = getattr(instance, key)
        if meta["choices"]:
            allowed = " | ".join(map(str, meta["choices"]))
        elif meta["low"] is not None:
            allowed = f"{_bound(meta['low'])} .. {_bound(meta['high'])}"
        else:
            allowed = ""
        rows.append((name, _type_name(kind), repr(default), allowed, meta["help"]))
    return rows


def table(schema: type) -> str:
    """``describe`` as aligned text, one setting a line."""
    rows = [("setting", "type", "default", "allowed", "meaning"), *describe(schema)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    )


def resolve(config: Config, schema: type) -> Config:
    """``config`` with every setting it leaves out at the schema's default, checked."""
    full = config.with_defaults(defaults(schema))
    check(full, schema)
    return full
