"""Training the conditional VAE, with the classifier trainer's habits.

Same data sources, the same sharded loop (``train.run_loop``: prefetch,
``metrics.jsonl``, atomic checkpoints, ``resume`` with the same data order,
a progress bar), and a final export: a bundle in ``workdir/model`` that
``deepface-gen generate --vae`` reads, or that ``attach`` copies into a
classifier bundle (how the starter ships its VAE).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.mixture import GaussianMixture

from deepface_gen.attributes import CELEBA_ATTRIBUTES
from deepface_gen.config import Config
from deepface_gen.data import input_pipeline
from deepface_gen.io import bundles
from deepface_gen.models.vae import (
    VAE,
    VAE_FILE,
    ConditionalVAE,
    LatentDensity,
    VAEConfig,
    elbo_terms,
    load_vae,
    masked_conditions,
    vae_record,
)
from deepface_gen.training.classifier import TrainState, known_attributes_of, read_labels
from deepface_gen.training.loop import (
    check_config,
    check_workdir,
    learning_rate_schedule,
    resume_state,
    run_loop,
)


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


def make_vae_train_step(module: ConditionalVAE, config: Config) -> Callable:
    """One jit-compiled step: flip-augment, ELBO (annealed KL), update."""
    t = config.train
    sigma, beta, warmup = float(t.pixel_sigma), float(t.beta), int(t.kl_warmup_steps)

    def step(state: TrainState, batch: dict, key: jax.Array):
        k_aug, k_z = jax.random.split(jax.random.fold_in(key, state.step))
        images = input_pipeline.augment(k_aug, batch["images"], max_shift=0)
        conditions = masked_conditions(batch["attributes"], batch["label_mask"])
        weight = kl_weight(state.step, beta, warmup)

        def loss_fn(params):
            recon, kl = elbo_terms(module, params, images, conditions, k_z, sigma)
            return jnp.mean(recon + weight * kl), (recon, kl)

        (loss, (recon, kl)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        state = state.apply_gradients(grads=grads)
        pixels = images.shape[1] * images.shape[2] * 3
        # RMSE in 0..255 units reads better than nats: recon = sum sq / (2 sigma^2).
        rmse = 255.0 * sigma * jnp.sqrt(2.0 * jnp.mean(recon) / pixels)
        metrics = {"loss": loss, "kl": jnp.mean(kl), "rmse": rmse}
        return state, metrics

    return jax.jit(step, donate_argnums=0)


def make_vae_optimizer(config: Config) -> optax.GradientTransformation:
    """Adam with warmup + cosine decay; clipping only catches early blow-ups (the ELBO
    is in nats summed over pixels, so its gradients are large)."""
    return optax.chain(optax.clip_by_global_norm(10.0), optax.adam(learning_rate_schedule(config)))


def train_vae(
    config: Config,
    workdir: str | Path,
    resume: bool = False,
    quiet: bool = False,
    max_steps: int | None = None,
) -> Path | None:
    """Train a conditional VAE per ``config``; returns the exported bundle folder
    (``workdir/model``), or None when ``max_steps`` stopped it early."""
    check_config(config)
    workdir = check_workdir(workdir, resume)
    t = config.train
    arch = vae_config(config)
    module = ConditionalVAE(arch)
    key = jax.random.key(config.seed)
    size = arch.size
    params = module.init(
        jax.random.fold_in(key, 0),
        jnp.zeros((1, size, size, 3)),
        jnp.zeros((1, arch.num_attributes)),
        jax.random.key(0),
    )["params"]
    state = TrainState.create(apply_fn=module.apply, params=params, tx=make_vae_optimizer(config))
    state, start, stop = resume_state(state, workdir, config, resume, max_steps)

    source = input_pipeline.make_source(
        config.data.source, "train", size, t.batch_size, config.seed
    )
    train_step = make_vae_train_step(module, config)
    step_key = jax.random.fold_in(key, 1)
    began = time.perf_counter()
    state = run_loop(
        state,
        lambda s, batch: train_step(s, batch, step_key),
        source,
        config,
        workdir,
        start,
        stop,
        quiet,
        desc="training VAE",
    )
    if stop < t.steps:
        return None
    first, sample = read_labels(source, int(t.moment_batches))
    mean, cov = label_moments(*first)
    training = {
        "config": config.to_dict(),
        "seed": config.seed,
        "steps": t.steps,
        "resumed_from_step": start,
        "wall_seconds_this_run": round(time.perf_counter() - began, 1),
        "device": jax.devices()[0].device_kind,
        "jax_version": jax.__version__,
    }
    known = known_attributes_of(config.data.source, *sample)
    vae = VAE(arch, jax.device_get(state.params), mean, cov, tuple(known), {})
    components = int(t.get("latent_components", 0))
    if components:
        batches = [source.batch(i) for i in range(int(t.moment_batches))]
        vae = dataclasses.replace(vae, density=fit_latent_density(vae, batches, components))
    record = vae_record(arch, bundles.PARAMS_FILE, known, training)
    manifest = {"kind": "conditional_vae", "attributes": list(CELEBA_ATTRIBUTES), "vae": record}
    return bundles.save_bundle(workdir / "model", vae.arrays(), manifest)


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


def store_latent_density(bundle: str | Path, density: LatentDensity) -> Path:
    """Store a fitted latent density with the VAE of ``bundle`` (a VAE bundle, or a
    classifier bundle with an attached VAE), atomically; returns the written file."""
    vae = dataclasses.replace(load_vae(bundle), density=density)
    return bundles.add_to_bundle(bundle, "vae", VAE_FILE, vae.arrays(), vae.manifest["vae"])


def attach(vae_bundle: str | Path, classifier_bundle: str | Path) -> Path:
    """Copy a trained VAE into a classifier bundle (as ``vae.<hash>.msgpack``), so that
    ``FaceGenerator.load`` of that bundle finds it; returns the written file."""
    vae = load_vae(vae_bundle)
    return bundles.add_to_bundle(
        classifier_bundle, "vae", VAE_FILE, vae.arrays(), vae.manifest["vae"]
    )
