"""The collection tools run as a user runs them, for the README's pictures and numbers.

    python experiments/look_inside.py [--n 400] [--out experiments/results]

Writes ``--n`` rendered portraits (96 px, seeds no model trained on) and one broken
file into a temporary folder, then runs ``deepface-gen rank``, ``continuum``,
``crop-search`` and ``tsne`` on it through the command line, keeping their sheets and
JSON in ``--out`` (``look_*.png``, ``look_crop.json``, ``look_inside.json``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import jax

from deepface_gen import cli
from deepface_gen.data import synth
from deepface_gen.io.images import write_image

SEED = 6060


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "faces"
        folder.mkdir()
        for start in range(0, args.n, 200):
            count = min(200, args.n - start)
            key = jax.random.fold_in(jax.random.key(SEED), start)
            faces = synth.to_uint8(synth.sample_portraits(key, count, size=96).images)
            for i, face in enumerate(faces):
                write_image(folder / f"face_{start + i:04d}.png", face)
        (folder / "broken.jpg").write_text("not an image")
        runs = {
            "rank": ["rank", str(folder), "--by", "smiling, -eyeglasses", "--top", "8",
                     "--out", str(out / "look_rank.png"), "--json", str(Path(tmp) / "rank.json")],
            "continuum": ["continuum", str(folder), "--by", "young", "--sample", "144",
                          "--out", str(out / "look_continuum.png")],
            "crop_search": ["crop-search", str(folder / "face_0007.png"), "--by", "smiling",
                            "--out", str(out / "look_crop.png"),
                            "--json", str(out / "look_crop.json")],
            "tsne": ["tsne", str(folder), "--color-by", "male",
                     "--out", str(out / "look_tsne.png")],
        }  # fmt: skip
        for name, argv in runs.items():
            began = time.perf_counter()
            assert cli.main([*argv, *(["--quiet"] if name != "crop_search" else [])]) == 0
            timings[name] = round(time.perf_counter() - began, 2)
    crop = json.loads((out / "look_crop.json").read_text())
    report = {"images": args.n, "skipped": 1, "seconds": timings,
              "crops": crop["crops"], "crops_per_second": crop["crops_per_second"],
              "device": jax.devices()[0].device_kind}  # fmt: skip
    (out / "look_inside.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
