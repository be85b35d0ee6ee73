"""Feature inversion and its relatives, as composable parts (in the spirit of lucid's optvis).

* An :class:`Objective` maps network outputs to a per-image loss; objectives
  add and scale (``feature_match(...) + 0.5 * attribute_logits(...)``).
* A prior maps pixels to a per-image loss (``alpha_norm``, ``total_variation``).
* A transform maps (key, pixels) to pixels before the network sees them
  (``jitter``), so the image must work under small shifts, not just one.
* :func:`render` runs the optimization: pixels (N, S, S, 3) on the 0-255
  scale, Adam or Mahendran & Vedaldi's momentum scheme, a box constraint, and
  a final polish without jitter at a tenth of the rate. The step loop runs
  inside jit (``lax.fori_loop``) in chunks, so progress can be reported;
  images in a batch are optimized independently (every loss is per image).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from deepface_gen.classifier import Classifier

Outputs = dict[str, jax.Array]
ATTRIBUTES = "attributes"  # pseudo-layer: the attribute logits


@dataclass(frozen=True)
class Objective:
    """A per-image loss over network outputs, naming the layers it reads."""

    layers: tuple[str, ...]
    loss: Callable[[Outputs], jax.Array]  # -> (N,)

    def __add__(self, other: Objective) -> Objective:
        return Objective(
            tuple(dict.fromkeys(self.layers + other.layers)),
            lambda out: self.loss(out) + other.loss(out),
        )

    def __mul__(self, scale: float) -> Objective:
        return Objective(self.layers, lambda out: scale * self.loss(out))

    __rmul__ = __mul__


def _per_image(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[0], -1)


def feature_match(layer: str, target: jax.Array, weight: float = 1.0) -> Objective:
    """weight * ||phi(x) - t||^2 / ||t||^2 per image (Mahendran & Vedaldi's data term)."""
    target = jnp.asarray(target, jnp.float32)
    norm = jnp.maximum(jnp.sum(_per_image(target) ** 2, axis=1), 1e-8)

    def loss(out: Outputs) -> jax.Array:
        diff = _per_image(out[layer].astype(jnp.float32)) - _per_image(target)
        return weight * jnp.sum(diff * diff, axis=1) / norm

    return Objective((layer,), loss)


def attribute_logits(direction: jax.Array, weight: float = 1.0) -> Objective:
    """-weight * <direction, logits>: push requested attributes up (+) or down (-).

    ``direction`` is (40,) or (N, 40); zero entries leave an attribute alone.
    """
    direction = jnp.asarray(direction, jnp.float32)

    def loss(out: Outputs) -> jax.Array:
        return -weight * jnp.sum(out[ATTRIBUTES] * direction, axis=-1)

    return Objective((ATTRIBUTES,), loss)


def channel(layer: str, index: int, weight: float = 1.0) -> Objective:
    """-weight * mean activation of one channel (activation maximization of a unit)."""

    def loss(out: Outputs) -> jax.Array:
        return -weight * jnp.mean(out[layer][..., index].astype(jnp.float32), axis=(1, 2))

    return Objective((layer,), loss)


def caricature(layer: str, reference: jax.Array, weight: float = 1.0) -> Objective:
    """-weight * <max(phi0, 0) / ||phi0||^2, phi(x)>: exaggerate what the layer sees in phi0."""
    reference = _per_image(jnp.maximum(jnp.asarray(reference, jnp.float32), 0.0))
    direction = reference / jnp.maximum(jnp.sum(reference**2, axis=1, keepdims=True), 1e-8)

    def loss(out: Outputs) -> jax.Array:
        return -weight * jnp.sum(direction * _per_image(out[layer].astype(jnp.float32)), axis=1)

    return Objective((layer,), loss)


# --- priors (pixels on the 0-255 scale) -----------------------------------------


def alpha_norm(alpha: float = 6.0, bound: float = 80.0) -> Callable[[jax.Array], jax.Array]:
    """B^-alpha * mean ||x_uv - 127.5||^alpha: keeps colours in range (M&V, alpha 6, B 80)."""

    def prior(x: jax.Array) -> jax.Array:
        norm = jnp.sqrt(jnp.sum((x - 127.5) ** 2, axis=-1) + 1e-6)
        return jnp.mean((norm / bound) ** alpha, axis=(1, 2))

    return prior


def total_variation(
    beta: float = 2.0, scale: float = 80.0 / 6.5
) -> Callable[[jax.Array], jax.Array]:
    """V^-beta * mean ((d_h x)^2 + (d_v x)^2)^(beta/2): favours piecewise-smooth images."""

    def prior(x: jax.Array) -> jax.Array:
        dh = x[:, :-1, :-1] - x[:, :-1, 1:]
        dv = x[:, :-1, :-1] - x[:, 1:, :-1]
        energy = jnp.sum(dh**2 + dv**2, axis=-1) / scale**2 + 1e-8
        return jnp.mean(energy ** (beta / 2.0), axis=(1, 2))

    return prior


# --- transforms ---------------------------------------------------------------


def jitter(max_shift: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """Shift each image by up to ``max_shift`` pixels (wrapping), one key per image."""

    def transform(key: jax.Array, x: jax.Array) -> jax.Array:
        if max_shift <= 0:
            return x
        shifts = jax.random.randint(key, (x.shape[0], 2), -max_shift, max_shift + 1)
        return jax.vmap(lambda img, s: jnp.roll(img, (s[0], s[1]), axis=(0, 1)))(x, shifts)

    return transform


# --- the render loop ----------------------------------------------------------


@dataclass(frozen=True)
class RenderSettings:
    """How to optimize: steps, rate, optimizer, jitter, priors' weights, polish phase."""

    steps: int = 200
    learning_rate: float = 4.0
    optimizer: str = "adam"  # or "mv" (momentum 0.9 with AdaGrad-style scaling)
    jitter: int = 2
    polish_steps: int = 30  # final steps without jitter at 0.1x the rate
    alpha_weight: float = 1.0
    tv_weight: float = 1.0
    chunk: int = 25  # steps per jitted call (progress granularity)


def _optimizer(settings: RenderSettings) -> optax.GradientTransformation:
    main = settings.steps
    schedule = optax.join_schedules(
        [
            optax.constant_schedule(settings.learning_rate),
            optax.constant_schedule(settings.learning_rate * 0.1),
        ],
        [main],
    )
    if settings.optimizer == "adam":
        return optax.adam(schedule)
    if settings.optimizer == "mv":
        return optax.chain(
            optax.scale_by_rss(),
            optax.trace(decay=0.9),
            optax.scale_by_schedule(lambda s: -schedule(s)),
        )
    raise ValueError(f"unknown optimizer {settings.optimizer!r}; use adam or mv")


def _network_outputs(classifier: Classifier, pixels: jax.Array, layers: Sequence[str]) -> Outputs:
    taps = tuple(layer for layer in layers if layer != ATTRIBUTES)
    inputs = classifier.preprocessing.apply(pixels)
    return classifier.module.apply({"params": classifier.params}, inputs, taps=taps)


def render(
    classifier: Classifier,
    objective: Objective,
    init: jax.Array,
    key: jax.Array,
    settings: RenderSettings = RenderSettings(),
    quiet: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimize pixels from ``init`` (N, S, S, 3), 0-255, to minimize objective + priors.

    Returns the final images (N, S, S, 3) float 0-255 and the per-image
    objective (without priors) at every chunk boundary, shape (chunks + 1, N).
    """
    tx = _optimizer(settings)
    priors = [(settings.alpha_weight, alpha_norm()), (settings.tv_weight, total_variation())]
    shift = jitter(settings.jitter)
    total = settings.steps + settings.polish_steps

    def objective_only(x: jax.Array) -> jax.Array:
        return objective.loss(_network_outputs(classifier, x, objective.layers))

    def loss_fn(x: jax.Array, step_key: jax.Array, jittering: jax.Array) -> jax.Array:
        moved = jnp.where(jittering, shift(step_key, x), x)
        per_image = objective.loss(_network_outputs(classifier, moved, objective.layers))
        for weight, prior in priors:
            per_image = per_image + weight * prior(x)
        return jnp.sum(per_image)

    @functools.partial(jax.jit, static_argnames=("count",))
    def run_chunk(x, opt_state, start, count):
        def body(i, carry):
            x, opt_state = carry
            step = start + i
            grads = jax.grad(loss_fn)(x, jax.random.fold_in(key, step), step < settings.steps)
            updates, opt_state = tx.update(grads, opt_state, x)
            return jnp.clip(optax.apply_updates(x, updates), 0.0, 255.0), opt_state

        x, opt_state = jax.lax.fori_loop(0, count, body, (x, opt_state))
        return x, opt_state, objective_only(x)

    x = jnp.clip(jnp.asarray(init, jnp.float32), 0.0, 255.0)
    opt_state = tx.init(x)
    history = [np.asarray(jax.jit(objective_only)(x))]
    done = 0
    with tqdm(total=total, unit="step", desc="rendering", disable=quiet) as bar:
        while done < total:
            count = min(settings.chunk, total - done)
            x, opt_state, value = run_chunk(x, opt_state, done, count)
            history.append(np.asarray(value))
            done += count
            bar.update(count)
    return np.asarray(x), np.stack(history)


def noisy_start(mean_image: np.ndarray, n: int, key: jax.Array, sigma: float = 10.0) -> jax.Array:
    """``n`` copies of the mean face plus N(0, sigma^2) pixel noise (M&V start from noise)."""
    base = jnp.asarray(mean_image, jnp.float32)[None]
    return jnp.clip(base + sigma * jax.random.normal(key, (n, *mean_image.shape)), 0.0, 255.0)
