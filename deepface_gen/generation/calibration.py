"""What an edit's strength means: strength 1 moves a portrait as far as a typical portrait
that carries the attribute.

The cGMM's predicted difference between attribute sets is one global direction per
attribute, and attributes differ in how far along it a portrait must move before the
classifier reads the change: a smile needs a long way, blond hair a short one. For each
attribute, portraits without it are edited to add it (and portraits with it to remove
it) at a grid of raw strengths, and the classifier's mean probability is read at each.
The attribute's **gain** is the raw strength at which that probability reaches the
typical (median) probability of real portraits with the attribute (without it, for a
removal), averaged over the two directions. ``edit`` multiplies each attribute's part of
the change by its gain, so strength 1 means "typical" for every attribute.

The curves are measured with the edit render they are for (``change`` through the
learned inverter) and stored in the inverter's record, so a new inverter needs its
own calibration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from deepface_gen.attributes import ATTRIBUTE_INDEX, CELEBA_ATTRIBUTES

RAW_STRENGTHS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
MIN_PORTRAITS = 6  # an attribute with fewer portraits on either side is not calibrated


def crossing(strengths: Sequence[float], probabilities: Sequence[float], goal: float) -> float:
    """The strength where a (rising) probability curve first reaches ``goal``, linearly
    interpolated between grid points; the last strength if it never does."""
    s, p = np.asarray(strengths, float), np.asarray(probabilities, float)
    for i in range(1, len(s)):
        if p[i] >= goal:
            if p[i] == p[i - 1]:
                return float(s[i])
            t = np.clip((goal - p[i - 1]) / (p[i] - p[i - 1]), 0.0, 1.0)
            return float(s[i - 1] + t * (s[i] - s[i - 1]))
    return float(s[-1])


def calibrate(
    generator,
    names: Sequence[str] | None = None,
    pool: int = 512,
    portraits: int = 24,
    render: str = "change",
    seed: int = 0,
) -> dict:
    """Each attribute's probability-against-strength curves (adding and removing it) and
    its gain, for ``generator`` (a FaceGenerator) edited without any gains.

    Returns ``{"render", "strengths", "attributes": {name: {"typical_with",
    "typical_without", "add", "remove", "gain"}}}``; ``gains(record)`` reads it back."""
    # Measuring needs the synthetic renderer; loading a model for a service does not.
    from deepface_gen.data import synth

    raw = dataclasses.replace(generator, edit_gains=None)
    drawn = synth.sample_portraits(jax.random.key(seed), pool, size=generator.size)
    images = synth.to_uint8(drawn.images)
    labels = np.asarray(drawn.attributes)
    probabilities = generator.classifier.probabilities(images)
    result: dict = {"render": render, "strengths": list(RAW_STRENGTHS), "attributes": {}}
    for name in names or generator.known_attributes:
        column = ATTRIBUTE_INDEX[name]
        has = labels[:, column] > 0
        if min(has.sum(), (~has).sum()) < MIN_PORTRAITS:
            continue
        curves = {}
        for direction, rows, value in (("add", ~has, 1.0), ("remove", has, -1.0)):
            chosen = images[np.flatnonzero(rows)[:portraits]]
            edited = raw.edit(chosen, {name: value}, strengths=RAW_STRENGTHS, render=render)
            flat = edited.reshape(-1, *edited.shape[2:])
            p = generator.classifier.probabilities(flat)[:, column].reshape(len(chosen), -1)
            curves[direction] = p.mean(axis=0)
        typical_with = float(np.median(probabilities[has, column]))
        typical_without = float(np.median(probabilities[~has, column]))
        gain_add = crossing(RAW_STRENGTHS, curves["add"], typical_with)
        # A removal's probability falls: its crossing of the typical level, mirrored.
        gain_remove = crossing(RAW_STRENGTHS, 1.0 - curves["remove"], 1.0 - typical_without)
        result["attributes"][name] = {
            "typical_with": typical_with,
            "typical_without": typical_without,
            "add": [float(v) for v in curves["add"]],
            "remove": [float(v) for v in curves["remove"]],
            "gain": max(0.5 * (gain_add + gain_remove), RAW_STRENGTHS[1]),
        }
    return result


def gains(record: dict | None) -> np.ndarray | None:
    """(40,) gains from a stored calibration (1 for attributes it did not calibrate), or
    None when there is none."""
    if not isinstance(record, dict) or not isinstance(record.get("attributes"), dict):
        return None
    out = np.ones(len(CELEBA_ATTRIBUTES), np.float32)
    for name, entry in record["attributes"].items():
        if name in ATTRIBUTE_INDEX and isinstance(entry, dict):
            out[ATTRIBUTE_INDEX[name]] = float(entry.get("gain", 1.0))
    return out
