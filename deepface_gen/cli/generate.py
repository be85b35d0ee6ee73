"""`deepface-gen generate`: faces from an attribute description."""

from __future__ import annotations

import argparse

from deepface_gen.cli import common
from deepface_gen.generation.requests import GenerateOptions


def run(args: argparse.Namespace) -> int:
    common.check_outputs(args.out or "face.png", args.grid)
    from deepface_gen.generation.generator import FaceGenerator

    generator = FaceGenerator.load(args.model, vae=args.vae)
    plan = generator.plan(args.attrs, **common.request_values(args, GenerateOptions))
    faces = common.upscale(generator.draw(plan, quiet=args.quiet), args.size)
    captions, title = plan.captions(), plan.title(args.attrs)
    for path in common.write_faces(faces, args.out, args.grid, "face.png", captions, title):
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("generate", help="draw faces from an attribute description")
    p.add_argument("--attrs", required=True, help='e.g. "youth, black hair, male"')
    common.add_request_options(p, GenerateOptions)
    p.add_argument("--vae", default=None, help="a VAE bundle (default: the model's own)")
    common.add_model_option(p, backbones=False)
    common.add_output_options(p)
    p.set_defaults(func=run)
