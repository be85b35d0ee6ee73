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

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from deepface_gen.attributes import CELEBA_ATTRIBUTES
from deepface_gen.config import Config
from deepface_gen.data import input_pipeline
from deepface_gen.data.synth import DRAWN_ATTRIBUTES
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.faces import layout as layouts
from deepface_gen.io import bundles
from deepface_gen.models import pretrained
from deepface_gen.models.preprocessing import STARTER, Preprocessing
from deepface_gen.models.vgg import (
    VGG16,
    VGG_FACE,
    AttributeClassifier,
    HeadConfig,
    VGGConfig,
    compact_config,
)
from deepface_gen.training import loop, settings
from deepface_gen.training.loop import TrainState, learning_rate_schedule
from deepface_gen.training.settings import section, setting


@dataclass(frozen=True)
class ModelSpec:
    """What a config describes: architecture, preprocessing and initial backbone weights."""

    backbone: VGGConfig
    head: HeadConfig
    preprocessing: Preprocessing
    dtype: Any

    def module(self) -> AttributeClassifier:
        return AttributeClassifier(self.backbone, self.head, self.dtype)


BACKBONES = ("compact", "vgg16", "vggface")
FREEZE = ("none", "backbone", "conv1", "conv2", "conv3", "conv4", "conv5")
DTYPES = ("float32", "bfloat16")
POOLS = ("flatten", "avg")


@dataclass(frozen=True)
class ClassifierModel:
    backbone: str = setting("compact", choices=BACKBONES, help="compact: a small VGG from scratch")
    width: int = setting(16, 1, 1024, help="the compact backbone's first width (compact only)")
    depth: int = setting(4, 1, 5, help="the compact backbone's blocks (compact only)")
    feature_layer: str = setting("pool4", help="the backbone tap the attribute head reads")
    pool: str = setting("flatten", choices=POOLS, help="flatten keeps where things are")
    hidden: int = setting(256, 1, 65536, help="the head's hidden width")
    num_identities: int = setting(0, 0, 10**7, help="an identity head over this many people")
    dropout: float = setting(0.0, 0.0, 0.99, help="in the head")
    dtype: str = setting(DTYPES[0], choices=DTYPES, help="bfloat16 halves activations on GPU/TPU")
    init: str | None = setting(None, help="vgg16, vggface, a Keras .h5 file or a bundle")


@dataclass(frozen=True)
class ConvNetTrain(settings.LoopSettings):
    """The ``train`` settings of a convolutional network trained on labelled portraits."""

    weight_decay: float = setting(1e-4, 0.0, 1.0, help="AdamW's, on every weight")
    freeze: str = setting("none", choices=FREEZE, help="train only what follows this block")
    augment_shift: int = setting(3, 0, 256, help="random shifts up to this many pixels")


@dataclass(frozen=True)
class ClassifierTrain(ConvNetTrain):
    balance_batches: int = setting(8, 0, 10**6, help="batches drawn to balance rare attributes")
    identity_weight: float = setting(1.0, 0.0, 1e4, help="the identity head's loss weight")


@dataclass(frozen=True)
class ClassifierSettings(settings.Settings):
    """``deepface-gen train``: the attribute classifier (``configs/starter.py``)."""

    model: ClassifierModel = section(ClassifierModel)
    train: ClassifierTrain = section(ClassifierTrain)


def model_spec(config: Config) -> ModelSpec:
    """Architecture and preprocessing from ``config.model``."""
    m = config.model
    size = config.data.size
    if m.backbone == "compact":
        backbone = compact_config(m.width, m.depth, size)
        prep = STARTER
    elif m.backbone in ("vgg16", "vggface"):
        known = pretrained.KNOWN_WEIGHTS[m.backbone]
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
    dtype = jnp.bfloat16 if m.dtype == "bfloat16" else jnp.float32
    return ModelSpec(backbone, head, prep, dtype)


def init_params(spec: ModelSpec, config: Config, key: jax.Array) -> dict:
    """Random parameters, with the backbone replaced by pretrained weights when asked."""
    size = spec.backbone.input_size
    params = spec.module().init(key, jnp.zeros((1, size, size, 3)))["params"]
    init = config.model.init
    if init:
        if init in pretrained.KNOWN_WEIGHTS:
            _, published, _ = pretrained.load_pretrained(init)
        else:
            # Checked layer by layer against the architecture being trained.
            published = pretrained.load_keras_h5(init, spec.backbone)
        backbone = dict(params["backbone"])
        for layer in backbone:
            if layer in published:
                backbone[layer] = {k: jnp.asarray(v) for k, v in published[layer].items()}
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
    identity_weight = float(config.train.identity_weight)

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


def make_evaluate(spec: ModelSpec, config: Config, positive_rate: jax.Array) -> Callable:
    """``evaluate(state) -> {"loss", "accuracy"}`` on ``train.eval_batches`` batches of the
    validation split (read once, kept), by the training loss (no dropout, no
    augmentation) and per-label accuracy: what the loop logs beside the training loss."""
    batches = loop.held_out_batches(config, config.data.size)
    module = spec.module()

    @jax.jit
    def measure(params, images, attributes, label_mask):
        inputs = spec.preprocessing.apply(images)
        logits = module.apply({"params": params}, inputs)["attributes"].astype(jnp.float32)
        mask = label_mask.astype(jnp.float32)
        loss = balanced_bce(logits, attributes, mask, positive_rate)
        correct = ((logits > 0) == (attributes > 0)) * mask
        return loss, jnp.sum(correct) / jnp.maximum(jnp.sum(mask), 1)

    def evaluate(state: TrainState) -> dict:
        parts = [measure(state.params, b.images, b.attributes, b.label_mask) for b in batches]
        losses, accuracies = np.asarray(jax.device_get(parts)).T
        return {"loss": float(losses.mean()), "accuracy": float(accuracies.mean())}

    return evaluate


# A head learns an attribute only from labels of both kinds: fewer than this many
# positives or negatives in the label sample and the model does not claim to know it.
MIN_LABELS_EACH_WAY = 3
LABEL_SAMPLE = 256  # examples read for the label statistics (at most one pass of a finite set)


def read_labels(source, batches: int) -> tuple[tuple, tuple]:
    """The label statistics' data, read once: ``(first, sample)``, each (attributes,
    known-label mask). ``first`` is the first ``batches`` batches (what the loss's
    balance or the VAE's moments were set from); ``sample`` is at least
    ``LABEL_SAMPLE`` examples from the start, never more than one pass over a finite
    source (so no example is counted twice): what decides the known attributes."""
    sample_batches = max(batches, -(-LABEL_SAMPLE // source.batch_size))
    if source.num_examples is not None:
        sample_batches = min(sample_batches, -(-source.num_examples // source.batch_size))
    attributes, mask = input_pipeline.first_labels(source, max(batches, sample_batches))
    first = batches * source.batch_size
    count = sample_batches * source.batch_size
    if source.num_examples is not None:
        count = min(count, source.num_examples)
    return (attributes[:first], mask[:first]), (attributes[:count], mask[:count])


def estimate_positive_rate(attributes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-attribute frequency of positives among the known labels (N, 40), clipped."""
    pos, known = ((attributes > 0) & mask).sum(0), mask.sum(0)
    return np.clip(pos / np.maximum(known, 1), 0.01, 0.99).astype(np.float32)


def known_attributes_of(source_spec: str, attributes: np.ndarray, mask: np.ndarray) -> list[str]:
    """Attributes a model trained on this data can know: those the labels actually show
    both ways (at least ``MIN_LABELS_EACH_WAY`` positives and negatives in the sample),
    and on synthetic data only the ones the renderer draws. A CSV with four attribute
    columns gives a model that knows four attributes, not forty."""
    positives = ((attributes > 0) & mask).sum(0)
    negatives = ((attributes <= 0) & mask).sum(0)
    drawable = DRAWN_ATTRIBUTES if source_spec.startswith("synthetic") else CELEBA_ATTRIBUTES
    return [
        name
        for i, name in enumerate(CELEBA_ATTRIBUTES)
        if name in drawable
        and positives[i] >= MIN_LABELS_EACH_WAY
        and negatives[i] >= MIN_LABELS_EACH_WAY
    ]


def _init_state(config: Config, spec: ModelSpec, key: jax.Array) -> TrainState:
    params = init_params(spec, config, jax.random.fold_in(key, 0))
    tx = make_optimizer(config, params)
    return TrainState.create(apply_fn=spec.module().apply, params=params, tx=tx)


def _source(config: Config, spec: ModelSpec):
    t = config.train
    return input_pipeline.make_source(
        config.data.source, "train", config.data.size, t.batch_size, config.seed
    )


def _setup(config: Config, spec: ModelSpec, source, key: jax.Array) -> loop.Run:
    """The step with the label balance read from the first batches; the attributes the
    model can know (what the labels show both ways) go to the export."""
    t = config.train
    balance, sample = read_labels(source, t.balance_batches)
    positive_rate = jnp.asarray(estimate_positive_rate(*balance))
    known = known_attributes_of(config.data.source, *sample)
    train_step = make_train_step(spec, config)
    evaluate = make_evaluate(spec, config, positive_rate) if t.eval_every else None
    step_key = jax.random.fold_in(key, 1)

    def step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        return train_step(state, batch, positive_rate, step_key)

    return loop.Run(step, evaluate, known)


def _prepare(config: Config, workdir: Path) -> ModelSpec:
    del workdir  # nothing of this task's is kept there before its state
    loop.check_config(config)
    return model_spec(config)


def export_model(
    workdir: Path, state: TrainState, config: Config, spec: ModelSpec, run: loop.Run, record: dict
) -> Path:
    """Write the trained classifier as a bundle in ``workdir/model``."""
    manifest = {
        "kind": "attribute_classifier",
        "backbone": spec.backbone.to_json(),
        "head": spec.head.to_json(),
        "preprocessing": spec.preprocessing.to_json(),
        "attributes": list(CELEBA_ATTRIBUTES),
        "known_attributes": run.facts,
        "face_layout": layouts.of_source(config.data.source).to_json(),  # photos align to it
        "training": record,
    }
    params = jax.device_get(state.params)
    return bundles.save_bundle(workdir / "model", {"params": params}, manifest)


TASK = loop.Task(
    "training", ClassifierSettings, _prepare, _init_state, _source, _setup, export_model
)

# Train an attribute classifier per a config in a workdir (``loop.train``'s arguments).
train_and_evaluate = functools.partial(loop.train, TASK)
