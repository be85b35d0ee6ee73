"""Where G's redraws spread their energy over frequencies, against the real portraits.

    python experiments/spectrum_gap.py [--run NAME=WORKDIR@STEP ...] [--portraits 1024]

1,024 held-out real portraits (``probe_separability.py``'s) are redrawn from their own
activations by the starter's G and by each ``--run`` checkpoint, each face with its own
noise keys. For each G: the gap between the redraws' and the portraits' mean log power
at each radius of the 2-D spectrum (grey, its mean removed; radius in cycles across the
image), its mean absolute value, and the test AUC of a logistic probe on every frequency
(``probe_separability.probe_auc``: 0.5 is no difference a line can find). Writes
``spectrum_gap.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from bench_generate import real_portraits, redraw
from probe_separability import HELD_OUT_SEED, power_spectrum, probe_auc

from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.training.inverter import checkpoint_inverter


def radial_log_power(spectra: np.ndarray, side: int) -> np.ndarray:
    """(N, R): the mean of each image's log power (``probe_separability.power_spectrum``
    of side x side images) at each integer radius, in cycles across the image."""
    log_power = spectra.reshape(len(spectra), side, side // 2 + 1)
    rows, cols = np.fft.fftfreq(side) * side, np.fft.rfftfreq(side) * side
    radius = np.rint(np.hypot(rows[:, None], cols[None, :])).astype(int)
    return np.stack([log_power[:, radius == r].mean(axis=1) for r in range(radius.max() + 1)], 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", action="append", default=[], help="NAME=WORKDIR@STEP")
    parser.add_argument("--portraits", type=int, default=1024)
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    generator = FaceGenerator.load("starter")
    layer = generator.cgmm.layer
    real, _ = real_portraits(HELD_OUT_SEED, args.portraits, generator.size)
    codes = generator.classifier.outputs(real, taps=(layer,))[layer]
    inverters = {"shipped G (starter)": generator.inverter}
    for item in args.run:
        name, _, where = item.partition("=")
        workdir, _, step = where.rpartition("@")
        inverters[name] = checkpoint_inverter(workdir, int(step))
    side, real_spectra = generator.size, power_spectrum(real)
    on_real = radial_log_power(real_spectra, side).mean(axis=0)
    report: dict = {"portraits": args.portraits, "inverters": {}}
    for name, inverter in inverters.items():
        spectra = power_spectrum(redraw(inverter, codes))
        gap = radial_log_power(spectra, side).mean(axis=0) - on_real
        report["inverters"][name] = {
            "radial_gap": [round(float(g), 4) for g in gap],
            "mean_abs_gap": float(np.abs(gap).mean()),
            "probe_auc": probe_auc(real_spectra, spectra),
        }
        print(name, {k: v for k, v in report["inverters"][name].items() if k != "radial_gap"})
    out = Path(args.out) / "spectrum_gap.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
