"""Loading a trained attribute classifier and scoring images with it.

``load_classifier()`` returns the starter model shipped inside the package;
``load_classifier(PATH)`` any bundle written by ``deepface-gen train``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from deepface_gen.errors import DescriptionError, WeightsError
from deepface_gen.faces import layout as layouts
from deepface_gen.faces.layout import FaceLayout
from deepface_gen.io import bundles
from deepface_gen.io.images import fit_to_model
from deepface_gen.models import pretrained
from deepface_gen.models.preprocessing import Preprocessing
from deepface_gen.models.vgg import VGG, AttributeClassifier, HeadConfig, VGGConfig

STARTER = "starter"


def bundled_model_path(name: str = STARTER) -> Path:
    """Folder of a model shipped inside the package (``deepface_gen/assets/NAME``)."""
    return Path(str(resources.files("deepface_gen") / "assets" / name))


def resolve_model(name_or_path: str | os.PathLike = STARTER) -> Path:
    """A bundle folder from a shipped model's name, a cache name, or a path."""
    text = str(name_or_path)
    for candidate in (Path(text), bundled_model_path(text), bundles.home() / "models" / text):
        if (candidate / bundles.MANIFEST).exists():
            return candidate
    if text in pretrained.KNOWN_WEIGHTS:
        raise WeightsError(
            f"{text} is a published backbone with no attribute heads: invert, caricature and "
            f"visualize --unit read it (once imported), but this needs a model trained on "
            f"attributes; train one from it: deepface-gen train --config configs/celeba_vgg16.py"
        )
    raise WeightsError(
        f"no model {text!r}: not a bundle folder, not a shipped model ({STARTER}), "
        f"and not in {bundles.home() / 'models'}"
    )


@functools.partial(jax.jit, static_argnames=("module", "preprocessing", "taps"))
def forward(module, preprocessing: Preprocessing, params, images, taps=()):
    """pixels -> preprocess -> module, compiled once per architecture (Flax modules and
    preprocessings hash by value, so every copy of a model shares the program), batch
    shape and tap set; the weights are data."""
    return module.apply({"params": params}, preprocessing.apply(images), taps=taps)


@dataclass(frozen=True)
class Classifier:
    """A trained attribute classifier: architecture, weights and how it sees pixels."""

    backbone: VGGConfig
    head: HeadConfig
    preprocessing: Preprocessing
    params: dict
    attributes: tuple[str, ...]
    known_attributes: tuple[str, ...]
    manifest: dict
    path: Path

    @property
    def input_size(self) -> int:
        return self.backbone.input_size

    @property
    def face_layout(self) -> FaceLayout:
        """Where this model's training portraits have their eyes (photos are aligned to it)."""
        return layouts.of_manifest(self.manifest)

    @functools.cached_property
    def module(self) -> AttributeClassifier:
        return AttributeClassifier(self.backbone, self.head)

    def apply(self, images: np.ndarray | jax.Array, taps: tuple[str, ...] = ()) -> dict:
        """Forward uint8 / 0-255 RGB images (N, S, S, 3) at the model's input size."""
        images = jnp.asarray(images, jnp.float32)
        return forward(self.module, self.preprocessing, self.params, images, tuple(taps))

    def outputs(
        self, images: np.ndarray | jax.Array, batch_size: int = 64, taps: tuple[str, ...] = ()
    ) -> dict:
        """Every head's output as numpy, in batches: ``attributes`` logits (N, 40), their
        ``probabilities``, and ``features`` (N, D), the penultimate layer (and
        ``identity`` where trained, and the backbone ``taps`` asked for): one pass for
        all a caller needs."""
        images = np.asarray(images)
        parts = [
            jax.device_get(self.apply(images[i : i + batch_size], taps=taps))
            for i in range(0, len(images), batch_size)
        ]
        if not parts:
            empty = np.zeros((0, len(self.attributes)), np.float32)
            return {"attributes": empty, "probabilities": empty}
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        out["probabilities"] = np.asarray(jax.nn.sigmoid(out["attributes"]))
        return out

    def probabilities(self, images: np.ndarray | jax.Array, batch_size: int = 64) -> np.ndarray:
        """Attribute probabilities (N, 40), in batches."""
        return self.outputs(images, batch_size)["probabilities"]

    def require_known(self, names: Iterable[str], option: str) -> None:
        """Refuse attribute ``names`` this model has not learned (its training data did not
        label or show them), saying which and which ``option`` named them: scoring by
        an unlearned head would be meaningless, not an error."""
        unknown = [name for name in names if name not in self.known_attributes]
        if unknown:
            raise DescriptionError(
                f"{option}: {self.path} has not learned {', '.join(unknown)}; it knows "
                f"{', '.join(self.known_attributes)}"
            )

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """An (H, W, 3) uint8 image centre-cropped and resized to the model's input."""
        return fit_to_model(image, self.input_size)


def open_bundle(
    name_or_path: str | os.PathLike, kind: str, what: str, fields: dict[str, type]
) -> tuple[Path, dict, dict]:
    """(folder, arrays, manifest) of a verified bundle of ``kind``; refused, naming
    ``what`` was expected, when it holds another kind or lacks one of ``fields``."""
    path = resolve_model(name_or_path)
    arrays, manifest = bundles.load_bundle(path)
    if manifest.get("kind") != kind:
        raise WeightsError(f"{path}: bundle holds a {manifest.get('kind')!r}, not {what}")
    bundles.require(manifest, path, fields)
    return path, arrays, manifest


def load_classifier(name_or_path: str | os.PathLike = STARTER) -> Classifier:
    """Load and verify (sha256) a classifier bundle; the starter by default."""
    path, arrays, manifest = open_bundle(
        name_or_path,
        "attribute_classifier",
        "a classifier",
        {"backbone": dict, "head": dict, "preprocessing": dict, "attributes": list, "files": dict},
    )
    if "params" not in arrays:
        raise WeightsError(f"{path}: the weights file holds no 'params'")
    try:
        parts = (
            VGGConfig.from_json(manifest["backbone"]),
            HeadConfig.from_json(manifest["head"]),
            Preprocessing.from_json(manifest["preprocessing"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise WeightsError(f"{path}: malformed architecture in the manifest ({err!r})") from None
    params = jax.tree_util.tree_map(jnp.asarray, arrays["params"])
    return Classifier(
        *parts,
        params,
        tuple(manifest["attributes"]),
        tuple(manifest.get("known_attributes", manifest["attributes"])),
        manifest,
        path,
    )


@dataclass(frozen=True)
class Backbone:
    """A bare backbone (no heads) with its preprocessing: enough for inversion,
    caricature and unit visualization with published weights such as VGG16."""

    config: VGGConfig
    params: dict
    preprocessing: Preprocessing
    name: str

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @functools.cached_property
    def module(self) -> VGG:
        return VGG(self.config)

    def apply(self, images: np.ndarray | jax.Array, taps: tuple[str, ...] = ()) -> dict:
        """Activations at ``taps`` for uint8 / 0-255 RGB images."""
        images = jnp.asarray(images, jnp.float32)
        return forward(self.module, self.preprocessing, self.params, images, tuple(taps))


class Network(Protocol):
    """What inversion and its tools need of a network: a :class:`Classifier` or a bare
    :class:`Backbone` (its Flax module and weights, its pixel preprocessing, its input
    size, and a forward pass with named taps)."""

    params: dict
    preprocessing: Preprocessing

    @property
    def input_size(self) -> int: ...

    @property
    def module(self) -> nn.Module: ...

    def apply(self, images: np.ndarray | jax.Array, taps: tuple[str, ...] = ()) -> dict: ...


def load_backbone(name: str, input_size: int = 128) -> Backbone:
    """Imported published weights (``vgg16``, ``vggface``) as a convolutional backbone."""
    config, params, prep = pretrained.load_pretrained(name)
    conv_only = VGGConfig(config.name, config.stages, (), input_size)
    params = {k: v for k, v in params.items() if k.startswith("conv")}
    return Backbone(conv_only, jax.tree_util.tree_map(jnp.asarray, params), prep, name)
