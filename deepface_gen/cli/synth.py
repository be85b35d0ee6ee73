"""`deepface-gen synth`: render synthetic portraits in the CelebA folder format."""

from __future__ import annotations

import argparse

from deepface_gen.cli import common


def run(args: argparse.Namespace) -> int:
    from deepface_gen.data.export import export_synthetic

    summary = export_synthetic(
        args.out,
        args.n,
        size=args.size,
        seed=args.seed,
        people=args.people,
        image_format=args.format,
        quiet=args.quiet,
        celeba_layout=args.celeba_layout,
    )
    splits = ", ".join(f"{k} {v}" for k, v in summary.split_counts.items())
    print(
        f"wrote {summary.count} portraits of {summary.people} people to {summary.root} "
        f"({splits}); contact sheet: {summary.contact_sheet}"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("synth", help="render synthetic portraits in the CelebA folder format")
    p.add_argument(
        "--n",
        type=common.whole(1, 1_000_000),
        default=1000,
        help="number of portraits (default 1000)",
    )
    p.add_argument(
        "--size", type=common.whole(16, 512), default=64, help="side in pixels (default 64)"
    )
    p.add_argument("--seed", type=common.whole(0, common.SEED_MAX), default=0)
    p.add_argument(
        "--people",
        type=common.whole(1, 1_000_000),
        default=None,
        help="distinct people (default n/5, at least min(n, 8))",
    )
    p.add_argument("--format", choices=("jpg", "png"), default="jpg")
    p.add_argument(
        "--celeba-layout",
        action="store_true",
        help="178 x 218 images with the face where CelebA's aligned set has it, and "
        "list_landmarks_align_celeba.txt (--size is ignored)",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
