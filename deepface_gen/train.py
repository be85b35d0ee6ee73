"""Training the attribute classifier (from scratch or fine-tuned from VGG weights).

The shape of a Flax example: ``create_model`` / ``make_optimizer`` /
``train_step`` / ``train_and_evaluate``. One jit-compiled step; the batch is
sharded over every local device along a ``data`` mesh axis and parameters are
replicated, so the same code uses 1 CPU, 8 GPUs or a TPU host unchanged.
Batches are a deterministic function of (seed, step), checkpoints are written
atomically, and ``resume`` continues from the last checkpoint with the same
data order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization
from flax.training import train_state
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from deepface_gen import input_pipeline, weights
from deepface_gen.attributes import CELEBA_ATTRIBUTES
from deepface_gen.config import Config
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.images import STARTER, Preprocessing, atomic_write_bytes
from deepface_gen.models import (
    VGG16,
    VGG_FACE,
    AttributeClassifier,
    HeadConfig,
    VGGConfig,
    compact_config,
)
from deepface_gen.synth import DRAWN_ATTRIBUTES

CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"


class TrainState(train_state.TrainState):
    """Step, parameters and optimizer state (the model and optimizer are static)."""


@dataclass(frozen=True)
class ModelSpec:
    """What a config describes: architecture, preprocessing and initial backbone weights."""

    backbone: VGGConfig
    head: HeadConfig
    preprocessing: Preprocessing
    dtype: Any

    def module(self) -> AttributeClassifier:
        return AttributeClassifier(self.backbone, self.head, self.dtype)


def model_spec(config: Config) -> ModelSpec:
    """Architecture and preprocessing from ``config.model``."""
    m = config.model
    size = config.data.size
    if m.backbone == "compact":
        backbone = compact_config(m.width, m.depth, size)
        prep = STARTER
    elif m.backbone in ("vgg16", "vggface"):
        known = weights.KNOWN_WEIGHTS[m.backbone]
        base = VGG16 if m.backbone == "vgg16" else VGG_FACE
        # fc layers only fit the size they were trained at; drop them elsewhere.
        dense = base.dense if size == base.input_size else ()
        backbone = VGGConfig(base.name, base.stages, dense, size)
        prep = known.preprocessing
    else:
        raise DeepFaceGenError(f"unknown backbone {m.backbone!r}; use compact, vgg16 or vggface")
    head = HeadConfig(
        m.feature_layer, m.pool, m.hidden, len(CELEBA_ATTRIBUTES), m.num_identities, m.dropout
    )
    dtype = jnp.bfloat16 if m.get("dtype", "float32") == "bfloat16" else jnp.float32
    return ModelSpec(backbone, head, prep, dtype)


def init_params(spec: ModelSpec, config: Config, key: jax.Array) -> dict:
    """Random parameters, with the backbone replaced by pretrained weights when asked."""
    size = spec.backbone.input_size
    params = spec.module().init(key, jnp.zeros((1, size, size, 3)))["params"]
    init = config.model.get("init")
    if init:
        if init in weights.KNOWN_WEIGHTS:
            _, pretrained, _ = weights.load_pretrained(init)
        else:
            pretrained = weights.load_keras_h5(init)
        backbone = dict(params["backbone"])
        for layer in backbone:
            if layer in pretrained:
                backbone[layer] = {k: jnp.asarray(v) for k, v in pretrained[layer].items()}
        params = {**params, "backbone": backbone}
    return params


def freeze_labels(params: dict, freeze: str) -> dict:
    """'trainable' / 'frozen' per parameter: ``none`` trains all, ``backbone`` only the heads,
    ``convN`` freezes the backbone below block N (DeepFace fine-tuned from conv5)."""

    def label(path: tuple, _: Any) -> str:
        names = [getattr(p, "key", str(p)) for p in path]
        if freeze == "none" or names[0] != "backbone":
            return "trainable"
        if freeze == "backbone":
            return "frozen"
        if freeze.startswith("conv"):
            layer = names[1]
            block = int(layer[4]) if layer.startswith("conv") else 99  # fc layers train
            return "frozen" if block < int(freeze[4:]) else "trainable"
        raise DeepFaceGenError(f"unknown freeze setting {freeze!r}; use none, backbone, conv4, ...")

    return jax.tree_util.tree_map_with_path(label, params)


def learning_rate_schedule(config: Config) -> optax.Schedule:
    """Linear warmup to ``train.learning_rate``, then cosine decay to zero at the last step."""
    t = config.train
    return optax.warmup_cosine_decay_schedule(
        0.0, t.learning_rate, t.warmup_steps, max(t.steps, t.warmup_steps + 1)
    )


def make_optimizer(config: Config, params: dict) -> optax.GradientTransformation:
    """AdamW with warmup + cosine decay; frozen parameters get zero updates."""
    t = config.train
    tx = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(learning_rate_schedule(config), weight_decay=t.weight_decay),
    )
    return optax.multi_transform(
        {"trainable": tx, "frozen": optax.set_to_zero()}, freeze_labels(params, t.freeze)
    )


def balanced_bce(
    logits: jax.Array, labels: jax.Array, mask: jax.Array, positive_rate: jax.Array
) -> jax.Array:
    """Binary cross-entropy where positives and negatives of each attribute weigh the same.

    Weights 0.5/p and 0.5/(1-p) from the label frequency p make the loss a
    surrogate of balanced accuracy, so rare attributes (Bald, 2 %) still count.
    """
    y = (labels > 0).astype(jnp.float32)
    w = jnp.where(y > 0, 0.5 / positive_rate, 0.5 / (1.0 - positive_rate)) * mask
    per = optax.sigmoid_binary_cross_entropy(logits, y)
    return jnp.sum(w * per) / jnp.maximum(jnp.sum(mask), 1.0)


def make_train_step(spec: ModelSpec, config: Config) -> Callable:
    """The jit-compiled step: augment, preprocess, forward, loss, update."""
    module = spec.module()
    max_shift = int(config.train.augment_shift)
    identity_weight = float(config.train.get("identity_weight", 1.0))

    def step(state: TrainState, batch: dict, positive_rate: jax.Array, key: jax.Array):
        k_aug, k_drop = jax.random.split(jax.random.fold_in(key, state.step))
        images = input_pipeline.augment(k_aug, batch["images"], max_shift)
        inputs = spec.preprocessing.apply(images)
        mask = batch["label_mask"].astype(jnp.float32)

        def loss_fn(params):
            out = module.apply({"params": params}, inputs, train=True, rngs={"dropout": k_drop})
            logits = out["attributes"].astype(jnp.float32)
            loss = balanced_bce(logits, batch["attributes"], mask, positive_rate)
            if "identity" in out:
                ids = batch["identity"]
                known = (ids >= 0).astype(jnp.float32)
                ce = optax.softmax_cross_entropy_with_integer_labels(
                    out["identity"], jnp.maximum(ids, 0)
                )
                loss = loss + identity_weight * jnp.sum(ce * known) / jnp.maximum(known.sum(), 1)
            return loss, logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        state = state.apply_gradients(grads=grads)
        correct = ((logits > 0) == (batch["attributes"] > 0)) * mask
        metrics = {"loss": loss, "accuracy": jnp.sum(correct) / jnp.maximum(jnp.sum(mask), 1)}
        return state, metrics

    return jax.jit(step, donate_argnums=0)


def estimate_positive_rate(source, batches: int) -> np.ndarray:
    """Per-attribute frequency of positives in the first ``batches`` batches, clipped."""
    attributes, mask = input_pipeline.first_labels(source, batches)
    pos, known = ((attributes > 0) & mask).sum(0), mask.sum(0)
    return np.clip(pos / np.maximum(known, 1), 0.01, 0.99).astype(np.float32)


# ---------------------------------------------------------------------------
# Checkpoints


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
    payload = serialization.msgpack_restore(paths[-1].read_bytes())
    diffs = _config_difference(json.loads(payload["config"]), config.to_dict())
    if diffs:
        raise DeepFaceGenError(
            f"{paths[-1]} was written with a different config ({'; '.join(diffs)}); "
            "use a new --workdir or the original settings"
        )
    return serialization.from_state_dict(state, payload["state"])


# ---------------------------------------------------------------------------
# The loop


def _shard(batch: input_pipeline.Batch, sharding: NamedSharding) -> dict:
    arrays = {
        "images": batch.images,
        "attributes": batch.attributes,
        "label_mask": batch.label_mask,
        "identity": batch.identity,
    }
    return {k: jax.device_put(v, sharding) for k, v in arrays.items()}


def known_attributes_of(source_spec: str) -> list[str]:
    """Attributes a model trained on this data can know: synthetic data draws all but a few."""
    if source_spec.startswith("synthetic"):
        return list(DRAWN_ATTRIBUTES)
    return list(CELEBA_ATTRIBUTES)


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
) -> Any:
    """The loop every trainer shares: prefetched batches sharded over a ``data`` mesh,
    ``step_fn(state, batch) -> (state, metrics)``, metrics appended to
    ``metrics.jsonl``, atomic checkpoints, and a progress bar that ``quiet`` silences."""
    t = config.train
    devices = jax.device_count()
    if t.batch_size % devices:
        raise DeepFaceGenError(f"batch size {t.batch_size} must divide by {devices} devices")
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
            if done % t.log_every == 0 or done == t.steps:
                m = {k: float(v) for k, v in jax.device_get(metrics).items()}
                now = time.perf_counter()
                rate = (done - last_step) / max(now - last_time, 1e-9)
                last_time, last_step = now, done
                bar.set_postfix({k: f"{v:.3f}" for k, v in m.items()})
                record = {"step": done, **m, "steps_per_second": rate, "elapsed_s": now - began}
                with open(metrics_file, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
            if done % t.checkpoint_every == 0 or done in (t.steps, stop):
                save_checkpoint(workdir, state, config)
            bar.update(1)
    finally:
        bar.close()
    return state


def train_and_evaluate(
    config: Config,
    workdir: str | Path,
    resume: bool = False,
    quiet: bool = False,
    max_steps: int | None = None,
) -> Path | None:
    """Train per ``config`` in ``workdir``; returns the exported model bundle folder.

    Writes ``checkpoints/``, ``metrics.jsonl`` (one JSON object per logged
    step) and, at the end, ``model/`` (the native bundle with its manifest).
    ``max_steps`` stops this run early after a checkpoint (for time-sliced
    machines); it returns None then, and ``resume=True`` continues later.
    """
    workdir = check_workdir(workdir, resume)
    t = config.train
    spec = model_spec(config)
    key = jax.random.key(config.seed)
    params = init_params(spec, config, jax.random.fold_in(key, 0))
    tx = make_optimizer(config, params)
    state = TrainState.create(apply_fn=spec.module().apply, params=params, tx=tx)
    state, start, stop = resume_state(state, workdir, config, resume, max_steps)

    source = input_pipeline.make_source(
        config.data.source, "train", config.data.size, t.batch_size, config.seed
    )
    positive_rate = jnp.asarray(estimate_positive_rate(source, t.balance_batches))
    train_step = make_train_step(spec, config)
    step_key = jax.random.fold_in(key, 1)
    began = time.perf_counter()
    state = run_loop(
        state,
        lambda s, batch: train_step(s, batch, positive_rate, step_key),
        source,
        config,
        workdir,
        start,
        stop,
        quiet,
    )
    if stop < t.steps:
        return None
    return export_model(
        workdir, jax.device_get(state.params), spec, config, time.perf_counter() - began, start
    )


def export_model(
    workdir: Path, params: dict, spec: ModelSpec, config: Config, seconds: float, resumed_from: int
) -> Path:
    """Write the trained classifier as a bundle in ``workdir/model``."""
    manifest = {
        "kind": "attribute_classifier",
        "backbone": spec.backbone.to_json(),
        "head": spec.head.to_json(),
        "preprocessing": spec.preprocessing.to_json(),
        "attributes": list(CELEBA_ATTRIBUTES),
        "known_attributes": known_attributes_of(config.data.source),
        "training": {
            "config": config.to_dict(),
            "seed": config.seed,
            "steps": config.train.steps,
            "resumed_from_step": resumed_from,
            "wall_seconds_this_run": round(seconds, 1),
            "device": jax.devices()[0].device_kind,
            "device_count": jax.device_count(),
            "jax_version": jax.__version__,
        },
    }
    return weights.save_bundle(workdir / "model", {"params": params}, manifest)
