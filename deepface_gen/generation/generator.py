"""Faces from descriptions, and edits of portraits, behind one object.

    from deepface_gen import FaceGenerator
    gen = FaceGenerator.load()                       # the shipped starter model
    faces = gen.generate("youth, black hair, male", n=4, seed=0)   # (4, 64, 64, 3) uint8

A thin facade over ``generation/``: ``requests.py`` checks what is asked, ``methods.py``
makes the cGMM's targets, ``renderers.py`` draws them (G or inversion), ``hybrid.py``
brings in the VAE, ``pipeline.py`` and ``batched.py`` draw requests, ``editing.py``
alters portraits, ``tools.py`` inverts and visualizes (docs/architecture.md: where to
add a method or a render mode).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import numpy as np

import deepface_gen.generation.tools as tools
from deepface_gen import checks, inversion
from deepface_gen.attributes import AttributeSpec
from deepface_gen.cgmm import domain, stored
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.cgmm.domain import OutOfDomainWarning
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation import calibration, defaults, editing, hybrid, pipeline, renderers
from deepface_gen.generation.requests import (
    Description,
    EditOptions,
    GenerateOptions,
    GenerationPlan,
    default_method,
    make_plan,
    parse_descriptions,
)
from deepface_gen.models.classifier import STARTER, Classifier, load_classifier
from deepface_gen.models.inverter import Inverter, attached_inverter
from deepface_gen.models.vae import VAE, load_vae

__all__ = ["Description", "EditOptions", "FaceGenerator", "GenerateOptions", "GenerationPlan",
           "OutOfDomainWarning"]  # fmt: skip


@dataclass(frozen=True)
class FaceGenerator:
    """A loaded model: a classifier with its fitted cGMM (and the learned inverter, a
    conditional VAE and the edit calibration where the bundle has them), and default
    rendering settings."""

    classifier: Classifier
    cgmm: cgmm_lib.CGMM
    settings: inversion.RenderSettings = inversion.DEFAULT_SETTINGS
    vae: VAE | None = None
    domain_threshold: float | None = None  # calibrated when the cGMM was fitted
    inverter: Inverter | None = None  # the learned renderer of the cGMM's layer
    edit_gains: np.ndarray | None = None  # (2, 40) what strength 1 means, adding/removing

    @classmethod
    def load(
        cls, name_or_path: str | os.PathLike = STARTER, vae: str | os.PathLike | None = None
    ) -> FaceGenerator:
        """Load a bundle (the starter by default) that has a fitted cGMM; its VAE comes
        from the same bundle, or from the VAE bundle ``vae`` when given."""
        classifier = load_classifier(name_or_path)
        fitted = stored.load_cgmm(classifier)
        if fitted is None:
            raise DeepFaceGenError(
                f"{classifier.path} has no fitted cGMM; run: deepface-gen fit --model "
                f"{classifier.path} --data synthetic --layer conv3_1"
            )
        if vae is None and "vae" in classifier.manifest:
            vae = classifier.path
        inverter = attached_inverter(classifier.path, classifier.manifest, fitted.layer)
        gains = calibration.gains(inverter.record.get("edit_calibration")) if inverter else None
        return cls(
            classifier,
            fitted,
            vae=None if vae is None else load_vae(vae),
            domain_threshold=stored.domain_threshold(classifier),
            inverter=inverter,
            edit_gains=gains,
        )

    @property
    def size(self) -> int:
        return self.classifier.input_size

    @property
    def edit_strength(self) -> float:
        """The strength an edit gets when none is asked for: 1 where this model calibrates
        strength per attribute (``edit_gains``), ``defaults.EDIT_STRENGTH`` where not."""
        return editing.default_strength(self)

    @functools.cached_property
    def known_attributes(self) -> tuple[str, ...]:
        """The attributes this model can be asked for: its classifier learned them and
        its cGMM saw enough of each way."""
        named = set(self.classifier.known_attributes)
        fitted = zip(self.classifier.attributes, self.cgmm.known(), strict=True)
        return tuple(a for a, enough in fitted if enough and a in named)

    @functools.cached_property
    def conditional_arrays(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The cGMM's sampling arrays, moved to the device once for batched serving."""
        return cgmm_lib.conditional_arrays(self.cgmm)

    def generate(
        self,
        description: Description | list,
        n: int = 1,
        seed: int = 0,
        quiet: bool = True,
        **options,
    ) -> np.ndarray:
        """Faces for a description: uint8 (N, S, S, 3).

        ``description`` is a string, a {name: strength} mapping, a (40,) vector,
        or an (M, 40) array / list of descriptions (then ``n`` faces each, M*n in
        all, in description order). The same seed gives the same faces. ``options``
        name fields of :class:`~deepface_gen.generation.requests.GenerateOptions`
        (``method``, ``render``, ``backend``, ``init``, ``temperature``, ``guidance``,
        ``steps``, ``vae_prior``), which say what each does and its default.
        """
        return self.draw(self.plan(description, n=n, seed=seed, **options), quiet)

    def plan(
        self, description: Description | list, n: int = 1, seed: int = 0, **options
    ) -> GenerationPlan:
        """Check a ``generate`` request (arguments as there) against this model without
        drawing anything: a :class:`GenerationPlan`, or the error ``generate`` would
        raise. A service checks each request this way before batching it with others."""
        checked = GenerateOptions.named(n=n, seed=seed, **options).check()
        method = checked.method or default_method(self.cgmm.mixture is not None)
        render = self.resolve_render(checked.render, defaults.RENDER, checked.init, method)
        known = set(self.known_attributes)
        if checked.uses_vae:
            known &= set(hybrid.require_vae(self.vae, self.classifier.path).known_attributes)
        specs = parse_descriptions(description, known)
        return make_plan(specs, checked, method, render, cgmm_lib.borrows(self.cgmm, method))

    def draw(self, plan: GenerationPlan, quiet: bool = True) -> np.ndarray:
        """The faces of a checked plan: uint8 (len(specs) * n, S, S, 3)."""
        return pipeline.draw(self, plan, quiet)

    def generate_many(self, plans: Sequence[GenerationPlan]) -> list[np.ndarray]:
        """Draw many checked plans, each as ``draw`` would alone (to within a grey level:
        batched arithmetic rounds differently); see ``pipeline.draw_many``."""
        return pipeline.draw_many(self, plans)

    def resolve_render(
        self,
        render: str | None,
        default: str,
        init: str = "mean",
        method: str | None = None,
        choices: Sequence[str] = defaults.RENDERS,
    ) -> str:
        """The rendering mode to use for this model (``renderers.resolve_render``)."""
        return renderers.resolve_render(
            self.inverter, self.classifier.path, render, default, init, method, choices
        )

    def domain_distance(self, images: np.ndarray) -> np.ndarray:
        """(N,) how far each portrait (N, H, W, 3) lies from the model's training domain
        (``cgmm/domain.py``); compare with ``domain_threshold``."""
        pixels = np.concatenate([np.asarray(tools.prepare(image, self.size)) for image in images])
        return domain.domain_distance(self.classifier, self.cgmm, pixels)

    def invert(self, image: np.ndarray, layer: str | None = None, seed: int = 0,
               steps: int | None = None, quiet: bool = True) -> np.ndarray:  # fmt: skip
        """Reconstruct an image from its activations at ``layer`` alone (from the mean face)."""
        return self._image_tool(tools.invert_image, image, layer, seed, steps, quiet)

    def caricature(self, image: np.ndarray, layer: str | None = None, seed: int = 0,
                   steps: int | None = None, quiet: bool = True) -> np.ndarray:  # fmt: skip
        """Exaggerate what ``layer`` sees in the image, starting from the image itself."""
        return self._image_tool(tools.caricature_image, image, layer, seed, steps, quiet)

    def _image_tool(self, tool, image, layer, seed, steps, quiet) -> np.ndarray:
        """``invert_image`` or ``caricature_image`` with this model and its mean face."""
        layer, settings = layer or self.cgmm.layer, self._settings(steps)
        return tool(self.classifier, image, layer, seed, settings, self.cgmm.mean_image, quiet)

    def visualize(
        self, attribute: str | None = None, unit: str | None = None, n: int = 1,
        seed: int = 0, steps: int | None = None, quiet: bool = True,
    ) -> np.ndarray:  # fmt: skip
        """Activation maximization of an attribute head (``attribute``) or a unit
        (``unit`` = 'LAYER:CHANNEL'), from the mean face; uint8 (n, S, S, 3)."""
        if (attribute is None) == (unit is None):
            raise DeepFaceGenError("visualize needs exactly one of attribute or unit")
        n = checks.whole("n", n, 1, checks.MAX_FACES)
        settings, mean = self._settings(steps), self.cgmm.mean_image
        if unit is not None:
            return tools.visualize_unit(self.classifier, unit, n, seed, settings, mean, quiet)
        spec = parse_descriptions(attribute, self.known_attributes)[0]
        values = np.tile(spec.vector(), (n, 1))
        return tools.visualize_attribute(self.classifier, values, seed, settings, mean, quiet)

    def _settings(self, steps: int | None) -> inversion.RenderSettings:
        return renderers.pixel_settings(self.settings, steps)

    def check_edit(self, description: Description, **options) -> tuple[AttributeSpec, str]:
        """Check ``edit``'s options that do not need the portrait (the description
        against what this model knows, and ``EditOptions`` by name): the parsed
        description and the render mode to use, or the error ``edit`` would raise."""
        spec, checked = editing.check_edit(self, description, EditOptions.named(**options))
        return spec, checked.render

    def edit(self, images: np.ndarray, description: Description,
             strengths: Sequence[float] | None = None,
             names: Sequence[str] | None = None, quiet: bool = True,
             **options) -> np.ndarray:  # fmt: skip
        """Alter portraits: uint8 (N, K, S, S, 3) for N portraits and K strengths.

        The classifier reads each portrait's attributes; the description changes only
        the attributes it names ("+smiling,-eyeglasses"). The portrait's own activations
        move by the cGMM's predicted difference between the new and the current
        attribute vectors, times the strength (``edit.edit_targets``; None: the model's
        default, ``edit_strength``). Strength 0 returns the input. A portrait outside the
        model's training domain is still edited, with an ``OutOfDomainWarning`` that
        calls it by its entry in ``names``.
        ``options`` name fields of :class:`~deepface_gen.generation.requests.EditOptions`
        (``render``, ``steps``, ``seed``, ``guidance``, ``smoothness``, ``layer``).
        """
        report = self.edit_report(images, description, strengths, quiet, **options)
        names = names or [f"image {i}" for i in range(len(report.images))]
        for message in report.messages(names):
            if message is not None:
                warnings.warn(message, OutOfDomainWarning, stacklevel=2)
        return report.images

    def edit_photo(self, photo: np.ndarray, description: Description,
                   strength: float | None = None, face: int = 0, align: str = "auto",
                   quiet: bool = True, **options) -> np.ndarray:  # fmt: skip
        """Edit the face in a photograph of any size and put the change back into it
        (``faces/``: found, aligned to this model's layout, edited, warped back under a
        feathered window): the (H, W, 3) photo with only the face changed. ``face``
        and ``align`` as the command line's ``--face`` and ``--align``."""
        return editing.edit_photo(self, photo, description, strength, face, align, quiet, options)

    def edit_report(self, images: np.ndarray, description: Description,
                    strengths: Sequence[float] | None = None, quiet: bool = True,
                    **options) -> editing.EditedPortraits:  # fmt: skip
        """``edit`` with each portrait's domain distance and the threshold returned beside
        the images (``EditedPortraits.messages`` words them) instead of warned: what a
        service or a command line reports in its own way, with no process-wide warning
        state."""
        checked = EditOptions.named(**options)
        return editing.edit_portraits(self, images, description, strengths, checked, quiet)
