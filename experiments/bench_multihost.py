"""Training over two processes on this machine: exactness and overhead.

python experiments/bench_multihost.py [--steps 30]

For the classifier (configs/starter.py) and the learned inverter
(configs/inverter_starter.py), at the starter's own sizes, on a synthetic CelebA-format
folder (files, as a real run reads):

- two processes (one CPU device each) against one process (two CPU devices), the same
  global batch: the largest parameter difference after the same steps;
- two processes stopped after half the steps and resumed in two: against the
  uninterrupted run;
- steps/s and images/s once compiled (the metrics' rate over the last windows);
- the bytes all-reduced each step (the gradients: every parameter, float32), against
  the model's size, so a user can estimate scaling on their own interconnect;
- `fit` of the starter's cGMM (statistics, residual PCA, mixture) in two processes
  against one: wall seconds and the largest differences of what it stores.

On a 2-core CPU two processes share what one process had: the numbers are overhead,
not speed-up. Writes experiments/results/multihost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from flax.traverse_util import flatten_dict

from deepface_gen.data.export import export_synthetic
from deepface_gen.io import bundles

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
TASKS = {
    "classifier": ("train", "configs/starter.py", ["train.batch_size=64"]),
    "inverter": ("train-inverter", "configs/inverter_starter.py", ["train.batch_size=32"]),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(command: str, config: str, workdir: Path, processes: int, settings: list[str],
           *extra: str) -> float:  # fmt: skip
    """Run ``processes`` processes of one training command (together two CPU devices);
    the wall seconds until all have finished."""
    options = ["--config", config, "--workdir", str(workdir), "--quiet", *extra, *settings]
    return launch_processes([command, *options], processes)


def launch_processes(arguments: list[str], processes: int) -> float:
    """Run ``processes`` processes of one `deepface-gen` command (together two CPU
    devices); the wall seconds until all have finished."""
    port, devices = free_port(), 2 // processes
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    began = time.perf_counter()
    running = []
    for k in range(processes):
        joined = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes),
                  "--process-id", str(k)] if processes > 1 else []  # fmt: skip
        argv = [sys.executable, "-m", "deepface_gen.cli.main", *arguments, *joined]
        running.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True))  # fmt: skip
    for process in running:
        _, err = process.communicate()
        if process.returncode:
            raise SystemExit(f"{arguments[0]} failed:\n{err[-3000:]}")
    return time.perf_counter() - began


def parameters(bundle: Path) -> dict[str, np.ndarray]:
    arrays, _ = bundles.load_bundle(bundle)
    return flatten_dict(arrays["params"], sep="/")


def largest_difference(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def rate(workdir: Path, batch: int) -> dict:
    """Steps/s and images/s over the last half of the logged windows (compiled by then)."""
    lines = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    late = lines[len(lines) // 2 :]
    steps = float(np.median([x["steps_per_second"] for x in late]))
    return {"steps_per_second": round(steps, 2), "images_per_second": round(steps * batch, 1)}


def measure(name: str, folder: Path, steps: int, scratch: Path) -> dict:
    command, config, settings = TASKS[name]
    batch = int(settings[0].split("=")[1])
    settings = [*settings, f"data.source=celeba:{folder}", f"train.steps={steps}",
                "train.log_every=5", f"train.checkpoint_every={steps // 2}"]  # fmt: skip
    one, two, resumed = (scratch / f"{name}_{k}" for k in ("one", "two", "resumed"))
    result = {"wall_seconds": {}}
    result["wall_seconds"]["one_process"] = round(launch(command, config, one, 1, settings), 1)
    result["wall_seconds"]["two_processes"] = round(launch(command, config, two, 2, settings), 1)
    launch(command, config, resumed, 2, settings, "--max-steps", str(steps // 2))
    launch(command, config, resumed, 2, settings, "--resume")
    p_one, p_two, p_resumed = (parameters(w / "model") for w in (one, two, resumed))
    count = sum(v.size for v in p_one.values())
    result.update(
        steps=steps,
        global_batch=batch,
        parameters=int(count),
        allreduced_megabytes_per_step=round(4 * count / 1e6, 3),
        largest_difference_two_vs_one=largest_difference(p_two, p_one),
        largest_difference_resumed_vs_uninterrupted=largest_difference(p_resumed, p_two),
        largest_parameter=max(float(np.max(np.abs(v))) for v in p_one.values()),
        one_process=rate(one, batch),
        two_processes=rate(two, batch),
    )
    print(name, json.dumps(result))
    return result


FIT = ["--layer", "conv3_1", "--n", "2048", "--pca-examples", "512", "--mixture", "8",
       "--mixture-examples", "1024", "--batch-size", "64", "--quiet"]  # fmt: skip


def measure_fit(folder: Path, scratch: Path) -> dict:
    """The starter's cGMM fitted again in one process and in two: seconds, and how far
    apart the stored models are (relative to each array's largest entry)."""
    import shutil

    from deepface_gen.cgmm import stored
    from deepface_gen.models.classifier import bundled_model_path, load_classifier

    seconds, fitted = {}, {}
    for processes, name in ((1, "one_process"), (2, "two_processes")):
        model = shutil.copytree(bundled_model_path(), scratch / f"fit_{name}")
        arguments = ["fit", "--model", str(model), "--data", f"celeba:{folder}", *FIT]
        seconds[name] = round(launch_processes(arguments, processes), 1)
        fitted[name] = stored.load_cgmm(load_classifier(model))
    one, two = fitted["one_process"], fitted["two_processes"]

    def relative(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))

    def spanned(c) -> np.ndarray:  # the residual covariance: blind to each direction's sign
        basis = c.components.astype(np.float64)
        return basis.T @ (c.component_std.astype(np.float64)[:, None] ** 2 * basis)

    result = {
        "settings": " ".join(FIT[:-1]),
        "wall_seconds": seconds,
        "relative_difference": {
            "ridge": relative(two.ridge, one.ridge),
            "group_mean": relative(two.group_mean, one.group_mean),
            "residual_covariance": relative(spanned(two), spanned(one)),
            "mixture_means": relative(two.mixture.means, one.mixture.means),
        },
    }
    print("fit", json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--tasks", nargs="+", default=[*TASKS, "fit"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "faces"
        export_synthetic(folder, 512, size=64, seed=5, quiet=True)
        results = {
            name: measure(name, folder, args.steps, Path(scratch))
            for name in args.tasks
            if name in TASKS
        }
        if "fit" in args.tasks:
            results["fit"] = measure_fit(folder, Path(scratch))
    results["note"] = ("2-core CPU: one process with two CPU devices against two processes "
                       "with one each; overhead, not speed-up")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "multihost.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}  # tasks not run this time
    path.write_text(json.dumps({**earlier, **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
