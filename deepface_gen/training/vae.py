"""Training the conditional VAE, with the classifier trainer's habits.

The loss is the ELBO (a Gaussian pixel likelihood, KL annealed in) plus, where the
config weighs them, the terms that make a VAE's faces sharp and faithful:

* a **feature loss** (DFC-VAE, Hou et al. 2017): the reconstruction must look the
  same as the portrait to the frozen generating classifier at several layers
  (``training/perceptual.py``, the inverter's DeePSiM loss);
* an **adversarial loss** (VAE-GAN, Larsen et al. 2016): a patch discriminator trained
  alongside scores both reconstructions and faces decoded from the prior as fakes;
* an **attribute loss**: faces decoded from the prior with a batch's labels must carry
  those labels to the frozen classifier, so the decoder listens to its conditions
  instead of leaving hair colour or baldness to the latent.

``train.prior_latents`` says which latents those prior faces are decoded from:
``gaussian`` (N(0, I)) or ``shuffled_posterior`` (each face gets another face's
posterior mean: draws from the aggregate posterior, which is what generation samples
through the fitted density, so the decoder learns to obey its conditions there and
the encoder to keep what they decide out of the latent).

Same data sources, the same sharded loop (``train.run_loop``: prefetch,
``metrics.jsonl``, atomic checkpoints, ``resume`` with the same data order,
a progress bar), and a final export: a bundle in ``workdir/model`` that
``deepface-gen generate --vae`` reads, or that ``attach`` copies into a
classifier bundle (how the starter ships its VAE).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.mixture import GaussianMixture

from deepface_gen.attributes import CELEBA_ATTRIBUTES
from deepface_gen.config import Config
from deepface_gen.data import input_pipeline
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io import bundles
from deepface_gen.models.classifier import Classifier, load_classifier
from deepface_gen.models.discriminator import PatchDiscriminator
from deepface_gen.models.vae import (
    LATENT_PRIORS,
    VAE,
    VAE_FILE,
    ConditionalVAE,
    LatentDensity,
    VAEConfig,
    decode_batch,
    elbo_terms,
    load_vae,
    masked_conditions,
    vae_record,
)
from deepface_gen.models.vgg import canonical_layer
from deepface_gen.training.classifier import known_attributes_of, read_labels
from deepface_gen.training.loop import (
    Run,
    Task,
    TrainState,
    check_config,
    held_out_batches,
    learning_rate_schedule,
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
    masked_attribute_loss,
    normalized_feature_loss,
    recipe_critic_state,
    shipped_params,
    step_average,
)
from deepface_gen.training.pins import check_frozen, classifier_weights, pin_frozen
from deepface_gen.training.settings import BIG, LoopSettings, Settings, section, setting

PERCEPTUAL_WEIGHTS = ("feature_weight", "attribute_weight", "adversarial_weight")
PRIOR_LATENTS = ("gaussian", "shuffled_posterior")


def vae_config(config: Config) -> VAEConfig:
    """The architecture a config describes."""
    m = config.model
    return VAEConfig(config.data.size, tuple(m.widths), m.latent)


def label_moments(attributes: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the masked ±1 labels (N, 40): what completes a sparse
    description into a full conditioning vector."""
    labels = np.where(mask, attributes, 0.0).astype(np.float64)
    return labels.mean(0), np.cov(labels, rowvar=False)


def kl_weight(step: jax.Array, beta: float, warmup: int) -> jax.Array:
    """KL annealing: the weight rises linearly to ``beta`` over ``warmup`` steps, so the
    encoder learns to use the latent before the prior pulls it in."""
    return beta * jnp.minimum(1.0, (step + 1) / max(warmup, 1))


def perceptual_terms(config: Config) -> dict[str, float]:
    """The weights of the feature, attribute and adversarial terms (all 0: a plain ELBO)."""
    return {name: float(config.train[name]) for name in PERCEPTUAL_WEIGHTS}


@dataclasses.dataclass(frozen=True)
class VAEModel:
    widths: list[int] = setting([32, 64, 128, 128], 1, 4096, help="the encoder's, per 2x step")
    latent: int = setting(64, 1, 4096, help="the latent's dimension")
    discriminator: list[int] = setting(
        list(PatchDiscriminator.widths), 1, 4096, help="the patch critic's widths"
    )


@dataclasses.dataclass(frozen=True)
class VAETrain(CriticSettings, LoopSettings):
    """The VAE's ``train`` settings: the loop's, the critic recipe's (G's, shared), and its own."""

    pixel_sigma: float = setting(0.2, 1e-4, 10.0, help="the likelihood's pixel noise (0-1)")
    beta: float = setting(1.0, 0.0, 1e4, help="the KL term's weight")
    kl_warmup_steps: int = setting(500, 0, BIG, help="the KL weight rises to beta over these")
    classifier: str = setting("starter", help="the frozen network the perceptual terms read")
    feature_layers: list[str] = setting([], help="its layers the feature term compares")
    feature_weight: float = setting(0.0, 0.0, 1e6, help="DFC-VAE's feature term (nats)")
    attribute_weight: float = setting(0.0, 0.0, 1e6, help="the classifier must see the labels")
    adversarial_weight: float = setting(0.0, 0.0, 1e6, help="VAE-GAN's critic term")
    adversarial_start: int = setting(0, 0, BIG, help="the critic joins at this step")
    prior_latents: str = setting(
        "gaussian", choices=PRIOR_LATENTS, help="what the attribute and critic terms decode"
    )
    moment_batches: int = setting(64, 1, 10**6, help="batches for the label moments")
    latent_components: int = setting(0, 0, 256, help="a latent mixture to sample (0: N(0, I))")


@dataclasses.dataclass(frozen=True)
class VAESettings(Settings):
    """``deepface-gen train-vae``: the conditional VAE (``configs/vae_starter.py``)."""

    model: VAEModel = section(VAEModel)
    train: VAETrain = section(VAETrain)


def check_vae_config(config: Config) -> Classifier | None:
    """Refuse settings the trainer cannot run, before anything is created; returns the
    frozen classifier the perceptual terms read (None when no term needs one)."""
    check_config(config)
    t = config.train
    weights = perceptual_terms(config)
    if not (weights["feature_weight"] or weights["attribute_weight"] or t.critic_features):
        return None
    classifier = load_classifier(t.classifier)
    layers = classifier.backbone.layer_names()
    unknown = [name for name in t.feature_layers if canonical_layer(name) not in layers]
    if weights["feature_weight"] and (unknown or not t.feature_layers):
        raise DeepFaceGenError(
            f"train.feature_layers must name layers of {t.classifier} ({', '.join(layers)}); "
            f"got {list(t.feature_layers)}"
        )
    unknown = [name for name in t.critic_features if canonical_layer(name) not in layers]
    if unknown:
        raise DeepFaceGenError(
            f"train.critic_features must name layers of {t.classifier} ({', '.join(layers)}); "
            f"got {list(t.critic_features)}"
        )
    return classifier


def prior_latents(posterior: jax.Array, key: jax.Array, shuffled: bool) -> jax.Array:
    """The latents of the faces the attribute and critic terms decode: other faces'
    posterior means (``shuffled``), or draws from N(0, I)."""
    if shuffled:
        return jnp.roll(posterior, 1, axis=0)
    return jax.random.normal(key, posterior.shape)


def make_vae_train_step(
    module: ConditionalVAE, config: Config, classifier: Classifier | None = None
) -> Callable:
    """One jit-compiled step: flip-augment, the ELBO (annealed KL) plus the weighted
    feature, attribute and adversarial terms, the VAE's update (and its moving average),
    then the critic's (G's recipe: ``perceptual.CriticRecipe``)."""
    t = config.train
    sigma, beta, warmup = float(t.pixel_sigma), float(t.beta), int(t.kl_warmup_steps)
    weights = perceptual_terms(config)
    adversarial_start = int(t.adversarial_start)
    recipe = CriticRecipe.from_config(config)
    layers = tuple(dict.fromkeys(canonical_layer(n) for n in t.feature_layers))
    taps = tuple(dict.fromkeys((*layers, *recipe.feature_layers)))
    features = feature_function(classifier, taps) if classifier is not None else None
    score = make_score(recipe, features)
    draws_prior = bool(weights["attribute_weight"] or weights["adversarial_weight"])
    needs_features = bool(weights["feature_weight"] or recipe.feature_layers)
    shuffled = t.prior_latents == "shuffled_posterior"

    def step(state: GANState, batch: dict, net_params, key: jax.Array):
        step_key = jax.random.fold_in(key, state.step)
        k_aug, k_z, k_prior = jax.random.split(step_key, 3)
        k_critic = jax.random.split(jax.random.fold_in(step_key, 1), 4)  # DiffAugment's
        images = input_pipeline.augment(k_aug, batch["images"], max_shift=0)
        conditions = masked_conditions(batch["attributes"], batch["label_mask"])
        weight = kl_weight(state.step, beta, warmup)
        adversarial_on = (state.step >= adversarial_start).astype(jnp.float32)
        pixels = images.astype(jnp.float32)
        real = jax.lax.stop_gradient(features(net_params, pixels)) if needs_features else None
        d_params = state.discriminator.params

        def loss_fn(params):
            recon, kl, drawn, posterior = elbo_terms(module, params, images, conditions, k_z, sigma)
            terms = {"recon": recon, "kl": kl}
            total = recon + weight * kl
            fakes = (255.0 * drawn,)
            if draws_prior:
                z = prior_latents(posterior, k_prior, shuffled)
                fakes += (255.0 * decode_batch(module, params, z, conditions),)
            # The classifier's view of each fake, read once for every term that needs it.
            seen = tuple(features(net_params, f) for f in fakes) if features else (None,) * 2
            if weights["feature_weight"]:
                terms["feature"] = normalized_feature_loss(seen[0], real, layers)
                total = total + weights["feature_weight"] * terms["feature"]
            if weights["attribute_weight"]:
                logits = seen[1]["attributes"]
                mask = batch["label_mask"].astype(jnp.float32)
                terms["attribute"] = masked_attribute_loss(logits, batch["attributes"], mask)
                total = total + weights["attribute_weight"] * terms["attribute"]
            if weights["adversarial_weight"]:
                terms["fool"] = fool_term(score, recipe.loss, (d_params, net_params),
                                          fakes, seen, k_critic[1:])  # fmt: skip
                total = total + adversarial_on * weights["adversarial_weight"] * terms["fool"]
            averages = {name: jnp.mean(value) for name, value in terms.items()}
            kept = tuple(_critic_view(v, recipe.feature_layers) for v in seen[: len(fakes)])
            return jnp.mean(total), (averages, fakes, kept)

        (loss, (means, fakes, seen)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.generator.params
        )
        critic = state.discriminator
        if weights["adversarial_weight"]:
            fakes, seen = jax.lax.stop_gradient((fakes, seen))
            critic, means["discriminator"] = critic_update(
                recipe,
                critic,
                lambda p, x, v, k: score(p, net_params, x, v, k),
                (pixels, _critic_view(real, recipe.feature_layers), k_critic[0]),
                tuple(zip(fakes, seen, k_critic[1:], strict=False)),
                state.step,
            )
        updated = state.generator.apply_gradients(grads=grads)
        state = GANState(updated, critic, step_average(recipe, state, updated))
        # RMSE in 0..255 units reads better than nats: recon = sum sq / (2 sigma^2).
        rmse = 255.0 * sigma * jnp.sqrt(2.0 * means["recon"] / (pixels[0].size))
        return state, {"loss": loss, **{k: v for k, v in means.items() if k != "recon"},
                       "rmse": rmse}  # fmt: skip

    return jax.jit(step, donate_argnums=0)


def fool_term(
    score: Callable, kind: str, params: tuple, fakes: tuple, seen: tuple, keys: jax.Array
) -> jax.Array:
    """Per image, the renderer's adversarial loss averaged over ``fakes``, each scored by
    ``score(d_params, net_params, pixels, feats, key)`` with the classifier's view of it."""
    per_fake = [sum(fool_loss(logits, kind) for logits in score(*params, fake, view, key))
                for fake, view, key in zip(fakes, seen, keys, strict=False)]  # fmt: skip
    return sum(per_fake) / len(per_fake)


def _critic_view(seen: dict | None, layers: tuple[str, ...]) -> dict | None:
    """The features the critic reads from the classifier's outputs (None: pixels only)."""
    return {name: seen[name] for name in layers} if seen is not None and layers else None


def make_vae_optimizer(config: Config) -> optax.GradientTransformation:
    """Adam with warmup + cosine decay; clipping only catches early blow-ups (the ELBO
    is in nats summed over pixels, so its gradients are large)."""
    return optax.chain(optax.clip_by_global_norm(10.0), optax.adam(learning_rate_schedule(config)))


class _Context(NamedTuple):
    """What a VAE run needs before its data: the frozen classifier the perceptual terms
    read (None when no term needs one) and the architecture."""

    classifier: Classifier | None
    arch: VAEConfig


def _prepare(config: Config, workdir: Path) -> _Context:
    classifier = check_vae_config(config)
    check_frozen(workdir, classifier_weights("train.classifier", classifier))
    return _Context(classifier, vae_config(config))


def _pin(workdir: Path, context: _Context) -> None:
    pin_frozen(workdir, classifier_weights("train.classifier", context.classifier))


def _init_state(config: Config, context: _Context, key: jax.Array) -> GANState:
    arch = context.arch
    module = ConditionalVAE(arch)
    params = module.init(
        jax.random.fold_in(key, 0),
        jnp.zeros((1, arch.size, arch.size, 3)),
        jnp.zeros((1, arch.num_attributes)),
        jax.random.key(0),
    )["params"]
    recipe = CriticRecipe.from_config(config)
    critic = recipe_critic_state(
        recipe,
        context.classifier,
        arch.size,
        float(config.train.discriminator_learning_rate),
        jax.random.fold_in(key, 2),
    )
    tx = make_vae_optimizer(config)
    ema = jax.tree_util.tree_map(jnp.copy, params) if recipe.ema_decay else None
    return GANState(TrainState.create(apply_fn=module.apply, params=params, tx=tx), critic, ema)


def _source(config: Config, context: _Context):
    t = config.train
    return input_pipeline.make_source(
        config.data.source, "train", context.arch.size, t.batch_size, config.seed
    )


def make_vae_evaluate(module: ConditionalVAE, config: Config) -> Callable:
    """``evaluate(state) -> {"rmse", "kl"}``: how well the VAE that would ship (its
    moving average where the recipe keeps one) reconstructs ``train.eval_batches``
    held-out portraits (the validation split, read once; one fixed latent draw), as pixel
    RMSE (0-255), and its KL per face in nats. Logged every ``train.eval_every`` steps,
    it is the run's learning curve in ``metrics.jsonl``."""
    batches = held_out_batches(config, module.config.size)
    sigma, key = float(config.train.pixel_sigma), jax.random.key(0)

    @jax.jit
    def measure(params, images, conditions):
        _, kl, recon, _ = elbo_terms(module, params, images, conditions, key, sigma)
        return jnp.mean((255.0 * recon - images.astype(jnp.float32)) ** 2), jnp.mean(kl)

    def evaluate(state: GANState) -> dict:
        params = shipped_params(state)
        parts = [measure(params, b.images, masked_conditions(b.attributes, b.label_mask))
                 for b in batches]  # fmt: skip
        squared, kl = np.asarray(jax.device_get(parts)).T
        return {"rmse": float(np.sqrt(squared.mean())), "kl": float(kl.mean())}

    return evaluate


def _setup(config: Config, context: _Context, source, key: jax.Array) -> Run:
    """The step and, when ``train.eval_every`` asks for one, the held-out evaluation."""
    module = ConditionalVAE(context.arch)
    train_step = make_vae_train_step(module, config, context.classifier)
    step_key = jax.random.fold_in(key, 1)
    net_params = context.classifier.params if context.classifier is not None else None
    evaluate = make_vae_evaluate(module, config) if config.train.eval_every else None
    # The export reads label moments from the same source: it is built (and, for a
    # CelebA folder, its label file parsed) once.
    step = lambda s, batch: train_step(s, batch, net_params, step_key)
    return Run(step, evaluate, facts=source)


def _export(workdir: Path, state: GANState, config: Config, context: _Context, run: Run,
            record: dict) -> Path:  # fmt: skip
    """The VAE with its label moments, the attributes it knows and, where asked, the
    fitted latent density."""
    t, arch, classifier = config.train, context.arch, context.classifier
    source = run.facts
    first, sample = read_labels(source, int(t.moment_batches))
    mean, cov = label_moments(*first)
    if classifier is not None:  # the frozen network the perceptual terms read
        record = {**record, "classifier_params": bundles.params_digest(classifier.manifest)}
    known = known_attributes_of(config.data.source, *sample)
    vae = VAE(arch, jax.device_get(shipped_params(state)), mean, cov, tuple(known), {})
    components = int(t.latent_components)
    if components:
        batches = [source.batch(i) for i in range(int(t.moment_batches))]
        vae = dataclasses.replace(vae, density=fit_latent_density(vae, batches, components))
    vae_entry = vae_record(arch, bundles.PARAMS_FILE, known, record)
    manifest = {"kind": "conditional_vae", "attributes": list(CELEBA_ATTRIBUTES), "vae": vae_entry}
    return bundles.save_bundle(workdir / "model", vae.arrays(), manifest)


TASK = Task("training VAE", VAESettings, _prepare, _init_state, _source, _setup, _export, _pin)


# Train a conditional VAE per a config in a workdir (``loop.train``'s arguments).
train_vae = functools.partial(train, TASK)


def fit_latent_density(vae: VAE, batches, components: int = 10) -> LatentDensity:
    """A Gaussian mixture (full covariances, EM) over the encoder's means of the faces in
    ``batches``: the aggregate posterior that generation then samples latents from."""
    means = [
        np.asarray(vae.encode(b.images, masked_conditions(b.attributes, b.label_mask)))[
            b.valid_rows
        ]
        for b in batches
    ]
    z = np.concatenate(means).astype(np.float64)
    components = max(1, min(components, len(z) // (2 * z.shape[1])))
    gmm = GaussianMixture(components, covariance_type="full", reg_covar=1e-4, random_state=0)
    gmm.fit(z)
    return LatentDensity(gmm.weights_, gmm.means_, np.linalg.cholesky(gmm.covariances_))


def store_latent_density(
    bundle: str | Path, density: LatentDensity, default_prior: str | None = None
) -> Path:
    """Store a fitted latent density with the VAE of ``bundle`` (a VAE bundle, or a
    classifier bundle with an attached VAE), atomically, and with ``default_prior``
    (``gaussian`` or ``fitted``: the measured winner) where given; returns the file."""
    vae = dataclasses.replace(load_vae(bundle), density=density)
    record = dict(vae.manifest["vae"])
    if default_prior is not None:
        if default_prior not in LATENT_PRIORS:
            raise DeepFaceGenError(f"default_prior must be one of {', '.join(LATENT_PRIORS)}")
        record["default_prior"] = default_prior
    return bundles.add_to_bundle(bundle, "vae", VAE_FILE, vae.arrays(), record)


def attach(vae_bundle: str | Path, classifier_bundle: str | Path) -> Path:
    """Copy a trained VAE into a classifier bundle (as ``vae.<hash>.msgpack``), so that
    ``FaceGenerator.load`` of that bundle finds it; returns the written file."""
    vae = load_vae(vae_bundle)
    return bundles.add_to_bundle(
        classifier_bundle, "vae", VAE_FILE, vae.arrays(), vae.manifest["vae"]
    )
