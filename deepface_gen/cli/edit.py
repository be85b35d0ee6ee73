"""`deepface-gen edit`: alter portraits by adding or removing attributes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deepface_gen import checks
from deepface_gen.cli import common
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation import defaults
from deepface_gen.generation.requests import EditOptions

MAX_SWEEP = 16  # strengths in one strip


def _parse_box(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise DeepFaceGenError(f"--box {text!r} must be x,y,width,height in pixels") from None
    return x, y, w, h


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from deepface_gen.attributes import as_spec
    from deepface_gen.errors import ImageError
    from deepface_gen.generation.generator import FaceGenerator
    from deepface_gen.io.images import image_files, write_image

    strengths = _strengths(args)
    as_spec(args.attrs)  # a bad description is refused before any model is loaded
    box_arg = _parse_box(args.box)
    source = Path(args.portrait)
    if not source.exists():
        raise DeepFaceGenError(f"{source}: no such file or folder")
    paths = image_files(source) if source.is_dir() else [source]
    out = Path(args.out)
    if source.is_dir():
        checks.output_folder(out, "--out")
    else:
        checks.output_file(out, "--out")
    generator = FaceGenerator.load(args.model)
    skipped: list[str] = []
    for start in range(0, len(paths), args.batch_size):
        chunk, originals, portraits = [], [], []
        for path in paths[start : start + args.batch_size]:
            try:
                photo, portrait = common.read_portrait(args, path, generator.classifier, box_arg)
            except ImageError as err:  # unreadable, or no face with --align on
                if not source.is_dir():
                    raise
                skipped.append(str(err))
                print(f"deepface-gen: skipped {err}", file=sys.stderr)
                continue
            chunk.append(path)
            originals.append(photo)
            portraits.append(portrait)
        if not chunk:
            continue
        report = generator.edit_report(
            np.stack([portrait.crop for portrait in portraits]),
            args.attrs,
            strengths,
            quiet=args.quiet,
            **common.request_values(args, EditOptions),
        )
        for message in report.messages([str(path) for path in chunk]):
            if message is not None:
                print(f"deepface-gen: warning: {message}", file=sys.stderr)
        for path, original, portrait, results in zip(
            chunk, originals, portraits, report.images, strict=True
        ):
            target = out if not source.is_dir() else out / f"{path.stem}.png"
            image = _output_image(args, strengths, original, portrait, results)
            print(f"wrote {write_image(target, image)}")
    if skipped:
        edited_count = len(paths) - len(skipped)
        print(
            f"deepface-gen: error: {len(skipped)} of {len(paths)} images in {source} could not "
            f"be read and were skipped; {edited_count} edited",
            file=sys.stderr,
        )
        return 1
    return 0


def _output_image(args: argparse.Namespace, strengths, original, portrait, results):
    """What one portrait's edit is written as: the strip of every strength (--sweep), the
    edit put back into the photo (--paste: the change warped back under a feathered
    window, faces/pasting.py), or the edited face alone."""
    from deepface_gen.io.images import make_grid

    if args.sweep:
        # A 64 px caption holds ~10 characters: the title says what s is.
        captions = ["input"] + [f"s={v:g}" for v in strengths]
        title = f'edit "{args.attrs}" at strength s'
        return make_grid([portrait.crop, *results], columns=len(strengths) + 1, captions=captions,
                         title=title)  # fmt: skip
    if args.paste:
        return portrait.paste(original, results[0])
    return results[0]


def _strengths(args: argparse.Namespace) -> tuple[float, ...] | None:
    """The strengths to render: --strength, or each value of --sweep, checked (None: the
    model's default strength)."""
    if not args.sweep:
        return None if args.strength is None else (args.strength,)
    return checks.sweep(args.sweep, "--sweep", MAX_SWEEP)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("edit", help="alter portraits: add or remove attributes")
    p.add_argument("portrait", help="an image, or a folder of images (edited in batches)")
    p.add_argument("--attrs", required=True, help='what to change, e.g. "+smiling,-eyeglasses"')
    p.add_argument(
        "--strength",
        type=common.real(-checks.MAX_EDIT_STRENGTH, checks.MAX_EDIT_STRENGTH),
        default=None,
        help="how far to move: 1 is where the classifier reads the change at the level the "
        "model is calibrated to, per attribute (the starter's: 0.8); a model without a "
        f"calibration moves by this multiple of the cGMM's predicted change (default: 1 "
        f"where calibrated, else {defaults.EDIT_STRENGTH:g})",
    )
    p.add_argument("--sweep", default=None, help="a strip of strengths, e.g. 0,1,2,3")
    p.add_argument("--box", default=None, help="face box x,y,w,h in pixels (wins over --align)")
    common.add_align_options(p)
    p.add_argument(
        "--paste",
        action="store_true",
        help="put the edit back into the original photo at its full resolution",
    )
    p.add_argument("--out", required=True, help="output file, or folder for a folder input")
    p.add_argument("--batch-size", type=common.whole(1, 256), default=8)
    common.add_request_options(p, EditOptions)
    common.add_model_option(p, backbones=False)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
