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
random as sampling at a temperature does): the codes ``generate`` will hand G. For
``sampled_fraction`` of each batch, the code is instead *drawn* from the cGMM given the
portrait's labels, as ``generate`` draws it (``SAMPLED_TEMPERATURES``): no image lies
behind such a code, so those rows learn only from the critic and from agreeing with
the code at its own layer, which teaches G to draw the codes it will be handed, not
only projections of real ones. A target carries only the part of a face its family can
hold (the cGMM's first residual components: about three fifths of a same-description
portrait's residual); what lies outside it G must invent. Redrawing the
portrait from its projection teaches G to fill that part with its average (a hat
through which the hair shows), so with ``projected_from_code`` projected rows learn as
drawn rows do, and ``out_of_family_weight`` < 1 lets the agreement with a code weigh
what G adds outside the family less than what it carries inside it: the critic then
says what a solid hat looks like. Measured (docs/renderer.md), G invented blotches
instead, so both stay off.

Same sharded loop, atomic checkpoints, exact resume and progress as every trainer
(``training/loop.py``); the result is an inverter bundle in ``workdir/model`` that
``attach`` copies into the classifier bundle it was trained for.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from deepface_gen.cgmm import stored
from deepface_gen.cgmm.model import sample_conditional
from deepface_gen.config import Config
from deepface_gen.data import input_pipeline
from deepface_gen.errors import DeepFaceGenError, WeightsError
from deepface_gen.io import bundles
from deepface_gen.models.classifier import Classifier, load_classifier
from deepface_gen.models.inverter import (
    INVERTER_FILE,
    Generator,
    Inverter,
    InverterConfig,
    grows_into,
    init_generator,
    inverter_record,
    load_inverter,
    noise_keys,
    save_inverter,
    widen_params,
)
from deepface_gen.models.vgg import canonical_layer
from deepface_gen.training.loop import (
    Run,
    Task,
    TrainState,
    check_config,
    checkpoint_steps,
    held_out_batches,
    learning_rate_schedule,
    restore_step,
    train,
)
from deepface_gen.training.perceptual import (
    CriticRecipe,
    CriticSettings,
    GANState,
    critic_update,
    feature_function,
    fool_loss,
    make_score,
    normalized_feature_loss,
    recipe_critic_state,
    shipped_params,
    spectral_loss,
    step_average,
)
from deepface_gen.training.pins import check_frozen, classifier_weights, pin_frozen
from deepface_gen.training.settings import (
    BIG,
    LoopSettings,
    Settings,
    resolve,
    section,
    setting,
)

CODE_HIGH_PERCENTILE = 99.5  # refine keeps each channel below this percentile of real codes
SAMPLED_TEMPERATURES = (0.3, 0.8)  # drawn codes' temperatures: around generate's defaults


@struct.dataclass
class Projection:
    """The cGMM's family of targets, as data for the train step: activations are
    projected onto ridge(labels) + span(components)."""

    ridge: jax.Array  # (41, D)
    components: jax.Array  # (K, D)
    component_std: jax.Array  # (K,) the residual's spread along each component


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
        return InverterConfig(
            layer, tuple(int(s) for s in shape), size, tuple(config.model.widths),
            bool(config.model.noise), float(config.model.sensor_noise),
        )  # fmt: skip
    except ValueError as err:
        raise DeepFaceGenError(f"model.widths: {err}") from None


@dataclass(frozen=True)
class InverterModel:
    classifier: str = setting("starter", help="the frozen classifier: a shipped name or a bundle")
    layer: str = setting("conv3_1", help="its layer G renders: the cGMM's")
    widths: list[int] = setting([64, 32, 16], 1, 4096, help="G's, at the code, then per 2x")
    discriminator: list[int] = setting([32, 64, 128], 1, 4096, help="the patch critic's widths")
    noise: bool = setting(False, help="noise inputs at each of G's scales (StyleGAN's)")
    sensor_noise: float = setting(
        0.0, 0.0, 0.5, help="camera noise added after G draws: the most std, 0..1 units"
    )


@dataclass(frozen=True)
class InverterTrain(CriticSettings, LoopSettings):
    """G's ``train`` settings: the loop's, the critic recipe's, and its own."""

    feature_layers: list[str] = setting(
        ["conv1_1", "conv2_1", "conv3_1", "conv4_1"], help="the feature loss's layers"
    )
    feature_weight: float = setting(1.0, 0.0, 1e4, help="relative feature error, summed")
    adversarial_weight: float = setting(0.1, 0.0, 1e4, help="fooling the critic")
    adversarial_start: int = setting(300, 0, BIG, help="the critic joins at this step")
    pixel_weight: float = setting(1.0, 0.0, 1e4, help="L1 on pixels: anchors colours")
    spectral_weight: float = setting(
        0.0, 0.0, 1e4, help="the batch's mean log power spectrum against the portraits'"
    )
    projected_fraction: float = setting(
        0.5, 0.0, 1.0, help="share of each batch projected onto the cGMM's targets"
    )
    sampled_fraction: float = setting(
        0.0, 0.0, 1.0, help="share of each batch drawn from the cGMM given its labels"
    )
    projected_from_code: bool = setting(
        False, help="projected rows learn from their code and the critic, not their portrait"
    )
    out_of_family_weight: float = setting(
        1.0, 0.0, 1.0, help="an image-free row's disagreement outside the cGMM's family"
    )
    clean_targets: bool = setting(
        False, help="G learns portraits without their sensor noise (synthetic source only)"
    )
    moment_batches: int = setting(16, 1, 10**6, help="batches for the code statistics")
    init_from: str = setting("", help="continue a trained inverter (a bundle, or a classifier)")


@dataclass(frozen=True)
class InverterSettings(Settings):
    """``deepface-gen train-inverter``: G (``configs/inverter_starter.py``)."""

    model: InverterModel = section(InverterModel)
    train: InverterTrain = section(InverterTrain)


def check_inverter_config(config: Config, classifier: Classifier) -> None:
    """Refuse settings the trainer cannot run, before anything is created."""
    check_config(config)
    t = config.train
    if config.data.size != classifier.input_size:
        raise DeepFaceGenError(
            f"data.size {config.data.size} must be the classifier's input size "
            f"{classifier.input_size}"
        )
    layers = classifier.backbone.layer_names()
    unknown = [name for name in t.feature_layers if canonical_layer(name) not in layers]
    unknown += [name for name in t.critic_features if canonical_layer(name) not in layers]
    if unknown or not t.feature_layers:
        raise DeepFaceGenError(
            "train.feature_layers (at least one) and train.critic_features must name layers "
            f"of the classifier ({', '.join(layers)}); got {list(t.feature_layers)} and "
            f"{list(t.critic_features)}"
        )
    for name in ("projected_fraction", "sampled_fraction"):
        if getattr(t, name) > 0 and stored.cgmm_record(classifier) is None:
            raise DeepFaceGenError(
                f"train.{name} needs a cGMM in {classifier.path} "
                f"(deepface-gen fit first), or set train.{name}=0"
            )
    if t.clean_targets and config.data.source.partition(":")[0] != "synthetic":
        raise DeepFaceGenError(
            f"train.clean_targets needs portraits without their sensor noise, which only "
            f"the synthetic source draws; data.source is {config.data.source!r}"
        )
    if t.projected_fraction + t.sampled_fraction > 1:
        raise DeepFaceGenError(
            "train.projected_fraction + train.sampled_fraction must be at most 1 (shares of "
            f"one batch); got {t.projected_fraction} + {t.sampled_fraction}"
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


class BatchCodes(NamedTuple):
    """G's input codes for one batch, and which rows were moved off their portrait."""

    codes: jax.Array  # (N, h, w, c)
    drawn: jax.Array  # (N,) bool: drawn from the cGMM (no image behind them)
    projected: jax.Array  # (N,) bool: the portrait's code projected onto the targets


def batch_codes(
    codes: jax.Array,
    labels: jax.Array,
    projection: Projection,
    fractions: tuple[float, float],
    key: jax.Array,
) -> BatchCodes:
    """G's input codes: each row of ``codes`` (N, h, w, c) kept, projected onto the
    cGMM's targets (a share ``fractions[0]``, its residual shrunk by 0.5 to 1) or
    replaced by a target drawn from the cGMM given the row's ``labels`` (a share
    ``fractions[1]``, at a temperature in ``SAMPLED_TEMPERATURES``)."""
    projected, sampled = fractions
    n = len(codes)
    k_choice, k_shrink, k_draw, k_temperature = jax.random.split(key, 4)
    choice = jax.random.uniform(k_choice, (n,))  # [0, projected): projected; the top: drawn
    drawn = choice >= 1.0 - sampled
    moved = (choice < projected) & ~drawn
    if projected > 0:
        shrink = jax.random.uniform(k_shrink, (n,), minval=0.5, maxval=1.0)
        on = project_codes(codes, labels, projection, shrink)
        codes = jnp.where(moved[:, None, None, None], on, codes)
    if sampled > 0:
        low, high = SAMPLED_TEMPERATURES
        temperature = jax.random.uniform(k_temperature, (n, 1), minval=low, maxval=high)
        ridge, components, std = projection.ridge, projection.components, projection.component_std
        target = sample_conditional(ridge, labels, components, std, k_draw, temperature)
        codes = jnp.where(drawn[:, None, None, None], target.reshape(codes.shape), codes)
    return BatchCodes(codes, drawn, moved)


def family_agreement(
    drawing: jax.Array, codes: jax.Array, components: jax.Array, outside_weight: float
) -> jax.Array:
    """Per image, how far G's drawing's activations (N, h, w, c) are from the codes it
    was handed, relative to the codes' energy (``normalized_feature_loss`` at one layer):
    the difference inside the span of the cGMM's orthonormal residual ``components``
    (K, D) counts fully, the rest ``outside_weight`` times (1: the whole difference)."""
    n = len(codes)
    difference = (drawing - codes).reshape(n, -1)
    total = jnp.sum(difference**2, axis=1)
    energy = jnp.sum(codes.reshape(n, -1) ** 2, axis=1) + 1e-6 * difference.shape[1]
    if outside_weight == 1.0:  # the default: no projection onto the family in the step
        return total / energy
    inside = jnp.sum((difference @ components.T) ** 2, axis=1)
    return (inside + outside_weight * (total - inside)) / energy


def loss_weights(train: Config) -> tuple[float, float, float, float]:
    """G's loss weights (``config.train``'s), in the order its step reads them: feature,
    pixel, adversarial and spectral."""
    return (float(train.feature_weight), float(train.pixel_weight),
            float(train.adversarial_weight), float(train.spectral_weight))  # fmt: skip


def make_inverter_train_step(
    classifier: Classifier, arch: InverterConfig, config: Config
) -> Callable:
    """One jit-compiled step: codes from the frozen classifier (some projected onto the
    cGMM's targets), G's losses and update (and its moving average), then the critic's."""
    t = config.train
    recipe = CriticRecipe.from_config(config)
    layers = tuple(dict.fromkeys(canonical_layer(name) for name in t.feature_layers))
    taps = tuple(dict.fromkeys((arch.layer, *layers, *recipe.feature_layers)))
    weights = loss_weights(t)
    adversarial_start = int(t.adversarial_start)
    fractions = float(t.projected_fraction), float(t.sampled_fraction)
    projected_from_code, outside_weight = bool(t.projected_from_code), float(t.out_of_family_weight)
    generator = Generator(arch)
    features = feature_function(classifier, taps)
    score = make_score(recipe, features)

    def step(state: GANState, batch: dict, net_params, projection, code_scale, key):
        keys = jax.random.split(jax.random.fold_in(key, state.step), 6)
        images = input_pipeline.augment(keys[0], batch["images"], max_shift=0).astype(jnp.float32)
        real = jax.lax.stop_gradient(features(net_params, images))
        # What G learns to draw: the portraits, or (clean targets) the same portraits,
        # flipped alike, without the sensor noise their codes cannot pin down.
        targets, target_features = images, real
        if "clean" in batch:
            targets = input_pipeline.augment(keys[0], batch["clean"], 0).astype(jnp.float32)
            target_features = jax.lax.stop_gradient(features(net_params, targets))
        labels = jnp.where(batch["label_mask"], batch["attributes"], 0.0)
        codes, drawn, projected = batch_codes(
            real[arch.layer], labels, projection, fractions, keys[1]
        )
        from_code = drawn | projected if projected_from_code else drawn
        adversarial_on = (state.step >= adversarial_start).astype(jnp.float32)
        d_params = state.discriminator.params

        def generator_loss(g_params):
            fake = generator.apply(
                {"params": g_params}, codes / code_scale, noise_keys(len(codes), keys[5])
            )
            fake_features = features(net_params, fake)
            feat = normalized_feature_loss(fake_features, target_features, layers)
            pixel = jnp.mean(jnp.abs(fake - targets), axis=(1, 2, 3)) / 255.0
            # A drawn code has no image behind it: G's drawing need only carry the code.
            agree = family_agreement(
                fake_features[arch.layer], codes, projection.components, outside_weight
            )
            on_fake = score(d_params, net_params, fake, fake_features, keys[2])
            fool = sum(fool_loss(logits, recipe.loss) for logits in on_fake)
            fitted = jnp.where(
                from_code, weights[0] * agree, weights[0] * feat + weights[1] * pixel
            )
            total = fitted + adversarial_on * weights[2] * fool
            # Rows drawn for a portrait share its spectrum; logged, differentiated if weighted.
            spectral = spectral_loss(fake, targets, ~from_code)
            loss = jnp.mean(total) + (weights[3] * spectral if weights[3] else 0.0)
            kept = {name: fake_features[name] for name in recipe.feature_layers}
            return loss, (fake, kept, (jnp.mean(feat), jnp.mean(pixel), jnp.mean(fool), spectral))

        grads, (fake, fake_features, terms) = jax.grad(generator_loss, has_aux=True)(
            state.generator.params
        )
        feat, pixel, fool, spectral = terms
        fake, fake_features = jax.lax.stop_gradient((fake, fake_features))

        critic, d_loss = critic_update(
            recipe,
            state.discriminator,
            lambda p, pixels, feats, k: score(p, net_params, pixels, feats, k),
            (targets, target_features, keys[3]),
            ((fake, fake_features, keys[4]),),
            state.step,
        )
        updated = state.generator.apply_gradients(grads=grads)
        state = GANState(updated, critic, step_average(recipe, state, updated))
        rmse = jnp.sqrt(jnp.mean((fake - targets) ** 2))
        metrics = {"feature": feat, "pixel": pixel, "fool": fool, "discriminator": d_loss,
                   "rmse": rmse, "spectral": spectral}  # fmt: skip
        return state, metrics

    return jax.jit(step, donate_argnums=0)


def make_inverter_evaluate(
    classifier: Classifier, arch: InverterConfig, config: Config, code_scale: np.ndarray
) -> Callable:
    """``evaluate(state) -> {"feature", "rmse"}``: how well the G that would ship (its
    moving average where the recipe keeps one) redraws ``train.eval_batches`` held-out
    portraits (the validation split, read once) from their own activations, by the
    training's feature loss and the pixel RMSE (0-255). Logged every
    ``train.eval_every`` steps, it is the run's learning curve in ``metrics.jsonl``."""
    t = config.train
    batches = [batch.images for batch in held_out_batches(config, arch.size)]
    layers = tuple(dict.fromkeys(canonical_layer(name) for name in t.feature_layers))
    features = feature_function(classifier, tuple(dict.fromkeys((arch.layer, *layers))))
    generator, scale = Generator(arch), jnp.asarray(code_scale)

    @jax.jit
    def measure(g_params, net_params, images):
        real = features(net_params, images.astype(jnp.float32))
        fake = generator.apply({"params": g_params}, real[arch.layer] / scale)
        feat = jnp.mean(normalized_feature_loss(features(net_params, fake), real, layers))
        return feat, jnp.sqrt(jnp.mean((fake - images) ** 2))

    def evaluate(state: GANState) -> dict:
        params = shipped_params(state)
        parts = [measure(params, classifier.params, images) for images in batches]
        feature, rmse = np.asarray(jax.device_get(parts)).T
        return {"feature": float(feature.mean()), "rmse": float(np.sqrt(np.mean(rmse**2)))}

    return evaluate


def _projection(classifier: Classifier, layer: str, arch: InverterConfig) -> Projection:
    """The cGMM's ridge and residual basis at ``layer`` (zeros when it has none: the
    trainer then never projects)."""
    record = stored.cgmm_record(classifier)
    if record is not None and record["layer"] == layer:
        fitted = stored.load_cgmm(classifier, with_mixture=False)
        return Projection(*(jnp.asarray(a) for a in
                            (fitted.ridge, fitted.components, fitted.component_std)))  # fmt: skip
    d = int(np.prod(arch.code_shape))
    return Projection(jnp.zeros((41, d)), jnp.zeros((1, d)), jnp.zeros((1,)))


# Where a run keeps a copy of the G it continues, as it was when the run began.
START_FOLDER = "start"


def pinned_start(workdir: str | Path | None) -> Path | None:
    """The copy of its start a begun run in ``workdir`` kept (``pin_start``), or None:
    no work directory, no checkpoint yet, or a run from before copies were kept."""
    if workdir is None or not checkpoint_steps(workdir):
        return None
    folder = Path(workdir) / START_FOLDER
    return folder if (folder / bundles.MANIFEST).is_file() else None


def warm_start(
    config: Config, classifier: Classifier, arch: InverterConfig, workdir: str | Path | None = None
) -> Inverter | None:
    """The trained inverter ``train.init_from`` names (a bundle folder, or the
    classifier's own name for the inverter attached to its bundle), checked to have
    this run's classifier and an architecture that grows into this run's (the same, or
    narrower, or without the noise inputs a run may add); None when the run starts fresh.
    A run begun in ``workdir`` reads the copy it kept instead, so that resuming,
    exporting or measuring it after another G ships as ``starter`` finds its own."""
    source = str(config.train.init_from)
    if not source:
        return None
    folder = pinned_start(workdir)
    if folder is not None:
        source = f"{source} (as kept in {folder})"
    else:
        folder = classifier.path if source == str(config.model.classifier) else Path(source)
    if not Path(folder).is_dir():
        raise DeepFaceGenError(f"train.init_from: no bundle folder {source}")
    inverter = load_inverter(folder)
    if not grows_into(inverter.config, arch):
        raise DeepFaceGenError(
            f"train.init_from: {source}'s inverter is {inverter.config.to_json()}, "
            f"this run's is {arch.to_json()}; make model.layer match and model.widths "
            "the same or wider"
        )
    if inverter.record.get("classifier_params") != bundles.params_digest(classifier.manifest):
        raise DeepFaceGenError(
            f"train.init_from: {source}'s inverter was trained on another classifier's weights"
        )
    return inverter


def pin_start(workdir: Path, context: _Context) -> None:
    """Keep a copy of the G a new run in ``workdir`` continues (``warm_start`` reads it
    from then on); a run from scratch keeps none."""
    folder = Path(workdir) / START_FOLDER
    start = context.start_from
    if start is None:  # a stale copy from an attempt that never reached a checkpoint
        shutil.rmtree(folder, ignore_errors=True)
        return
    save_inverter(folder, start)


def steps_before(start: Inverter | None) -> int:
    """How many steps the inverter a run started from had seen (0 for a fresh run)."""
    earlier = start.record.get("training", {}) if start is not None else {}
    return int(earlier.get("total_steps", earlier.get("steps", 0)))


def initial_state(
    config: Config, classifier: Classifier, arch: InverterConfig, start: Inverter | None = None
) -> GANState:
    """G (fresh, or ``start``'s weights), its critic and, when the recipe averages,
    the moving average: the state a run begins from and a checkpoint restores into."""
    t = config.train
    key = jax.random.key(config.seed)
    recipe = CriticRecipe.from_config(config)
    if start is None:
        g_params = init_generator(arch, jax.random.fold_in(key, 0))
    else:  # wider widths and noise inputs the start lacks begin as the same G
        fresh = init_generator(arch, jax.random.fold_in(key, 0))
        g_params = widen_params(fresh, start.params)
    g_tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(learning_rate_schedule(config)))
    critic = recipe_critic_state(
        recipe, classifier, arch.size, float(t.discriminator_learning_rate),
        jax.random.fold_in(key, 1),
    )  # fmt: skip
    ema = jax.tree_util.tree_map(jnp.copy, g_params) if recipe.ema_decay else None
    return GANState(TrainState.create(apply_fn=None, params=g_params, tx=g_tx), critic, ema)


class _Context(NamedTuple):
    """What an inverter run needs before its data: the frozen classifier, G's
    architecture, and the trained inverter it continues (``train.init_from``) if any."""

    classifier: Classifier
    arch: InverterConfig
    start_from: Inverter | None


def _prepare(config: Config, workdir: Path | None = None) -> _Context:
    classifier = load_classifier(config.model.classifier)
    check_frozen(workdir, classifier_weights("model.classifier", classifier))
    check_inverter_config(config, classifier)
    arch = inverter_config(config, classifier)
    return _Context(classifier, arch, warm_start(config, classifier, arch, workdir))


def _init_state(config: Config, context: _Context, key: jax.Array) -> GANState:
    return initial_state(config, context.classifier, context.arch, context.start_from)


def _source(config: Config, context: _Context):
    t = config.train
    return input_pipeline.make_source(
        config.data.source,
        "train",
        context.arch.size,
        t.batch_size,
        config.seed,
        clean=bool(t.clean_targets),
    )


def _code_range(config: Config, context: _Context, source=None) -> tuple[np.ndarray, np.ndarray]:
    """G's input scale and range: the ones a warm start learned on, or measured on the
    data (a deterministic function of it, so a resumed run computes the same; the
    source is built here when none is given)."""
    classifier, arch, start_from = context
    if start_from is not None:
        return start_from.code_scale, start_from.code_high
    source = source if source is not None else _source(config, context)
    return code_moments(classifier, source, arch.layer, int(config.train.moment_batches))


def _setup(config: Config, context: _Context, source, key: jax.Array) -> Run:
    """The step, with G's input scale and the cGMM's projection, and the held-out
    evaluation when ``train.eval_every`` asks for one."""
    classifier, arch, _ = context
    scale, high = _code_range(config, context, source)
    projection = _projection(classifier, arch.layer, arch)
    train_step = make_inverter_train_step(classifier, arch, config)
    step_key = jax.random.fold_in(key, 2)
    net_params, code_scale = classifier.params, jnp.asarray(scale)

    def step(state: GANState, batch: dict) -> tuple[GANState, dict]:
        return train_step(state, batch, net_params, projection, code_scale, step_key)

    evaluate = None
    if config.train.eval_every:
        evaluate = make_inverter_evaluate(classifier, arch, config, scale)
    return Run(step, evaluate, (scale, high))


def _export(workdir: Path, state: GANState, config: Config, context: _Context, run: Run,
            record: dict) -> Path:  # fmt: skip
    """G's shipped weights (the average where the recipe keeps one) with its input scale,
    recording how many steps it has seen with the run it started from."""
    classifier, arch, start_from = context
    record = {**record, "total_steps": steps_before(start_from) + config.train.steps}
    params_hash = bundles.params_digest(classifier.manifest)
    entry = inverter_record(arch, bundles.PARAMS_FILE, params_hash, record)
    scale, high = run.facts
    inverter = Inverter(arch, jax.device_get(shipped_params(state)), scale, high, entry)
    return save_inverter(workdir / "model", inverter)


def _pin(workdir: Path, context: _Context) -> None:
    pin_frozen(workdir, classifier_weights("model.classifier", context.classifier))
    pin_start(workdir, context)


TASK = Task("training inverter", InverterSettings, _prepare, _init_state, _source, _setup, _export,
            _pin)  # fmt: skip


# Train the learned inverter of ``config.model.classifier`` (``loop.train``'s arguments).
train_inverter = functools.partial(train, TASK)


class CheckpointedRun(NamedTuple):
    """A run's whole state at one kept step, with what it was trained with."""

    state: GANState  # G, its moving average, the critic and both optimizers
    config: Config  # resolved: settings it predates read at their defaults
    classifier: Classifier
    arch: InverterConfig
    code_scale: np.ndarray  # G reads codes / code_scale
    code_high: np.ndarray
    start_from: Inverter | None


def checkpoint_run(workdir: str | Path, step: int) -> CheckpointedRun:
    """Everything a run's checkpoint of ``step`` holds (``checkpoint_inverter`` ships its
    G; a benchmark may also read its critic)."""
    cache: dict = {}

    def like(saved: Config) -> GANState:
        # A run saved before a setting existed reads it at its default (what it trained with).
        cache["config"] = config = resolve(saved, InverterSettings)
        cache["context"] = context = _prepare(config, Path(workdir))
        return _init_state(config, context, jax.random.key(config.seed))

    state, _ = restore_step(workdir, step, like)
    config, context = cache["config"], cache["context"]
    scale, high = _code_range(config, context)
    return CheckpointedRun(state, config, context.classifier, context.arch, scale, high,
                           context.start_from)  # fmt: skip


def checkpoint_inverter(workdir: str | Path, step: int) -> Inverter:
    """The inverter a run's checkpoint of ``step`` would export (its moving average
    when the recipe keeps one): for a learning curve, or to ship an earlier step."""
    state, config, classifier, arch, scale, high, start = checkpoint_run(workdir, step)
    record = inverter_record(
        arch, bundles.PARAMS_FILE, bundles.params_digest(classifier.manifest),
        {"config": config.to_dict(), "steps": step, "checkpoint": str(workdir),
         "total_steps": steps_before(start) + step},
    )  # fmt: skip
    return Inverter(arch, jax.device_get(shipped_params(state)), scale, high, record)


def export_checkpoint(workdir: str | Path, step: int) -> Path:
    """Export a run's checkpoint of ``step`` as an inverter bundle
    (``workdir/model_step_<step>``): the best point of a learning curve, or the last
    one a cut-short run reached, ready for ``attach``."""
    return save_inverter(Path(workdir) / f"model_step_{step}", checkpoint_inverter(workdir, step))


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
