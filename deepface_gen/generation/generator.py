"""Faces from descriptions, and edits of portraits, behind one object.

    from deepface_gen import FaceGenerator
    gen = FaceGenerator.load()                       # the shipped starter model
    faces = gen.generate("youth, black hair, male", n=4, seed=0)   # (4, 64, 64, 3) uint8

The pipeline: description -> (a method of ``methods.py``: the cGMM's target
activations at the fitted layer) -> (inversion) an image whose activations match,
starting from the mean face or a VAE sample. ``method="baseline"`` is DeepFace's
class visualization instead: ascend the attribute heads' logits. Edits move a
portrait's own activations by the cGMM's predicted difference (``edit.py``) and
render from the portrait itself.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen import checks, inversion
from deepface_gen.attributes import AttributeSpec, as_spec
from deepface_gen.batching import bucket
from deepface_gen.cgmm import domain
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.cgmm.mixture import Mixture
from deepface_gen.errors import DeepFaceGenError, DescriptionError, WeightsError
from deepface_gen.generation import calibration, defaults, methods
from deepface_gen.generation import edit as edit_algebra
from deepface_gen.generation.seeds import seed_key, seed_words
from deepface_gen.generation.tools import caricature_image, invert_image, prepare, visualize_unit
from deepface_gen.io import bundles
from deepface_gen.models.classifier import STARTER, Classifier, load_classifier
from deepface_gen.models.inverter import Inverter, load_inverter
from deepface_gen.models.vae import VAE, load_vae
from deepface_gen.models.vgg import canonical_layer

Description = str | Mapping[str, float] | AttributeSpec | np.ndarray


@dataclass(frozen=True)
class GenerationPlan:
    """A ``generate`` request checked against a model (``FaceGenerator.plan``): what
    to draw and how, with every option resolved."""

    specs: tuple[AttributeSpec, ...]
    n: int
    seed: int
    method: str
    steps: int | None
    temperature: float
    backend: str
    init: str
    guidance: float
    render: str
    vae_prior: str | None

    @property
    def uses_vae(self) -> bool:
        return self.backend == "vae" or self.init == "vae"

    @property
    def one_pass(self) -> bool:
        """Drawn by sampling targets and one pass of the learned inverter (batchable);
        ``resolve_render`` gives ``net`` only to a mean start and a method with targets."""
        return self.render == "net" and self.backend != "vae"

    @property
    def faces(self) -> int:
        return len(self.specs) * self.n


@dataclass(frozen=True)
class FaceGenerator:
    """A classifier with its fitted cGMM (and a conditional VAE where the bundle has
    one), and default rendering settings."""

    classifier: Classifier
    cgmm: cgmm_lib.CGMM
    settings: inversion.RenderSettings = inversion.DEFAULT_SETTINGS
    vae: VAE | None = None
    domain_threshold: float | None = None  # calibrated when the cGMM was fitted
    inverter: Inverter | None = None  # the learned renderer of the cGMM's layer
    edit_gains: np.ndarray | None = None  # (40,) what strength 1 means per attribute

    @classmethod
    def load(
        cls, name_or_path: str | os.PathLike = STARTER, vae: str | os.PathLike | None = None
    ) -> FaceGenerator:
        """Load a bundle (the starter by default) that has a fitted cGMM; its VAE comes
        from the same bundle, or from the VAE bundle ``vae`` when given."""
        classifier = load_classifier(name_or_path)
        record = classifier.manifest.get("cgmm")
        if not record:
            raise DeepFaceGenError(
                f"{classifier.path} has no fitted cGMM; run: deepface-gen fit --model "
                f"{classifier.path} --data synthetic --layer conv3_1"
            )
        if not isinstance(record, dict) or not isinstance(record.get("file"), str):
            raise DeepFaceGenError(f"{classifier.path}: the manifest's 'cgmm' entry is malformed")
        # load_classifier has just verified every file's checksum, the cGMM's included.
        arrays = bundles.load_bundle_file(classifier.path, record["file"])
        fitted = cgmm_lib.CGMM.from_arrays(record["layer"], arrays)
        mixture = classifier.manifest.get("mixture")
        if isinstance(mixture, dict) and mixture.get("layer") == fitted.layer:
            stored = bundles.load_bundle_file(classifier.path, mixture["file"])
            fitted = replace(fitted, mixture=Mixture.from_arrays(stored))
        if vae is not None:
            decoder = load_vae(vae)
        elif "vae" in classifier.manifest:
            decoder = load_vae(classifier.path)
        else:
            decoder = None
        threshold = record.get("domain_threshold")
        inverter = _bundled_inverter(classifier, fitted.layer)
        gains = calibration.gains(inverter.record.get("edit_calibration")) if inverter else None
        return cls(classifier, fitted, vae=decoder, domain_threshold=threshold,
                   inverter=inverter, edit_gains=gains)  # fmt: skip

    @property
    def size(self) -> int:
        return self.classifier.input_size

    @functools.cached_property
    def known_attributes(self) -> tuple[str, ...]:
        """The attributes this model can be asked for: its classifier learned them and
        its cGMM saw enough of each way."""
        named = set(self.classifier.known_attributes)
        fitted = zip(self.classifier.attributes, self.cgmm.known(), strict=True)
        return tuple(a for a, enough in fitted if enough and a in named)

    @functools.cached_property
    def _conditional_arrays(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The cGMM's sampling arrays, moved to the device once for batched serving."""
        return cgmm_lib.conditional_arrays(self.cgmm)

    def _descriptions(
        self, description: Description | list, need_vae: bool = False
    ) -> list[AttributeSpec]:
        if isinstance(description, np.ndarray) and description.ndim == 2:
            specs = [as_spec(row) for row in description]
        elif isinstance(description, list | tuple):
            specs = [as_spec(d) for d in description]
        else:
            specs = [as_spec(description)]
        if not specs:
            raise DescriptionError("no description given: name at least one, e.g. 'smiling'")
        known = set(self.known_attributes)
        if need_vae:
            known &= set(self._require_vae().known_attributes)
        for spec in specs:
            unknown = [a for a in spec.values if a not in known]
            if unknown:
                raise DescriptionError(
                    f"this model has not learned {', '.join(unknown)} "
                    f"(it knows: {', '.join(sorted(known))})"
                )
        return specs

    def _require_vae(self) -> VAE:
        if self.vae is None:
            raise DeepFaceGenError(
                f"{self.classifier.path} has no conditional VAE; train one with deepface-gen "
                "train-vae --config configs/vae_starter.py --workdir DIR --attach BUNDLE"
            )
        return self.vae

    def vae_faces(
        self, conditions: np.ndarray, key: jax.Array, temperature: float, prior: str | None = None
    ) -> jax.Array:
        """VAE samples for whole attribute vectors (N, 40): float 0..255 at the model's
        size; ``prior`` as for ``VAE.sample``."""
        faces = self._require_vae().sample(conditions, key, temperature, prior)
        if faces.shape[1] != self.size:
            faces = jax.image.resize(faces, (len(faces), self.size, self.size, 3), "linear")
        return faces

    def generate(
        self,
        description: Description | list,
        n: int = 1,
        seed: int = 0,
        method: str = defaults.METHOD,
        steps: int | None = None,
        temperature: float = defaults.TEMPERATURE,
        quiet: bool = True,
        backend: str = defaults.BACKEND,
        init: str = defaults.INIT,
        guidance: float = defaults.GUIDANCE,
        render: str | None = None,
        vae_prior: str | None = None,
    ) -> np.ndarray:
        """Faces for a description: uint8 (N, S, S, 3).

        ``description`` is a string, a {name: strength} mapping, a (40,) vector,
        or an (M, 40) array / list of descriptions (then ``n`` faces each, M*n in
        all, in description order). The same seed gives the same faces.
        ``method`` names a target method of ``methods.METHODS``. ``backend="vae"``
        decodes VAE samples instead of inverting cGMM targets; ``init="vae"`` (the
        hybrid) starts inversion from a VAE sample, with the cGMM target drawn for the
        same completed attribute vector. ``guidance`` weighs the classifier's agreement
        with the named attributes beside the cGMM target (0 turns it off).

        ``render`` says how targets become pixels: ``net`` (one pass of the learned
        inverter G: fast; guidance does not apply), ``refine`` (optimize G's input to
        match the target and the guidance) or ``optimize`` (gradient descent on pixels
        with hand-made priors). ``None`` is the measured default: ``net`` where the
        bundle has an inverter, ``optimize`` where it has not, for ``init="vae"`` and for
        the ``baseline`` method.
        ``vae_prior`` picks where VAE latents come from (``gaussian``, the default, or
        ``fitted``: the aggregate posterior, where the VAE has one).
        """
        plan = self.plan(
            description, n, seed, method, steps, temperature, backend, init, guidance, render,
            vae_prior,
        )  # fmt: skip
        return self.draw(plan, quiet)

    def plan(
        self,
        description: Description | list,
        n: int = 1,
        seed: int = 0,
        method: str = defaults.METHOD,
        steps: int | None = None,
        temperature: float = defaults.TEMPERATURE,
        backend: str = defaults.BACKEND,
        init: str = defaults.INIT,
        guidance: float = defaults.GUIDANCE,
        render: str | None = None,
        vae_prior: str | None = None,
    ) -> GenerationPlan:
        """Check a ``generate`` request (arguments as there) against this model without
        drawing anything: a :class:`GenerationPlan`, or the error ``generate`` would
        raise. A service checks each request this way before batching it with others."""
        _check_choice("method", method, tuple(methods.METHODS))
        _check_choice("backend", backend, defaults.BACKENDS)
        _check_choice("init", init, defaults.INITS)
        render = self.resolve_render(render, defaults.RENDER, init, method)
        n = checks.whole("n", n, 1, checks.MAX_FACES)
        seed = checks.whole("seed", seed, 0, 2**63 - 1)
        temperature = checks.real("temperature", temperature, 0.0, checks.MAX_TEMPERATURE)
        guidance = checks.real("guidance", guidance, 0.0, checks.MAX_GUIDANCE)
        if steps is not None:
            steps = checks.whole("steps", steps, 1, checks.MAX_STEPS)
        if vae_prior is not None:
            _check_choice("vae_prior", vae_prior, ("gaussian", "fitted"))
        specs = self._descriptions(description, need_vae=backend == "vae" or init == "vae")
        if n * len(specs) > checks.MAX_FACES:
            raise DeepFaceGenError(
                f"{len(specs)} descriptions x n={n} is {n * len(specs)} faces; one call draws "
                f"at most {checks.MAX_FACES}: split the request"
            )
        return GenerationPlan(
            tuple(specs), n, seed, method, steps, temperature, backend, init, guidance, render,
            vae_prior,
        )  # fmt: skip

    def draw(self, plan: GenerationPlan, quiet: bool = True) -> np.ndarray:
        """The faces of a checked plan: uint8 (len(specs) * n, S, S, 3)."""
        specs, n = plan.specs, plan.n
        k_target, k_init, k_render = jax.random.split(seed_key(plan.seed), 3)
        settings = self._settings(plan.steps)
        conditions, start = None, None
        if plan.uses_vae:
            conditions, start = self._vae_start(specs, n, k_init, plan.temperature, plan.vae_prior)
            if plan.backend == "vae":
                return _as_uint8(start)
        request = methods.Request(
            specs,
            n,
            k_target,
            plan.temperature,
            plan.guidance,
            conditions if plan.method == "conditional" else None,
        )
        objective = methods.METHODS[plan.method](self.cgmm, request)
        if plan.render != "optimize":
            return self._render_target(
                objective, plan.render, plan.method, k_render, plan.steps, quiet
            )
        if start is None:  # only pixel optimization starts from the mean face
            start = self._mean_start(n * len(specs), k_init, settings)
        images, _ = inversion.render(
            self.classifier, objective, start, k_render, settings, quiet, self.cgmm.mean_image
        )
        return _as_uint8(images)

    def generate_many(self, plans: Sequence[GenerationPlan]) -> list[np.ndarray]:
        """Draw many checked plans, each as ``draw`` would alone (to within a grey level:
        batched arithmetic rounds differently). Plans the learned inverter renders in one
        pass share batched target sampling and one G call (how a service serves
        concurrent requests); the rest are drawn in turn."""
        faces = [None if plan.one_pass else self.draw(plan) for plan in plans]
        batched = [i for i, plan in enumerate(plans) if plan.one_pass]
        if batched:
            chosen = [plans[i] for i in batched]
            targets = _batched_targets(self.cgmm, chosen, self._conditional_arrays)
            pixels = _as_uint8(self._require_inverter().render(jnp.concatenate(targets)))
            ends = np.cumsum([len(t) for t in targets])
            for i, part in zip(batched, np.split(pixels, ends[:-1]), strict=True):
                faces[i] = part
        return faces  # type: ignore[return-value]

    def resolve_render(
        self,
        render: str | None,
        default: str,
        init: str = "mean",
        method: str | None = None,
        choices: Sequence[str] = defaults.RENDERS,
    ) -> str:
        """The rendering mode to use: the one asked for (checked against ``choices``), or
        ``default`` where this bundle can (it has an inverter; the start is not a VAE
        sample; the method makes target activations, see ``methods.NO_TARGET``)."""
        drawable = method not in methods.NO_TARGET
        if render is None:
            usable = self.inverter is not None and init == "mean" and drawable
            return default if usable or default == "optimize" else "optimize"
        _check_choice("render", render, choices)
        if render != "optimize":
            self._require_inverter()
            if init != "mean":
                raise DeepFaceGenError(
                    f"init={init!r} starts pixel optimization; use render='optimize' with it"
                )
            if not drawable:
                raise DeepFaceGenError(
                    f"method {method!r} has no target activations to render; use render='optimize'"
                )
        return render

    def _require_inverter(self) -> Inverter:
        if self.inverter is None:
            raise DeepFaceGenError(
                f"{self.classifier.path} has no learned inverter, so render 'net' and "
                "'refine' are not available; use 'optimize', or train one: deepface-gen "
                "train-inverter --config configs/inverter_starter.py --workdir DIR "
                f"--attach {self.classifier.path}"
            )
        return self.inverter

    def _render_target(
        self,
        objective: inversion.Objective,
        render: str,
        method: str,
        key: jax.Array,
        steps: int | None,
        quiet: bool,
    ) -> np.ndarray:
        """Render an objective's target through the learned inverter: one pass of G
        (``net``), or G's input optimized from the target against the whole objective,
        guidance included (``refine``)."""
        inverter = self._require_inverter()
        target = objective.target(self.cgmm.layer)
        if target is None:
            raise DeepFaceGenError(
                f"method {method!r} has no target activations to render; use render='optimize'"
            )
        if render == "net":
            return _as_uint8(inverter.render(target))
        settings = self._refine_settings(steps)
        images, _ = inversion.render(
            self.classifier, objective, target, key, settings, quiet, self.cgmm.mean_image,
            generator=inverter,
        )  # fmt: skip
        return _as_uint8(images)

    def _render_change(
        self, pixels: jax.Array, own: np.ndarray, target: jax.Array, k: int
    ) -> np.ndarray:
        """Each portrait with only its change drawn (``render="change"``): two passes
        of G, on the portrait's own activations and on the edited ones, and the
        difference added to the portrait's pixels where it lies (``edit.paste_change``)."""
        inverter = self._require_inverter()
        before = jnp.repeat(inverter.render(own), k, axis=0)
        after = inverter.render(target)
        blur = edit_algebra.blur_matrix(self.size, defaults.CHANGE_BLUR * self.size)
        moved = edit_algebra.paste_change(jnp.repeat(pixels, k, axis=0), before, after, blur)
        return _as_uint8(moved)

    def _refine_settings(self, steps: int | None) -> inversion.RenderSettings:
        """Adam on G's input from the target: G is the image prior, so no hand-made
        priors, jitter or pyramid."""
        steps = defaults.REFINE_STEPS if steps is None else steps
        return replace(
            inversion.DEFAULT_SETTINGS,
            steps=checks.whole("steps", steps, 1, checks.MAX_STEPS),
            learning_rate=defaults.REFINE_RATE,
            jitter=0,
            polish_steps=0,
            alpha_weight=0.0,
            tv_weight=0.0,
            pyramid_levels=1,
        )

    def domain_distance(self, images: np.ndarray) -> np.ndarray:
        """(N,) how far each portrait (N, H, W, 3) lies from the model's training domain
        (``cgmm/domain.py``); compare with ``domain_threshold``."""
        pixels = np.concatenate([np.asarray(prepare(image, self.size)) for image in images])
        return domain.domain_distance(self.classifier, self.cgmm, pixels)

    def _warn_out_of_domain(self, activations: np.ndarray, names: Sequence[str] | None) -> None:
        """Warn (``OutOfDomainWarning``) for each image, given its activations at the cGMM
        layer, beyond the calibrated threshold."""
        if self.domain_threshold is None:
            return
        names = names or [f"image {i}" for i in range(len(activations))]
        distances = domain.activation_distance(self.cgmm, activations)
        for name, distance in zip(names, distances, strict=True):
            if distance > self.domain_threshold:
                message = domain.out_of_domain_message(name, distance, self.domain_threshold)
                warnings.warn(message, OutOfDomainWarning, stacklevel=3)

    def _mean_start(
        self, count: int, key: jax.Array, settings: inversion.RenderSettings
    ) -> jax.Array:
        """``count`` copies of the mean face with a little noise (calmer for a pyramid)."""
        plain = settings.pyramid_levels <= 1
        sigma = defaults.START_NOISE if plain else defaults.PYRAMID_START_NOISE
        return inversion.noisy_start(self.cgmm.mean_image, count, key, sigma)

    def _vae_start(
        self,
        specs: Sequence[AttributeSpec],
        n: int,
        key: jax.Array,
        temperature: float,
        prior: str | None = None,
    ) -> tuple[np.ndarray, jax.Array]:
        """(whole attribute vectors, VAE faces) for ``n`` faces per description. Unnamed
        attributes are drawn once per face, so the VAE image and the hybrid's cGMM target
        describe the same person."""
        vae = self._require_vae()
        k_complete, k_latent = jax.random.split(key)
        conditions = np.concatenate(
            [
                cgmm_lib.sample_completions(
                    vae, s.vector(), s.mask(), jax.random.fold_in(k_complete, i), n
                )
                for i, s in enumerate(specs)
            ]
        )
        return conditions, self.vae_faces(conditions, k_latent, temperature, prior)

    def _settings(self, steps: int | None) -> inversion.RenderSettings:
        if steps is None:
            return self.settings
        return replace(self.settings, steps=checks.whole("steps", steps, 1, checks.MAX_STEPS))

    def invert(
        self,
        image: np.ndarray,
        layer: str | None = None,
        seed: int = 0,
        steps: int | None = None,
        quiet: bool = True,
    ) -> np.ndarray:
        """Reconstruct an image from its activations at ``layer`` alone (from the mean face)."""
        return self._image_tool(invert_image, image, layer, seed, steps, quiet)

    def caricature(
        self,
        image: np.ndarray,
        layer: str | None = None,
        seed: int = 0,
        steps: int | None = None,
        quiet: bool = True,
    ) -> np.ndarray:
        """Exaggerate what ``layer`` sees in the image, starting from the image itself."""
        return self._image_tool(caricature_image, image, layer, seed, steps, quiet)

    def _image_tool(self, tool, image, layer, seed, steps, quiet) -> np.ndarray:
        """Run ``invert_image`` or ``caricature_image`` with this model and its mean face."""
        layer = layer or self.cgmm.layer
        settings = self._settings(steps)
        return tool(self.classifier, image, layer, seed, settings, self.cgmm.mean_image, quiet)

    def visualize(
        self,
        attribute: str | None = None,
        unit: str | None = None,
        n: int = 1,
        seed: int = 0,
        steps: int | None = None,
        quiet: bool = True,
    ) -> np.ndarray:
        """Activation maximization of an attribute head (``attribute``) or a unit
        (``unit`` = 'LAYER:CHANNEL'), from the mean face; uint8 (n, S, S, 3)."""
        if (attribute is None) == (unit is None):
            raise DeepFaceGenError("visualize needs exactly one of attribute or unit")
        n = checks.whole("n", n, 1, checks.MAX_FACES)
        settings = self._settings(steps)
        if unit is not None:
            return visualize_unit(
                self.classifier, unit, n, seed, settings, self.cgmm.mean_image, quiet
            )
        spec = self._descriptions(attribute)[0]
        k_start, k_render = jax.random.split(seed_key(seed))
        objective = inversion.attribute_logits(
            np.tile(spec.vector(), (n, 1)), weight=defaults.LOGIT_WEIGHT
        )
        start = inversion.noisy_start(self.cgmm.mean_image, n, k_start)
        images, _ = inversion.render(
            self.classifier, objective, start, k_render, settings, quiet, self.cgmm.mean_image
        )
        return _as_uint8(images)

    def check_edit(
        self,
        description: Description,
        render: str | None = None,
        steps: int | None = None,
        seed: int = 0,
        guidance: float = defaults.GUIDANCE,
    ) -> tuple[AttributeSpec, str]:
        """Check ``edit``'s options that do not need the portrait (the description
        against what this model knows, the render mode, steps, seed, guidance): the
        parsed description and the render mode to use, or the error ``edit`` would raise."""
        spec = self._descriptions(description)[0]
        render = self.resolve_render(render, defaults.EDIT_RENDER, choices=defaults.EDIT_RENDERS)
        if steps is not None:
            checks.whole("steps", steps, 1, checks.MAX_STEPS)
        checks.whole("seed", seed, 0, 2**63 - 1)
        checks.real("guidance", guidance, 0.0, checks.MAX_GUIDANCE)
        return spec, render

    def edit(
        self,
        images: np.ndarray,
        description: Description,
        strengths: Sequence[float] = (defaults.EDIT_STRENGTH,),
        layer: str | None = None,
        seed: int = 0,
        steps: int | None = None,
        quiet: bool = True,
        guidance: float = defaults.GUIDANCE,
        smoothness: float = defaults.EDIT_SMOOTHNESS,
        names: Sequence[str] | None = None,
        render: str | None = None,
    ) -> np.ndarray:
        """Alter portraits: uint8 (N, K, S, S, 3) for N portraits and K strengths.

        The classifier reads each portrait's attributes; the description
        changes only the attributes it names ("+smiling,-eyeglasses"). The
        portrait's own activations move by the cGMM's predicted difference
        between the new and the current attribute vectors, times the strength
        (``edit.edit_targets``), and inversion starts from the portrait itself with
        priors on the change alone (an anchor and its smoothness), so identity, pose and
        background stay. ``guidance`` (times the strength) also asks the classifier to
        see the named attributes, as in ``generate``. ``smoothness`` weighs the total
        variation of the change (0: none; speckled edits). Strength 0 returns the input.
        A portrait outside the model's training domain is still edited, with an
        ``OutOfDomainWarning`` that calls it by its entry in ``names``.

        ``render`` says how the moved activations become pixels: ``change`` (the
        default where the bundle has a learned inverter: G's drawing of the change alone,
        added to the portrait's pixels), ``optimize`` (from the portrait's own pixels),
        ``net`` (one pass of G) or ``refine``; through ``net`` and ``refine`` even strength
        0 redraws the portrait as G sees it.
        """
        spec, render = self.check_edit(description, render, steps, seed, guidance)
        if not len(strengths):
            raise DeepFaceGenError("edit needs at least one strength")
        limit = checks.MAX_EDIT_STRENGTH
        strengths = [checks.real("strength", v, -limit, limit) for v in strengths]
        smoothness = checks.real("smoothness", smoothness, 0.0, 1e4)
        if len(images) == 0:
            raise DeepFaceGenError("edit needs at least one portrait")
        layer = canonical_layer(layer or self.cgmm.layer)
        if layer != self.cgmm.layer:
            raise DeepFaceGenError(f"the cGMM is fitted at {self.cgmm.layer}, not {layer}")
        pixels = jnp.concatenate([prepare(image, self.size) for image in images])
        count, k = len(pixels), len(strengths)
        seen = self.classifier.outputs(pixels, taps=(layer,))  # one pass: attributes and layer
        self._warn_out_of_domain(seen[layer], names)
        scale = jnp.asarray(strengths, jnp.float32)
        target = self._edit_targets(seen, layer, spec, scale, render)
        if render == "change":
            out = self._render_change(pixels, seen[layer], target, k)
            return out.reshape(count, k, *out.shape[1:])
        objective = inversion.feature_match(layer, target, defaults.FEATURE_WEIGHT)
        if guidance > 0:
            values = edit_algebra.guidance_values(spec, scale, count)
            objective = objective + inversion.attribute_likelihood(values, guidance)
        if render != "optimize":
            out = self._render_target(objective, render, "edit", seed_key(seed), steps, quiet)
        else:
            out = self._edit_pixels(objective, pixels, k, seed, steps, smoothness, quiet)
        return out.reshape(count, k, *out.shape[1:])

    def _edit_targets(
        self, seen: dict, layer: str, spec: AttributeSpec, scale: jax.Array, render: str
    ) -> jax.Array:
        """(N * K, *shape): each portrait's activations moved to carry ``spec`` at each
        strength (``edit.edit_targets``)."""
        count = len(seen[layer])
        current = 2.0 * jnp.asarray(seen["probabilities"]) - 1.0
        # The gains were measured with the change render: they mean "typical" there.
        gains = None if self.edit_gains is None or render != "change" else self.edit_gains
        return edit_algebra.edit_targets(
            jnp.asarray(seen[layer]).reshape(count, -1),
            current,
            edit_algebra.wanted_attributes(current, spec),
            jnp.asarray(self.cgmm.ridge),
            scale,
            None if gains is None else jnp.asarray(gains),
        ).reshape(count * len(scale), *self.cgmm.shape)

    def _edit_pixels(
        self, objective, pixels: jax.Array, k: int, seed: int, steps, smoothness: float, quiet
    ) -> np.ndarray:
        """Pixel optimization from each portrait itself (``render="optimize"``). The start
        is already a natural image, so no image priors or jitter, only priors on the
        change: Adam rescales any gradient to full steps, and with the target at the
        portrait's own activations every gradient is zero, so strength 0 returns the
        portrait itself."""
        settings = replace(
            self._settings(steps),
            jitter=0,
            tv_weight=0.0,
            alpha_weight=0.0,
            anchor_weight=defaults.EDIT_ANCHOR,
            change_tv_weight=smoothness,
        )
        out, _ = inversion.render(
            self.classifier,
            objective,
            jnp.repeat(pixels, k, axis=0),
            seed_key(seed),
            settings,
            quiet,
            self.cgmm.mean_image,
        )
        return _as_uint8(out)


class OutOfDomainWarning(UserWarning):
    """An input lies outside what the model was trained on; its results are unreliable."""


def _bundled_inverter(classifier: Classifier, layer: str) -> Inverter | None:
    """The bundle's learned inverter when it renders the cGMM's layer of these very
    weights; one trained on other weights or another layer is refused, not guessed at."""
    if "inverter" not in classifier.manifest:
        return None
    inverter = load_inverter(classifier.path)
    own = bundles.params_digest(classifier.manifest)
    if inverter.record.get("classifier_params") != own or inverter.layer != layer:
        raise WeightsError(
            f"{classifier.path}: its inverter was trained for other weights or another layer "
            f"(it renders {inverter.layer}; the cGMM is at {layer}); retrain it with "
            f"deepface-gen train-inverter --attach {classifier.path}"
        )
    return inverter


@jax.jit
def _target_keys(words: jax.Array, indices: jax.Array) -> jax.Array:
    """``fold_in(split(key(seed), 3)[0], index)`` for many (seed, index) pairs in one
    call (``draw``'s target key for a plan's ``index``-th description); ``words``
    (R, 2) uint32 are each seed's ``seed_words``."""

    def one(words: jax.Array, index: jax.Array) -> jax.Array:
        key = jax.random.wrap_key_data(words)
        return jax.random.fold_in(jax.random.split(key, 3)[0], index)

    return jax.vmap(one)(words, indices)


class _Row(NamedTuple):
    """One description of a conditional plan, as batched target sampling needs it."""

    plan: int  # index of its plan
    n: int  # faces it asks for
    filled: np.ndarray  # (40,) the description completed (``fill_in``)
    words: tuple[int, int]  # its plan's seed as key data
    index: int  # its place among the plan's descriptions
    temperature: float


def _batched_targets(
    cgmm: cgmm_lib.CGMM, plans: Sequence[GenerationPlan], arrays=None
) -> list[jax.Array]:
    """Each plan's target activations, as ``draw`` samples them: the conditional
    method's for all plans at once (keys derived in one call, then one sampling call
    per faces-per-description ``n``, the description count padded to a bucket size),
    the others' plan by plan."""
    rows: list[_Row] = []
    out: list[list[jax.Array]] = [[] for _ in plans]
    for p, plan in enumerate(plans):
        if plan.method != "conditional":
            k_target = jax.random.split(seed_key(plan.seed), 3)[0]
            request = methods.Request(plan.specs, plan.n, k_target, plan.temperature, 0.0)
            out[p].append(methods.METHODS[plan.method](cgmm, request).target(cgmm.layer))
            continue
        for i, spec in enumerate(plan.specs):
            filled = cgmm_lib.fill_in(cgmm, spec.vector(), spec.mask())
            rows.append(_Row(p, plan.n, filled, seed_words(plan.seed), i, plan.temperature))
    for n in sorted({row.n for row in rows}):
        group = [row for row in rows if row.n == n]
        padded = group + [group[-1]] * (bucket(len(group)) - len(group))
        keys = _target_keys(
            jnp.asarray(np.array([row.words for row in padded], np.uint32)),
            jnp.asarray(np.array([row.index for row in padded], np.uint32)),
        )
        drawn = cgmm_lib.conditional_targets_many(
            cgmm,
            np.stack([row.filled for row in padded]),
            keys,
            np.asarray([row.temperature for row in padded]),
            n,
            arrays,
        )
        for row, targets in zip(group, drawn, strict=False):
            out[row.plan].append(targets)
    # A plan's descriptions were appended in order, and its conditional rows all share
    # one n, so concatenating restores draw's order.
    return [jnp.concatenate(parts) for parts in out]


def _check_choice(what: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise DeepFaceGenError(f"unknown {what} {value!r}; use {', '.join(choices)}")


def _as_uint8(images) -> np.ndarray:
    return np.round(np.asarray(images)).astype(np.uint8)
