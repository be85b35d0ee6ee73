"""What a request asks for, checked: descriptions against what a model knows, and the
``generate`` options as one frozen :class:`GenerationPlan`.

The checks here need no networks, so a service checks every request before it batches
any (``FaceGenerator.plan``), and the CLI and the server refuse alike.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import Field, asdict, dataclass, field, fields, replace
from typing import Any, get_args, get_type_hints

import numpy as np

from deepface_gen import checks
from deepface_gen.attributes import AttributeSpec, as_spec
from deepface_gen.errors import DeepFaceGenError, DescriptionError
from deepface_gen.generation import defaults

Description = str | Mapping[str, float] | AttributeSpec | np.ndarray


def parse_descriptions(
    description: Description | list, known: Collection[str]
) -> list[AttributeSpec]:
    """One or many descriptions (a string, a mapping, a (40,) vector, an (M, 40) array
    or a list of any) as specs, each refused if it names an attribute not in ``known``."""
    if isinstance(description, np.ndarray) and description.ndim == 2:
        specs = [as_spec(row) for row in description]
    elif isinstance(description, list | tuple):
        specs = [as_spec(d) for d in description]
    else:
        specs = [as_spec(description)]
    if not specs:
        raise DescriptionError("no description given: name at least one, e.g. 'smiling'")
    for spec in specs:
        unknown = [a for a in spec.values if a not in known]
        if unknown:
            raise DescriptionError(
                f"this model has not learned {', '.join(unknown)} "
                f"(it knows: {', '.join(sorted(known))})"
            )
    return specs


def option(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A request option: its default, what it does, and its range or its choices.
    ``check_options``, the command line (``cli/common.add_request_options``) and the
    server's request model all read them from here, so an option is written once."""
    return field(
        default=default, metadata={"help": help, "low": low, "high": high, "choices": choices}
    )


def choices_of(item: Field) -> tuple[str, ...] | None:
    """An option's choices (None: it has a range, or nothing to check)."""
    return item.metadata.get("choices")


def option_types(options: type) -> dict[str, type]:
    """Each option's value type, ``int``, ``float`` or ``str`` (``None`` stripped)."""
    hints = get_type_hints(options)
    return {
        item.name: next(
            t for t in get_args(hints[item.name]) or (hints[item.name],) if t is not type(None)
        )
        for item in fields(options)
    }


def check_options(options: Any) -> Any:
    """``options`` with every value within its range and among its choices (whole
    numbers as int, reals as float): the checked options, or the error naming the first
    that is not. An option left None (where None is its default) means "the default"."""
    kinds, checked = option_types(type(options)), {}
    for item in fields(options):
        value, meta = getattr(options, item.name), item.metadata
        if value is None and item.default is None:
            continue
        choices = choices_of(item)
        if choices is not None:
            checks.choice(item.name, value, choices)
        elif meta.get("low") is not None:
            check = checks.whole if kinds[item.name] is int else checks.real
            checked[item.name] = check(item.name, value, meta["low"], meta["high"])
    return replace(options, **checked)


def steps_option() -> Any:
    """The ``steps`` option every request that may optimize shares."""
    help = "optimization steps (refine, optimize; default: the render's own)"
    return option(None, help, low=1, high=checks.MAX_STEPS)


def guidance_option() -> Any:
    """The ``guidance`` option generate and edit share."""
    help = "weight of the classifier seeing the named attributes (0: off)"
    return option(defaults.GUIDANCE, help, low=0.0, high=checks.MAX_GUIDANCE)


RENDER_HELP = (
    "net: one pass of the learned inverter; refine: optimize its input; optimize: pixels "
    "with hand-made priors"
)


@dataclass(frozen=True)
class GenerateOptions:
    """How to draw the faces of a ``generate`` request, every option with its default,
    its range or choices, and what it does (``option``).

    ``n`` faces per description; the same ``seed`` gives the same faces. ``method``
    names a target method of ``methods.METHODS`` (``None``: the model's default,
    ``default_method``). ``backend="vae"`` decodes VAE samples
    instead of inverting cGMM targets; ``init="vae"`` (the hybrid) starts inversion from
    a VAE sample, with the cGMM target drawn for the same completed attribute vector.
    ``temperature`` scales the residual variation around the cGMM's prediction (and the
    VAE's latent scale); ``None`` is the measured default (``default_temperature``).
    ``guidance`` weighs the classifier's agreement with the named attributes beside the
    cGMM target (0 turns it off).

    ``render`` says how targets become pixels: ``net`` (one pass of the learned inverter
    G: fast; guidance does not apply), ``refine`` (optimize G's input to match the target
    and the guidance, ``steps`` steps) or ``optimize`` (gradient descent on pixels with
    hand-made priors). ``None`` is the measured default: ``net`` where the bundle has an
    inverter, ``optimize`` where it has not, for ``init="vae"`` and for the ``baseline``
    method. ``vae_prior`` picks where VAE latents come from (``gaussian``, the default,
    or ``fitted``: the aggregate posterior, where the VAE has one).
    """

    n: int = option(1, "faces to draw", low=1, high=checks.MAX_FACES)
    seed: int = option(0, "the same seed draws the same faces", low=0, high=checks.MAX_SEED)
    method: str | None = option(
        None,
        "how target activations are made from the description (default: "
        f"{defaults.METHOD} where the model has a fitted mixture, else "
        f"{defaults.FALLBACK_METHOD})",
        choices=defaults.METHODS,
    )
    steps: int | None = steps_option()
    temperature: float | None = option(
        None,
        "diversity: the residual variation around the cGMM's prediction and the VAE's "
        f"latent scale, 0 for none (default: {defaults.BORROWED_TEMPERATURE:g} where "
        "conditional or mixture targets borrow the unnamed attributes from training "
        f"portraits, else {defaults.TEMPERATURE:g})",
        low=0.0,
        high=checks.MAX_TEMPERATURE,
    )
    backend: str = option(
        defaults.BACKEND,
        "cgmm: targets + feature inversion; vae: decode VAE samples",
        choices=defaults.BACKENDS,
    )
    init: str = option(
        defaults.INIT,
        "start inversion from the mean face, or a VAE sample (the hybrid)",
        choices=defaults.INITS,
    )
    guidance: float = guidance_option()
    render: str | None = option(
        None,
        f"{RENDER_HELP} (default: {defaults.RENDER} where the "
        "model has an inverter, else optimize)",
        choices=defaults.RENDERS,
    )
    vae_prior: str | None = option(
        None,
        "VAE latents from N(0, T^2) (default) or the fitted aggregate posterior",
        choices=("gaussian", "fitted"),
    )

    @classmethod
    def named(cls, **options) -> GenerateOptions:
        """Options given by name, an unknown name refused with the list of known ones."""
        return _named(cls, "generate", options)

    def check(self) -> GenerateOptions:
        """These options in their ranges and among their choices (``check_options``)."""
        return check_options(self)

    @property
    def uses_vae(self) -> bool:
        return self.backend == "vae" or self.init == "vae"


@dataclass(frozen=True)
class EditOptions:
    """How to edit portraits, every option with its default (``option``).

    ``render`` says how the moved activations become pixels: ``change`` (the default
    where the bundle has a learned inverter: G's drawing of the change alone, added to
    the portrait's pixels), ``polish`` (``change``, then ``steps`` of ``optimize``'s
    descent from it, ``defaults.POLISH_STEPS`` unless given), ``optimize`` (``steps`` of
    descent from the portrait's own
    pixels, with priors on the change alone: an anchor and ``smoothness``, the total
    variation of the change, 0 for none; ``guidance`` times the strength asks the
    classifier to see the named attributes), ``net`` (one pass of G) or ``refine``;
    through ``net`` and ``refine`` even strength 0 redraws the portrait as G sees it.
    ``layer`` must be the cGMM's (None: its own); ``seed`` fixes the optimizers' jitter;
    ``focus`` confines each attribute's predicted change to where it is strongest
    (``edit.focused_ridge``; 0: the global change as is).
    """

    layer: str | None = option(None, "the layer edited (default: the cGMM's)")
    seed: int = option(0, "the optimizers' jitter", low=0, high=checks.MAX_SEED)
    steps: int | None = steps_option()
    guidance: float = guidance_option()
    smoothness: float = option(
        defaults.EDIT_SMOOTHNESS,
        "total variation of the change (optimize, polish; 0: none)",
        low=0.0,
        high=1e4,
    )
    focus: float = option(
        defaults.EDIT_FOCUS,
        "confine each attribute's change to where it is strongest: locations below this "
        "quantile of its strength keep a share in proportion (0: the global change as is)",
        low=0.0,
        high=1.0,
    )
    render: str | None = option(
        None,
        "change: add only the change the learned inverter "
        "draws to the portrait's pixels; polish: change, then a few pixel steps toward the "
        f"edited activations; {RENDER_HELP} (default: "
        f"{defaults.EDIT_RENDER} where the model has an inverter, "
        "else optimize)",
        choices=defaults.EDIT_RENDERS,
    )

    @classmethod
    def named(cls, **options) -> EditOptions:
        """Options given by name, an unknown name refused with the list of known ones."""
        return _named(cls, "edit", options)

    def check(self) -> EditOptions:
        """These options in their ranges and among their choices (``check_options``)."""
        return check_options(self)


def _named(cls, what: str, options: dict):
    known = [f.name for f in fields(cls)]
    unknown = [name for name in options if name not in known]
    if unknown:
        raise DeepFaceGenError(f"unknown {what} option {unknown[0]!r}; use {', '.join(known)}")
    return cls(**options)


@dataclass(frozen=True, kw_only=True)
class GenerationPlan(GenerateOptions):
    """A ``generate`` request checked against a model (``FaceGenerator.plan``): its
    checked options with the render mode resolved, and the parsed descriptions."""

    specs: tuple[AttributeSpec, ...]
    method: str
    render: str
    temperature: float

    @property
    def one_pass(self) -> bool:
        """Drawn by sampling targets and one pass of the learned inverter (batchable);
        ``resolve_render`` gives ``net`` only to a mean start and a method with targets."""
        return self.render == "net" and self.backend != "vae"

    @property
    def faces(self) -> int:
        return len(self.specs) * self.n

    def title(self, description: str) -> str:
        """What a sheet of these faces shows: the description, how it was drawn, the seed
        and the temperature (``generate --grid`` and the server's PNG grid)."""
        how = "the VAE" if self.backend == "vae" else f"{self.method} targets, render {self.render}"
        return f'"{description}": {how}, seed {self.seed}, temperature {self.temperature:g}'

    def captions(self) -> list[str]:
        """Each face's caption on a sheet: its seed and place."""
        return [f"seed {self.seed} #{i}" for i in range(self.faces)]


def default_method(has_mixture: bool) -> str:
    """The measured target method for a model: the mixture's where it has one fitted."""
    return defaults.METHOD if has_mixture else defaults.FALLBACK_METHOD


def default_temperature(backend: str, init: str, borrows: bool) -> float:
    """The measured temperature for a way of drawing: the lower one where the targets
    borrow the unnamed attributes from training portraits (``borrows``: the method does
    on this model, ``model.borrows``; a cGMM backend from the mean face, since the
    hybrid's targets take its VAE's attributes instead), the shared one otherwise."""
    if borrows and backend == "cgmm" and init == "mean":
        return defaults.BORROWED_TEMPERATURE
    return defaults.TEMPERATURE


def make_plan(
    specs: list[AttributeSpec], options: GenerateOptions, method: str, render: str, borrows: bool
) -> GenerationPlan:
    """The plan of checked ``options`` for ``specs`` with ``method`` and ``render``
    resolved and an unset temperature resolved (``borrows``: the method borrows attribute
    vectors on this model, ``model.borrows``), refused when it asks for more faces than one call may
    draw."""
    n = options.n
    if n * len(specs) > checks.MAX_FACES:
        raise DeepFaceGenError(
            f"{len(specs)} descriptions x n={n} is {n * len(specs)} faces; one call draws "
            f"at most {checks.MAX_FACES}: split the request"
        )
    temperature = options.temperature
    if temperature is None:
        temperature = default_temperature(options.backend, options.init, borrows)
    resolved = {"specs": tuple(specs), "method": method, "render": render}
    return GenerationPlan(**{**asdict(options), **resolved, "temperature": temperature})
