"""Learning curves of the learned inverter G: realism against training steps and time.

    python experiments/bench_inverter.py --run plain=runs/g_plain --run new=runs/g_new \
        [--judge experiments/models/independent] [--vgg16 PATH.h5] [--seeds 4] \
        [--out experiments/results] [--name inverter_curve] [--merge] \
        [--compare noise2=experiments/results/inverter_noise2.json]

For every kept checkpoint of each run (``train.keep_every``; the weights a run would
ship there, its moving average when it keeps one) and for the inverter a run started
from (``train.init_from``: step 0), two things are measured on the same samples each
time (bench_generate's 32 descriptions x ``--seeds``):

* G's **reconstruction** of real portraits that carry the descriptions (G on their
  own activations: the ceiling of anything ``net`` draws);
* ``net``: faces drawn by the cGMM's targets through G in one pass: faithfulness by
  the independent judge, diversity in its features.

and, from the run's log, the critic's loss over the steps before each point as a
fraction of chance (``critic_at``: whether the adversarial term had a critic with
teeth), and once per run, ``net``'s speed at its architecture (faces a second, batch 64, as
bench_generate times it), since a wider G that draws better faces also draws fewer.

Each in the judge's Fréchet distance and VGG16's FD and KID, read as ratios to the
floor of real portraits that carry the same descriptions. The noise of the
measurement is the spread between two draws (seeds 0 and 1) of the last point of each
run. Writes ``<name>.json`` and ``<name>.png`` (ratios against steps and against
wall-clock seconds). The measuring networks only choose; they never train anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from bench_generate import (
    DESCRIPTIONS,
    add_measure_options,
    measure_faces,
    measurement_setup,
    portraits_like,
    redraw,
    timed_call,
)

from deepface_gen.analysis.drawing import line_chart
from deepface_gen.attributes import parse_description
from deepface_gen.config import Config
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.io.images import make_grid, write_image
from deepface_gen.models.inverter import Inverter, init_generator, noise_keys
from deepface_gen.training.inverter import (
    InverterSettings,
    checkpoint_inverter,
    inverter_config,
    warm_start,
)
from deepface_gen.training.loop import METRICS_FILE, checkpoint_config, checkpoint_steps
from deepface_gen.training.perceptual import CriticRecipe, critic_loss
from deepface_gen.training.settings import resolve

RATIOS = ("frechet_distance", "vgg16_fd", "vgg16_kid")


def logged(workdir: Path) -> list[dict]:
    """The records of a run's training log (``metrics.jsonl``); none where it has no log."""
    path = workdir / METRICS_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def elapsed_at(workdir: Path) -> dict[int, float]:
    """Training seconds at each logged step of a run (``metrics.jsonl``), summed over
    resumed segments (each restarts its clock)."""
    seconds, offset, last = {}, 0.0, 0.0
    for record in logged(workdir):
        if record["elapsed_s"] < last:  # a resumed segment
            offset += last
        last = record["elapsed_s"]
        seconds[record["step"]] = offset + last
    return seconds


def critic_at(workdir: Path, config: dict, window: int = 250) -> dict[int, float]:
    """The critic's training loss as a fraction of chance (a critic that cannot tell G's
    faces from the portraits), averaged over the logged steps in the ``window`` before
    each logged step: below 1, the critic has teeth; at 1, G's adversarial term only adds
    noise. Chance is the recipe's own critic loss with every logit map at zero (one map
    for the pixels and one for each classifier layer it reads)."""
    recipe = CriticRecipe.from_config(resolve(Config(config), InverterSettings))
    undecided = tuple(jnp.zeros(1) for _ in range(1 + len(recipe.feature_layers)))
    chance = float(critic_loss(undecided, (undecided,), recipe.loss))
    losses = {r["step"]: r["discriminator"] for r in logged(workdir) if "discriminator" in r}
    steps = np.array(sorted(losses))
    fractions = {}
    for step in steps:
        recent = steps[(steps > step - window) & (steps <= step)]
        fractions[int(step)] = float(np.mean([losses[s] for s in recent])) / chance
    return fractions


def measure_inverter(
    generator: FaceGenerator,
    inverter: Inverter,
    real: np.ndarray,
    judge,
    realism,
    specs,
    seeds,
    seed: int = 0,
) -> dict:
    """Reconstruction and ``net`` generation through ``inverter``, every measure."""
    layer = generator.cgmm.layer
    acts = generator.classifier.outputs(real, taps=(layer,))[layer]
    recon = redraw(inverter, acts, seed)
    drawn = dataclasses.replace(generator, inverter=inverter)
    faces = np.concatenate(
        [drawn.generate(specs[i : i + 8], n=seeds, seed=seed, render="net")
         for i in range(0, len(specs), 8)]
    )  # fmt: skip
    return {
        "reconstruction": realism(recon),
        "net": measure_faces(faces, judge, realism, specs, seeds),
    }


def net_speed(generator: FaceGenerator, config: dict, batch: int = 64, repeats: int = 3) -> dict:
    """``net``'s faces a second at a run's G architecture (its training ``config``): the
    best of ``repeats`` timed batches after one that compiles. Speed depends on the
    architecture alone, so fresh weights serve, and a run compared from an earlier report
    is timed here on this machine like the rest."""
    arch = inverter_config(resolve(Config(config), InverterSettings), generator.classifier)
    inverter = Inverter(
        arch, init_generator(arch, jax.random.key(0)), generator.inverter.code_scale,
        generator.inverter.code_high, {},
    )  # fmt: skip
    drawn = dataclasses.replace(generator, inverter=inverter)
    drawn.generate("smiling", n=batch, seed=0, render="net")  # compile
    seconds = min(
        timed_call(drawn.generate, "smiling", n=batch, seed=2, render="net") for _ in range(repeats)
    )
    weights = sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(inverter.params))
    return {"widths": list(arch.widths), "weights": weights,
            f"faces_per_second_batched_{batch}": batch / seconds}  # fmt: skip


def with_ratios(point: dict, floor: dict) -> dict:
    """``point`` with ``<measure>_ratio`` = measure / the same-descriptions floor's."""
    for part in ("reconstruction", "net"):
        for key in RATIOS:
            if key in point[part]:
                point[part][f"{key}_ratio"] = point[part][key] / floor[key]
    return point


def charts(report: dict) -> np.ndarray:
    """Ratios to the floor against steps (top) and against seconds (bottom)."""
    tiles = []
    for x_key, x_label in (("step", "training steps (after the run's start)"),
                           ("seconds", "training seconds on this CPU")):  # fmt: skip
        row = []
        for part, key, title in (
            ("reconstruction", "vgg16_fd_ratio", "G's reconstruction: VGG16 FD / floor"),
            ("reconstruction", "vgg16_kid_ratio", "G's reconstruction: VGG16 KID / floor"),
            ("net", "vgg16_fd_ratio", "net: VGG16 FD / floor"),
            ("net", "vgg16_kid_ratio", "net: VGG16 KID / floor"),
            ("net", "frechet_distance_ratio", "net: judge FD / floor"),
        ):
            series = {}
            for name, run in report["runs"].items():
                points = [p for p in run["points"] if key in p[part]]
                series[name] = (np.array([p[x_key] for p in points]),
                                np.array([p[part][key] for p in points]))  # fmt: skip
            row.append(line_chart(series, title, x_label, "ratio to the floor"))
        tiles.append(np.concatenate(row, axis=1))
    return np.concatenate(tiles, axis=0)


def started_from(generator: FaceGenerator, workdir: Path) -> Inverter | None:
    """The G a run in ``workdir`` started from (its ``train.init_from``, as the run
    kept it), found and checked as its trainer found it; None for a run from scratch."""
    config = checkpoint_config(workdir)
    arch = inverter_config(config, generator.classifier)
    return warm_start(config, generator.classifier, arch, workdir)


def earlier_run(path: Path, name: str, floor: dict) -> dict:
    """Run ``name`` as the report at ``path`` measured it, refused unless that report's
    floor is this one's (the same real portraits, so the ratios compare)."""
    earlier = json.loads(path.read_text())
    if name not in earlier.get("runs", {}):
        raise SystemExit(f"--compare: {path} has no run {name!r}")
    if not all(np.isclose(earlier["floor"][k], v, rtol=1e-6) for k, v in floor.items()):
        raise SystemExit(f"--compare: {path} measured other samples (its floor differs)")
    return {**earlier["runs"][name], "measured_in": path.name}


def faces_figure(generator, before: Inverter, after: Inverter, real, specs, seeds, title: str):
    """Rows of one portrait per description (the first 8): the real portrait, G's
    reconstruction of it by ``before`` and by ``after``, and a ``net`` face for the
    description through each (same targets), at 2x zoom."""
    rows = min(8, len(specs))
    picked = real[::seeds][:rows]
    layer = generator.cgmm.layer
    acts = generator.classifier.outputs(picked, taps=(layer,))[layer]
    keys = noise_keys(rows, jax.random.key(0))
    columns = [picked] + [np.asarray(g.render(acts, keys=keys)) for g in (before, after)]
    for g in (before, after):
        drawn = dataclasses.replace(generator, inverter=g)
        columns.append(drawn.generate(specs[:rows], n=1, seed=0, render="net"))
    tiles = [np.round(np.asarray(col[r])).astype(np.uint8) for r in range(rows) for col in columns]
    captions = ["real", "redrawn: start", "redrawn: now", "net: start", "net: now"] * rows
    return make_grid(tiles, columns=5, captions=captions, zoom=2, title=title)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--run", action="append", required=True, help="NAME=WORKDIR")
    parser.add_argument("--name", default="inverter_curve")
    parser.add_argument(
        "--figure",
        default=None,
        metavar="NAME=STEP",
        help="also <name>_faces.png: that run's G at STEP beside the G it started from",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="NAME=REPORT",
        help="also show run NAME as an earlier report (a JSON this bench wrote on the same "
        "samples) measured it: a control that need not be measured again",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the points an earlier report measured (same run and step); measure the rest",
    )
    args = parser.parse_args()
    previous_path = Path(args.out) / f"{args.name}.json"
    previous = (
        json.loads(previous_path.read_text()) if args.merge and previous_path.exists() else {}
    )
    generator, judge, realism = measurement_setup(args)
    specs = [parse_description(d) for d in DESCRIPTIONS]
    real, _, _ = portraits_like(specs, args.seeds, generator.size)
    floor = measure_faces(real, judge, realism, specs, args.seeds)
    report = {"descriptions": len(specs), "seeds": args.seeds, "floor": floor,
              "runs": dict(previous.get("runs", {}))}  # fmt: skip
    measure = lambda inverter, seed=0: measure_inverter(
        generator, inverter, real, judge, realism, specs, args.seeds, seed
    )
    starts: dict[str, dict] = {}  # step 0 of each train.init_from, measured once for all runs
    for item in args.run:
        name, _, workdir = item.partition("=")
        workdir = Path(workdir)
        seconds = elapsed_at(workdir)
        config = checkpoint_config(workdir).to_dict()
        kept = report["runs"].get(name, {})
        done = (
            {p["step"]: p for p in kept.get("points", [])}
            if kept.get("workdir") == str(workdir)
            else {}
        )
        points = []
        init_from = config["train"].get("init_from")
        if init_from:  # step 0: the inverter the run started from
            if 0 not in done:
                if init_from not in starts:
                    point = {"step": 0, "seconds": 0.0, **measure(started_from(generator, workdir))}
                    starts[init_from] = with_ratios(point, floor)
                done[0] = starts[init_from]
            points.append(done[0])
        # Points measured before stay even where their checkpoints are gone (a run
        # carried to another machine keeps only its newest).
        steps = sorted(set(checkpoint_steps(workdir)) | (set(done) - {0}))
        for step in steps:
            if step in done:
                points.append(done[step])
                continue
            began = time.perf_counter()
            try:
                inverter = checkpoint_inverter(workdir, step)
            except DeepFaceGenError as err:  # a run still training replaced its newest
                print(f"{name} step {step}: skipped, {err}")
                continue
            point = {"step": step, "seconds": seconds.get(step, float("nan")),
                     **measure(inverter)}  # fmt: skip
            points.append(with_ratios(point, floor))
            net, recon = point["net"], point["reconstruction"]
            print(
                f"{name} step {step}: recon VGG FD/floor {recon.get('vgg16_fd_ratio', 0):.3f}, "
                f"net VGG FD/floor {net.get('vgg16_fd_ratio', 0):.3f}, judge FD/floor "
                f"{net['frechet_distance_ratio']:.3f}, faithfulness {net['faithfulness']:.3f}, "
                f"diversity {net['diversity_features']:.3f} ({time.perf_counter() - began:.0f} s)"
            )
        critic = critic_at(workdir, config)
        for point in points:
            if point["step"] in critic:
                point["critic_vs_chance"] = critic[point["step"]]
        last = points[-1]["step"] if points else None
        noise = kept.get("noise_between_draws") if last and last in done else None
        if noise is None and last:
            # The noise of a point: the last weights measured on a second draw of targets.
            again = measure(checkpoint_inverter(workdir, last), seed=1)["net"]
            noise = {k: abs(again[k] - points[-1]["net"][k])
                     for k in again if isinstance(again[k], float)}  # fmt: skip
        report["runs"][name] = {"workdir": str(workdir), "config": config, "points": points,
                                "noise_between_draws": noise}  # fmt: skip
    for item in args.compare:
        name, _, path = item.partition("=")
        report["runs"][name] = earlier_run(Path(path), name, floor)
    speeds: dict[str, dict] = {}  # one timing per architecture, however many runs share it
    for name, run in report["runs"].items():  # timed last, with no measuring under way
        model = json.dumps(run["config"]["model"], sort_keys=True)
        if model not in speeds:
            speeds[model] = net_speed(generator, run["config"])
        run["speed"] = speeds[model]
        print(f"{name}: {run['speed']}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=2))
    write_image(out / f"{args.name}.png", charts(report))
    print(f"wrote {out / args.name}.json and .png")
    if args.figure:
        name, _, step = args.figure.partition("=")
        workdir = Path(report["runs"][name]["workdir"])
        start, now = started_from(generator, workdir), checkpoint_inverter(workdir, int(step))
        if start is None:
            raise SystemExit(f"--figure: {name} started from scratch; nothing to compare with")
        title = f"{name} at step {step} beside the G it started from (2x)"
        sheet = faces_figure(generator, start, now, real, specs, args.seeds, title)
        print(f"wrote {write_image(out / f'{args.name}_faces.png', sheet)}")


if __name__ == "__main__":
    main()
