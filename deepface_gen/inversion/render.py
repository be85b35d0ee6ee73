"""The render loop: optimize pixels (or a generator's input) so a network's outputs
minimize an objective.

Pixels (N, S, S, 3) on the 0-255 scale, Adam or Mahendran & Vedaldi's momentum
scheme, natural-image priors, jitter, a box constraint, and a final polish without
jitter at a tenth of the rate. Images in a batch are optimized independently
(every loss is per image). Progress is reported every chunk of steps.

Two loop forms do the same steps (``RenderSettings.loop``): on an accelerator a
chunk runs inside one jitted ``lax.fori_loop``, so the device never waits on the
host between steps; on a CPU each step is its own jitted call, because XLA's CPU
backend runs a convolution step inside a while loop far more slowly than the
same step alone (``experiments/invert_vgg16.py --speed-only`` measures both).

Compiled once: the step function is a module-level ``jax.jit`` whose static
arguments are the network's architecture (a hashable Flax module and its
preprocessing) and the loop's *structure* (:class:`Plan`: optimizer kind, pyramid
depth, the objective's kinds and layers). Everything else (network weights,
targets, directions, objective and prior weights, learning rate, step counts,
jitter, keys) is an argument, so a new description, seed, guidance or strength at
the same batch size runs the program already compiled. (In the chunked form, a step
count that is not a whole number of chunks runs the rest as powers of two: at most
log2(chunk) more programs, each compiled once; the stepped form has one program.)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import struct
from tqdm.auto import tqdm

from deepface_gen import progress
from deepface_gen.inversion import parameterizations, priors, transforms
from deepface_gen.inversion.objectives import HEAD_OUTPUTS, Objective

OPTIMIZERS = ("adam", "mv", "momentum")
LOOP_FORMS = ("auto", "chunks", "steps")
POLISH_RATE = 0.1  # the polish phase runs at this fraction of the learning rate


@dataclass(frozen=True)
class RenderSettings:
    """How to optimize: steps, rate, optimizer, jitter, priors' weights, polish phase."""

    # 180 + 20 (one compiled chunk size of 25) keeps a warm face fast on a 2-core CPU.
    steps: int = 180
    learning_rate: float = 2.0
    # or "mv" (momentum 0.9 with AdaGrad-style scaling), or "momentum" (FaceVis: each
    # image's gradient scaled to unit RMS, momentum 0.8)
    optimizer: str = "adam"
    jitter: int = 2
    polish_steps: int = 20  # final steps without jitter at 0.1x the rate
    alpha_weight: float = 1.0
    tv_weight: float = 1.0
    chunk: int = 25  # steps between progress reports (and per jitted call when chunked)
    # "chunks" (fori_loop on the device), "steps" (one jitted call a step), or "auto":
    # steps on a CPU, chunks elsewhere (see the module docstring)
    loop: str = "auto"
    pyramid_levels: int = 4  # >1: optimize a Laplacian pyramid (coarse-to-fine) over the start
    anchor_weight: float = 0.0  # pull towards the start where the objective is indifferent
    change_tv_weight: float = 0.0  # total variation of (image - start): smooth edits only

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; use {' or '.join(OPTIMIZERS)}")
        if self.loop not in LOOP_FORMS:
            raise ValueError(f"unknown loop form {self.loop!r}; use {' or '.join(LOOP_FORMS)}")
        if self.steps < 1 or self.polish_steps < 0 or self.chunk < 1:
            raise ValueError(
                f"steps must be >= 1, polish_steps >= 0 and chunk >= 1 "
                f"(got {self.steps}, {self.polish_steps}, {self.chunk})"
            )
        if self.jitter < 0 or self.pyramid_levels < 1 or self.learning_rate <= 0:
            raise ValueError("jitter must be >= 0, pyramid_levels >= 1 and learning_rate > 0")

    def prior_weights(self) -> dict[str, float]:
        """Each prior's weight, by name (``PRIOR_TERMS``); 0 leaves it out."""
        return {
            "alpha": self.alpha_weight,
            "tv": self.tv_weight,
            "anchor": self.anchor_weight,
            "change_tv": self.change_tv_weight,
        }


DEFAULT_SETTINGS = RenderSettings()


@struct.dataclass
class Hyper:
    """The loop's numbers, as arrays: changing any of them reuses the compiled step."""

    learning_rate: jax.Array
    main_steps: jax.Array  # steps before the polish phase (jitter on, full rate)
    jitter: jax.Array
    prior_weights: dict[str, jax.Array]  # by name, as in PRIOR_TERMS
    colour_centre: jax.Array  # (S, S, 3): the alpha-norm measures colours from here
    start: jax.Array  # (N, S, S, 3): the start image (pyramid base, anchor, change prior)
    # or, when the plan has a generator, the start code (N, h, w, c) in raw activations
    code: parameterizations.CodeSpace | None = None


# Each prior as a function of (pixels, hyper); the weights live in Hyper.prior_weights.
PRIOR_TERMS = {
    "alpha": lambda x, h: priors.alpha_norm(x, h.colour_centre),
    "tv": lambda x, h: priors.total_variation(x),
    "anchor": lambda x, h: priors.anchor(x, h.start),
    "change_tv": lambda x, h: priors.change_smoothness(x, h.start),
}


@dataclass(frozen=True)
class Plan:
    """The static structure of one render: what a compiled step depends on.

    Which priors and whether jitter are present is structure (a zero-weight term
    is left out of the program, not multiplied by zero); their weights and the
    jitter's size are data.
    """

    optimizer: str
    pyramid_levels: int
    priors: tuple[str, ...]
    jitter: bool
    generator: nn.Module | None = None  # a learned inverter: optimize its input, not pixels

    @classmethod
    def of(cls, settings: RenderSettings, generator: nn.Module | None = None) -> Plan:
        active = tuple(name for name, w in settings.prior_weights().items() if w != 0)
        if generator is not None and {"anchor", "change_tv"} & set(active):
            raise ValueError("the anchor and change priors need pixels; a code space has none")
        levels = 1 if generator is not None else settings.pyramid_levels
        return cls(settings.optimizer, levels, active, settings.jitter > 0, generator)


def hyper_of(
    settings: RenderSettings,
    start: jax.Array,
    colour_centre: jax.Array | float,
    code: parameterizations.CodeSpace | None = None,
    pixel_shape: tuple[int, ...] | None = None,
) -> Hyper:
    """The dynamic half of ``settings`` (and the start, the colour centre and a code
    space's generator weights) as arrays. The colour centre takes the pixels' shape
    (``pixel_shape``, by default the start's), so a scalar and an image share a program."""
    f32 = functools.partial(jnp.asarray, dtype=jnp.float32)
    centre = jnp.broadcast_to(f32(colour_centre), pixel_shape or start.shape[1:])
    return Hyper(
        f32(settings.learning_rate),
        jnp.asarray(settings.steps, jnp.int32),
        jnp.asarray(settings.jitter, jnp.int32),
        {name: f32(weight) for name, weight in settings.prior_weights().items()},
        centre,
        start,
        code,
    )


def _initial(plan: Plan, hyper: Hyper):
    if plan.generator is not None:
        return parameterizations.init_code(hyper.start, hyper.code)
    return parameterizations.init_params(hyper.start, plan.pyramid_levels)


def _to_pixels(plan: Plan, params, hyper: Hyper) -> jax.Array:
    if plan.generator is not None:
        return parameterizations.code_pixels(plan.generator, params, hyper.code)
    return parameterizations.to_pixels(params, hyper.start)


def _project(plan: Plan, params, hyper: Hyper):
    if plan.generator is not None:
        return parameterizations.project_code(params, hyper.code)
    return parameterizations.project(params)


FACEVIS_MOMENTUM = 0.8


def _scale_by_image_rms() -> optax.GradientTransformation:
    """Each image's gradient (every leaf, batch axis first) divided by its RMS: a step
    of a given rate moves every image as far, however steep its objective."""

    def update(grads, state, params=None):
        def unit(g):
            rms = jnp.sqrt(jnp.mean(g * g, axis=tuple(range(1, g.ndim)), keepdims=True))
            return g / (rms + 1e-12)

        return jax.tree_util.tree_map(unit, grads), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _scale_by(optimizer: str) -> optax.GradientTransformation:
    """The direction part of the optimizer; the (dynamic) rate is applied in the step."""
    if optimizer == "adam":
        return optax.scale_by_adam()
    if optimizer == "momentum":
        return optax.chain(_scale_by_image_rms(), optax.trace(decay=FACEVIS_MOMENTUM))
    return optax.chain(optax.scale_by_rss(), optax.trace(decay=0.9))  # "mv"


def network_outputs(module, preprocessing, params, pixels: jax.Array, layers: Sequence[str]):
    """The network's outputs at ``layers`` (backbone taps, and head outputs such as
    ``attributes``, which every forward pass computes)."""
    taps = tuple(layer for layer in layers if layer not in HEAD_OUTPUTS)
    return module.apply({"params": params}, preprocessing.apply(pixels), taps=taps)


def _priors(x: jax.Array, hyper: Hyper, active: tuple[str, ...]) -> jax.Array:
    weighted = (hyper.prior_weights[name] * PRIOR_TERMS[name](x, hyper) for name in active)
    return sum(weighted, jnp.zeros(x.shape[0], x.dtype))


def _objective_value(module, preprocessing, plan, net_params, objective, params, hyper):
    x = _to_pixels(plan, params, hyper)
    return objective(network_outputs(module, preprocessing, net_params, x, objective.layers))


@functools.partial(jax.jit, static_argnames=("module", "preprocessing", "plan"))
def begin(module, preprocessing, plan: Plan, net_params, objective, hyper):
    """The first carry (parameters, optimizer state) and the objective (without
    priors) at the start, per image."""
    # Projected (a no-op on a valid start) so the carry never aliases the start, which
    # the stepped loop donates each step.
    params = _project(plan, _initial(plan, hyper), hyper)
    carry = (params, _scale_by(plan.optimizer).init(params))
    value = _objective_value(module, preprocessing, plan, net_params, objective, params, hyper)
    return carry, value


def _step(module, preprocessing, plan: Plan, net_params, objective: Objective, hyper: Hyper,
          carry, key: jax.Array, step: jax.Array):  # fmt: skip
    """One optimization step, number ``step`` of the render: the new carry
    (parameters, optimizer state)."""

    def loss(params, step_key, jittering):
        x = _to_pixels(plan, params, hyper)
        seen = x
        if plan.jitter:
            seen = transforms.jitter(step_key, x, jnp.where(jittering, hyper.jitter, 0))
        outputs = network_outputs(module, preprocessing, net_params, seen, objective.layers)
        return jnp.sum(objective(outputs) + _priors(x, hyper, plan.priors))

    params, opt_state = carry
    main = step < hyper.main_steps
    grads = jax.grad(loss)(params, jax.random.fold_in(key, step), main)
    direction, opt_state = _scale_by(plan.optimizer).update(grads, opt_state, params)
    rate = jnp.where(main, hyper.learning_rate, POLISH_RATE * hyper.learning_rate)
    params = jax.tree_util.tree_map(lambda p, d: p - rate * d, params, direction)
    return _project(plan, params, hyper), opt_state


# The carry is donated: each step updates the parameters and Adam's moments in place.
run_step = jax.jit(
    _step, static_argnames=("module", "preprocessing", "plan"), donate_argnames=("carry",)
)
objective_value = jax.jit(_objective_value, static_argnames=("module", "preprocessing", "plan"))


@functools.partial(jax.jit, static_argnames=("module", "preprocessing", "plan", "count"))
def run_chunk(module, preprocessing, plan: Plan, net_params, objective: Objective, hyper: Hyper,
              carry, key: jax.Array, first: jax.Array, count: int):  # fmt: skip
    """``count`` optimization steps from step ``first`` in one program; returns the
    new carry and the per-image objective after them.

    ``count`` is static: a loop of known length runs on an accelerator without
    asking the host whether to go on after every step.
    """
    static = (module, preprocessing, plan)

    def body(i, carry):
        return _step(*static, net_params, objective, hyper, carry, key, first + i)

    carry = jax.lax.fori_loop(0, count, body, carry)
    return carry, _objective_value(*static, net_params, objective, carry[0], hyper)


def run_steps(module, preprocessing, plan: Plan, net_params, objective: Objective, hyper: Hyper,
              carry, key: jax.Array, first: jax.Array, count: int):  # fmt: skip
    """The same as :func:`run_chunk`, one jitted call a step (the faster form on a
    CPU), with one program for every ``count``."""
    static, first = (module, preprocessing, plan), int(first)
    for i in range(count):
        carry = run_step(*static, net_params, objective, hyper, carry, key, first + i)
    return carry, objective_value(*static, net_params, objective, carry[0], hyper)


def loop_form(settings: RenderSettings, platform: str | None = None) -> str:
    """The loop form ``settings`` asks for, with ``"auto"`` resolved for ``platform``
    (by default JAX's backend): one call a step on a CPU, chunks elsewhere."""
    if settings.loop != "auto":
        return settings.loop
    return "steps" if (platform or jax.default_backend()) == "cpu" else "chunks"


_pixels = jax.jit(_to_pixels, static_argnames=("plan",))


def render(
    network,
    objective: Objective,
    init: jax.Array,
    key: jax.Array,
    settings: RenderSettings = DEFAULT_SETTINGS,
    quiet: bool = True,
    colour_centre: jax.Array | float = 127.5,
    generator: nn.Module | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimize pixels from ``init`` (N, S, S, 3), 0-255, to minimize objective + priors.

    ``network`` is anything with ``.module``, ``.params`` and ``.preprocessing`` (a
    trained classifier or a bare backbone). With a ``generator`` (a learned inverter:
    ``.module``, ``.params``, ``.code_scale``, ``.code_high``) the optimized
    parameters are its input instead, starting from the code ``init`` (N, h, w, c),
    and the images are what it draws. Returns the final images (N, S, S, 3)
    float 0-255 and the per-image objective (without priors) at the start and after
    every chunk, shape (chunks + 1, N) (``chunk_lengths`` says how steps split).
    """
    code, pixel_shape = None, None
    if generator is None:
        start = jnp.clip(jnp.asarray(init, jnp.float32), 0.0, 255.0)
    else:
        start = jnp.asarray(init, jnp.float32)
        code = parameterizations.CodeSpace(
            generator.params, jnp.asarray(generator.code_scale), jnp.asarray(generator.code_high)
        )
        pixel_shape = (generator.config.size, generator.config.size, 3)
    plan = Plan.of(settings, None if generator is None else generator.module)
    hyper = hyper_of(settings, start, colour_centre, code, pixel_shape)
    static = (network.module, network.preprocessing, plan)
    carry, value = begin(*static, network.params, objective, hyper)
    history = [np.asarray(value)]
    total, done = settings.steps + settings.polish_steps, 0
    run = run_steps if loop_form(settings) == "steps" else run_chunk
    with tqdm(total=total, unit="step", desc="rendering", disable=quiet) as bar:
        for count in chunk_lengths(total, settings.chunk):
            carry, value = run(
                *static, network.params, objective, hyper, carry, key,
                jnp.asarray(done, jnp.int32), count,
            )  # fmt: skip
            history.append(np.asarray(value))
            done += count
            bar.update(count)
            progress.report(done, total)  # a listener may abandon the work here
    return np.asarray(_pixels(plan, carry[0], hyper)), np.stack(history)


def chunk_lengths(total: int, chunk: int) -> list[int]:
    """Steps per compiled call: whole chunks, then the rest as powers of two (largest
    first), so any step count runs on at most log2(chunk) + 1 compiled programs."""
    lengths = [chunk] * (total // chunk)
    rest = total % chunk
    while rest:
        power = 1 << (rest.bit_length() - 1)
        lengths.append(power)
        rest -= power
    return lengths


def noisy_start(mean_image: np.ndarray, n: int, key: jax.Array, sigma: float = 10.0) -> jax.Array:
    """``n`` copies of the mean face plus N(0, sigma^2) pixel noise (M&V start from noise)."""
    base = jnp.asarray(mean_image, jnp.float32)[None]
    return jnp.clip(base + sigma * jax.random.normal(key, (n, *mean_image.shape)), 0.0, 255.0)
