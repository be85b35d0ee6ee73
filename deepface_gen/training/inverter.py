"""Training the learned inverter G with the DeePSiM losses, on the shared loop.

G maps a frozen classifier's activations at one layer to the image they came from.
The loss (Dosovitskiy & Brox, "Generating images with perceptual similarity
metrics based on deep networks"):

* a **feature loss** in the classifier's own features at several layers (the
  rendered image must look the same *to the network*), each normalized by the
  real features' energy so layers weigh alike;
* an **adversarial loss** from a small patch discriminator trained alongside (the
  image must look real: texture and edges the feature loss leaves blurred);
* a small **pixel loss** (L1) that anchors colours early in training.

The inputs are real activations and, for ``projected_fraction`` of each batch, the
same activations projected onto the cGMM's family of targets (its ridge prediction
from the true labels plus the residual in its PCA basis, the residual scaled down at
random as sampling at a temperature does): the codes ``generate`` will hand G.

Same sharded loop, atomic checkpoints, exact resume and progress as every trainer
(``training/loop.py``); the result is an inverter bundle in ``workdir/model`` that
``attach`` copies into the classifier bundle it was trained for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from deepface_gen import checks
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.config import Config
from deepface_gen.data import input_pipeline
from deepface_gen.errors import DeepFaceGenError, WeightsError
from deepface_gen.io import bundles
from deepface_gen.models.classifier import Classifier, load_classifier
from deepface_gen.models.discriminator import PatchDiscriminator
from deepface_gen.models.inverter import (
    INVERTER_FILE,
    Generator,
    Inverter,
    InverterConfig,
    init_generator,
    inverter_record,
    load_inverter,
)
from deepface_gen.models.vgg import canonical_layer
from deepface_gen.training.classifier import TrainState
from deepface_gen.training.loop import (
    check_config,
    check_workdir,
    learning_rate_schedule,
    resume_state,
    run_loop,
)
from deepface_gen.training.perceptual import (
    GANState,
    discriminator_state,
    feature_function,
    fool_loss,
    normalized_feature_loss,
    step_discriminator,
)

CODE_HIGH_PERCENTILE = 99.5  # refine keeps each channel below this percentile of real codes


@struct.dataclass
class Projection:
    """The cGMM's family of targets, as data for the train step: activations are
    projected onto ridge(labels) + span(components)."""

    ridge: jax.Array  # (41, D)
    components: jax.Array  # (K, D)


def project_codes(
    codes: jax.Array, labels: jax.Array, projection: Projection, shrink: jax.Array
) -> jax.Array:
    """Codes (N, h, w, c) moved onto the cGMM's targets: the ridge prediction from the
    labels (N, 40; 0 = unknown) plus the residual's PCA coordinates times ``shrink``
    (N,), then the ReLU the targets get."""
    n = len(codes)
    flat = codes.reshape(n, -1)
    x = jnp.concatenate([labels, jnp.ones((n, 1), labels.dtype)], axis=1)
    mean = x @ projection.ridge
    coords = (flat - mean) @ projection.components.T
    moved = mean + (shrink[:, None] * coords) @ projection.components
    return jnp.maximum(moved, 0.0).reshape(codes.shape)


def inverter_config(config: Config, classifier: Classifier) -> InverterConfig:
    """The architecture a config describes, for this classifier's layer shape."""
    layer = canonical_layer(config.model.layer)
    if layer not in classifier.backbone.layer_names():
        raise DeepFaceGenError(
            f"{classifier.path} has no layer {layer}; choose one of "
            f"{', '.join(classifier.backbone.layer_names())}"
        )
    size = classifier.input_size
    shape = jax.eval_shape(
        lambda: classifier.apply(jnp.zeros((1, size, size, 3)), taps=(layer,))[layer]
    ).shape[1:]
    try:
        return InverterConfig(layer, tuple(int(s) for s in shape), size, tuple(config.model.widths))
    except ValueError as err:
        raise DeepFaceGenError(f"model.widths: {err}") from None


def check_inverter_config(config: Config, classifier: Classifier) -> None:
    """Refuse settings the trainer cannot run, before anything is created."""
    check_config(config)
    t = config.train
    if config.data.size != classifier.input_size:
        raise DeepFaceGenError(
            f"data.size {config.data.size} must be the classifier's input size "
            f"{classifier.input_size}"
        )
    for name in ("feature_weight", "pixel_weight", "adversarial_weight"):
        checks.real(f"train.{name}", t[name], 0.0, 1e4)
    checks.real("train.projected_fraction", t.projected_fraction, 0.0, 1.0)
    checks.whole("train.moment_batches", t.moment_batches, 1, 10**6)
    layers = classifier.backbone.layer_names()
    unknown = [name for name in t.feature_layers if canonical_layer(name) not in layers]
    if unknown or not t.feature_layers:
        raise DeepFaceGenError(
            f"train.feature_layers must name layers of the classifier ({', '.join(layers)}); "
            f"got {list(t.feature_layers)}"
        )
    if t.projected_fraction > 0 and not isinstance(classifier.manifest.get("cgmm"), dict):
        raise DeepFaceGenError(
            f"train.projected_fraction needs a cGMM in {classifier.path} "
            "(deepface-gen fit first), or set train.projected_fraction=0"
        )


def code_moments(
    classifier: Classifier, source, layer: str, batches: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel std (G's input scale) and high percentile (refine's bound) of the
    layer's activations over the source's first ``batches`` batches."""
    codes = np.concatenate(
        [np.asarray(classifier.apply(source.batch(i).images, taps=(layer,))[layer])
         for i in range(batches)]
    )  # fmt: skip
    flat = codes.reshape(-1, codes.shape[-1]).astype(np.float64)
    scale = np.maximum(flat.std(axis=0), 1e-3 * max(flat.std(), 1e-6))
    high = np.percentile(flat, CODE_HIGH_PERCENTILE, axis=0)
    return scale.astype(np.float32), np.maximum(high, 1e-3).astype(np.float32)


def make_inverter_train_step(
    classifier: Classifier, arch: InverterConfig, config: Config
) -> Callable:
    """One jit-compiled step: codes from the frozen classifier (some projected onto the
    cGMM's targets), G's losses and update, then the discriminator's."""
    t = config.train
    layers = tuple(dict.fromkeys(canonical_layer(name) for name in t.feature_layers))
    taps = tuple(dict.fromkeys((arch.layer, *layers)))
    weights = float(t.feature_weight), float(t.pixel_weight), float(t.adversarial_weight)
    adversarial_start, fraction = int(t.adversarial_start), float(t.projected_fraction)
    generator = Generator(arch)
    critic_widths = tuple(config.model.discriminator)
    features = feature_function(classifier, taps)

    def step(state: GANState, batch: dict, net_params, projection, code_scale, key):
        k_aug, k_pick, k_shrink = jax.random.split(jax.random.fold_in(key, state.step), 3)
        images = input_pipeline.augment(k_aug, batch["images"], max_shift=0).astype(jnp.float32)
        real = jax.lax.stop_gradient(features(net_params, images))
        codes = real[arch.layer]
        if fraction > 0:
            labels = jnp.where(batch["label_mask"], batch["attributes"], 0.0)
            shrink = jax.random.uniform(k_shrink, (len(codes),), minval=0.5, maxval=1.0)
            moved = project_codes(codes, labels, projection, shrink)
            pick = jax.random.bernoulli(k_pick, fraction, (len(codes),))
            codes = jnp.where(pick[:, None, None, None], moved, codes)
        adversarial_on = (state.step >= adversarial_start).astype(jnp.float32)

        def generator_loss(g_params):
            fake = generator.apply({"params": g_params}, codes / code_scale)
            feat = normalized_feature_loss(features(net_params, fake), real, layers)
            pixel = jnp.mean(jnp.abs(fake - images), axis=(1, 2, 3)) / 255.0
            critic = PatchDiscriminator(critic_widths)
            fool = fool_loss(critic.apply({"params": state.discriminator.params}, fake))
            total = weights[0] * feat + weights[1] * pixel + adversarial_on * weights[2] * fool
            return jnp.mean(total), (fake, jnp.mean(feat), jnp.mean(pixel), jnp.mean(fool))

        grads, (fake, feat, pixel, fool) = jax.grad(generator_loss, has_aux=True)(
            state.generator.params
        )
        critic_state, d_loss = step_discriminator(
            state.discriminator, critic_widths, images, (jax.lax.stop_gradient(fake),)
        )
        state = GANState(state.generator.apply_gradients(grads=grads), critic_state)
        rmse = jnp.sqrt(jnp.mean((fake - images) ** 2))
        metrics = {"feature": feat, "pixel": pixel, "fool": fool, "discriminator": d_loss,
                   "rmse": rmse}  # fmt: skip
        return state, metrics

    return jax.jit(step, donate_argnums=0)


def _projection(classifier: Classifier, layer: str, arch: InverterConfig) -> Projection:
    """The cGMM's ridge and residual basis at ``layer`` (zeros when it has none: the
    trainer then never projects)."""
    record = classifier.manifest.get("cgmm")
    if isinstance(record, dict) and record.get("layer") == layer:
        arrays = bundles.load_bundle_file(classifier.path, record["file"])
        fitted = cgmm_lib.CGMM.from_arrays(layer, arrays)
        return Projection(jnp.asarray(fitted.ridge), jnp.asarray(fitted.components))
    d = int(np.prod(arch.code_shape))
    return Projection(jnp.zeros((41, d)), jnp.zeros((1, d)))


def train_inverter(
    config: Config,
    workdir: str | Path,
    resume: bool = False,
    quiet: bool = False,
    max_steps: int | None = None,
) -> Path | None:
    """Train an inverter for ``config.model.classifier`` per ``config``; returns the
    exported bundle folder (``workdir/model``), or None when ``max_steps`` stopped it."""
    classifier = load_classifier(config.model.classifier)
    check_inverter_config(config, classifier)
    arch = inverter_config(config, classifier)
    workdir = check_workdir(workdir, resume)
    t = config.train
    key = jax.random.key(config.seed)
    g_params = init_generator(arch, jax.random.fold_in(key, 0))
    g_tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(learning_rate_schedule(config)))
    state = GANState(
        TrainState.create(apply_fn=None, params=g_params, tx=g_tx),
        discriminator_state(
            tuple(config.model.discriminator),
            arch.size,
            float(t.discriminator_learning_rate),
            jax.random.fold_in(key, 1),
        ),
    )
    state, start, stop = resume_state(state, workdir, config, resume, max_steps)
    finished = workdir / "model" / bundles.MANIFEST
    if start >= t.steps and finished.exists():
        return finished.parent  # a finished run: its model as exported, with its record

    source = input_pipeline.make_source(
        config.data.source, "train", arch.size, t.batch_size, config.seed
    )
    # A deterministic function of the data: a resumed run computes the same scale.
    scale, high = code_moments(classifier, source, arch.layer, int(t.moment_batches))
    projection = _projection(classifier, arch.layer, arch)
    train_step = make_inverter_train_step(classifier, arch, config)
    step_key = jax.random.fold_in(key, 2)
    began = time.perf_counter()
    net_params, code_scale = classifier.params, jnp.asarray(scale)
    state = run_loop(
        state,
        lambda s, batch: train_step(s, batch, net_params, projection, code_scale, step_key),
        source,
        config,
        workdir,
        start,
        stop,
        quiet,
        desc="training inverter",
    )
    if stop < t.steps:
        return None
    training = {
        "config": config.to_dict(),
        "steps": t.steps,
        "resumed_from_step": start,
        "wall_seconds_this_run": round(time.perf_counter() - began, 1),
        "device": jax.devices()[0].device_kind,
        "jax_version": jax.__version__,
    }
    params_hash = bundles.params_digest(classifier.manifest)
    record = inverter_record(arch, bundles.PARAMS_FILE, params_hash, training)
    inverter = Inverter(arch, jax.device_get(state.generator.params), scale, high, record)
    manifest = {"kind": "inverter", "inverter": record}
    return bundles.save_bundle(workdir / "model", inverter.arrays(), manifest)


def attach(inverter_bundle: str | Path, classifier_bundle: str | Path) -> Path:
    """Copy a trained inverter into the classifier bundle it was trained for (as
    ``inverter.<hash>.msgpack``); refuses a classifier with other weights."""
    inverter = load_inverter(inverter_bundle)
    manifest = bundles.verify_bundle(classifier_bundle)
    own = bundles.params_digest(manifest)
    if own != inverter.record.get("classifier_params"):
        raise WeightsError(
            f"{inverter_bundle} was trained on another classifier's weights than "
            f"{classifier_bundle}'s; train one for it (model.classifier={classifier_bundle})"
        )
    return bundles.add_to_bundle(
        classifier_bundle, "inverter", INVERTER_FILE, inverter.arrays(), inverter.record
    )
