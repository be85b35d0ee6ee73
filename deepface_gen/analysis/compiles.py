"""Counting XLA compilations, so "compiled once" is a measured claim, not a hope."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax

BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCount:
    """How many backend compilations ran, and their total seconds, while counting."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def _listener(self, event: str, duration: float, **_: object) -> None:
        if event == BACKEND_COMPILE_EVENT:
            self.count += 1
            self.seconds += duration


@contextlib.contextmanager
def count_compiles() -> Iterator[CompileCount]:
    """``with count_compiles() as c: ...`` then ``c.count`` backend compiles happened
    inside the block (a persistent-cache hit is not a backend compile)."""
    counter = CompileCount()
    jax.monitoring.register_event_duration_secs_listener(counter._listener)
    try:
        yield counter
    finally:
        _unregister(counter._listener)


def _unregister(listener) -> None:
    """jax.monitoring's public unregister (JAX >= 0.7), or its older private spelling."""
    unregister = getattr(jax.monitoring, "unregister_event_duration_listener", None)
    if unregister is None:  # JAX 0.6
        from jax._src import monitoring

        unregister = monitoring._unregister_event_duration_listener_by_callback
    unregister(listener)
