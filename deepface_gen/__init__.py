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
    "__version__",
    "as_spec",
    "parse_description",
]
