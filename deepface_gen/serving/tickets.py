"""How far a request has come, for a client that asked to follow it.

A client sends ``X-Progress-Ticket: NAME`` with a request and asks ``GET
/api/progress/NAME`` while it waits: queued, running (with the steps done of the steps
in all, from ``deepface_gen/progress.py``), done or failed. The newest tickets are
kept, a bounded number, so a client that never asks costs nothing lasting.
"""

from __future__ import annotations

import collections
import re
import threading

from deepface_gen.serving.engine import JobFuture

HEADER = "x-progress-ticket"
KEPT = 1024  # tickets remembered; older ones are forgotten
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Tickets:
    """The jobs of the newest ``KEPT`` tickets, by name."""

    def __init__(self) -> None:
        self._jobs: collections.OrderedDict[str, JobFuture] = collections.OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def valid(name: str | None) -> bool:
        return name is not None and bool(_NAME.match(name))

    def follow(self, name: str | None, future: JobFuture) -> None:
        """Remember ``future`` under ``name`` (a name that is not 1-64 letters, digits,
        '-' or '_' is ignored: following is a courtesy, never a refusal)."""
        if not self.valid(name):
            return
        with self._lock:
            self._jobs[name] = future
            self._jobs.move_to_end(name)
            while len(self._jobs) > KEPT:
                self._jobs.popitem(last=False)

    def state(self, name: str) -> dict | None:
        """{state, done, total} of the ticket's job, or None for a ticket not known."""
        with self._lock:
            future = self._jobs.get(name)
        if future is None:
            return None
        done, total = future.steps or (0, 0)
        if future.done():
            failed = future.cancelled() or future.exception() is not None
            state = "failed" if failed else "done"
        else:
            state = "running" if future.running() else "queued"
        return {"state": state, "done": done, "total": total}
