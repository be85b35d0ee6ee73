"""`deepface-gen generate`: faces from an attribute description."""

from __future__ import annotations

import argparse

from deepface_gen import checks
from deepface_gen.cli import common
from deepface_gen.generation import defaults


def run(args: argparse.Namespace) -> int:
    common.check_outputs(args.out or "face.png", args.grid)
    from deepface_gen.generation.generator import FaceGenerator

    generator = FaceGenerator.load(args.model, vae=args.vae)
    plan = generator.plan(
        args.attrs,
        n=args.n,
        seed=args.seed,
        method=args.method,
        steps=args.steps,
        temperature=args.temperature,
        backend=args.backend,
        init=args.init,
        guidance=args.guidance,
        render=args.render,
        vae_prior=args.vae_prior,
    )
    faces = common.upscale(generator.draw(plan, quiet=args.quiet), args.size)
    captions, title = plan.captions(), plan.title(args.attrs)
    for path in common.write_faces(faces, args.out, args.grid, "face.png", captions, title):
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("generate", help="draw faces from an attribute description")
    p.add_argument("--attrs", required=True, help='e.g. "youth, black hair, male"')
    p.add_argument("--method", default=defaults.METHOD, choices=defaults.METHODS)
    p.add_argument(
        "--temperature",
        type=common.real(0.0, checks.MAX_TEMPERATURE),
        default=defaults.TEMPERATURE,
        help=f"diversity: 0 gives the cGMM's mean prediction (default {defaults.TEMPERATURE})",
    )
    p.add_argument(
        "--backend",
        default=defaults.BACKEND,
        choices=defaults.BACKENDS,
        help="cgmm: targets + feature inversion (default); vae: decode VAE samples",
    )
    p.add_argument(
        "--init",
        default=defaults.INIT,
        choices=defaults.INITS,
        help="start inversion from the mean face (default) or a VAE sample (the hybrid)",
    )
    p.add_argument("--vae", default=None, help="a VAE bundle (default: the model's own)")
    p.add_argument(
        "--vae-prior",
        default=None,
        choices=("gaussian", "fitted"),
        help="VAE latents from N(0, T^2) (default) or the fitted aggregate posterior",
    )
    common.add_guidance_option(p)
    common.add_render_mode_option(p, defaults.RENDER)
    common.add_render_options(p, backbones=False)
    p.set_defaults(func=run)
