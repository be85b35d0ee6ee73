"""Which edit direction: the cGMM's global one, local ones, or the truth (issue #23, item 3).

    python experiments/bench_edit_directions.py [--bank 2048] [--n 16] [--out experiments/results]

Every direction is drawn the same way, by the default ``change`` render (G's drawing
of the change added to the portrait's own pixels), on the portraits and attributes of
``bench_edit.py``, at strengths 1, 1.5, 2 and 2.75:

* ``global``: the cGMM ridge's predicted difference between the portrait's attributes
  with and without the one edited;
* ``focused``: what ``edit`` ships, the global change kept where each attribute's
  change is strongest (``edit.focused_ridge`` at the default focus);
* ``dfi-K``: Deep Feature Interpolation (Upchurch et al. 2017), the difference between
  the mean activations of the portrait's K nearest neighbours (in the same layer) with
  the attribute and of its K nearest without, among ``--bank`` labelled portraits;
* ``transport``: the global direction plus an unpaired map of the portrait's own residual
  (its residual coordinates in the cGMM's PCA basis moved by the optimal transport map
  between the Gaussians fitted to the bank's coordinates without and with the attribute),
  so the change depends on the portrait;
* ``quantile``: each unit's activation moved to the same quantile of the bank's
  activations on the wanted side (a per-unit monotone transport), again per portrait;
* ``truth``: the activations of the renderer's true counterfactual itself, the ceiling
  any direction can reach through this render;
* ``paired-mean`` and ``paired-16``: two oracles only a renderer with counterfactuals
  can draw, from ``--pool`` other portraits with their own true changes (drawn apart
  from the benchmark's): the mean true change over all of them (the best one global
  direction can be) and over the 16 nearest the portrait in the same layer (a local
  direction learned from pairs). They say how much of a portrait's true change any
  direction shared between portraits can carry.

Per direction: the independent judge's verdict, the share of edits nearer the true
edit than the input is, and the cosine between the direction and the true activation
change. Writes ``edit_directions.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from bench_edit import ATTRIBUTES, counterfactuals, rms

from deepface_gen.attributes import ATTRIBUTE_INDEX, CELEBA_ATTRIBUTES
from deepface_gen.cgmm.fitting import residual_coordinates
from deepface_gen.data import synth
from deepface_gen.generation import defaults, renderers
from deepface_gen.generation.edit import edit_direction, focused_ridge
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.models.classifier import load_classifier

STRENGTHS = (1.0, 1.5, 2.0, 2.75)  # 2.75: the default with the focused change
NEIGHBOURS = (16, 64)
PAIRED_NEIGHBOURS = 16
POOL_SEED = 77000  # the oracles' portraits, apart from the benchmark's and the bank's
QUANTILES = np.linspace(0.0, 1.0, 65)


def activations(generator: FaceGenerator, images: np.ndarray) -> np.ndarray:
    """(N, D) flattened activations at the cGMM's layer."""
    layer = generator.cgmm.layer
    seen = generator.classifier.outputs(jnp.asarray(images, jnp.float32), taps=(layer,))
    return np.asarray(seen[layer]).reshape(len(images), -1)


def labelled_bank(generator: FaceGenerator, count: int, seed: int) -> tuple[np.ndarray, ...]:
    """(activations (count, D), their squared norms, ground-truth attributes (count, 40))
    of synthetic portraits drawn apart from the benchmark's."""
    acts, labels = [], []
    for b in range(count // 256):
        portraits = synth.sample_portraits(jax.random.key(seed + b), 256, size=generator.size)
        acts.append(activations(generator, synth.to_uint8(portraits.images)))
        labels.append(np.asarray(portraits.attributes))
    bank = np.concatenate(acts)
    return bank, np.sum(bank**2, axis=1), np.concatenate(labels)


def dfi_directions(own, had, bank, bank_norms, labels, index: int, k: int) -> np.ndarray:
    """(N, D) mean of the K nearest bank portraits on the wanted side minus the mean of
    the K nearest on the portrait's own side."""
    distances = bank_norms[None] - 2.0 * own @ bank.T
    present = labels[:, index] > 0
    near_with = np.argsort(np.where(present[None], distances, np.inf), axis=1)[:, :k]
    near_without = np.argsort(np.where(~present[None], distances, np.inf), axis=1)[:, :k]
    toward = bank[near_with].mean(axis=1) - bank[near_without].mean(axis=1)
    return np.where(had[:, None], -toward, toward)


def true_changes(generator: FaceGenerator, portraits, name: str) -> tuple[np.ndarray, ...]:
    """(own activations (N, D), the activation change (N, D) from each portrait to its
    true counterfactual with attribute ``name`` flipped, whether each had it (N,), the
    counterfactuals (uint8))."""
    images = synth.to_uint8(portraits.images)
    had = np.asarray(portraits.attributes[:, ATTRIBUTE_INDEX[name]]) > 0
    truth = counterfactuals(portraits, name, generator.size)
    own = activations(generator, images)
    return own, activations(generator, truth) - own, had, truth


def paired_directions(own, had, pool_own, pool_change, pool_had) -> dict[str, np.ndarray]:
    """(N, D) oracles from other portraits' true changes (each turned to point toward
    the attribute): their mean over the whole pool, and over the ``PAIRED_NEIGHBOURS``
    nearest the portrait in the layer; pointed back where the portrait has it."""
    toward = np.where(pool_had[:, None], -pool_change, pool_change)
    distances = np.sum(pool_own**2, axis=1)[None] - 2.0 * own @ pool_own.T
    nearest = np.argsort(distances, axis=1)[:, :PAIRED_NEIGHBOURS]
    sign = np.where(had, -1.0, 1.0)[:, None]
    return {"paired-mean": sign * toward.mean(axis=0, keepdims=True),
            f"paired-{PAIRED_NEIGHBOURS}": sign * toward[nearest].mean(axis=1)}  # fmt: skip


def readings(generator: FaceGenerator, images: np.ndarray) -> np.ndarray:
    """(N, 40) the classifier's reading of the portraits' attributes, in [-1, 1]."""
    return 2.0 * np.asarray(generator.classifier.outputs(images)["probabilities"]) - 1.0


def global_directions(
    generator: FaceGenerator, current, had, index: int, focus: float = 0.0, gains=None
) -> np.ndarray:
    """(N, D) the cGMM's predicted change, as ``edit`` computes it, from the portraits'
    ``readings``, focused by ``focus`` (``edit.focused_ridge``; 0: global) and times the
    calibrated ``gains`` (2, 40) where given (None: raw)."""
    wanted = current.copy()
    wanted[:, index] = np.where(had, -1.0, 1.0)
    ridge = focused_ridge(generator.conditional_arrays[0], tuple(generator.cgmm.shape), focus)
    gains = None if gains is None else jnp.asarray(gains)
    return np.asarray(edit_direction(current, wanted, ridge, gains))


def _matrix_power(s: np.ndarray, power: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(s)
    return (vectors * np.maximum(values, 1e-8) ** power) @ vectors.T


def transport_steps(generator, own, current, had, coords, labels, index) -> np.ndarray:
    """(N, D) the portraits' residuals' moves under the Gaussian optimal transport map
    (without -> with the attribute, or back) fitted to bank coordinates: added to the
    global direction, the ``transport`` direction."""
    cgmm = generator.cgmm

    def gaussian(rows):  # shrunk toward the diagonal: ~200 portraits for 64 dims
        cov = np.cov(coords[rows].T)
        return coords[rows].mean(0), 0.9 * cov + 0.1 * np.diag(np.diag(cov))

    mean_with, cov_with = gaussian(labels[:, index] > 0)
    mean_without, cov_without = gaussian(labels[:, index] < 0)
    root, inverse_root = _matrix_power(cov_without, 0.5), _matrix_power(cov_without, -0.5)
    forward = inverse_root @ _matrix_power(root @ cov_with @ root, 0.5) @ inverse_root
    own_coords = residual_coordinates(cgmm, own, current)
    back = np.linalg.inv(forward)
    moved = np.where(had[:, None], mean_without + (own_coords - mean_with) @ back.T,
                     mean_with + (own_coords - mean_without) @ forward.T)  # fmt: skip
    return ((moved - own_coords) * cgmm.component_std) @ cgmm.components


def _quantile_map(x: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per column, x's mid-rank among ``source`` quantiles read off ``target``'s."""
    below = np.sum(source[None] < x[:, None], axis=1)
    at_or_below = np.sum(source[None] <= x[:, None], axis=1)
    rank = (below + at_or_below) / 2.0 / (len(source) - 1)
    position = rank * (len(target) - 1)
    low = np.clip(np.floor(position).astype(int), 0, len(target) - 2)
    frac = position - low
    columns = np.arange(x.shape[1])[None]
    return (1 - frac) * target[low, columns] + frac * target[low + 1, columns]


def quantile_directions(own, had, bank, labels, index) -> np.ndarray:
    """(N, D) each unit moved to its quantile among the bank's portraits on the wanted side."""
    with_it = np.quantile(bank[labels[:, index] > 0], QUANTILES, axis=0)
    without = np.quantile(bank[labels[:, index] < 0], QUANTILES, axis=0)
    moved = np.where(had[:, None], _quantile_map(own, with_it, without),
                     _quantile_map(own, without, with_it))  # fmt: skip
    return moved - own


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="starter")
    parser.add_argument("--judge", default="experiments/models/independent")
    parser.add_argument("--bank", type=int, default=2048, help="labelled portraits for DFI")
    parser.add_argument("--n", type=int, default=16, help="portraits per attribute")
    parser.add_argument(
        "--pool",
        type=int,
        default=256,
        help="portraits with true changes, per attribute, for the oracles",
    )
    parser.add_argument("--seed", type=int, default=5150, help="bench_edit.py's portraits")
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    generator = FaceGenerator.load(args.model)
    judge = load_classifier(args.judge)
    inverter, shape = generator.inverter, generator.cgmm.shape
    bank, bank_norms, labels = labelled_bank(generator, args.bank, seed=99000)
    bank_coords = residual_coordinates(generator.cgmm, bank, labels)
    rows: dict[str, list[dict]] = {}
    for i, name in enumerate(ATTRIBUTES):
        portraits = synth.sample_portraits(jax.random.key(args.seed + i), args.n, generator.size)
        images = synth.to_uint8(portraits.images)
        index = ATTRIBUTE_INDEX[name]
        own, true_change, had, truth = true_changes(generator, portraits, name)
        pool = synth.sample_portraits(jax.random.key(POOL_SEED + i), args.pool, generator.size)
        current = readings(generator, images)
        shipped = global_directions(generator, current, had, index)
        directions = {"global": shipped,
                      "focused": global_directions(generator, current, had, index,
                                                   defaults.EDIT_FOCUS),
                      "transport": shipped + transport_steps(generator, own, current, had,
                                                             bank_coords, labels, index),
                      "quantile": quantile_directions(own, had, bank, labels, index),
                      "truth": true_change}  # fmt: skip
        directions.update(paired_directions(own, had, *true_changes(generator, pool, name)[:3]))
        for k in NEIGHBOURS:
            directions[f"dfi-{k}"] = dfi_directions(own, had, bank, bank_norms, labels, index, k)
        before = inverter.render(jnp.asarray(own.reshape(len(own), *shape)))
        pixels = jnp.asarray(images, jnp.float32)
        for label, direction in directions.items():
            norms = np.linalg.norm(direction, axis=1) * np.linalg.norm(true_change, axis=1)
            cosine = np.sum(direction * true_change, axis=1) / np.maximum(norms, 1e-9)
            for strength in STRENGTHS:
                target = np.maximum(own + strength * direction, 0.0).reshape(len(own), *shape)
                after = inverter.render(jnp.asarray(target))
                moved = renderers.paste_drawn_change(pixels, before, after)
                edited = np.round(np.asarray(moved)).astype(np.uint8)
                seen = judge.outputs(edited)["probabilities"][:, CELEBA_ATTRIBUTES.index(name)]
                rows.setdefault(f"{label}@{strength:g}", []).append({
                    "judge_sees_requested_edit": float(np.mean((seen > 0.5) == ~had)),
                    "nearer_truth_than_input": float(
                        np.mean(rms(edited, truth) < rms(images, truth))),
                    "cosine_to_true_change": float(np.mean(cosine[norms > 0])),
                })  # fmt: skip
        print(f"{name}: measured {len(directions)} directions", flush=True)
    means = {label: {key: float(np.mean([r[key] for r in per])) for key in per[0]}
             for label, per in rows.items()}  # fmt: skip
    for label, mean in means.items():
        print(label, json.dumps(mean))
    out = Path(args.out) / "edit_directions.json"
    payload = {"directions": means, "n": args.n, "bank": args.bank, "pool": args.pool,
               "attributes": list(ATTRIBUTES), "render": "change"}  # fmt: skip
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
