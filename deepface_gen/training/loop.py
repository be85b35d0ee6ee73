"""The loop every trainer shares: batches sharded over a ``data`` mesh, metrics,
atomic checkpoints and exact resume (batches are a function of seed and step).

Each logged line of ``metrics.jsonl`` holds the mean of every metric over the steps
since the last one (not one noisy batch), the learning rate, the speed, and, every
``train.eval_every`` steps where a trainer supplies an evaluation, ``eval_*``
numbers on held-out data."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import optax
from flax import serialization
from flax.training.train_state import TrainState
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from deepface_gen import checks
from deepface_gen.config import Config
from deepface_gen.data import input_pipeline
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io.images import atomic_write_bytes

CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"


def _checkpoint_paths(workdir: Path) -> list[Path]:
    return sorted((workdir / CHECKPOINT_DIR).glob("step_*.msgpack"))


def save_checkpoint(workdir: Path, state: TrainState, config: Config, keep: int = 2) -> Path:
    """Write the state atomically (temp file + rename) and keep the newest ``keep``."""
    folder = workdir / CHECKPOINT_DIR
    step = int(jax.device_get(state.step))
    payload = {
        "state": serialization.to_state_dict(jax.device_get(state)),
        "config": json.dumps(config.to_dict(), sort_keys=True),
    }
    path = folder / f"step_{step:08d}.msgpack"
    atomic_write_bytes(path, serialization.msgpack_serialize(payload))
    for old in _checkpoint_paths(workdir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _config_difference(saved: dict, current: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _config_difference(a, b, f"{prefix}{key}.")
        elif a != b and key != "quiet":
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def restore_checkpoint(workdir: Path, state: TrainState, config: Config) -> TrainState | None:
    """The newest checkpoint restored into ``state``'s structure, or None if there is none.

    Refuses to resume with a different config (naming what differs), since the
    data order and schedule would silently change.
    """
    paths = _checkpoint_paths(workdir)
    if not paths:
        return None
    damaged = []
    for path in reversed(paths):  # newest first; a damaged one falls back to the one before
        try:
            payload = serialization.msgpack_restore(path.read_bytes())
            saved = json.loads(payload["config"])
            restored = serialization.from_state_dict(state, payload["state"])
        except Exception as err:  # noqa: BLE001 - any decoding failure is a damaged file
            damaged.append(f"{path.name} ({type(err).__name__})")
            continue
        diffs = _config_difference(saved, config.to_dict())
        if diffs:
            raise DeepFaceGenError(
                f"{path} was written with a different config ({'; '.join(diffs)}); "
                "use a new --workdir or the original settings"
            )
        if damaged:
            warnings.warn(
                f"skipped damaged checkpoint(s) {', '.join(damaged)}; resuming from {path.name}",
                stacklevel=2,
            )
        return restored
    raise DeepFaceGenError(
        f"{workdir / CHECKPOINT_DIR}: every checkpoint is damaged ({', '.join(damaged)}); "
        "start again in a new --workdir"
    )


def _shard(batch: input_pipeline.Batch, sharding: NamedSharding) -> dict:
    arrays = {
        "images": batch.images,
        "attributes": batch.attributes,
        "label_mask": batch.label_mask,
        "identity": batch.identity,
    }
    return {k: jax.device_put(v, sharding) for k, v in arrays.items()}


def learning_rate_schedule(config: Config) -> optax.Schedule:
    """Linear warmup to ``train.learning_rate``, then cosine decay to zero at the last step."""
    t = config.train
    return optax.warmup_cosine_decay_schedule(
        0.0, t.learning_rate, t.warmup_steps, max(t.steps, t.warmup_steps + 1)
    )


@jax.jit
def _add_metrics(window: dict, metrics: dict) -> dict:
    return jax.tree_util.tree_map(lambda a, b: a + b.astype(a.dtype), window, metrics)


def check_config(config: Config) -> None:
    """Refuse, before anything is created, settings no trainer can run: counts and sizes
    out of range, a batch that does not divide over the devices. Types are already
    checked when the overrides are applied (``config.apply_overrides``)."""
    t = config.train
    counts = (("steps", 1), ("batch_size", 1), ("log_every", 1), ("checkpoint_every", 1),
              ("eval_every", 0), ("eval_batches", 1))  # fmt: skip
    for key, low in counts:
        if key in t:
            checks.whole(f"train.{key}", t[key], low, 10**9)
    checks.real("train.learning_rate", t.learning_rate, 1e-12, 10.0)
    checks.whole("data.size", config.data.size, 16, 1024)
    checks.whole("seed", config.seed, 0, 2**63 - 1)
    devices = jax.device_count()
    if t.batch_size % devices:
        raise DeepFaceGenError(f"batch size {t.batch_size} must divide by {devices} devices")


def check_workdir(workdir: str | Path, resume: bool) -> Path:
    """The work directory, created; refuses to overwrite checkpoints unless resuming."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    existing = _checkpoint_paths(workdir)
    if existing and not resume:
        raise DeepFaceGenError(
            f"{workdir} already has checkpoints (latest {existing[-1].name}); "
            "pass --resume to continue, or choose a new --workdir"
        )
    return workdir


def resume_state(
    state: Any, workdir: Path, config: Config, resume: bool, max_steps: int | None
) -> tuple[Any, int, int]:
    """(state, start step, stop step): restored from the last checkpoint when resuming,
    stopping after ``max_steps`` more steps when given."""
    if resume:
        restored = restore_checkpoint(workdir, state, config)
        state = restored if restored is not None else state
    start = int(state.step)
    steps = config.train.steps
    return state, start, steps if max_steps is None else min(steps, start + max_steps)


def run_loop(
    state: Any,
    step_fn: Callable[[Any, dict], tuple[Any, dict]],
    source,
    config: Config,
    workdir: Path,
    start: int,
    stop: int,
    quiet: bool = False,
    desc: str = "training",
    evaluate: Callable[[Any], dict] | None = None,
) -> Any:
    """The loop every trainer shares: prefetched batches sharded over a ``data`` mesh,
    ``step_fn(state, batch) -> (state, metrics)``, window means of the metrics appended
    to ``metrics.jsonl`` with the learning rate (and ``evaluate(state)``'s numbers,
    prefixed ``eval_``, every ``train.eval_every`` steps), atomic checkpoints, and a
    progress bar that ``quiet`` silences."""
    t = config.train
    schedule = learning_rate_schedule(config)
    eval_every = int(t.get("eval_every", 0)) if evaluate is not None else 0
    window, window_steps = None, 0
    devices = jax.device_count()
    mesh = jax.make_mesh((devices,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    data_sharding = NamedSharding(mesh, P("data"))
    state = jax.device_put(state, NamedSharding(mesh, P()))
    metrics_file = workdir / METRICS_FILE
    began = time.perf_counter()
    last_time, last_step = began, start
    bar = tqdm(total=t.steps, initial=start, unit="step", desc=desc, disable=quiet)
    try:
        for step, batch in enumerate(input_pipeline.prefetch(source, start, stop), start):
            state, metrics = step_fn(state, _shard(batch, data_sharding))
            done = step + 1
            window = metrics if window is None else _add_metrics(window, metrics)
            window_steps += 1
            logging = done % t.log_every == 0 or done == t.steps
            evaluating = eval_every and (done % eval_every == 0 or done == t.steps)
            if logging or evaluating:
                m = {k: float(v) / window_steps for k, v in jax.device_get(window).items()}
                window, window_steps = None, 0
                now = time.perf_counter()
                rate = (done - last_step) / max(now - last_time, 1e-9)
                bar.set_postfix({k: f"{v:.3f}" for k, v in m.items()})
                record = {"step": done, **m, "learning_rate": float(schedule(done - 1))}
                if evaluating:
                    record |= {f"eval_{k}": float(v) for k, v in evaluate(state).items()}
                last_time, last_step = time.perf_counter(), done
                record |= {"steps_per_second": rate, "elapsed_s": now - began}
                with open(metrics_file, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
            if done % t.checkpoint_every == 0 or done in (t.steps, stop):
                save_checkpoint(workdir, state, config)
            bar.update(1)
    finally:
        bar.close()
    return state
