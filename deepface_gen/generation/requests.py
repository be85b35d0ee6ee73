"""What a request asks for, checked: descriptions against what a model knows, and the
``generate`` options as one frozen :class:`GenerationPlan`.

The checks here need no networks, so a service checks every request before it batches
any (``FaceGenerator.plan``), and the CLI and the server refuse alike.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from deepface_gen import checks
from deepface_gen.attributes import AttributeSpec, as_spec
from deepface_gen.errors import DeepFaceGenError, DescriptionError
from deepface_gen.generation import defaults, methods

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


@dataclass(frozen=True)
class GenerateOptions:
    """How to draw the faces of a ``generate`` request, every option with its default.

    ``n`` faces per description; the same ``seed`` gives the same faces. ``method``
    names a target method of ``methods.METHODS``. ``backend="vae"`` decodes VAE samples
    instead of inverting cGMM targets; ``init="vae"`` (the hybrid) starts inversion from
    a VAE sample, with the cGMM target drawn for the same completed attribute vector.
    ``temperature`` scales the residual variation around the cGMM's prediction (and the
    VAE's latent scale). ``guidance`` weighs the classifier's agreement with the named
    attributes beside the cGMM target (0 turns it off).

    ``render`` says how targets become pixels: ``net`` (one pass of the learned inverter
    G: fast; guidance does not apply), ``refine`` (optimize G's input to match the target
    and the guidance, ``steps`` steps) or ``optimize`` (gradient descent on pixels with
    hand-made priors). ``None`` is the measured default: ``net`` where the bundle has an
    inverter, ``optimize`` where it has not, for ``init="vae"`` and for the ``baseline``
    method. ``vae_prior`` picks where VAE latents come from (``gaussian``, the default,
    or ``fitted``: the aggregate posterior, where the VAE has one).
    """

    n: int = 1
    seed: int = 0
    method: str = defaults.METHOD
    steps: int | None = None
    temperature: float = defaults.TEMPERATURE
    backend: str = defaults.BACKEND
    init: str = defaults.INIT
    guidance: float = defaults.GUIDANCE
    render: str | None = None
    vae_prior: str | None = None

    @classmethod
    def named(cls, **options) -> GenerateOptions:
        """Options given by name, an unknown name refused with the list of known ones."""
        return _named(cls, "generate", options)

    def check(self) -> GenerateOptions:
        """These options in their ranges and among their choices (the render mode is
        the model's to resolve): the checked options, or the error naming the first
        one that is not."""
        checks.choice("method", self.method, tuple(methods.METHODS))
        checks.choice("backend", self.backend, defaults.BACKENDS)
        checks.choice("init", self.init, defaults.INITS)
        n = checks.whole("n", self.n, 1, checks.MAX_FACES)
        seed = checks.whole("seed", self.seed, 0, checks.MAX_SEED)
        temperature = checks.real("temperature", self.temperature, 0.0, checks.MAX_TEMPERATURE)
        guidance = checks.real("guidance", self.guidance, 0.0, checks.MAX_GUIDANCE)
        steps = self.steps
        if steps is not None:
            steps = checks.whole("steps", steps, 1, checks.MAX_STEPS)
        if self.vae_prior is not None:
            checks.choice("vae_prior", self.vae_prior, ("gaussian", "fitted"))
        return replace(self, n=n, seed=seed, temperature=temperature, guidance=guidance,
                       steps=steps)  # fmt: skip

    @property
    def uses_vae(self) -> bool:
        return self.backend == "vae" or self.init == "vae"


@dataclass(frozen=True)
class EditOptions:
    """How to edit portraits, every option with its default.

    ``render`` says how the moved activations become pixels: ``change`` (the default
    where the bundle has a learned inverter: G's drawing of the change alone, added to
    the portrait's pixels), ``optimize`` (``steps`` of descent from the portrait's own
    pixels, with priors on the change alone: an anchor and ``smoothness``, the total
    variation of the change, 0 for none; ``guidance`` times the strength asks the
    classifier to see the named attributes), ``net`` (one pass of G) or ``refine``;
    through ``net`` and ``refine`` even strength 0 redraws the portrait as G sees it.
    ``layer`` must be the cGMM's (None: its own); ``seed`` fixes the optimizers' jitter.
    """

    layer: str | None = None
    seed: int = 0
    steps: int | None = None
    guidance: float = defaults.GUIDANCE
    smoothness: float = defaults.EDIT_SMOOTHNESS
    render: str | None = None

    @classmethod
    def named(cls, **options) -> EditOptions:
        """Options given by name, an unknown name refused with the list of known ones."""
        return _named(cls, "edit", options)


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
    render: str

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


def make_plan(specs: list[AttributeSpec], options: GenerateOptions, render: str) -> GenerationPlan:
    """The plan of checked ``options`` for ``specs`` drawn by ``render``, refused when it
    asks for more faces than one call may draw."""
    n = options.n
    if n * len(specs) > checks.MAX_FACES:
        raise DeepFaceGenError(
            f"{len(specs)} descriptions x n={n} is {n * len(specs)} faces; one call draws "
            f"at most {checks.MAX_FACES}: split the request"
        )
    return GenerationPlan(**{**asdict(options), "specs": tuple(specs), "render": render})
