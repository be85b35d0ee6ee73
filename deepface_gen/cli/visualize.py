"""`deepface-gen visualize`: what an attribute head or a unit responds to."""

from __future__ import annotations

import argparse

from deepface_gen.cli import common
from deepface_gen.errors import DeepFaceGenError


def run(args: argparse.Namespace) -> int:
    common.check_outputs(args.out or "visualization.png", args.grid)
    from deepface_gen.generation.generator import FaceGenerator
    from deepface_gen.generation.tools import visualize_unit

    if args.attr is not None:
        if args.model in ("vgg16", "vggface"):
            raise DeepFaceGenError(f"{args.model} has no attribute heads; use --unit LAYER:CHANNEL")
        generator = FaceGenerator.load(args.model)
        faces = generator.visualize(
            attribute=args.attr, n=args.n, seed=args.seed, steps=args.steps, quiet=args.quiet
        )
    else:
        network, mean_image, _ = common.network_for(args)
        faces = visualize_unit(
            network,
            args.unit,
            args.n,
            args.seed,
            common.render_settings(args.steps),
            mean_image,
            args.quiet,
        )
    faces = common.upscale(faces, args.size)
    for path in common.write_faces(faces, args.out, args.grid, "visualization.png"):
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("visualize", help="what an attribute head or a unit responds to")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--attr", default=None, help="an attribute, e.g. smiling")
    which.add_argument("--unit", default=None, help="LAYER:CHANNEL, e.g. conv3_1:7")
    common.add_render_options(p)
    p.set_defaults(func=run)
