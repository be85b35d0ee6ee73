"""The real path rehearsed at size: VGG16 weights and a CelebA-shaped folder, through the
same commands the README gives users ("Training on CelebA").

    python experiments/rehearse_celeba.py --images 20000 --size 128 --steps 300 \
        --out runs/rehearsal [--weights PATH.h5] [--data DIR] \
        [--results experiments/results/rehearsal.json]

Stages, each a ``deepface-gen`` command in its own process (``weights import``,
``train --config configs/celeba_vgg16.py``, ``evaluate``, ``fit --layer conv3_1``,
``train-inverter --config configs/inverter_celeba.py --attach``, ``generate``, ``edit``,
``invert``), timed, with the process's peak memory (its maximum resident set, from
``wait4``), and the quality numbers: balanced accuracy on the test split, training
and inverter losses, and the faithfulness of generated faces by the independent judge
beside the starter's on the same descriptions and seeds. Without ``--data`` the folder
is written first (``synth --celeba-layout``: 178 x 218 JPEGs and CelebA's four files;
its time is recorded apart from the user's path, which starts with a folder).

``--size 128`` with a few hundred steps fits this project's 2-core CPU; ``--size 224``
with the configs' own step counts is the accelerator setting. A short 224 px run
(``--images 2000 --steps 2 --fit-examples 96 --pca-examples 128 --stages weights,train,fit``)
measures what the full-size ``fit`` needs in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_VGG16 = ROOT.parent / "shared" / "weights" / "vgg16_imagenet_notop.h5"
STAGES = ("weights", "train", "evaluate", "fit", "inverter", "generate", "edit", "invert", "judge")
HEADLINE = "youth, black hair, male"


def run_stage(name: str, argv: list[str], env: dict, logs: Path) -> dict:
    """Run one command; (seconds, peak RSS of its process in MB, exit status). Its output
    goes to ``logs/NAME.log``; a failure stops the rehearsal with that log's tail."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    print(f"[{name}] {shlex.join(argv)}", flush=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    record = {
        "command": shlex.join(argv),
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # kilobytes on Linux
        "exit_status": process.returncode,
    }
    print(f"[{name}] {seconds:.0f} s, peak {record['peak_rss_mb']} MB", flush=True)
    if process.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(f"stage {name} failed ({process.returncode}):\n" + "\n".join(tail))
    return record


def sheet_of_drawings(out: Path, sample: Path, destination: Path) -> None:
    """One picture of what the drawing stages wrote: the headline faces, then the test
    portrait, its edit (+smiling) and its inversion at conv3_1."""
    from deepface_gen.io.images import make_grid, read_image, resize, write_image

    faces = read_image(out / "generate.png")
    edited, inverted = read_image(out / "edit.png"), read_image(out / "invert.png")
    side = edited.shape[0]
    portrait = resize(read_image(sample), (side, side))
    row = make_grid([portrait, edited, inverted], columns=3,
                    captions=["portrait", "+smiling", "inverted"])  # fmt: skip
    row = resize(row, (round(row.shape[0] * faces.shape[1] / row.shape[1]), faces.shape[1]))
    write_image(destination, np.concatenate([faces, row]))


def last_metrics(workdir: Path) -> dict:
    """The last logged line of a trainer's ``metrics.jsonl``."""
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1]) if lines else {}


def faithfulness_against_starter(model: Path, judge_path: Path, seeds: int) -> dict:
    """The judge's faithfulness for the rehearsal model's faces and the starter's, on
    bench_generate's descriptions and seeds (each model's default render), and the
    judge's own balanced accuracy on portraits framed as the rehearsal's are."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from bench_generate import DESCRIPTIONS, faithfulness

    from deepface_gen.attributes import parse_description
    from deepface_gen.generation import defaults
    from deepface_gen.generation.generator import FaceGenerator
    from deepface_gen.models.classifier import load_classifier

    judge = load_classifier(judge_path)
    generators = {"rehearsal": FaceGenerator.load(model), "starter": FaceGenerator.load("starter")}
    known = set.intersection(*(set(g.known_attributes) for g in generators.values()))
    specs = [parse_description(d) for d in DESCRIPTIONS]
    specs = [s for s in specs if set(s.values) <= known]  # what both models have learned
    report = {"descriptions": len(specs), "of": len(DESCRIPTIONS), "seeds": seeds}
    for name, generator in generators.items():
        start = time.perf_counter()
        faces = np.concatenate(
            [generator.generate(specs[i : i + 8], n=seeds, seed=7) for i in range(0, len(specs), 8)]
        )
        seconds = time.perf_counter() - start
        seen = np.stack([judge.prepare(face) for face in faces])  # at the judge's size
        per, overall = faithfulness(
            judge.outputs(seen)["probabilities"], judge.attributes, specs, seeds
        )
        report[name] = {
            "render": generator.resolve_render(None, defaults.RENDER),
            "faithfulness": overall,
            "per_attribute": per,
            "seconds": round(seconds, 1),
        }
    return report


def judge_on_rehearsal_images(data: Path, judge_path: Path, size: int, n: int = 512) -> float:
    """The judge's balanced accuracy on the rehearsal folder's test portraits (CelebA's
    framing, where the judge was trained on the starter's): how far its readings of
    the rehearsal's faces can be trusted."""
    from deepface_gen.analysis.evaluate import evaluate
    from deepface_gen.data.input_pipeline import make_source
    from deepface_gen.models.classifier import load_classifier

    judge = load_classifier(judge_path)
    source = make_source(f"celeba:{data}", "test", judge.input_size, 64, 0)
    return evaluate(judge, source, min(n, source.num_examples)).mean_balanced_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=20000, help="portraits to write")
    parser.add_argument("--size", type=int, default=128, help="the classifier's input size")
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps")
    parser.add_argument("--batch-size", type=int, default=32, help="fine-tuning batch")
    parser.add_argument("--fit-examples", type=int, default=4096)
    parser.add_argument("--pca-examples", type=int, default=512)
    parser.add_argument("--fit-batch-size", type=int, default=16)
    parser.add_argument("--inverter-steps", type=int, default=200)
    parser.add_argument("--inverter-batch-size", type=int, default=16)
    parser.add_argument(
        "--inverter-widths", default="128,64,32",
        help="the inverter's decoder widths (configs/inverter_celeba.py: 256,128,64)",
    )  # fmt: skip
    parser.add_argument(
        "--dtype", default=None,
        help="the classifier's compute dtype (default: float32 on a CPU, where bfloat16 is "
        "emulated; the config's bfloat16 on an accelerator)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=2, help="faces per description judged")
    parser.add_argument("--weights", default=str(SHARED_VGG16), help="Keras VGG16 notop .h5")
    parser.add_argument("--data", default=None, help="an existing CelebA-format folder")
    parser.add_argument("--judge", default=str(ROOT / "experiments/models/independent"))
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument(
        "--merge", action="store_true",
        help="add these stages to an existing --results file (re-running one stage of a run)",
    )  # fmt: skip
    parser.add_argument("--out", default="runs/rehearsal")
    parser.add_argument("--results", default=None, help="JSON report (default OUT/rehearsal.json)")
    args = parser.parse_args()

    if args.dtype is None:
        import jax

        args.dtype = "float32" if jax.default_backend() == "cpu" else "bfloat16"
    stages = [s for s in args.stages.split(",") if s]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; choose from {', '.join(STAGES)}")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    cli = [str(Path(sys.executable).with_name("deepface-gen"))]  # the command users type
    env = dict(os.environ, DEEPFACE_GEN_HOME=str(out / "home"))
    results = Path(args.results or out / "rehearsal.json")
    report: dict = {"settings": vars(args), "stages": {}}
    if args.merge and results.exists():  # earlier stages of the same run are kept
        report = json.loads(results.read_text()) | {"merged_stages": stages}

    def save() -> None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(report, indent=2) + "\n")

    data = Path(args.data).resolve() if args.data else out / "celeba"
    if args.data is None and not (data / "list_attr_celeba.txt").exists():
        report["prepare"] = run_stage(
            "synth",
            cli + ["synth", "--n", str(args.images), "--celeba-layout", "--seed", "0",
                   "--out", str(data), "--quiet"],
            env, logs,
        )  # fmt: skip
    report["images"] = len((data / "list_eval_partition.txt").read_text().splitlines())
    source = f"celeba:{data}"
    classifier_dir, inverter_dir = out / "vgg16", out / "inverter"
    model = classifier_dir / "model"
    sample = sorted((data / "img_align_celeba").iterdir())[-1]  # the folder's last portrait
    record = report["stages"]

    if "weights" in stages:
        if not Path(args.weights).exists():
            raise SystemExit(f"{args.weights}: no VGG16 weights (pass --weights)")
        record["weights"] = run_stage(
            "weights", cli + ["weights", "import", args.weights], env, logs
        )
    if "train" in stages:
        record["train"] = run_stage(
            "train",
            cli + ["train", "--config", str(ROOT / "configs/celeba_vgg16.py"),
                   "--workdir", str(classifier_dir), "--quiet", f"data.source={source}",
                   f"data.size={args.size}", f"train.steps={args.steps}",
                   f"train.batch_size={args.batch_size}", f"model.dtype={args.dtype}",
                   f"train.warmup_steps={max(1, args.steps // 10)}",
                   f"train.checkpoint_every={max(1, args.steps // 2)}",
                   f"train.log_every={max(1, min(50, args.steps // 5))}",
                   f"train.eval_every={max(1, args.steps // 3)}", "train.eval_batches=2"],
            env, logs,
        )  # fmt: skip
        record["train"]["last_metrics"] = last_metrics(classifier_dir)
        save()
    if "evaluate" in stages:
        record["evaluate"] = run_stage(
            "evaluate",
            cli + ["evaluate", "--model", str(model), "--data", source, "--split", "test",
                   "--batch-size", "64", "--json", str(out / "evaluate.json"), "--quiet"],
            env, logs,
        )  # fmt: skip
        evaluation = json.loads((out / "evaluate.json").read_text())
        record["evaluate"]["mean_balanced_accuracy"] = evaluation["mean_balanced_accuracy"]
        record["evaluate"]["mean_accuracy"] = evaluation["mean_accuracy"]
        save()
    if "fit" in stages:
        record["fit"] = run_stage(
            "fit",
            cli + ["fit", "--model", str(model), "--data", source, "--layer", "conv3_1",
                   "--n", str(args.fit_examples), "--pca-examples", str(args.pca_examples),
                   "--batch-size", str(args.fit_batch_size), "--mixture", "0", "--quiet"],
            env, logs,
        )  # fmt: skip
        save()
    if "inverter" in stages:
        widths = [int(w) for w in args.inverter_widths.split(",")]
        record["inverter"] = run_stage(
            "inverter",
            cli + ["train-inverter", "--config", str(ROOT / "configs/inverter_celeba.py"),
                   "--workdir", str(inverter_dir), "--attach", str(model), "--quiet",
                   f"model.classifier={model}", f"data.source={source}",
                   f"data.size={args.size}", f"model.widths={json.dumps(widths)}",
                   f"train.steps={args.inverter_steps}",
                   f"train.batch_size={args.inverter_batch_size}",
                   f"train.warmup_steps={max(1, args.inverter_steps // 10)}",
                   f"train.adversarial_start={args.inverter_steps // 2}",
                   f"train.checkpoint_every={max(1, args.inverter_steps // 2)}",
                   f"train.log_every={max(1, min(50, args.inverter_steps // 5))}",
                   "train.moment_batches=4"],
            env, logs,
        )  # fmt: skip
        record["inverter"]["last_metrics"] = last_metrics(inverter_dir)
        save()
    drawing = {  # the commands that draw: one face sheet, one edit, one inversion
        "generate": ["generate", "--attrs", HEADLINE, "--n", "4", "--grid", out / "generate.png"],
        "edit": ["edit", sample, "--attrs", "+smiling", "--out", out / "edit.png"],
        "invert": ["invert", sample, "--layer", "conv3_1", "--out", out / "invert.png"],
    }
    for stage, argv in drawing.items():
        if stage in stages:
            argv = [str(a) for a in argv] + ["--model", str(model), "--quiet"]
            record[stage] = run_stage(stage, cli + argv, env, logs)
    if all(stage in stages for stage in drawing):
        sheet_of_drawings(out, sample, results.with_name(results.stem + ".png"))
    if record and not args.merge:
        report["user_path_seconds"] = round(sum(r["seconds"] for r in record.values()), 1)
        report["peak_rss_mb"] = max(r["peak_rss_mb"] for r in record.values())
    save()
    if "judge" in stages:
        start = time.perf_counter()
        report["faithfulness"] = faithfulness_against_starter(model, Path(args.judge), args.seeds)
        report["faithfulness"]["judge_balanced_accuracy_on_rehearsal_portraits"] = (
            judge_on_rehearsal_images(data, Path(args.judge), args.size)
        )
        report["faithfulness"]["seconds"] = round(time.perf_counter() - start, 1)
    save()
    print(json.dumps({k: v for k, v in report.items() if k != "settings"}, indent=2))


if __name__ == "__main__":
    main()
