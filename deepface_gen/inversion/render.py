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

from deepface_gen.models.classifier import Backbone, Classifier

Outputs = dict[str, jax.Array]
Network = Classifier | Backbone  # anything with .module, .params and .preprocessing
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


def attribute_likelihood(values: jax.Array, weight: float = 1.0) -> Objective:
    """weight * sum_i -log sigmoid(v_i * logit_i): the classifier should agree with the
    requested values ``v`` ((40,) or (N, 40), 0 = not requested). Unlike
    ``attribute_logits`` it saturates once an attribute is clearly there, so as a
    guidance term beside ``feature_match`` it stops pushing instead of carving textures."""
    values = jnp.asarray(values, jnp.float32)

    def loss(out: Outputs) -> jax.Array:
        logits = out[ATTRIBUTES].astype(jnp.float32)
        return weight * jnp.sum(jnp.abs(values) * jax.nn.softplus(-jnp.sign(values) * logits), -1)

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


def alpha_norm(alpha: float = 6.0, bound: float = 80.0, centre: jax.Array | float = 127.5
               ) -> Callable[[jax.Array], jax.Array]:  # fmt: skip
    """B^-alpha * mean ||x_uv - centre_uv||^alpha: keeps colours in range (M&V, alpha 6, B 80).

    M&V measure pixels from the data mean; ``centre`` is that mean image (the
    mean face) where one is known. Measured from mid-gray instead, dark hair
    (about 180 from gray) would cost (180/80)^6 ~ 125 per pixel: no black hair.
    """

    def prior(x: jax.Array) -> jax.Array:
        norm = jnp.sqrt(jnp.sum((x - centre) ** 2, axis=-1) + 1e-6)
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


def anchor(start: jax.Array, scale: float = 80.0) -> Callable[[jax.Array], jax.Array]:
    """mean ((x - start) / scale)^2: stay near the start unless the objective says otherwise."""

    def prior(x: jax.Array) -> jax.Array:
        return jnp.mean(((x - start) / scale) ** 2, axis=(1, 2, 3))

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

    # 180 + 20 (one compiled chunk size of 25) keeps a warm face under 3 s on a 2-core CPU.
    steps: int = 180
    learning_rate: float = 2.0
    optimizer: str = "adam"  # or "mv" (momentum 0.9 with AdaGrad-style scaling)
    jitter: int = 2
    polish_steps: int = 20  # final steps without jitter at 0.1x the rate
    alpha_weight: float = 1.0
    tv_weight: float = 1.0
    chunk: int = 25  # steps per jitted call (progress granularity)
    pyramid_levels: int = 4  # >1: optimize a Laplacian pyramid (coarse-to-fine) over the start
    anchor_weight: float = 0.0  # pull towards the start where the objective is indifferent
    change_tv_weight: float = 0.0  # total variation of (image - start): smooth edits only


DEFAULT_SETTINGS = RenderSettings()


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


def _network_outputs(network: Network, pixels: jax.Array, layers: Sequence[str]) -> Outputs:
    taps = tuple(layer for layer in layers if layer != ATTRIBUTES)
    inputs = network.preprocessing.apply(pixels)
    return network.module.apply({"params": network.params}, inputs, taps=taps)


def render(
    classifier: Network,
    objective: Objective,
    init: jax.Array,
    key: jax.Array,
    settings: RenderSettings = DEFAULT_SETTINGS,
    quiet: bool = True,
    colour_centre: jax.Array | float = 127.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimize pixels from ``init`` (N, S, S, 3), 0-255, to minimize objective + priors.

    Returns the final images (N, S, S, 3) float 0-255 and the per-image
    objective (without priors) at every chunk boundary, shape (chunks + 1, N).
    """
    tx = _optimizer(settings)
    centre = jnp.asarray(colour_centre, jnp.float32)
    priors = [
        (settings.alpha_weight, alpha_norm(centre=centre)),
        (settings.tv_weight, total_variation()),
    ]
    shift = jitter(settings.jitter)
    total = settings.steps + settings.polish_steps
    base = jnp.clip(jnp.asarray(init, jnp.float32), 0.0, 255.0)
    pixels_of = _parameterization(base, settings.pyramid_levels)
    if settings.anchor_weight:
        priors.append((settings.anchor_weight, anchor(base)))
    if settings.change_tv_weight:
        tv = total_variation()
        priors.append((settings.change_tv_weight, lambda x: tv(x - base)))

    def objective_only(params) -> jax.Array:
        return objective.loss(_network_outputs(classifier, pixels_of(params), objective.layers))

    def loss_fn(params, step_key: jax.Array, jittering: jax.Array) -> jax.Array:
        x = pixels_of(params)
        moved = jnp.where(jittering, shift(step_key, x), x)
        per_image = objective.loss(_network_outputs(classifier, moved, objective.layers))
        for weight, prior in priors:
            per_image = per_image + weight * prior(x)
        return jnp.sum(per_image)

    @functools.partial(jax.jit, static_argnames=("count",))
    def run_chunk(params, opt_state, start, count):
        def body(i, carry):
            params, opt_state = carry
            step = start + i
            grads = jax.grad(loss_fn)(params, jax.random.fold_in(key, step), step < settings.steps)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        params, opt_state = jax.lax.fori_loop(0, count, body, (params, opt_state))
        if settings.pyramid_levels <= 1:
            params = jnp.clip(params, 0.0, 255.0)  # the box constraint, by projection
        return params, opt_state, objective_only(params)

    params = base if settings.pyramid_levels <= 1 else _zero_pyramid(base, settings.pyramid_levels)
    opt_state = tx.init(params)
    history = [np.asarray(jax.jit(objective_only)(params))]
    done = 0
    with tqdm(total=total, unit="step", desc="rendering", disable=quiet) as bar:
        while done < total:
            count = min(settings.chunk, total - done)
            params, opt_state, value = run_chunk(params, opt_state, done, count)
            history.append(np.asarray(value))
            done += count
            bar.update(count)
    return np.asarray(jax.jit(pixels_of)(params)), np.stack(history)


def _zero_pyramid(base: jax.Array, levels: int) -> tuple[jax.Array, ...]:
    n, h, w, c = base.shape
    return tuple(jnp.zeros((n, max(h >> k, 1), max(w >> k, 1), c)) for k in range(levels))


def _parameterization(base: jax.Array, levels: int) -> Callable:
    """Pixels from parameters: the pixels themselves, or base + sum of upsampled levels.

    A pyramid lets each step move coarse structure and fine detail at once
    (coarse-to-fine), which gives smoother images in fewer steps.
    """
    if levels <= 1:
        return lambda params: params

    def pixels(params: tuple[jax.Array, ...]) -> jax.Array:
        x = base
        for level in params:
            x = x + jax.image.resize(level, base.shape, "linear")
        return jnp.clip(x, 0.0, 255.0)

    return pixels


def noisy_start(mean_image: np.ndarray, n: int, key: jax.Array, sigma: float = 10.0) -> jax.Array:
    """``n`` copies of the mean face plus N(0, sigma^2) pixel noise (M&V start from noise)."""
    base = jnp.asarray(mean_image, jnp.float32)[None]
    return jnp.clip(base + sigma * jax.random.normal(key, (n, *mean_image.shape)), 0.0, 255.0)
