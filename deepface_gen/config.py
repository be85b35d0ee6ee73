"""Configs as Python files (big_vision style), with ``key=value`` overrides.

A config file defines ``get_config() -> Config``. A :class:`Config` is a
nested attribute dict that refuses unknown keys on override, so a typo in
``train.stpes=10`` is an error, not a silently ignored setting, and typed: an
override must have the type of the value it replaces (``train.steps=abc`` and
``model.width=16.0`` are refused, naming the key, the value and the type), as
``ml_collections.ConfigDict`` does for Flax and big_vision configs.
"""

from __future__ import annotations

import ast
import copy
import difflib
import importlib.util
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from deepface_gen.errors import DeepFaceGenError


class MissingSettingError(DeepFaceGenError, AttributeError):
    """A setting the trainer needs is not in the config (a one-line error, not a traceback)."""


class Config(dict):
    """A dict with attribute access, nested; ``to_dict`` gives plain JSON-ready data."""

    def __init__(self, data: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__()
        for key, value in {**(data or {}), **kwargs}.items():
            self[key] = Config(value) if isinstance(value, Mapping) else value

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name.startswith("__"):  # Python's own protocols look for these
                raise AttributeError(name) from None
            raise MissingSettingError(
                f"the config has no setting {name!r} (this section has: "
                f"{', '.join(sorted(self)) or 'nothing'}); add it to the config file"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def to_dict(self) -> dict:
        return {k: v.to_dict() if isinstance(v, Config) else v for k, v in self.items()}

    def copy(self) -> Config:
        return copy.deepcopy(self)

    def with_defaults(self, defaults: Mapping[str, Any]) -> Config:
        """A copy with every key of ``defaults`` (nested) this config lacks added, so a
        setting a config file leaves out still exists: it can be overridden from the
        command line, read as an attribute, and is recorded in checkpoints."""
        merged = self.copy()
        for key, value in defaults.items():
            if key not in merged:
                merged[key] = Config(value) if isinstance(value, Mapping) else copy.deepcopy(value)
            elif isinstance(merged[key], Config) and isinstance(value, Mapping):
                merged[key] = merged[key].with_defaults(value)
        return merged


def nearest(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'steps'?)`` for the known key closest to a misspelt one, or ''."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare string such as a path or a name


def _typed(dotted: str, raw: str, current: Any) -> Any:
    """The override's value, checked against the type of the value it replaces.

    An int stays an int (``5.5`` and ``abc`` are refused), a float takes any number, a
    bool only True/False, a string any text, a list or tuple a sequence; a None default
    takes anything (it marks an optional setting such as ``model.init``).
    """
    value = _parse_value(raw)
    if current is None or value is None and not isinstance(current, bool | int | float):
        return value
    expected = type(current)
    if isinstance(current, bool):
        ok = isinstance(value, bool)
    elif isinstance(current, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(current, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(current, str):
        ok, value = True, raw  # text stays text, even when it looks like a number
    elif isinstance(current, list | tuple):
        ok = isinstance(value, list | tuple)
        value = expected(value) if ok else value
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise DeepFaceGenError(
            f"override {dotted}={raw!r}: expected {expected.__name__} "
            f"(like the current value {current!r}), got {type(value).__name__}"
        )
    return value


def apply_overrides(config: Config, overrides: Iterable[str]) -> Config:
    """Apply ``a.b=value`` overrides to a copy of ``config``; unknown keys are refused."""
    config = config.copy()
    for item in overrides:
        if "=" not in item:
            raise DeepFaceGenError(f"override {item!r} must look like key=value")
        dotted, _, raw = item.partition("=")
        *parents, leaf = dotted.strip().split(".")
        node = config
        for part in parents:
            if not isinstance(node.get(part), Config):
                raise DeepFaceGenError(f"unknown config section {part!r} in {dotted!r}")
            node = node[part]
        if leaf not in node:
            known = ", ".join(sorted(node))
            raise DeepFaceGenError(
                f"unknown config key {dotted!r}{nearest(leaf, node)}; this section has: {known}"
            )
        if isinstance(node[leaf], Config):
            raise DeepFaceGenError(f"{dotted!r} is a section; override one of its keys")
        node[leaf] = _typed(dotted, raw.strip(), node[leaf])
    return config


def load_config(
    path: str | os.PathLike,
    overrides: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> Config:
    """Load ``get_config()`` from a Python config file, add the ``defaults`` it leaves
    out (a trainer's schema's, ``loop.defaults_of``), and apply overrides."""
    path = Path(path)
    if not path.exists():
        raise DeepFaceGenError(f"{path}: no such config file")
    spec = importlib.util.spec_from_file_location(f"deepface_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise DeepFaceGenError(f"{path}: a config file must define get_config()")
    return apply_overrides(Config(module.get_config()).with_defaults(defaults or {}), overrides)
