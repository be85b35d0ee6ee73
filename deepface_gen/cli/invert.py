"""`deepface-gen invert` and `caricature`: what one layer keeps of an image."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepface_gen.cli import common


def run(args: argparse.Namespace) -> int:
    from deepface_gen.generation.tools import caricature_image, invert_image, prepare
    from deepface_gen.io.images import make_grid, write_image

    out = args.out or f"{Path(args.image).stem}_{args.command}.png"
    common.check_outputs(out, args.grid)
    network, mean_image, default_layer = common.network_for(args)
    image = common.read_portrait(args, args.image, network)[1].crop
    layer = args.layer or default_layer
    settings = common.render_settings(args.steps)
    tool = invert_image if args.command == "invert" else caricature_image
    result = tool(network, image, layer, args.seed, settings, mean_image, args.quiet)
    result = common.upscale(result[None], args.size)[0]
    write_image(out, result)
    print(f"wrote {out}")
    if args.grid:
        original = prepare(image, network.input_size).astype("uint8")
        original = common.upscale(original, result.shape[0])[0]
        write_image(args.grid, make_grid([original, result], captions=["input", args.command]))
        print(f"wrote {args.grid}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    for name, text in (
        ("invert", "reconstruct an image from one layer's activations"),
        ("caricature", "exaggerate what a layer sees in an image"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("image")
        p.add_argument("--layer", default=None, help="layer (default: the cGMM layer)")
        p.add_argument("--out", default=None)
        p.add_argument("--grid", default=None, help="also write input and result side by side")
        common.add_render_options(p, n=False)
        common.add_align_options(p)
        p.set_defaults(func=run)
