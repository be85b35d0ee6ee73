"""The loop every trainer shares: batches sharded over a ``data`` mesh, metrics,
asynchronous atomic checkpoints (Orbax) and exact resume (batches are a function of
seed and step).

Each logged line of ``metrics.jsonl`` holds the mean of every metric over the steps
since the last one (not one noisy batch), the learning rate, the speed, and, every
``train.eval_every`` steps where a trainer supplies an evaluation, ``eval_*``
numbers on held-out data."""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
import orbax.checkpoint as ocp
from flax.training import train_state
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from deepface_gen import hosts
from deepface_gen.config import Config
from deepface_gen.data import input_pipeline
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io import bundles
from deepface_gen.io.images import atomic_write_bytes
from deepface_gen.training import settings

CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"
KEEP_CHECKPOINTS = 2


def checkpoint_manager(
    workdir: Path, keep: int = KEEP_CHECKPOINTS, keep_period: int | None = None
) -> ocp.CheckpointManager:
    """Orbax's manager of ``workdir/checkpoints``: one folder per step (``step_00000040``),
    written asynchronously (training goes on once the state is copied off the device),
    committed atomically (a crash mid-write leaves no folder that looks finished), the
    newest ``keep`` kept, and every step at a multiple of ``keep_period`` (for learning
    curves). Each holds the state and the config it was trained with."""
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, step_prefix="step", step_format_fixed_length=8, create=True,
        enable_async_checkpointing=True, keep_period=keep_period or None,
    )  # fmt: skip
    return ocp.CheckpointManager(
        (workdir / CHECKPOINT_DIR).absolute(), options=options, item_names=("state", "config")
    )


def _checkpoint_names(workdir: Path) -> list[str]:
    """Finished checkpoints (and older single-file ones), oldest first."""
    folder = workdir / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    finished = re.compile(r"step_\d{8}(\.msgpack)?")  # not Orbax's temporary folders
    return sorted(p.name for p in folder.iterdir() if finished.fullmatch(p.name))


def save_checkpoint(manager: ocp.CheckpointManager, state: Any, config: Config) -> None:
    """Start writing ``state`` (and the config) as the checkpoint of its step; returns
    once the arrays are off the device, while the files are still being written."""
    step = int(jax.device_get(state.step))
    manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config.to_dict())
        ),
    )


SEAL_FILE = "deepface_gen_sha256.json"  # beside Orbax's files in each step folder


def _step_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != SEAL_FILE)


def seal_checkpoints(workdir: Path) -> None:
    """Record the sha256 of every file of each finished checkpoint not yet sealed (Orbax
    commits a step by renaming its folder, so a finished name is complete), so a resume
    can tell a damaged checkpoint from an intact one."""
    for name in _checkpoint_names(workdir):
        folder = workdir / CHECKPOINT_DIR / name
        if name.endswith(".msgpack") or (folder / SEAL_FILE).exists():
            continue
        try:
            sums = {str(p.relative_to(folder)): bundles.file_digest(p) for p in _step_files(folder)}
            atomic_write_bytes(folder / SEAL_FILE, json.dumps(sums, indent=1).encode())
        except OSError:  # Orbax removed it meanwhile (no longer among the kept ones)
            continue


def _seal_broken(folder: Path) -> str | None:
    """Why a sealed checkpoint folder is damaged (a file missing, added or altered), or
    None when it is intact or has no seal (a run stopped between commit and seal)."""
    seal = folder / SEAL_FILE
    if not seal.exists():
        return None
    try:
        sums = json.loads(seal.read_text())
    except (OSError, ValueError):
        return "its checksum record is unreadable"
    present = {str(p.relative_to(folder)) for p in _step_files(folder)}
    if present != set(sums):
        return "its files differ from those recorded"
    for name, digest in sums.items():
        if bundles.file_digest(folder / name) != digest:
            return f"checksum mismatch in {name}"
    return None


# Settings that change only what a run records (metrics, held-out evaluations, which
# checkpoints are written and kept), never what it trains: a resumed run may change them,
# so a long run can start measuring its learning curve halfway.
OBSERVING = frozenset({
    "quiet", "train.log_every", "train.eval_every", "train.eval_batches",
    "train.checkpoint_every", "train.keep_every",
})  # fmt: skip

# What ``reschedule`` lets a resumed run change besides: its length, so a run whose curve
# has flattened can anneal (the cosine schedule is recomputed for the new last step, so
# the learning rate moves at once to the new curve's value at the resumed step).
RESCHEDULABLE = frozenset({"train.steps"})


def _config_difference(
    saved: dict, current: dict, prefix: str = "", allowed: frozenset = OBSERVING
) -> list[str]:
    diffs = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _config_difference(a, b, f"{prefix}{key}.", allowed)
        elif a != b and f"{prefix}{key}" not in allowed:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def restore_checkpoint(
    workdir: Path,
    state: Any,
    config: Config,
    defaults: dict | None = None,
    reschedule: bool = False,
) -> Any | None:
    """The newest checkpoint restored into ``state``'s structure (and placement), or None
    if there is none.

    A damaged checkpoint (unreadable, truncated, or with files whose sha256 differs from
    the seal written when it was finished) falls back to the one before it, with a
    warning. Refuses to
    resume with a different config (naming what differs), since the data order and
    schedule would silently change, except in the settings that only observe the run
    (``OBSERVING``); a setting the saved config lacks counts as its ``defaults`` value
    (a run saved before that setting was listed resumes). With ``reschedule``, its
    length (``RESCHEDULABLE``) may differ too.
    """
    names = _checkpoint_names(workdir)
    if not names:
        return None
    if any(name.endswith(".msgpack") for name in names):
        raise DeepFaceGenError(
            f"{workdir / CHECKPOINT_DIR} holds checkpoints of an older version "
            "(step_*.msgpack); start again in a new --workdir"
        )
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
    damaged = []
    with checkpoint_manager(workdir) as manager:
        for step in sorted(manager.all_steps(), reverse=True):  # newest first
            name = f"step_{step:08d}"
            broken = _seal_broken(workdir / CHECKPOINT_DIR / name)
            if broken:
                damaged.append(f"{name} ({broken})")
                continue
            try:
                restored = manager.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract), config=ocp.args.JsonRestore()
                    ),
                )
            except Exception as err:  # noqa: BLE001 - any read failure is a damaged checkpoint
                damaged.append(f"{name} ({type(err).__name__})")
                continue
            saved = Config(restored.config).with_defaults(defaults or {}).to_dict()
            allowed = OBSERVING | RESCHEDULABLE if reschedule else OBSERVING
            diffs = _config_difference(saved, config.to_dict(), allowed=allowed)
            if diffs:
                raise DeepFaceGenError(
                    f"{workdir / CHECKPOINT_DIR / name} was written with a different config "
                    f"({'; '.join(diffs)}); use a new --workdir or the original settings"
                    + (
                        " (--reschedule lets train.steps differ)"
                        if any(d.startswith("train.steps:") for d in diffs)
                        else ""
                    )
                )
            if damaged:
                warnings.warn(
                    f"skipped damaged checkpoint(s) {', '.join(damaged)}; resuming from {name}",
                    stacklevel=2,
                )
            return restored.state
    raise DeepFaceGenError(
        f"{workdir / CHECKPOINT_DIR}: every checkpoint is damaged "
        f"({', '.join(damaged) or 'none finished'}); start again in a new --workdir"
    )


def checkpoint_steps(workdir: str | Path) -> list[int]:
    """The steps of a run's finished checkpoints, oldest first."""
    return [int(name[5:]) for name in _checkpoint_names(Path(workdir)) if name[5:].isdigit()]


def checkpoint_config(workdir: str | Path, step: int | None = None) -> Config:
    """The config a run's checkpoint of ``step`` (default: the newest) was trained with."""
    steps = checkpoint_steps(workdir)
    if not steps:
        raise DeepFaceGenError(f"{Path(workdir) / CHECKPOINT_DIR} has no finished checkpoint")
    with checkpoint_manager(Path(workdir)) as manager:
        saved = manager.restore(
            steps[-1] if step is None else step,
            args=ocp.args.Composite(config=ocp.args.JsonRestore()),
        )
    return Config(saved.config)


def restore_step(
    workdir: str | Path, step: int, like: Callable[[Config], Any]
) -> tuple[Any, Config]:
    """One checkpoint of a run, whatever its config: (state, config), where ``like(config)``
    builds a state of the structure the checkpoint holds (for reading a run's curve or
    exporting an earlier step)."""
    workdir = Path(workdir)
    if step not in checkpoint_steps(workdir):
        raise DeepFaceGenError(
            f"{workdir / CHECKPOINT_DIR} has no checkpoint of step {step} "
            f"(it has {checkpoint_steps(workdir) or 'none'})"
        )
    config = checkpoint_config(workdir, step)
    with checkpoint_manager(workdir) as manager:
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like(config))
        restored = manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
        )
    return restored.state, config


def _shard(batch: input_pipeline.Batch, sharding: NamedSharding) -> dict:
    """This process's rows of a batch as the global batch, sharded over the mesh."""
    arrays = {
        "images": batch.images,
        "attributes": batch.attributes,
        "label_mask": batch.label_mask,
        "identity": batch.identity,
    }
    if batch.clean is not None:
        arrays["clean"] = batch.clean
    return hosts.global_arrays(arrays, sharding)


def held_out_batches(config: Config, size: int) -> list[input_pipeline.Batch]:
    """``train.eval_batches`` batches of the validation split at ``size`` pixels, in a
    fixed order, read once: what every trainer's held-out evaluation measures."""
    t = config.train
    source = input_pipeline.make_source(
        config.data.source, "validation", size, t.batch_size, config.seed, shuffle=False
    )
    return [source.batch(i) for i in range(int(t.eval_batches))]


def learning_rate_schedule(config: Config) -> optax.Schedule:
    """Linear warmup to ``train.learning_rate``, then cosine decay to zero at the last step."""
    t = config.train
    return optax.warmup_cosine_decay_schedule(
        0.0, t.learning_rate, t.warmup_steps, max(t.steps, t.warmup_steps + 1)
    )


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
    """Whether every float value of ``tree`` (a train state) is finite: one reduction."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.floating)]  # fmt: skip
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


class NonFiniteError(DeepFaceGenError):
    """Training produced NaN or infinite values; nothing more was saved or exported."""


def _stop_non_finite(
    workdir: Path, manager: ocp.CheckpointManager, step: int, what: str
) -> NonFiniteError:
    manager.wait_until_finished()  # a checkpoint still being written counts as kept
    kept = _checkpoint_names(workdir)
    last = (
        f"the last checkpoint ({workdir / CHECKPOINT_DIR / kept[-1]}) is finite"
        if kept
        else ("no checkpoint was written")
    )
    return NonFiniteError(
        f"training went non-finite by step {step} ({what}); nothing more was saved or "
        f"exported, and {last}. Resuming would repeat the same steps: change the setting "
        "that diverged (a lower learning rate, weight or scale) and train in a new --workdir"
    )


@jax.jit
def _add_metrics(window: dict, metrics: dict) -> dict:
    return jax.tree_util.tree_map(lambda a, b: a + b.astype(a.dtype), window, metrics)


def check_config(config: Config) -> None:
    """Refuse, before anything is created, a batch that does not divide over the
    devices. Each setting's type, range and choices are checked by ``train`` before the
    task's ``prepare`` (``settings.resolve``)."""
    t = config.train
    devices = jax.device_count()
    if t.batch_size % devices:
        raise DeepFaceGenError(f"batch size {t.batch_size} must divide by {devices} devices")


def check_workdir(workdir: str | Path, resume: bool) -> Path:
    """The work directory, created; refuses to overwrite checkpoints unless resuming."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    existing = _checkpoint_names(workdir)
    if existing and not resume:
        raise DeepFaceGenError(
            f"{workdir} already has checkpoints (latest {existing[-1]}); "
            "pass --resume to continue, or choose a new --workdir"
        )
    return workdir


def resume_state(
    state: Any,
    workdir: Path,
    config: Config,
    resume: bool,
    max_steps: int | None,
    defaults: dict | None = None,
    reschedule: bool = False,
) -> tuple[Any, int, int]:
    """(state, start step, stop step): restored from the last checkpoint when resuming,
    stopping after ``max_steps`` more steps when given. ``reschedule`` continues the
    run to this config's ``train.steps``, which must lie past the resumed step."""
    if resume:
        restored = restore_checkpoint(workdir, state, config, defaults, reschedule)
        state = restored if restored is not None else state
    start = int(state.step)
    if reschedule and start >= config.train.steps:
        raise DeepFaceGenError(
            f"--reschedule: train.steps={config.train.steps} is not past the resumed step "
            f"{start}; give a longer run"
        )
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
    prefixed ``eval_``, every ``train.eval_every`` steps), Orbax checkpoints, and a
    progress bar that ``quiet`` silences."""
    t = config.train
    schedule = learning_rate_schedule(config)
    # run_loop is also called on its own, with configs that may lack the loop's settings.
    eval_every = int(t.get("eval_every", 0)) if evaluate is not None else 0
    window, window_steps = None, 0
    # The mesh spans every process's devices; each process feeds only its rows of a
    # batch, and only the first writes metrics, seals and progress (deepface_gen/hosts.py).
    devices, main = jax.device_count(), hosts.is_main()
    mesh = jax.make_mesh((devices,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    data_sharding = NamedSharding(mesh, P("data"))
    state = hosts.replicated(state, NamedSharding(mesh, P()))
    part = hosts.share(t.batch_size)
    metrics_file = workdir / METRICS_FILE
    began = time.perf_counter()
    last_time, last_step = began, start
    bar = tqdm(total=t.steps, initial=start, unit="step", desc=desc, disable=quiet or not main)
    checkpoints = checkpoint_manager(workdir, keep_period=int(t.get("keep_every", 0)))
    batches = input_pipeline.prefetch(source, start, stop, part=part)
    try:
        for step, batch in enumerate(batches, start):
            state, metrics = step_fn(state, _shard(batch, data_sharding))
            done = step + 1
            window = metrics if window is None else _add_metrics(window, metrics)
            window_steps += 1
            logging = done % t.log_every == 0 or done == t.steps
            evaluating = eval_every and (done % eval_every == 0 or done == t.steps)
            if logging or evaluating:
                m = {k: float(v) / window_steps for k, v in jax.device_get(window).items()}
                window, window_steps = None, 0
                broken = sorted(k for k, v in m.items() if not math.isfinite(v))
                if broken:
                    raise _stop_non_finite(
                        workdir, checkpoints, done, f"{', '.join(broken)} not finite"
                    )
                now = time.perf_counter()
                rate = (done - last_step) / max(now - last_time, 1e-9)
                bar.set_postfix({k: f"{v:.3f}" for k, v in m.items()})
                record = {"step": done, **m, "learning_rate": float(schedule(done - 1))}
                if evaluating and main:  # on process 0 alone, with its own copy of the state
                    held = state if jax.process_count() == 1 else jax.device_get(state)
                    record |= {f"eval_{k}": float(v) for k, v in evaluate(held).items()}
                last_time, last_step = time.perf_counter(), done
                record |= {"steps_per_second": rate, "elapsed_s": now - began}
                if main:
                    with open(metrics_file, "a") as handle:
                        handle.write(json.dumps(record) + "\n")
            if done % t.checkpoint_every == 0 or done in (t.steps, stop):
                if not bool(_all_finite(state)):  # never write a checkpoint to resume NaN from
                    raise _stop_non_finite(workdir, checkpoints, done, "the weights are not finite")
                save_checkpoint(checkpoints, state, config)  # every process takes part
                if main:
                    seal_checkpoints(workdir)  # the ones before it, finished by now
            bar.update(1)
    finally:
        checkpoints.wait_until_finished()  # the last checkpoint is on disk before returning
        checkpoints.close()
        if main:
            seal_checkpoints(workdir)
        bar.close()
    return state


# ---------------------------------------------------------------------------
# The one training driver


class TrainState(train_state.TrainState):
    """Step, parameters and optimizer state (the model and optimizer are static)."""


class Run(NamedTuple):
    """What a task builds once its data source exists: the step the loop runs, an
    optional held-out evaluation, and whatever its export needs from the data."""

    step: Callable[[Any, dict], tuple[Any, dict]]
    evaluate: Callable[[Any], dict] | None = None
    facts: Any = None


@dataclass(frozen=True)
class Task:
    """One model's trainer as the shared driver ``train`` runs it: only what is its own.

    ``schema`` is its settings (``training/settings.py``: every key's default, type,
    range and meaning; a config file may leave any out, and each can be set from the
    command line); ``prepare(config, workdir)`` checks what the schema cannot (settings
    against each other and the models they name) and loads what the run needs, before
    the work directory is created (it may read what a begun run kept there, never
    write); ``init(config, context, key)`` is the initial state from the root key;
    ``source(config, context)`` the training batches; ``setup(config, context, source,
    key)`` the :class:`Run`; ``export(workdir, state, config, context, run, record)``
    writes the model with the shared training ``record`` and returns its folder.
    ``pin(workdir, context)``, where a task has one, keeps in a new run's work directory
    what it must read the same each time it is resumed, exported or measured (the
    inverter: the G it continues, which ``starter`` stops naming once another ships;
    the inverter and the VAE: their frozen classifier's weights, ``pins.py``).
    """

    name: str  # the progress bar's label
    schema: type  # a settings.Settings subclass
    prepare: Callable[[Config, Path], Any]
    init: Callable[[Config, Any, jax.Array], Any]
    source: Callable[[Config, Any], Any]
    setup: Callable[[Config, Any, Any, jax.Array], Run]
    export: Callable[[Path, Any, Config, Any, Run, dict], Path]
    pin: Callable[[Path, Any], None] | None = None


def defaults_of(task: Task) -> dict:
    """Every setting of ``task`` with its default: what a config file may leave out."""
    return settings.defaults(task.schema)


def training_record(config: Config, start: int, began: float) -> dict:
    """What every exported model records of its training run."""
    return {
        "config": config.to_dict(),
        "seed": config.seed,
        "steps": config.train.steps,
        "resumed_from_step": start,
        "wall_seconds_this_run": round(time.perf_counter() - began, 1),
        "device": jax.devices()[0].device_kind,
        "device_count": jax.device_count(),
        "process_count": jax.process_count(),
        "jax_version": jax.__version__,
    }


def train(
    task: Task,
    config: Config,
    workdir: str | Path,
    resume: bool = False,
    quiet: bool = False,
    max_steps: int | None = None,
    reschedule: bool = False,
) -> Path | None:
    """Train ``task`` per ``config`` in ``workdir``; returns the exported model folder
    (``workdir/model``), or None when ``max_steps`` stopped the run early after a
    checkpoint (for time-sliced machines; ``resume=True`` continues it exactly).

    Writes ``checkpoints/``, ``metrics.jsonl`` (``run_loop``) and, at the end, the model.
    Resuming a finished run returns its model as exported; ``reschedule`` resumes it
    under a new ``train.steps`` (``resume_state``)."""
    # Every setting checked (known key, type, range, choices) before anything is created.
    config = settings.resolve(config, task.schema)
    context = task.prepare(config, Path(workdir))
    workdir = check_workdir(workdir, resume)
    if task.pin is not None and not checkpoint_steps(workdir) and hosts.is_main():
        task.pin(workdir, context)
    key = jax.random.key(config.seed)
    state = task.init(config, context, key)
    state, start, stop = resume_state(
        state, workdir, config, resume, max_steps, defaults_of(task), reschedule
    )
    finished = workdir / "model" / bundles.MANIFEST
    if start >= config.train.steps and finished.exists():
        return finished.parent
    source = task.source(config, context)
    run = task.setup(config, context, source, key)
    began = time.perf_counter()
    state = run_loop(state, run.step, source, config, workdir, start, stop, quiet,
                     desc=task.name, evaluate=run.evaluate)  # fmt: skip
    if stop < config.train.steps:
        return None
    if not hosts.is_main():  # process 0 exports; the others are done
        return workdir / "model"
    record = training_record(config, start, began)
    if jax.process_count() > 1:  # the replicated state, as this process's own arrays
        state = jax.device_get(state)
    return task.export(workdir, state, config, context, run, record)
