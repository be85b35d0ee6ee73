"""Renderer throughput: portraits per second at a given size, warm (after compilation).

python experiments/bench_synth.py [--size 64] [--batch 256] [--repeats 5]

Writes ``experiments/results/synth.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax

from deepface_gen.data import synth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    scene = synth.sample_scene(jax.random.key(0), args.batch)
    start = time.perf_counter()
    synth.render_scene(scene, args.size).block_until_ready()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.repeats):
        synth.render_scene(scene, args.size).block_until_ready()
    warm = (time.perf_counter() - start) / args.repeats
    print(
        f"size {args.size}, batch {args.batch}: first call {cold:.1f} s (compile), "
        f"warm {args.batch / warm:.0f} portraits/s on {jax.devices()[0].device_kind}"
    )
    result = {
        "device": jax.devices()[0].device_kind,
        "size": args.size,
        "batch": args.batch,
        "first_call_s": cold,
        "portraits_per_s": args.batch / warm,
    }
    Path(args.out, "synth.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
