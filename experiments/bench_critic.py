"""How well a run's critic tells real portraits from G's redraws of them, step by step.

    python experiments/bench_critic.py --run widecritic=runs/g_wide_critic \
        --run shipped=experiments/runs/g_anneal [--portraits 256] [--name critic_separation]

The training log's critic loss (``bench_inverter.critic_at``) says whether the critic
is winning its game; this asks the critic itself. At every kept checkpoint of each run,
G as it trains there (not its moving average: the G the critic plays against) redraws
the same held-out real portraits from their activations, and the checkpoint's critic
scores both. For each of its logit maps (the pixels', then one per classifier layer it
reads): the mean and spread of its logits on each, and how often a real portrait's
patch outscores a redrawn one, and a real image a redrawn image (its patches averaged):
the area under the ROC curve, 0.5 for a critic that cannot tell them apart, 1 for one
that always can. Writes ``<name>.json``. Nothing here trains anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from bench_generate import real_portraits
from sklearn.metrics import roc_auc_score

from deepface_gen.models.inverter import Generator, noise_keys
from deepface_gen.training.inverter import CheckpointedRun, checkpoint_run
from deepface_gen.training.loop import checkpoint_steps
from deepface_gen.training.perceptual import CriticRecipe, feature_function, make_score

HELD_OUT_SEED = 777  # apart from the training stream and bench_generate's pools


def ranked_above(real: np.ndarray, fake: np.ndarray) -> float:
    """The chance that a score drawn from ``real`` exceeds one drawn from ``fake`` (ties
    count half): the area under the ROC curve of telling them apart by the score."""
    labels = np.r_[np.ones(len(real)), np.zeros(len(fake))]
    return float(roc_auc_score(labels, np.concatenate([real, fake])))


def separation(on_real: np.ndarray, on_fake: np.ndarray) -> dict:
    """One logit map's verdicts (N, h, w) on real portraits and on their redraws."""
    real, fake = np.asarray(on_real, np.float64), np.asarray(on_fake, np.float64)
    flat_real, flat_fake = real.reshape(len(real), -1), fake.reshape(len(fake), -1)
    return {
        "real_mean": float(real.mean()), "real_spread": float(real.std()),
        "redrawn_mean": float(fake.mean()), "redrawn_spread": float(fake.std()),
        "patch_auc": ranked_above(flat_real.ravel(), flat_fake.ravel()),
        "image_auc": ranked_above(flat_real.mean(1), flat_fake.mean(1)),
    }  # fmt: skip


def critic_verdicts(run: CheckpointedRun, portraits: np.ndarray) -> dict:
    """``separation`` for each of the critic's logit maps at one checkpoint of a run
    (``checkpoint_run``), on ``portraits`` (N, S, S, 3) 0..255."""
    recipe = CriticRecipe.from_config(run.config)
    taps = tuple(dict.fromkeys((run.arch.layer, *recipe.feature_layers)))
    features = feature_function(run.classifier, taps)
    score = make_score(recipe, features)
    net = run.classifier.params
    real = jnp.asarray(portraits, jnp.float32)
    real_features = features(net, real)
    codes = real_features[run.arch.layer] / jnp.asarray(run.code_scale)
    # G as the critic met it in training: the raw weights, its sigmoid's 0..255 pixels.
    redrawn = Generator(run.arch).apply(
        {"params": run.state.generator.params}, codes, noise_keys(len(real), jax.random.key(1))
    )
    critic = run.state.discriminator.params
    on_real = score(critic, net, real, real_features, jax.random.key(2))
    on_fake = score(critic, net, redrawn, features(net, redrawn), jax.random.key(3))
    names = ("pixels", *recipe.feature_layers)
    return {name: separation(r, f) for name, r, f in zip(names, on_real, on_fake, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", action="append", required=True, help="NAME=WORKDIR")
    parser.add_argument("--portraits", type=int, default=256)
    parser.add_argument("--name", default="critic_separation")
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    report: dict = {"portraits": args.portraits, "runs": {}}
    images = None
    for spec in args.run:
        name, workdir = spec.split("=", 1)
        points = []
        for step in checkpoint_steps(workdir):
            run = checkpoint_run(workdir, step)
            if images is None:  # the same portraits for every run and step
                images = real_portraits(HELD_OUT_SEED, args.portraits, run.arch.size)[0]
            maps = critic_verdicts(run, images)
            points.append({"step": step, "maps": maps})
            aucs = ", ".join(f"{m} {v['patch_auc']:.3f}" for m, v in maps.items())
            print(f"{name} step {step}: patch AUC {aucs}", flush=True)
        report["runs"][name] = {"workdir": workdir, "points": points}
    out = Path(args.out) / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
