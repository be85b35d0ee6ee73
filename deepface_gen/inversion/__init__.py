"""Feature inversion as composable parts: objectives, priors, transforms, the render loop."""

from deepface_gen.inversion.render import (  # noqa: F401
    ATTRIBUTES,
    DEFAULT_SETTINGS,
    Network,
    Objective,
    RenderSettings,
    alpha_norm,
    anchor,
    attribute_likelihood,
    attribute_logits,
    caricature,
    channel,
    feature_match,
    jitter,
    noisy_start,
    render,
    total_variation,
)
