"""What several commands share: options, writing faces, choosing a network."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deepface_gen import checks
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation import defaults

SEED_MAX = checks.MAX_SEED
BIG = 10**9  # counts with no tighter natural limit (examples in a pass)


def whole(low: int, high: int):
    """An argparse type: a whole number in [low, high], refused at parse time."""
    return _argument(int, checks.whole, low, high, "a whole number")


def real(low: float, high: float):
    """An argparse type: a finite number in [low, high], refused at parse time."""
    return _argument(float, checks.real, low, high, "a number")


def _argument(convert, check, low, high, kind: str):
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {kind} from {low:g} to {high:g}, not {checks.shorten(text)!r}"
            ) from None
        return _checked(check, value, low, high)

    return parse


def _checked(check, value, low, high):
    try:
        return check("", value, low, high)
    except DeepFaceGenError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def names_file(out: str) -> bool:
    """Whether ``--out`` names an image file rather than a folder: it has an extension of
    letters (``faces.png``, or a mistyped ``faces.pgn``, refused by name) and no trailing
    slash. A dot followed by anything else is part of a folder's name (``faces_t1.0``)."""
    suffix = Path(out).suffix[1:]
    return suffix.isalpha() and suffix.isascii() and not out.endswith(("/", "\\"))


def check_outputs(out: str | None, grid: str | None) -> None:
    """Refuse, before any work, outputs that cannot be written: an unknown image type, a
    folder where a file is wanted (or the reverse), a place that is read-only. ``out``
    with an extension is a file (numbered when there are several faces), else a folder
    (``names_file``)."""
    if out is not None:
        if names_file(out):
            try:
                checks.output_file(out, "--out")
            except DeepFaceGenError as err:
                if Path(out).suffix.lower() in checks.IMAGE_SUFFIXES:
                    raise
                raise DeepFaceGenError(f"{err} (or end it with / for a folder)") from None
        else:
            checks.output_folder(out, "--out")
    if grid is not None:
        checks.output_file(grid, "--grid")


def write_faces(
    faces,
    out: str | None,
    grid: str | None,
    default: str,
    captions: list[str] | None = None,
    title: str | None = None,
) -> list[str]:
    """Write faces to a file (one face), a folder (many), and/or a grid; returns paths.
    With a grid and no ``out``, only the grid is written (no stray files in the
    working folder)."""
    from deepface_gen.io.images import make_grid, write_image

    written: list[str] = []
    if grid and not out:
        return [str(write_image(grid, make_grid(list(faces), captions=captions, title=title)))]
    target = Path(out or default)
    folder = not names_file(out or default)
    if len(faces) == 1 and not folder:
        written.append(str(write_image(target, faces[0])))
    elif not folder:
        for i, face in enumerate(faces):
            written.append(
                str(write_image(target.with_name(f"{target.stem}_{i:03d}{target.suffix}"), face))
            )
    else:
        for i, face in enumerate(faces):
            written.append(str(write_image(target / f"face_{i:03d}.png", face)))
    if grid:
        sheet = make_grid(list(faces), captions=captions, title=title)
        written.append(str(write_image(grid, sheet)))
    return written


def suffixed(path: str | Path, suffix: str) -> Path:
    """``path`` with ``suffix`` added to its stem: ``map.png`` -> ``map_grid.png``."""
    path = Path(path)
    return path.with_name(f"{path.stem}{suffix}{path.suffix}")


def upscale(faces, size: int | None):
    from deepface_gen.io.images import resize

    if not size or size == faces.shape[1]:
        return faces
    import numpy as np

    return np.stack([resize(face, (size, size)) for face in faces])


def network_for(args: argparse.Namespace):
    """(network, mean face or None, default layer) for --model: a bundle or published weights."""
    from deepface_gen.models.pretrained import KNOWN_WEIGHTS

    if args.model in KNOWN_WEIGHTS:
        from deepface_gen.models.classifier import load_backbone

        return load_backbone(args.model, args.input_size), None, defaults.CGMM_LAYER
    from deepface_gen.generation.generator import FaceGenerator

    generator = FaceGenerator.load(args.model)
    return generator.classifier, generator.cgmm.mean_image, generator.cgmm.layer


def render_settings(steps: int | None):
    from dataclasses import replace

    from deepface_gen.inversion import DEFAULT_SETTINGS

    return DEFAULT_SETTINGS if steps is None else replace(DEFAULT_SETTINGS, steps=steps)


def add_request_options(
    p: argparse.ArgumentParser, options: type, skip: tuple[str, ...] = ()
) -> None:
    """One ``--name`` for each option of a request dataclass (``generation.requests``),
    with the type, range or choices, default and help written there once."""
    from dataclasses import fields

    from deepface_gen.generation.requests import choices_of, option_types

    kinds = option_types(options)
    for item in fields(options):
        if item.name in skip:
            continue
        meta, default = item.metadata, item.default
        kind: object = str
        if meta.get("low") is not None:
            kind = (whole if kinds[item.name] is int else real)(meta["low"], meta["high"])
        shown = "" if default is None else f" (default {default:{'g' if kind is not str else ''}})"
        p.add_argument(
            f"--{item.name.replace('_', '-')}",
            type=kind,
            default=default,
            choices=choices_of(item),
            help=meta["help"] + shown,
        )


def request_values(args: argparse.Namespace, options: type) -> dict:
    """The parsed values of ``add_request_options``'s options, by the dataclass's names."""
    from dataclasses import fields

    return {item.name: getattr(args, item.name) for item in fields(options)}


def add_model_option(p: argparse.ArgumentParser, backbones: bool = True) -> None:
    """--model; ``backbones``: whether it may name published weights (no attribute heads)."""
    p.add_argument(
        "--model",
        default="starter",
        help="starter, a bundle path, or vgg16 / vggface once imported"
        if backbones
        else "starter, or a bundle path (a model trained on attributes)",
    )


def add_output_options(p: argparse.ArgumentParser) -> None:
    """--size, --quiet, --out and --grid: how drawn faces are written."""
    p.add_argument(
        "--size", type=whole(16, checks.MAX_OUTPUT_SIZE), default=None, help="output side in pixels"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", default=None, help="a file (one face) or a folder")
    p.add_argument("--grid", default=None, help="also write all faces as one grid")


def add_render_options(p: argparse.ArgumentParser, n: bool = True) -> None:
    """--model, --seed, --steps, --size, --quiet, --input-size (and --n, --out, --grid):
    the options of the tools that render from a network's activations."""
    add_model_option(p)
    p.add_argument("--seed", type=whole(0, SEED_MAX), default=0)
    p.add_argument(
        "--steps", type=whole(1, checks.MAX_STEPS), default=None, help="optimization steps"
    )
    p.add_argument(
        "--input-size",
        type=whole(32, 1024),
        default=defaults.BACKBONE_INPUT_SIZE,
        help="working size with published weights (--model vgg16)",
    )
    if n:
        p.add_argument("--n", type=whole(1, checks.MAX_FACES), default=1, help="faces to draw")
        add_output_options(p)
    else:
        p.add_argument(
            "--size", type=whole(16, checks.MAX_OUTPUT_SIZE), default=None,
            help="output side in pixels",
        )  # fmt: skip
        p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_align_options(p: argparse.ArgumentParser) -> None:
    """--align and --face: how a photo meets the model (faces/photos.py)."""
    p.add_argument(
        "--align",
        choices=("auto", "on", "off"),
        default="auto",
        help="find the face and warp it to where the model's portraits have theirs: auto "
        "(photos that are not already aligned crops; the centred square where no face "
        "is found), on (refuse a photo with no face), off (the centred square)",
    )
    p.add_argument(
        "--face",
        type=whole(0, 99),
        default=0,
        help="which face of a photo with several (0: the surest; `align` lists them)",
    )


def read_portrait(args: argparse.Namespace, path, network, box=None):
    """(photo, Portrait) of the image at ``path`` as ``network`` sees it, by --align and
    --face; a note (no face found, no detector) is one line on stderr."""
    from deepface_gen.faces import layout, photos
    from deepface_gen.io.images import read_image

    photo = read_image(path)
    face_layout = getattr(network, "face_layout", layout.CELEBA)  # imported nets: CelebA's
    portrait = photos.prepare(
        photo, network.input_size, face_layout, args.align, args.face, box, name=str(path)
    )
    if portrait.note:
        print(f"deepface-gen: warning: {portrait.note}", file=sys.stderr)
    return photo, portrait


def add_process_options(p: argparse.ArgumentParser) -> None:
    """Options that make one run of several processes (deepface_gen/hosts.py; docs/training.md)."""
    p.add_argument(
        "--coordinator", default=None, metavar="HOST:PORT",
        help="run over several processes or hosts: process 0's address, the same for all "
        "(auto: read a Cloud TPU or SLURM environment)",
    )  # fmt: skip
    p.add_argument("--num-processes", type=whole(1, 4096), default=None, metavar="N")
    p.add_argument("--process-id", type=whole(0, 4095), default=None, metavar="K")
    p.add_argument(
        "--join-timeout", type=whole(5, 3600), default=300, metavar="S",
        help="seconds to wait for every process to join, and for a silent one before all stop",
    )  # fmt: skip
