"""Training the identity embedding, with the classifier trainer's habits.

Classification over the training identities with CosFace's additive cosine margin,
through the shared loop (``loop.run_loop``: sharded batches, ``metrics.jsonl``,
atomic checkpoints, exact resume, a progress bar). The backbone may start from a
trained classifier bundle's (``model.init``: ``starter`` or a path), which already
sees hair, skin and face shape. The export is a bundle of kind
``identity_embedding`` with the mean training face and where its people came from,
so FaceVis can draw real portraits of training identity ``k`` beside its picture.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from deepface_gen.config import Config
from deepface_gen.data import input_pipeline
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.faces import layout as layouts
from deepface_gen.io import bundles
from deepface_gen.models.classifier import load_classifier
from deepface_gen.models.identity import KIND, EmbeddingConfig, IdentityNet
from deepface_gen.models.preprocessing import STARTER
from deepface_gen.models.vgg import VGGConfig, compact_config
from deepface_gen.training.classifier import POOLS, ConvNetTrain, make_optimizer
from deepface_gen.training.loop import Run, Task, TrainState, check_config, train
from deepface_gen.training.settings import Settings, section, setting


def number_of_people(spec: str) -> int:
    """The training identities a data spec names: ``synthetic:PEOPLE`` (or a folder's
    identity file, read by the source); refused where a source has no identities."""
    kind, _, rest = spec.partition(":")
    if kind == "synthetic":
        if not rest.isdigit() or int(rest) < 2:
            raise DeepFaceGenError(
                f"data.source={spec!r}: identity training needs a pool of people, "
                "e.g. synthetic:2000"
            )
        return int(rest)
    raise DeepFaceGenError(
        f"data.source={spec!r}: identity training reads synthetic:PEOPLE here; "
        "a CelebA folder's identity_CelebA.txt is read by the classifier trainer's "
        "identity head (model.num_identities)"
    )


def architecture(config: Config) -> tuple[VGGConfig, EmbeddingConfig]:
    """Backbone and head from ``config.model`` and the data source's identities."""
    m = config.model
    backbone = compact_config(m.width, m.depth, config.data.size)
    head = EmbeddingConfig(
        m.feature_layer, m.pool, m.hidden, m.dim, number_of_people(config.data.source), m.scale
    )
    return backbone, head


def init_params(backbone: VGGConfig, head: EmbeddingConfig, init: str | None, key) -> dict:
    """Random parameters; with ``init`` the backbone is a trained classifier bundle's
    (layer by layer, refused where the architectures differ)."""
    size = backbone.input_size
    params = IdentityNet(backbone, head).init(key, jnp.zeros((1, size, size, 3)))["params"]
    if not init:
        return params
    source = load_classifier(init)
    if source.backbone.stages != backbone.stages:
        raise DeepFaceGenError(
            f"model.init={init!r} has backbone {source.backbone.name}; this config builds "
            f"{backbone.name} (set model.width/depth to match, or model.init=None)"
        )
    return {**params, "backbone": source.params["backbone"]}


def cosface_loss(logits: jax.Array, labels: jax.Array, scale: float, margin: float) -> jax.Array:
    """Mean softmax cross-entropy of ``scale * cos`` logits with the true class's cosine
    lowered by ``margin`` (CosFace); labels < 0 (unknown person) do not count."""
    known = (labels >= 0).astype(jnp.float32)
    one_hot = jax.nn.one_hot(jnp.maximum(labels, 0), logits.shape[-1])
    ce = optax.softmax_cross_entropy(logits - scale * margin * one_hot, one_hot)
    return jnp.sum(ce * known) / jnp.maximum(known.sum(), 1.0)


def make_train_step(module: IdentityNet, config: Config) -> Callable:
    """The jit-compiled step: augment, preprocess, forward, CosFace loss, update."""
    max_shift = int(config.train.augment_shift)
    margin = float(config.train.margin)

    def step(state: TrainState, batch: dict, key: jax.Array):
        images = input_pipeline.augment(
            jax.random.fold_in(key, state.step), batch["images"], max_shift
        )
        inputs = STARTER.apply(images)
        labels = batch["identity"]

        def loss_fn(params):
            logits = module.apply({"params": params}, inputs, train=True)["identity"]
            return cosface_loss(logits, labels, module.head.scale, margin), logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        state = state.apply_gradients(grads=grads)
        accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
        return state, {"loss": loss, "accuracy": accuracy}

    return jax.jit(step, donate_argnums=0)


def mean_image(source, batches: int) -> np.ndarray:
    """The mean training face (S, S, 3) in 0-255 from the first ``batches`` batches."""
    total = sum(source.batch(i).images.astype(np.float64).sum(0) for i in range(batches))
    return (total / (batches * source.batch_size)).astype(np.float32)


@dataclass(frozen=True)
class IdentityModel:
    width: int = setting(16, 1, 1024, help="the compact backbone's first width")
    depth: int = setting(4, 1, 5, help="the compact backbone's blocks")
    feature_layer: str = setting("pool4", help="the backbone tap the embedding head reads")
    pool: str = setting("flatten", choices=POOLS, help="flatten keeps where things are")
    hidden: int = setting(256, 1, 65536, help="the head's hidden width")
    dim: int = setting(128, 2, 4096, help="the embedding's dimension")
    scale: float = setting(30.0, 1e-3, 1e3, help="CosFace's logit scale")
    init: str | None = setting(None, help="a classifier bundle whose backbone to start from")


@dataclass(frozen=True)
class IdentityTrain(ConvNetTrain):
    margin: float = setting(0.35, 0.0, 1.0, help="CosFace's cosine margin")


@dataclass(frozen=True)
class IdentitySettings(Settings):
    """``deepface-gen train-identity``: the identity embedding (``configs/identity.py``)."""

    model: IdentityModel = section(IdentityModel)
    train: IdentityTrain = section(IdentityTrain)


def _prepare(config: Config, workdir: Path) -> tuple[VGGConfig, EmbeddingConfig]:
    del workdir  # nothing of this task's is kept there before its state
    check_config(config)
    return architecture(config)


def _init_state(config: Config, arch: tuple, key: jax.Array) -> TrainState:
    backbone, head = arch
    params = init_params(backbone, head, config.model.init, jax.random.fold_in(key, 0))
    tx = make_optimizer(config, params)
    return TrainState.create(apply_fn=IdentityNet(backbone, head).apply, params=params, tx=tx)


def _source(config: Config, arch: tuple):
    t = config.train
    return input_pipeline.make_source(
        config.data.source, "train", config.data.size, t.batch_size, config.seed
    )


def _setup(config: Config, arch: tuple, source, key: jax.Array) -> Run:
    train_step = make_train_step(IdentityNet(*arch), config)
    step_key = jax.random.fold_in(key, 1)
    return Run(lambda s, b: train_step(s, b, step_key), facts=mean_image(source, 8))


def _export(workdir: Path, state: TrainState, config: Config, arch: tuple, run: Run,
            record: dict) -> Path:  # fmt: skip
    backbone, head = arch
    manifest = {
        "kind": KIND,
        "backbone": backbone.to_json(),
        "head": head.to_json(),
        "preprocessing": STARTER.to_json(),
        # The pool of people FaceVis draws portraits of: the training source's own.
        "people": {"source": config.data.source, "seed": config.seed, "size": config.data.size},
        "face_layout": layouts.of_source(config.data.source).to_json(),  # photos align to it
        "training": record,
    }
    arrays = {"params": jax.device_get(state.params), "mean_image": run.facts}
    return bundles.save_bundle(workdir / "model", arrays, manifest)


TASK = Task("training identity", IdentitySettings, _prepare, _init_state, _source, _setup, _export)


# Train the identity embedding per a config in a workdir (``loop.train``'s arguments).
train_identity = functools.partial(train, TASK)
