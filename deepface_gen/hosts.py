"""Training and fitting past one machine, on JAX's own multi-controller runtime.

Every process runs the same command with the same config and data path; they meet at
a coordinator (``--coordinator HOST:PORT --num-processes N --process-id K``, or
``--coordinator auto`` where ``jax.distributed.initialize()`` reads a Cloud TPU or
SLURM environment itself). The training mesh then spans every process's devices;
each process feeds only its rows of every global batch (``share``), statistics are
summed across processes (``sum_across``, ``rows_across``), and only the first process
(``is_main``) writes metrics, bundles and progress. With none of the
options, nothing here does anything: one process, as before.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding

from deepface_gen.errors import DeepFaceGenError

DEFAULT_TIMEOUT_S = 300
_ADDRESS = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def initialize(
    coordinator: str | None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: int = DEFAULT_TIMEOUT_S,
) -> None:
    """Join a multi-process run (see the module docstring); a no-op without a
    ``coordinator``. Must run before anything else touches JAX's devices. Refuses
    inconsistent options, and a coordinator not reached within ``timeout_s``, in one line."""
    if coordinator is None:
        if num_processes not in (None, 1) or process_id not in (None, 0):
            raise DeepFaceGenError("--num-processes and --process-id need --coordinator HOST:PORT")
        return
    if coordinator == "auto":
        _join(timeout_s)
        return
    if not _ADDRESS.match(coordinator):
        raise DeepFaceGenError(f"--coordinator {coordinator!r} must be HOST:PORT, or auto")
    if num_processes is None or process_id is None:
        raise DeepFaceGenError("--coordinator needs --num-processes N and --process-id K")
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise DeepFaceGenError(
            f"--process-id {process_id} must be from 0 to {num_processes - 1} "
            f"(--num-processes {num_processes})"
        )
    _join(timeout_s, coordinator, num_processes, process_id)


def _join(timeout_s: int, *args: Any) -> None:
    """``jax.distributed.initialize``, its failure (unreachable, too late) as one line."""
    # Cross-process collectives on the CPU go through gloo; GPUs and TPUs use their own,
    # and this setting does not touch them.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    where = args[0] if args else "the coordinator the environment names"
    if args:
        print(f"joining the run at {where} as process {args[2]} of {args[1]} (waiting up to "
              f"{timeout_s} s for the others; a process silent for {timeout_s} s stops all)",
              file=sys.stderr, flush=True)  # fmt: skip
    try:
        # A process that never joins, or goes silent, ends every process with JAX's
        # "distributed service detected fatal errors" after the timeout: no hang.
        jax.distributed.initialize(
            *args, initialization_timeout=timeout_s, heartbeat_timeout_seconds=timeout_s
        )
    except (RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DeepFaceGenError(
            f"could not join the run at {where} within {timeout_s} s ({first}); start every "
            "process with the same --coordinator and --num-processes, each with its own "
            "--process-id"
        ) from None
    _orbax_barriers_through_the_coordinator()


def _orbax_barriers_through_the_coordinator() -> None:
    """Orbax waits for every process at each checkpoint step; by default it does so with
    a gather over the devices, compiled afresh each time (seconds apiece on a CPU). Its
    own switch makes it wait at the coordinator's barrier instead (no devices, nothing
    compiled). The switch is an absl flag, and absl flags read only once parsed."""
    from absl import flags

    name = "experimental_orbax_use_distributed_barrier"
    if name in flags.FLAGS:
        flags.FLAGS[name].value = True
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()


def is_main() -> bool:
    """Whether this is the process that writes (metrics, bundles, progress)."""
    return jax.process_index() == 0


def share(batch_size: int) -> slice | None:
    """The rows of every global batch this process feeds; None with one process (the
    whole batch, as a source makes it)."""
    count, index = jax.process_count(), jax.process_index()
    if count == 1:
        return None
    if batch_size % count:
        raise DeepFaceGenError(f"batch size {batch_size} must divide by {count} processes")
    rows = batch_size // count
    return slice(index * rows, (index + 1) * rows)


def sum_across(tree: Any) -> Any:
    """Every process's ``tree`` (numpy leaves, the same shapes on each) summed, on every
    process alike, in float64 (integer leaves stay integers). One process: ``tree``."""
    if jax.process_count() == 1:
        return tree

    def total(leaf: Any) -> np.ndarray:
        leaf = np.asarray(leaf)
        out = np.empty(leaf.size)
        for start, parts in _gathered_chunks(leaf.ravel()):
            out[start : start + parts.shape[1]] = parts.sum(axis=0)
        out = out.reshape(leaf.shape)
        return np.rint(out).astype(leaf.dtype) if leaf.dtype.kind in "iu" else out

    return jax.tree_util.tree_map(total, tree)


def rows_across(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """(every process's ``rows`` (n_k, ...) concatenated in process order, where this
    process's rows start in it): the same array on every process, however many rows
    each has. One process: (``rows``, 0)."""
    rows = np.asarray(rows)
    if jax.process_count() == 1:
        return rows, 0
    counts = [int(n) for n in np.rint(next(_gathered_chunks(np.array([len(rows)])))[1][:, 0])]
    width = int(np.prod(rows.shape[1:]))
    longest = np.zeros(max(counts) * width)
    longest[: rows.size] = rows.ravel()
    gathered = np.empty((len(counts), longest.size))
    for start, parts in _gathered_chunks(longest):
        gathered[:, start : start + parts.shape[1]] = parts
    pieces = [gathered[k, : n * width].reshape(n, *rows.shape[1:]) for k, n in enumerate(counts)]
    return np.concatenate(pieces).astype(rows.dtype), sum(counts[: jax.process_index()])


GATHER_CHUNK = 1 << 20  # values per collective: one compiled shape, bounded memory


def _gathered_chunks(values: np.ndarray):
    """Yield (start, (processes, m) float64): every process's ``values`` (1-D, the same
    length on each), a chunk at a time. JAX computes in float32 here, so each float64
    value crosses as a float32 pair (high part and the rest): 48 bits arrive."""
    from jax.experimental import multihost_utils

    values = np.asarray(values, np.float64)
    block = np.zeros((2, GATHER_CHUNK), np.float32)
    for start in range(0, len(values), GATHER_CHUNK):
        piece = values[start : start + GATHER_CHUNK]
        block[:] = 0.0
        block[0, : len(piece)] = piece
        block[1, : len(piece)] = piece - block[0, : len(piece)].astype(np.float64)
        both = np.asarray(multihost_utils.process_allgather(block), np.float64)
        yield start, both[:, 0, : len(piece)] + both[:, 1, : len(piece)]


def global_arrays(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
    """This process's rows of a batch as the global batch arrays, sharded over the mesh."""
    if jax.process_count() == 1:
        return {key: jax.device_put(value, sharding) for key, value in local.items()}
    return {
        key: jax.make_array_from_process_local_data(sharding, value) for key, value in local.items()
    }


def replicated(tree: Any, sharding: NamedSharding) -> Any:
    """``tree`` placed whole on every device of ``sharding``. With several processes each
    places its own copy (the same values: every process computed them alike), without
    the cross-process equality check ``device_put`` makes, which compiles one gather per
    array."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def place(array: np.ndarray) -> jax.Array:
        return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])

    return jax.tree_util.tree_map(lambda leaf: place(np.asarray(leaf)), jax.device_get(tree))
