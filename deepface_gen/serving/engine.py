"""One worker that owns the model and runs requests in batches.

Requests arrive on the web server's threads; the model runs on one worker thread, so
compiled programs and device memory are shared and never raced for. The worker takes
the oldest job, gathers more for up to ``batch_window_ms`` while requests are still
arriving (not at all when none is), groups jobs that can share a call (the same kind
and ``group``), and runs each group through its kind's runner: one batched call, whose
size the runner pads to a bucket size (``batching``) so nothing recompiles. Each caller gets
its own part back through a ``concurrent.futures.Future``. A caller that stops waiting
gives its job up (``JobFuture.give_up``): a running batch nobody waits for stops
between two chunks of its steps instead of holding the queue.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from deepface_gen import progress
from deepface_gen.serving.limits import DEFAULT_LIMITS, Limits

# A runner draws a whole group: payloads in, one result per payload out, in order.
Runner = Callable[[Sequence[Any]], Sequence[Any]]


class BusyError(Exception):
    """The queue is full: the caller should answer 503 and the client retry later."""


class JobFuture(Future):
    """A job's future that its waiter can give up on (``give_up``): a job not yet started
    is cancelled; a running one is abandoned between two chunks of steps (``progress``)
    once every job of its batch has been given up, so it no longer holds the queue."""

    def __init__(self) -> None:
        super().__init__()
        self.given_up = threading.Event()
        self.steps: tuple[int, int] | None = None  # (done, in all) once its steps report

    def give_up(self) -> None:
        if not self.cancel():
            self.given_up.set()


@dataclass
class Job:
    kind: str
    payload: Any
    group: Hashable | None  # jobs of one kind and equal group run as one call; None: alone
    weight: int  # faces the job adds to a batch
    future: JobFuture = field(default_factory=JobFuture)

    def batches_with(self, other: Job) -> bool:
        return self.group is not None and (self.kind, self.group) == (other.kind, other.group)


class Arrival:
    """A request on its way to the queue (see ``Engine.arrival``); closing it twice is
    harmless."""

    def __init__(self, engine: Engine) -> None:
        self._engine, self._open = engine, True

    def close(self) -> None:
        if self._open:
            self._open = False
            self._engine._arrived()


class Engine:
    """The worker thread, its queue, and counters of the batches it ran."""

    def __init__(self, runners: Mapping[str, Runner], limits: Limits = DEFAULT_LIMITS) -> None:
        self.runners = dict(runners)
        self.limits = limits
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._carry: collections.deque[Job] = collections.deque()
        self._arriving = 0  # requests being read that will submit a job shortly
        self._lock = threading.Lock()
        self._sizes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self._abandoned = 0  # batches stopped part-way because nobody waited for them
        self._worker: threading.Thread | None = None

    # -- callers' side ---------------------------------------------------------------

    def arrival(self) -> Arrival:
        """Mark a request that has arrived and will submit a job once read: while any
        is open, a batch waits (up to the window) for it instead of leaving without it.
        ``submit(..., arrival=it)`` or ``it.close()`` ends the wait for it."""
        with self._lock:
            self._arriving += 1
        return Arrival(self)

    def _arrived(self) -> None:
        with self._lock:
            self._arriving -= 1

    def submit(
        self,
        kind: str,
        payload: Any,
        group: Hashable | None = None,
        weight: int = 1,
        arrival: Arrival | None = None,
    ) -> JobFuture:
        """Queue a job for the runner of ``kind``; its future gets that runner's result
        for this payload (or its exception). Raises :class:`BusyError` when the queue is
        full. ``arrival``, where given, is closed once the job is queued."""
        try:
            if kind not in self.runners:
                raise KeyError(f"no runner for {kind!r}")
            if self._queue.qsize() + len(self._carry) >= self.limits.max_queue:
                waiting = self.limits.max_queue
                raise BusyError(f"the server has {waiting} requests waiting; try again soon")
            job = Job(kind, payload, group, max(1, weight))
            self._queue.put(job)
            return job.future
        finally:
            if arrival is not None:
                arrival.close()

    def stats(self) -> dict:
        """How many batches of each size each kind ran, and what waits now."""
        with self._lock:
            sizes = {kind: dict(sorted(c.items())) for kind, c in self._sizes.items()}
            abandoned = self._abandoned
        return {
            "batches": sizes,
            "queued": self._queue.qsize() + len(self._carry),
            "abandoned": abandoned,
        }

    # -- lifetime ----------------------------------------------------------------------

    def start(self) -> Engine:
        if self._worker is None:
            self._worker = threading.Thread(target=self._loop, name="deepface-gen-engine")
            self._worker.daemon = True
            self._worker.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout)
            self._worker = None

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the worker ----------------------------------------------------------------------

    def _next(self, timeout: float | None) -> Job | None:
        if self._carry:
            return self._carry.popleft()
        return self._queue.get(timeout=timeout) if timeout != 0 else self._queue.get_nowait()

    def _gather(self, first: Job) -> list[Job]:
        """``first`` and the jobs that arrive within the window and fit one batch with
        it; others wait for the next round, in order."""
        batch, weight, others = [first], first.weight, []
        deadline = time.monotonic() + self.limits.batch_window_ms / 1000
        while weight < self.limits.max_batch_faces and first.group is not None:
            waiting = self._queue.qsize() > 0 or bool(self._carry)
            if not waiting and self._arriving == 0:
                break
            left = deadline - time.monotonic()
            try:
                job = self._next(max(left, 0.0) if not waiting else 0)
            except queue.Empty:
                break
            if job is None:  # stop: finish this batch first
                self._queue.put(None)
                break
            if job.batches_with(first) and weight + job.weight <= self.limits.max_batch_faces:
                batch.append(job)
                weight += job.weight
            else:
                others.append(job)
            if left <= 0 and self._queue.qsize() == 0:
                break
        self._carry.extendleft(reversed(others))
        return batch

    def _loop(self) -> None:
        while True:
            job = self._next(None)
            if job is None:
                return
            batch = [j for j in self._gather(job) if j.future.set_running_or_notify_cancel()]
            if batch:
                self._run(batch)

    def _run(self, batch: list[Job]) -> None:
        kind = batch[0].kind
        with self._lock:
            self._sizes[kind][sum(j.weight for j in batch)] += 1
        try:
            results = self._call(batch)
        except progress.AbandonedError as err:
            for job in batch:
                job.future.set_exception(err)
            return
        except BaseException as err:  # noqa: BLE001 - every error goes back to its callers
            if len(batch) > 1:  # one bad job must not fail the others: run each alone
                for job in batch:
                    self._run_alone(job)
                return
            batch[0].future.set_exception(err)
            return
        for job, result in zip(batch, results, strict=True):
            job.future.set_result(result)

    def _run_alone(self, job: Job) -> None:
        try:
            job.future.set_result(self._call([job])[0])
        except BaseException as err:  # noqa: BLE001
            job.future.set_exception(err)

    def _call(self, batch: list[Job]) -> Sequence[Any]:
        """The runner's results for ``batch``, stopped between two chunks of steps once
        every caller has given up (``progress.AbandonedError``)."""
        kind = batch[0].kind

        def keep_going(done: int, total: int) -> None:
            for job in batch:
                job.future.steps = (done, total)
            if all(job.future.given_up.is_set() for job in batch):
                with self._lock:
                    self._abandoned += 1
                raise progress.AbandonedError(
                    f"stopped after {done} of {total} steps: nobody waits for this {kind}"
                )

        with progress.listening(keep_going):
            return self.runners[kind]([job.payload for job in batch])
