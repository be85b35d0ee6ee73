"""What an edit's strength means: strength 1 moves a portrait until the classifier reads
the change at a common level, for every attribute.

The cGMM's predicted difference between attribute sets is one global direction per
attribute, and attributes differ in how far along it a portrait must move before the
classifier reads the change: a smile needs a long way, blond hair a short one. For each
attribute, portraits without it are edited to add it (and portraits with it to remove
it) at a grid of raw strengths, and the classifier's mean probability is read at each.
Adding gets the **gain** at which that probability reaches the goal: the typical
(median) probability of real portraits with the attribute, or a lower ``level`` where
one is given; removing gets its own gain, where the probability falls as far (to the
typical probability of portraits without it, or 1 - ``level``). ``edit`` multiplies
each attribute's part of the change by the gain of its direction, so strength 1 means
the same for every attribute. The typical level asks for strengths that lose the person
(the classifier is nearly certain of real portraits); the starter ships ``LEVEL``,
chosen on portraits apart from the benchmark's (experiments/bench_edit_levels.py).

The curves are measured with the ``change`` render through the learned inverter and
stored in the inverter's record, so a new inverter needs its own calibration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from deepface_gen.attributes import ATTRIBUTE_INDEX, CELEBA_ATTRIBUTES
from deepface_gen.generation import defaults

RAW_STRENGTHS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
MIN_PORTRAITS = 6  # an attribute with fewer portraits on either side is not calibrated
LEVEL = defaults.EDIT_CALIBRATION_LEVEL  # strength 1's probability (the typical, if lower)


def parse_level(text: str) -> float | None:
    """A calibration level from text: a probability strictly between 0 and 1, or
    ``typical`` (None: the typical probability); ValueError otherwise."""
    if text == "typical":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise ValueError(f"must be a probability in (0, 1) or 'typical', not {text!r}")
    return value


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


def labelled_portraits(
    data: str, size: int, count: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` portraits to calibrate on: uint8 images (N, size, size, 3), their labels
    (N, 40) in ±1 and which labels are known, from the synthetic renderer (the starter's
    own portraits) or any data source's validation split (``input_pipeline``'s specs:
    ``celeba:PATH``, ``tfds``, ...), so a model is calibrated on the portraits it was
    trained on."""
    # Reading data is for measuring; loading a model for a service does not need it.
    if data == "synthetic":
        from deepface_gen.data import synth

        drawn = synth.sample_portraits(jax.random.key(seed), count, size=size)
        labels = np.asarray(drawn.attributes)
        return synth.to_uint8(drawn.images), labels, np.ones(labels.shape, bool)
    from deepface_gen.data.input_pipeline import make_source

    batch = make_source(data, "validation", size, count, seed).batch(0)
    return np.asarray(batch.images), np.asarray(batch.attributes), np.asarray(batch.label_mask)


def calibrate(
    generator,
    names: Sequence[str] | None = None,
    pool: int = 512,
    portraits: int = 24,
    render: str = "change",
    seed: int = 0,
    level: float | None = LEVEL,
    data: str = "synthetic",
) -> dict:
    """Each attribute's probability-against-strength curves (adding and removing it) and
    its gains, for ``generator`` (a FaceGenerator) edited without any gains, to reach
    ``level`` (None: the typical probability), on ``pool`` portraits of ``data``
    (``labelled_portraits``).

    Returns ``{"render", "strengths", "level", "data", "attributes": {name:
    {"typical_with", "typical_without", "add", "remove", "gain_add", "gain_remove",
    "gain"}}}`` (``gain``: the two directions' mean); ``gains(record)`` reads it back."""
    raw = dataclasses.replace(generator, edit_gains=None)
    images, labels, known = labelled_portraits(data, generator.size, pool, seed)
    probabilities = generator.classifier.probabilities(images)
    result: dict = {"render": render, "strengths": list(RAW_STRENGTHS), "level": level,
                    "data": data, "attributes": {}}  # fmt: skip
    for name in names or generator.known_attributes:
        column = ATTRIBUTE_INDEX[name]
        has = known[:, column] & (labels[:, column] > 0)
        lacks = known[:, column] & (labels[:, column] < 0)
        if min(has.sum(), lacks.sum()) < MIN_PORTRAITS:
            continue
        curves = {}
        for direction, rows, value in (("add", lacks, 1.0), ("remove", has, -1.0)):
            chosen = images[np.flatnonzero(rows)[:portraits]]
            edited = raw.edit(chosen, {name: value}, strengths=RAW_STRENGTHS, render=render)
            flat = edited.reshape(-1, *edited.shape[2:])
            p = generator.classifier.probabilities(flat)[:, column].reshape(len(chosen), -1)
            curves[direction] = p.mean(axis=0)
        typical_with = float(np.median(probabilities[has, column]))
        typical_without = float(np.median(probabilities[lacks, column]))
        gain_add, gain_remove = direction_gains(curves, typical_with, typical_without, level)
        result["attributes"][name] = {
            "typical_with": typical_with,
            "typical_without": typical_without,
            "add": [float(v) for v in curves["add"]],
            "remove": [float(v) for v in curves["remove"]],
            "gain_add": gain_add,
            "gain_remove": gain_remove,
            "gain": 0.5 * (gain_add + gain_remove),
        }
    return result


def direction_gains(
    curves: dict, typical_with: float, typical_without: float, level: float | None
) -> tuple[float, float]:
    """(adding, removing) gains: the raw strengths (of ``RAW_STRENGTHS``) where the mean
    probability ``curves["add"]`` rises to ``level`` and ``curves["remove"]`` falls to
    1 - ``level``, or to the typical probability with (without) the attribute where
    that is nearer, or where ``level`` is None; never below the grid's first step."""
    goal_add, goal_remove = typical_with, 1.0 - typical_without
    if level is not None:
        goal_add, goal_remove = min(level, goal_add), min(level, goal_remove)
    low = RAW_STRENGTHS[1]  # a gain of 0 would make the edit do nothing
    add = max(crossing(RAW_STRENGTHS, curves["add"], goal_add), low)
    # A removal's probability falls: its crossing of the goal, mirrored.
    remove = max(crossing(RAW_STRENGTHS, 1.0 - np.asarray(curves["remove"]), goal_remove), low)
    return add, remove


def gains(record: dict | None) -> np.ndarray | None:
    """(2, 40) gains from a stored calibration, adding (row 0) and removing (row 1) each
    attribute (1 for attributes it did not calibrate; a calibration stored with one gain
    per attribute uses it both ways), or None when there is none."""
    if not isinstance(record, dict) or not isinstance(record.get("attributes"), dict):
        return None
    out = np.ones((2, len(CELEBA_ATTRIBUTES)), np.float32)
    for name, entry in record["attributes"].items():
        if name in ATTRIBUTE_INDEX and isinstance(entry, dict):
            both = float(entry.get("gain", 1.0))
            column = ATTRIBUTE_INDEX[name]
            out[0, column] = float(entry.get("gain_add", both))
            out[1, column] = float(entry.get("gain_remove", both))
    return out
