"""Fit a cGMM to a classifier's activations and store it in the classifier's bundle.

Run over several processes (``deepface-gen fit --coordinator ...``), each reads its
rows of every batch, the sums are added across processes (``deepface_gen/hosts.py``),
and every process fits the same model; the first stores it."""

from __future__ import annotations

import dataclasses

import numpy as np

from deepface_gen import hosts
from deepface_gen.cgmm import domain, fitting, statistics
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.cgmm.exemplars import Exemplars
from deepface_gen.io import bundles
from deepface_gen.models.classifier import Classifier
from deepface_gen.models.vgg import canonical_layer


def cgmm_filename(layer: str) -> str:
    """The stem of the cGMM's array file in a bundle (stored with its hash appended)."""
    return f"cgmm_{layer}.safetensors"


def mixture_filename(layer: str) -> str:
    """The stem of the mixture's array file in a bundle (stored with its hash appended)."""
    return f"mixture_{layer}.safetensors"


def exemplars_filename(layer: str) -> str:
    """The stem of the exemplars' array file in a bundle (stored with its hash appended)."""
    return f"exemplars_{layer}.safetensors"


def fit_and_store(
    classifier: Classifier,
    source,
    layer: str,
    examples: int,
    pca_source=None,
    quiet: bool = True,
    mixture_components: int = 0,
    mixture_examples: int = 4096,
    pca_examples: int = 1024,
    exemplars: int = 0,
    components: int = 64,
) -> cgmm_lib.CGMM:
    """One statistics pass, fit the cGMM, and store it in the classifier's bundle (and,
    with ``mixture_components``, a mixture over its coordinates beside it; with
    ``exemplars``, that many training portraits' coordinates). ``components``: the
    residual principal components the targets are drawn in."""
    layer = canonical_layer(layer)
    stats = statistics.collect(classifier, source, layer, examples, quiet=quiet)
    summary, images = fitting.summarize(stats), stats.images
    del stats  # the float64 sums (1.5 GB at VGG16's conv3_1, 224 px) before the PCA passes
    fitted = fitting.with_residual_basis(
        summary, classifier, pca_source or source, pca_examples, components, quiet
    )
    threshold, _ = domain.calibrate(classifier, fitted, source)  # alike in every process
    record = {"layer": layer, "examples": images, "domain_threshold": threshold}
    if hosts.is_main():  # several processes fitted the same cGMM; the first writes it
        arrays = fitted.arrays()
        bundles.add_to_bundle(classifier.path, "cgmm", cgmm_filename(layer), arrays, record)
    if mixture_components or exemplars:
        fitted = fit_mixture_and_store(
            classifier, source, fitted, mixture_components, mixture_examples, quiet, exemplars
        )
    return fitted


def fit_mixture_and_store(
    classifier: Classifier,
    source,
    fitted: cgmm_lib.CGMM,
    components: int,
    examples: int = 4096,
    quiet: bool = True,
    exemplars: int = 0,
    coordinates: np.ndarray | None = None,
) -> cgmm_lib.CGMM:
    """Fit K Gaussians (none where ``components`` is 0) over the cGMM's [attributes,
    residual coordinates] of ``examples`` images (or the rows ``coordinates`` a caller
    already read from them), keep up to ``exemplars`` of those rows as the exemplars,
    and store both in the bundle; returns the cGMM with them."""
    y = coordinates
    if y is None:
        y = fitting.coordinates(classifier, source, fitted, examples, quiet)
    layer = fitted.layer
    if components:
        mixture = fitting.fit_mixture(y, components)
        record = {"layer": layer, "components": components, "examples": len(y)}
        if hosts.is_main():
            bundles.add_to_bundle(
                classifier.path, "mixture", mixture_filename(layer), mixture.arrays(), record
            )
        fitted = dataclasses.replace(fitted, mixture=mixture)
    if exemplars:
        kept = Exemplars.from_coordinates(y, exemplars)
        if hosts.is_main():
            bundles.add_to_bundle(
                classifier.path, "exemplars", exemplars_filename(layer), kept.arrays(),
                {"layer": layer, "examples": len(kept)},
            )  # fmt: skip
        fitted = dataclasses.replace(fitted, exemplars=kept)
    return fitted
