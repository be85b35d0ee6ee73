"""Steps of long work, told to whoever listens.

A render loop calls :func:`report` after each compiled chunk of steps. Nobody listens by
default; a caller that wants to follow the work (a server's job, a page's progress bar)
or to stop it wraps the call in :func:`listening`. The listener is per thread and per
task (a context variable), so the server's engine thread listens to its own job only.
A listener stops the work by raising :class:`AbandonedError` between two chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Listener = Callable[[int, int], None]  # (steps done, steps in all)

_listener: ContextVar[Listener | None] = ContextVar("deepface_gen_progress", default=None)


class AbandonedError(Exception):
    """Raised by a listener to stop work nobody waits for any more."""


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call ``listener(done, total)`` after every chunk of steps run inside the block."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def report(done: int, total: int) -> None:
    """Tell the listener, if any, that ``done`` of ``total`` steps have run (it may raise
    :class:`AbandonedError`)."""
    listener = _listener.get()
    if listener is not None:
        listener(done, total)
