"""JAX's persistent compilation cache under the project's cache folder.

The first ``deepface-gen generate`` on a machine compiles the render loop (seconds);
with the cache on, later processes load the compiled program from disk instead.
Off with ``DEEPFACE_GEN_COMPILATION_CACHE=0`` or the CLI's ``--no-compilation-cache``.
"""

from __future__ import annotations

import os
from pathlib import Path

from deepface_gen.io.bundles import home

ENV_SWITCH = "DEEPFACE_GEN_COMPILATION_CACHE"
# Programs that compile faster than this are not worth a disk round trip (override
# with $DEEPFACE_GEN_COMPILATION_CACHE_MIN_SECONDS; 0 keeps every program).
ENV_MIN_SECONDS = "DEEPFACE_GEN_COMPILATION_CACHE_MIN_SECONDS"
MIN_COMPILE_SECONDS = 0.2


def enabled_by_environment() -> bool:
    """False when ``$DEEPFACE_GEN_COMPILATION_CACHE`` is 0, off, false or no."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "off", "false", "no")


def enable_compilation_cache(folder: str | os.PathLike | None = None) -> Path:
    """Point JAX's persistent compilation cache at ``folder`` (default: the cache
    folder's ``xla/``) and return it."""
    import jax

    path = Path(folder) if folder is not None else home() / "xla"
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    minimum = float(os.environ.get(ENV_MIN_SECONDS, MIN_COMPILE_SECONDS))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", minimum)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
