"""Train several recipes side by side on one accelerator, inside a wall-clock budget.

    python experiments/train_on_accelerator.py --budget-s 470 --out OUT \
        --job judge:train:configs/independent.py \
        --job vae:train-vae:configs/vae_starter.py:train.steps=8000 \
        --job inverter:train-inverter:configs/inverter_starter.py:train.steps=15000

Each job is a ``deepface-gen`` trainer run in its own process (small 64 px models
leave a large GPU mostly idle, so several share it). Once a job has logged a rate,
its end is projected; a job that would overrun the budget is stopped and started
again with the number of steps it can finish (rounded down to 500), once: the
learning-rate schedule depends on the step count, so a run is never cut short and
exported half-annealed. Each finished job's exported model folder and metrics are
packed into ``OUT/<name>.tar.gz``; ``OUT/jobs.json`` says what ran, for how long,
with which overrides and on which device, and ``OUT/logs.txt`` holds the end of each
job's output (few files: a lease returns only a handful).

The budget is the lease's: a GPU lent for a few minutes gets one call, and this
script is that call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CLI = [sys.executable, "-c", "import sys; from deepface_gen.cli import main; sys.exit(main())"]
# Run from the repository's root on a machine where the package is not installed (a
# lent GPU gets a copy of the tree): the package is imported from the working folder.
if str(Path.cwd()) not in sys.path:
    sys.path.insert(0, str(Path.cwd()))
STEP_QUANTUM = 500
RESTART_COST_S = 60.0  # compile + data warm-up a restarted job pays again
EXPORT_COST_S = 30.0  # moments, latent density and the bundle after the last step


@dataclass
class Job:
    """One trainer process and what the driver knows of it."""

    name: str
    command: str
    config: str
    overrides: list[str]
    workdir: Path
    process: subprocess.Popen | None = None
    started: float = 0.0
    restarts: int = 0
    total: int = 0  # the run's step count, once known
    history: list[dict] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, root: Path) -> Job:
        name, command, config, *overrides = text.split(":")
        return cls(name, command, config, overrides, root / name)

    def steps(self) -> int | None:
        """The step count this run asked for (its override, else the config's)."""
        for item in self.overrides:
            if item.startswith("train.steps="):
                return int(item.split("=", 1)[1])
        return None

    @property
    def log(self) -> Path:
        return self.workdir / "output.log"

    def start(self) -> None:
        run_dir = self.workdir / f"run{self.restarts}"
        args = [self.command, "--config", self.config, "--workdir", str(run_dir), "--quiet"]
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log, "a")  # noqa: SIM115 (lives with the process)
        self.process = subprocess.Popen([*CLI, *args, *self.overrides], stdout=log, stderr=log)
        self.started = time.monotonic()
        self.history.append({"overrides": list(self.overrides), "workdir": str(run_dir)})

    @property
    def run_dir(self) -> Path:
        return Path(self.history[-1]["workdir"])

    def progress(self) -> tuple[int, float] | None:
        """(last logged step, steps per second over the logged span) once two rows exist."""
        metrics = self.run_dir / "metrics.jsonl"
        if not metrics.exists():
            return None
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        if len(rows) < 3:
            return None
        # The latest rows only: rows[0] carries the compile and the first windows the
        # warm-up, which made an early projection stop a run that would have finished.
        first, last = rows[max(1, len(rows) - 4)], rows[-1]
        span = last["elapsed_s"] - first["elapsed_s"]
        return (last["step"], (last["step"] - first["step"]) / span) if span > 0 else None


def total_steps(job: Job) -> int:
    """The run's step count: its override, else what its config says."""
    asked = job.steps()
    if asked is not None:
        return asked
    from deepface_gen.config import load_config

    return int(load_config(job.config, []).train.steps)


def pack(job: Job, out: Path) -> Path:
    """The job's exported model and metrics as ``OUT/<name>.tar.gz``, and its checkpoints
    where the job keeps them for a learning curve (``train.keep_every``): with them,
    ``experiments/bench_inverter.py`` measures the curve back on the CPU."""
    target = out / f"{job.name}.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        tar.add(job.run_dir / "model", arcname="model")
        tar.add(job.run_dir / "metrics.jsonl", arcname="metrics.jsonl")
        if any(item.startswith("train.keep_every=") for item in job.overrides):
            tar.add(job.run_dir / "checkpoints", arcname="checkpoints")
    return target


def last_metrics(run_dir: Path) -> dict:
    """The run's final logged row (its losses, steps per second and elapsed seconds)."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1]) if lines else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--job", action="append", required=True, help="name:command:config[:k=v]")
    parser.add_argument("--budget-s", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--runs", type=Path, default=None, help="work folders (default: runs/accelerator/TIME)"
    )
    args = parser.parse_args()
    # A warm machine keeps ignored folders between calls: a fresh folder per call, so a
    # second call never finds the first one's checkpoints.
    args.runs = args.runs or Path("runs/accelerator") / time.strftime("%Y%m%d-%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # processes share the GPU
    began = time.monotonic()
    deadline = began + args.budget_s
    jobs = [Job.parse(text, args.runs) for text in args.job]
    for job in jobs:
        job.start()
    report: dict = {"budget_s": args.budget_s, "jobs": {}}
    running = list(jobs)
    while running:
        time.sleep(5)
        now = time.monotonic()
        for job in list(running):
            code = job.process.poll()
            if code is not None:
                running.remove(job)
                entry = {"exit": code, "seconds": round(now - job.started, 1),
                         "runs": job.history}  # fmt: skip
                if code == 0 and (job.run_dir / "model").exists():
                    entry["packed"] = pack(job, args.out).name
                    entry["last_metrics"] = last_metrics(job.run_dir)
                report["jobs"][job.name] = entry
                print(f"{job.name}: exit {code} after {entry['seconds']} s", flush=True)
                continue
            seen = job.progress()
            if seen is None or job.restarts:
                if now > deadline:
                    job.process.kill()
                continue
            step, rate = seen
            steps = job.total or total_steps(job)
            job.total = steps  # read the config once
            finish = now + (steps - step) / rate + EXPORT_COST_S
            if finish > deadline:
                room = deadline - now - RESTART_COST_S - EXPORT_COST_S
                fitted = int(rate * room) // STEP_QUANTUM * STEP_QUANTUM
                job.process.kill()
                job.process.wait()
                job.restarts += 1
                job.total = 0
                job.overrides = [o for o in job.overrides if not o.startswith("train.steps=")]
                job.overrides.append(f"train.steps={max(fitted, STEP_QUANTUM)}")
                print(f"{job.name}: {rate:.1f} steps/s would end {finish - deadline:.0f} s late;"
                      f" restarting with {job.overrides[-1]}", flush=True)  # fmt: skip
                job.start()
        (args.out / "jobs.json").write_text(json.dumps(report, indent=1))
    report["seconds"] = round(time.monotonic() - began, 1)
    try:
        import jax

        report["device"] = jax.devices()[0].device_kind
    except Exception as err:  # the report still comes back
        report["device"] = f"unknown ({err})"
    (args.out / "jobs.json").write_text(json.dumps(report, indent=1))
    tails = [f"== {job.name}\n" + "\n".join(job.log.read_text().splitlines()[-40:])
             for job in jobs if job.log.exists()]  # fmt: skip
    (args.out / "logs.txt").write_text("\n".join(tails) + "\n")
    print(json.dumps(report, indent=1))
    return 0 if all(j.get("packed") for j in report["jobs"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
