"""Fit a cGMM to a classifier's activations and store it in the classifier's bundle."""

from __future__ import annotations

from deepface_gen.cgmm import domain, statistics
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.io import bundles
from deepface_gen.models.classifier import Classifier
from deepface_gen.models.vgg import canonical_layer


def cgmm_filename(layer: str) -> str:
    """The stem of the cGMM's array file in a bundle (stored with its hash appended)."""
    return f"cgmm_{layer}.msgpack"


def fit_and_store(
    classifier: Classifier, source, layer: str, examples: int, pca_source=None, quiet: bool = True
) -> cgmm_lib.CGMM:
    """One statistics pass, fit the cGMM, and store it in the classifier's bundle."""
    layer = canonical_layer(layer)
    stats = statistics.collect(classifier, source, layer, examples, quiet=quiet)
    fitted = cgmm_lib.fit_cgmm(stats, classifier, pca_source or source, quiet=quiet)
    threshold, _ = domain.calibrate(classifier, fitted, source)
    record = {"layer": layer, "examples": stats.images, "domain_threshold": threshold}
    bundles.add_to_bundle(classifier.path, "cgmm", cgmm_filename(layer), fitted.arrays(), record)
    return fitted
