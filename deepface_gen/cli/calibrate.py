"""`deepface-gen calibrate-edits`: measure what edit strength means per attribute and store
it in a model's bundle, so `edit`'s strength 1 reaches the same level for every attribute."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepface_gen.cli import common
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation import defaults


def _level(text: str) -> float | None:
    """``--level``, read by ``calibration.parse_level``."""
    from deepface_gen.generation.calibration import parse_level

    try:
        return parse_level(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def run(args: argparse.Namespace) -> int:
    import deepface_gen
    from deepface_gen.generation.calibration import calibrate
    from deepface_gen.generation.generator import FaceGenerator
    from deepface_gen.io import bundles

    generator = FaceGenerator.load(args.model)
    folder = Path(generator.classifier.path).resolve()
    if folder.is_relative_to(Path(deepface_gen.__file__).resolve().parent):
        raise DeepFaceGenError(
            f"{args.model} is shipped inside the package, calibrated already; to calibrate "
            f"it again, copy {folder} to a folder of your own and name that with --model"
        )
    if generator.inverter is None:
        raise DeepFaceGenError(
            f"{args.model} has no learned inverter, and strength is calibrated through the "
            "change render it draws; train one first (deepface-gen train-inverter ... --attach)"
        )
    result = calibrate(generator, pool=args.pool, portraits=args.portraits, seed=args.seed,
                       level=args.level, data=args.data)  # fmt: skip
    if not result["attributes"]:
        raise DeepFaceGenError(
            f"no attribute has {args.portraits} portraits with it and without it among "
            f"{args.pool} of {args.data}; raise --pool"
        )
    bundles.update_record(folder, "inverter", {"edit_calibration": result})
    if not args.quiet:
        for name, entry in sorted(result["attributes"].items()):
            print(f"{name:<22} strength 1 = {entry['gain_add']:.2f} adding, "
                  f"{entry['gain_remove']:.2f} removing")  # fmt: skip
    goal = "the typical probability" if args.level is None else f"a probability of {args.level:g}"
    print(f"calibrated {len(result['attributes'])} attributes to {goal}; stored in {folder}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser(
        "calibrate-edits",
        help="measure what edit strength means per attribute and store it in a model",
    )
    p.add_argument("--model", required=True, help="bundle folder with a learned inverter")
    p.add_argument("--data", default="synthetic", help="portraits to measure on (as for fit)")
    p.add_argument(
        "--level", type=_level, default=str(defaults.EDIT_CALIBRATION_LEVEL),
        help="the classifier's probability strength 1 reaches, or 'typical' (default "
        f"{defaults.EDIT_CALIBRATION_LEVEL:g})",
    )  # fmt: skip
    p.add_argument(
        "--pool", type=common.whole(12, 1 << 16), default=512, help="portraits read"
    )  # fmt: skip
    p.add_argument(
        "--portraits", type=common.whole(1, 1024), default=24,
        help="per attribute and direction, edited at each strength",
    )  # fmt: skip
    p.add_argument("--seed", type=common.whole(0, common.SEED_MAX), default=0)
    p.add_argument("--quiet", action="store_true", help="print only the summary line")
    p.set_defaults(func=run)
