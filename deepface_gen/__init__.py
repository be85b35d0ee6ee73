"""deepface-gen: draw faces from sparse attribute descriptions by steering a CNN.

Data flows one way: data -> backbone -> statistics -> cGMM -> targets ->
inversion -> image. Modules are named after those steps; see README.md.
"""

__version__ = "0.1.0"

from deepface_gen.attributes import (  # noqa: E402
    CELEBA_ATTRIBUTES,
    AttributeSpec,
    as_spec,
    parse_description,
)
from deepface_gen.errors import DeepFaceGenError  # noqa: E402

__all__ = [
    "CELEBA_ATTRIBUTES",
    "AttributeSpec",
    "DeepFaceGenError",
    "FaceGenerator",
    "__version__",
    "as_spec",
    "load_classifier",
    "load_identity_model",
    "parse_description",
]

_LAZY = {
    "FaceGenerator": ("deepface_gen.generation.generator", "FaceGenerator"),
    "load_classifier": ("deepface_gen.models.classifier", "load_classifier"),
    "load_identity_model": ("deepface_gen.models.identity", "load_identity_model"),
}


def __getattr__(name: str):
    """Import the heavy parts (JAX models) only when first used."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'deepface_gen' has no attribute {name!r}")
