"""Feature inversion as composable parts, in the spirit of lucid's ``optvis``.

* ``objectives``: per-image losses over network outputs, as pytrees that add and
  scale (``feature_match(...) + 0.5 * attribute_logits(...)``);
* ``priors``: natural-image penalties on pixels (alpha-norm, total variation, anchors);
* ``transforms``: what the network sees each step (jitter);
* ``parameterizations``: pixels, or a coarse-to-fine pyramid;
* ``render``: the optimization loop, jit-compiled once per structure.
"""

from deepface_gen.inversion.objectives import (
    ATTRIBUTES,
    Objective,
    attribute_likelihood,
    attribute_logits,
    caricature,
    channel,
    embedding_match,
    feature_match,
    identity_softmax,
)
from deepface_gen.inversion.render import DEFAULT_SETTINGS, RenderSettings, noisy_start, render

__all__ = [
    "ATTRIBUTES",
    "DEFAULT_SETTINGS",
    "Objective",
    "RenderSettings",
    "attribute_likelihood",
    "attribute_logits",
    "caricature",
    "channel",
    "embedding_match",
    "feature_match",
    "identity_softmax",
    "noisy_start",
    "render",
]
