"""What the headline command costs, cold and warm, with compilation counted apart.

    python experiments/bench_speed.py [--tag cpu] [--out experiments/results]

* **cold, first ever**: a new process runs ``deepface-gen generate`` with an empty
  cache folder (so an empty persistent compilation cache): imports, loading the
  starter, compiling and rendering, wall clock.
* **cold, cache warm**: the same command again in a new process; the compiled
  programs now come from disk.
* **cold, cache off**: the same with ``--no-compilation-cache``.
* **warm**: inside one process, after a first call, a *different* description and
  seed; the number of backend compiles during the warm calls is recorded (it must
  be 0), so "warm" never hides compilation.

Writes ``speed_<tag>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

from deepface_gen.analysis.compiles import count_compiles
from deepface_gen.generation import defaults
from deepface_gen.generation.generator import FaceGenerator

HEADLINE = "youth, black hair, male"
ROOT = Path(__file__).resolve().parents[1]


def cli_seconds(home: Path, *options: str) -> float:
    """Wall seconds of one ``deepface-gen generate`` process (one face)."""
    env = {**os.environ, "DEEPFACE_GEN_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("DEEPFACE_GEN_COMPILATION_CACHE", None)
    command = [sys.executable, "-m", "deepface_gen.cli.main", *options, "generate",
               "--attrs", HEADLINE, "--n", "1", "--quiet",
               "--out", str(home / "face.png")]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def warm_seconds(fn, repeats: int = 3) -> tuple[float, int]:
    """(best wall seconds of ``repeats`` calls, backend compiles during all of them)."""
    best = float("inf")
    with count_compiles() as compiles:
        for i in range(repeats):
            start = time.perf_counter()
            fn(i)
            best = min(best, time.perf_counter() - start)
    return best, compiles.count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tag", default=jax.devices()[0].platform)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    report: dict = {"device": jax.devices()[0].device_kind, "headline": HEADLINE}

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        report["cli_cold_first_ever_s"] = cli_seconds(home)
        report["cli_cold_cache_warm_s"] = cli_seconds(home)
        report["cli_cold_cache_off_s"] = cli_seconds(home / "off", "--no-compilation-cache")
    print(json.dumps(report, indent=2))

    generator = FaceGenerator.load()
    report["render"] = generator.resolve_render(None, defaults.RENDER)
    descriptions = ["smiling woman, blond", "old man, eyeglasses", "young, bangs", "male, hat"]
    start = time.perf_counter()
    generator.generate(HEADLINE, n=1, seed=0)
    report["first_call_in_process_s"] = time.perf_counter() - start
    seconds, compiles = warm_seconds(lambda i: generator.generate(descriptions[i], n=1, seed=i + 1))
    report["warm_s_per_face"] = seconds
    report["warm_compiles"] = compiles
    generator.generate(HEADLINE, n=args.batch, seed=0)  # compile the batch shape
    seconds, compiles = warm_seconds(
        lambda i: generator.generate(descriptions[i], n=args.batch, seed=i + 1), repeats=2
    )
    report[f"warm_faces_per_s_batched_{args.batch}"] = args.batch / seconds
    report["warm_batched_compiles"] = compiles
    report["batching_speedup"] = report["warm_s_per_face"] * args.batch / seconds
    generator.generate(HEADLINE, n=args.batch, seed=0, backend="vae")
    seconds, _ = warm_seconds(
        lambda i: generator.generate(descriptions[i], n=args.batch, seed=i, backend="vae")
    )
    report[f"vae_faces_per_s_batched_{args.batch}"] = args.batch / seconds
    report["render_steps"] = generator.settings.steps + generator.settings.polish_steps
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(report, indent=2))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"speed_{args.tag}.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out / f'speed_{args.tag}.json'}")


if __name__ == "__main__":
    main()
