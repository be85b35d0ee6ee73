"""Evaluators: a classifier's per-attribute accuracy on a labelled split.

How real generated faces look is measured in ``realism.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepface_gen.attributes import CELEBA_ATTRIBUTES
from deepface_gen.data import input_pipeline
from deepface_gen.models.classifier import Classifier


@dataclass(frozen=True)
class AttributeReport:
    """Confusion counts per attribute and the accuracies derived from them."""

    attributes: tuple[str, ...]
    true_pos: np.ndarray
    false_neg: np.ndarray
    true_neg: np.ndarray
    false_pos: np.ndarray
    evaluated: tuple[str, ...]  # attributes the model knows and the data has both classes of

    @property
    def accuracy(self) -> np.ndarray:
        total = self.true_pos + self.false_neg + self.true_neg + self.false_pos
        return (self.true_pos + self.true_neg) / np.maximum(total, 1)

    @property
    def balanced_accuracy(self) -> np.ndarray:
        tpr = self.true_pos / np.maximum(self.true_pos + self.false_neg, 1)
        tnr = self.true_neg / np.maximum(self.true_neg + self.false_pos, 1)
        return (tpr + tnr) / 2

    def _mean(self, values: np.ndarray) -> float:
        index = [self.attributes.index(a) for a in self.evaluated]
        return float(np.mean(values[index])) if index else float("nan")

    @property
    def mean_accuracy(self) -> float:
        return self._mean(self.accuracy)

    @property
    def mean_balanced_accuracy(self) -> float:
        return self._mean(self.balanced_accuracy)

    def to_json(self) -> dict:
        per = {
            a: {
                "accuracy": float(self.accuracy[i]),
                "balanced_accuracy": float(self.balanced_accuracy[i]),
                "positives": int(self.true_pos[i] + self.false_neg[i]),
                "negatives": int(self.true_neg[i] + self.false_pos[i]),
            }  # fmt: skip
            for i, a in enumerate(self.attributes)
            if a in self.evaluated
        }
        return {
            "mean_accuracy": self.mean_accuracy,
            "mean_balanced_accuracy": self.mean_balanced_accuracy,
            "evaluated": list(self.evaluated),
            "per_attribute": per,
        }

    def table(self) -> str:
        """A plain-text table: one row per evaluated attribute, then the means."""
        rows = [f"{'attribute':<20} {'acc':>6} {'bal.acc':>8} {'pos':>6} {'neg':>6}"]
        for i, a in enumerate(self.attributes):
            if a in self.evaluated:
                rows.append(
                    f"{a:<20} {self.accuracy[i]:6.3f} {self.balanced_accuracy[i]:8.3f} "
                    f"{int(self.true_pos[i] + self.false_neg[i]):6d} "
                    f"{int(self.true_neg[i] + self.false_pos[i]):6d}"
                )
        rows.append(f"{'mean':<20} {self.mean_accuracy:6.3f} {self.mean_balanced_accuracy:8.3f}")
        return "\n".join(rows)


def confusion(
    probabilities: np.ndarray, labels: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, ...]:
    """(TP, FN, TN, FP) per attribute from probabilities, ±1 labels and a known-label mask."""
    pred, truth = probabilities > 0.5, labels > 0
    tp = (pred & truth & mask).sum(0)
    fn = (~pred & truth & mask).sum(0)
    tn = (~pred & ~truth & mask).sum(0)
    fp = (pred & ~truth & mask).sum(0)
    return tp, fn, tn, fp


def evaluate(
    classifier: Classifier, source, num_examples: int | None = None, quiet: bool = True
) -> AttributeReport:
    """Evaluate on ``source`` (all of a finite source, or ``num_examples`` of an endless one)."""
    counts = [np.zeros(len(CELEBA_ATTRIBUTES), np.int64) for _ in range(4)]
    for batch in input_pipeline.epoch(source, num_examples, "evaluating", quiet):
        probs = classifier.probabilities(batch.images)
        for acc, part in zip(
            counts, confusion(probs, batch.attributes, batch.label_mask), strict=True
        ):
            acc += part
    tp, fn, tn, fp = counts
    both = (tp + fn > 0) & (tn + fp > 0)
    evaluated = tuple(
        a for i, a in enumerate(CELEBA_ATTRIBUTES) if both[i] and a in classifier.known_attributes
    )
    return AttributeReport(CELEBA_ATTRIBUTES, tp, fn, tn, fp, evaluated)
