"""The fitted cGMM as a bundle stores it: one reader of the manifest's ``cgmm`` record.

``deepface-gen fit`` writes the record (its layer, its array file, the calibrated
out-of-domain threshold) and, beside it, the optional ``mixture`` and ``exemplars``
records; generation,
the domain check and the inverter's trainer all read them here.
"""

from __future__ import annotations

from dataclasses import replace

from deepface_gen.cgmm.exemplars import Exemplars
from deepface_gen.cgmm.mixture import Mixture
from deepface_gen.cgmm.model import CGMM
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io import bundles
from deepface_gen.models.classifier import Classifier


def cgmm_record(classifier: Classifier) -> dict | None:
    """The manifest's cGMM record, None where the bundle has none; a record without its
    layer or file is refused as malformed."""
    record = classifier.manifest.get("cgmm")
    if not record:
        return None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("file"), str)
        or not (isinstance(record.get("layer"), str))
    ):
        raise DeepFaceGenError(f"{classifier.path}: the manifest's 'cgmm' entry is malformed")
    return record


def load_cgmm(classifier: Classifier, with_mixture: bool = True) -> CGMM | None:
    """The bundle's fitted cGMM (with its mixture and exemplars where they were fitted at
    the same layer), None where it has none. ``load_classifier`` has verified every
    file's checksum."""
    record = cgmm_record(classifier)
    if record is None:
        return None
    arrays = bundles.load_bundle_file(classifier.path, record["file"])
    fitted = CGMM.from_arrays(record["layer"], arrays)
    mixture = classifier.manifest.get("mixture")
    if with_mixture and isinstance(mixture, dict) and mixture.get("layer") == fitted.layer:
        stored = bundles.load_bundle_file(classifier.path, mixture["file"])
        fitted = replace(fitted, mixture=Mixture.from_arrays(stored))
    exemplars = classifier.manifest.get("exemplars")
    if with_mixture and isinstance(exemplars, dict) and exemplars.get("layer") == fitted.layer:
        stored = bundles.load_bundle_file(classifier.path, exemplars["file"])
        fitted = replace(fitted, exemplars=Exemplars.from_arrays(stored))
    return fitted


def domain_threshold(classifier: Classifier) -> float | None:
    """The out-of-domain threshold calibrated when the cGMM was fitted (None for a
    bundle fitted before thresholds were stored, or with no cGMM)."""
    record = cgmm_record(classifier)
    if record is None or "domain_threshold" not in record:
        return None
    return float(record["domain_threshold"])
