"""The ``deepface-gen`` command line.

Each subcommand is a small function over the library; errors the user can fix
(:class:`DeepFaceGenError`) print one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from deepface_gen import __version__
from deepface_gen.errors import DeepFaceGenError

Command = Callable[[argparse.Namespace], int]


def _cmd_attributes(args: argparse.Namespace) -> int:
    from deepface_gen.attributes import attribute_table, parse_description

    if args.parse is not None:
        spec = parse_description(args.parse)
        print(json.dumps(dict(spec.values), indent=2) if args.json else str(spec))
        return 0
    known = None
    if args.model:
        from deepface_gen.models.classifier import load_classifier

        known = load_classifier(args.model).known_attributes
    elif args.drawn:
        from deepface_gen.data.synth import DRAWN_ATTRIBUTES

        known = DRAWN_ATTRIBUTES
    print(attribute_table(known))
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from deepface_gen.data.export import export_synthetic

    summary = export_synthetic(
        args.out,
        args.n,
        size=args.size,
        seed=args.seed,
        people=args.people,
        image_format=args.format,
        quiet=args.quiet,
    )
    splits = ", ".join(f"{k} {v}" for k, v in summary.split_counts.items())
    print(
        f"wrote {summary.count} portraits of {summary.people} people to {summary.root} "
        f"({splits}); contact sheet: {summary.contact_sheet}"
    )
    return 0


def _cmd_weights(args: argparse.Namespace) -> int:
    from deepface_gen.io import bundles
    from deepface_gen.models import pretrained

    if args.action == "download":
        bar = None
        if not args.quiet:
            from tqdm.auto import tqdm

            bar = tqdm(unit="B", unit_scale=True, desc=args.name)

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total or None
                bar.n = done
                bar.refresh()

        try:
            path = pretrained.download_weights(args.name, progress=progress)
        finally:
            if bar is not None:
                bar.close()
        print(f"installed {args.name} weights at {path}")
    elif args.action == "import":
        path = pretrained.import_weights(args.path, args.name)
        print(f"validated and installed {args.path} as {path.stem} at {path}")
    else:
        print(f"cache: {bundles.home()}")
        for name, known in pretrained.KNOWN_WEIGHTS.items():
            path = pretrained.cached_weights_path(name)
            state = f"installed at {path}" if path.exists() else "not installed"
            print(f"{name:<8} {state}\n         {known.citation}")
    return 0


def _run_trainer(args: argparse.Namespace, train_fn, command: str, what: str) -> Path | None:
    """Load the config, train; say how to resume after --max-steps, or where the result is."""
    from deepface_gen.config import load_config

    config = load_config(args.config, args.overrides)
    bundle = train_fn(
        config, args.workdir, resume=args.resume, quiet=args.quiet, max_steps=args.max_steps
    )
    if bundle is None:
        print(
            f"stopped after --max-steps; continue with: deepface-gen {command} --config "
            f"{args.config} --workdir {args.workdir} --resume"
        )
    else:
        print(
            f"trained {what} written to {bundle} (metrics: {Path(args.workdir) / 'metrics.jsonl'})"
        )
    return bundle


def _cmd_train(args: argparse.Namespace) -> int:
    from deepface_gen.training.classifier import train_and_evaluate

    _run_trainer(args, train_and_evaluate, "train", "model")
    return 0


def _cmd_train_vae(args: argparse.Namespace) -> int:
    from deepface_gen.training.vae import attach, train_vae

    bundle = _run_trainer(args, train_vae, "train-vae", "VAE")
    if bundle is not None and args.attach:
        print(f"attached to {args.attach} as {attach(bundle, args.attach).name}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from deepface_gen.analysis.evaluate import evaluate
    from deepface_gen.data.input_pipeline import make_source
    from deepface_gen.io.images import atomic_write_bytes
    from deepface_gen.models.classifier import load_classifier

    classifier = load_classifier(args.model)
    source = make_source(
        args.data, args.split, classifier.input_size, args.batch_size, seed=args.seed, shuffle=False
    )
    report = evaluate(classifier, source, args.n, quiet=args.quiet)
    print(report.table())
    if args.json:
        atomic_write_bytes(args.json, json.dumps(report.to_json(), indent=2).encode())
        print(f"wrote {args.json}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from deepface_gen.models.classifier import load_classifier, score_files

    classifier = load_classifier(args.model)
    probabilities = score_files(classifier, args.images)
    known = [a for a in classifier.attributes if a in classifier.known_attributes]
    if args.json:
        result = {
            str(path): {a: round(float(p[classifier.attributes.index(a)]), 4) for a in known}
            for path, p in zip(args.images, probabilities, strict=True)
        }
        print(json.dumps(result, indent=2))
        return 0
    for path, probs in zip(args.images, probabilities, strict=True):
        print(f"{path}:")
        ranked = sorted(known, key=lambda a: -probs[classifier.attributes.index(a)])
        for a in ranked:
            p = probs[classifier.attributes.index(a)]
            if args.all or p >= 0.5:
                print(f"  {a:<20} {p:5.2f} {'#' * int(round(p * 20))}")
    return 0


def _write_faces(
    faces, out: str | None, grid: str | None, default: str, captions: list[str] | None = None
) -> list[str]:
    """Write faces to a file (one face), a folder (many), and/or a grid; returns paths."""
    from deepface_gen.io.images import make_grid, write_image

    written: list[str] = []
    target = Path(out or default)
    if len(faces) == 1 and target.suffix:
        written.append(str(write_image(target, faces[0])))
    elif target.suffix:
        for i, face in enumerate(faces):
            written.append(
                str(write_image(target.with_name(f"{target.stem}_{i:03d}{target.suffix}"), face))
            )
    else:
        for i, face in enumerate(faces):
            written.append(str(write_image(target / f"face_{i:03d}.png", face)))
    if grid:
        written.append(str(write_image(grid, make_grid(list(faces), captions=captions))))
    return written


def _upscale(faces, size: int | None):
    from deepface_gen.io.images import resize

    if not size or size == faces.shape[1]:
        return faces
    import numpy as np

    return np.stack([resize(face, (size, size)) for face in faces])


def _cmd_fit(args: argparse.Namespace) -> int:
    from deepface_gen.cgmm.fit import fit_and_store
    from deepface_gen.data.input_pipeline import make_source
    from deepface_gen.models.classifier import load_classifier

    classifier = load_classifier(args.model)
    source = make_source(args.data, "train", classifier.input_size, args.batch_size, args.seed)
    fitted = fit_and_store(classifier, source, args.layer, args.n, quiet=args.quiet)
    print(
        f"fitted cGMM at {fitted.layer} {fitted.shape} on {args.n} images; "
        f"stored in {classifier.path}"
    )
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from deepface_gen.generation.generator import FaceGenerator

    generator = FaceGenerator.load(args.model, vae=args.vae)
    faces = generator.generate(
        args.attrs,
        n=args.n,
        seed=args.seed,
        method=args.method,
        steps=args.steps,
        temperature=args.temperature,
        quiet=args.quiet,
        backend=args.backend,
        init=args.init,
        guidance=args.guidance,
    )
    faces = _upscale(faces, args.size)
    captions = [f"seed {args.seed} #{i}" for i in range(len(faces))]
    for path in _write_faces(faces, args.out, args.grid, "face.png", captions):
        print(f"wrote {path}")
    return 0


def _network_for(args: argparse.Namespace):
    """(network, mean face or None, default layer) for --model: a bundle or published weights."""
    from deepface_gen.models.pretrained import KNOWN_WEIGHTS

    if args.model in KNOWN_WEIGHTS:
        from deepface_gen.models.classifier import load_backbone

        return load_backbone(args.model, args.input_size), None, "conv3_1"
    from deepface_gen.generation.generator import FaceGenerator

    generator = FaceGenerator.load(args.model)
    return generator.classifier, generator.cgmm.mean_image, generator.cgmm.layer


def _render_settings(steps: int | None):
    from dataclasses import replace

    from deepface_gen.inversion import DEFAULT_SETTINGS

    return DEFAULT_SETTINGS if steps is None else replace(DEFAULT_SETTINGS, steps=steps)


def _cmd_invert_like(args: argparse.Namespace) -> int:
    from deepface_gen.generation.tools import caricature_image, invert_image, prepare
    from deepface_gen.io.images import make_grid, read_image, write_image

    network, mean_image, default_layer = _network_for(args)
    image = read_image(args.image)
    layer = args.layer or default_layer
    settings = _render_settings(args.steps)
    if args.command == "invert":
        result = invert_image(network, image, layer, args.seed, settings, mean_image, args.quiet)
    else:
        result = caricature_image(network, image, layer, args.seed, settings, quiet=args.quiet)
    result = _upscale(result[None], args.size)[0]
    out = args.out or f"{Path(args.image).stem}_{args.command}.png"
    write_image(out, result)
    print(f"wrote {out}")
    if args.grid:
        original = prepare(image, network.input_size).astype("uint8")
        original = _upscale(original, result.shape[0])[0]
        write_image(args.grid, make_grid([original, result], captions=["input", args.command]))
        print(f"wrote {args.grid}")
    return 0


def _cmd_visualize(args: argparse.Namespace) -> int:
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
        network, mean_image, _ = _network_for(args)
        faces = visualize_unit(
            network,
            args.unit,
            args.n,
            args.seed,
            _render_settings(args.steps),
            mean_image,
            args.quiet,
        )
    faces = _upscale(faces, args.size)
    for path in _write_faces(faces, args.out, args.grid, "visualization.png"):
        print(f"wrote {path}")
    return 0


def _parse_box(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise DeepFaceGenError(f"--box {text!r} must be x,y,width,height in pixels") from None
    return x, y, w, h


def _cmd_edit(args: argparse.Namespace) -> int:
    import numpy as np

    from deepface_gen.generation.generator import FaceGenerator
    from deepface_gen.io.images import (
        crop_face,
        face_box,
        make_grid,
        paste_face,
        read_image,
        write_image,
    )

    try:
        strengths = (
            tuple(float(v) for v in args.sweep.split(",")) if args.sweep else (args.strength,)
        )
    except ValueError:
        raise DeepFaceGenError(f"--sweep {args.sweep!r} must be numbers like 0,0.5,1") from None
    source = Path(args.portrait)
    suffixes = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
    paths = (
        sorted(p for p in source.iterdir() if p.suffix.lower() in suffixes)
        if source.is_dir()
        else [source]
    )
    if not paths:
        raise DeepFaceGenError(f"{source}: no images found")
    generator = FaceGenerator.load(args.model)
    box_arg = _parse_box(args.box)
    out = Path(args.out)
    for start in range(0, len(paths), args.batch_size):
        chunk = paths[start : start + args.batch_size]
        originals = [read_image(p) for p in chunk]
        boxes = [face_box(image, box_arg) for image in originals]
        faces = [
            crop_face(image, box, generator.size)
            for image, box in zip(originals, boxes, strict=True)
        ]
        edited = generator.edit(
            np.stack(faces),
            args.attrs,
            strengths,
            layer=args.layer,
            seed=args.seed,
            steps=args.steps,
            quiet=args.quiet,
            guidance=args.guidance,
        )
        for path, original, box, face, results in zip(
            chunk, originals, boxes, faces, edited, strict=True
        ):
            target = out if not source.is_dir() else out / f"{path.stem}.png"
            if args.sweep:
                captions = ["input"] + [f"strength {v:g}" for v in strengths]
                image = make_grid([face, *results], columns=len(strengths) + 1, captions=captions)
            elif args.paste:
                image = paste_face(original, results[0], box)
            else:
                image = results[0]
            print(f"wrote {write_image(target, image)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="deepface-gen",
        description="Draw faces from sparse attribute descriptions and alter portraits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("attributes", help="list the attribute vocabulary and its aliases")
    p.add_argument("--parse", metavar="TEXT", help="parse a description and print the result")
    p.add_argument("--json", action="store_true", help="with --parse: print JSON")
    p.add_argument("--model", default=None, help="mark which attributes this model knows")
    p.add_argument(
        "--drawn", action="store_true", help="mark which attributes the synthetic renderer draws"
    )
    p.set_defaults(func=_cmd_attributes)

    p = sub.add_parser("synth", help="render synthetic portraits in the CelebA folder format")
    p.add_argument("--n", type=int, default=1000, help="number of portraits (default 1000)")
    p.add_argument("--size", type=int, default=64, help="side in pixels (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--people", type=int, default=None, help="distinct people (default n/5)")
    p.add_argument("--format", choices=("jpg", "png"), default="jpg")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("weights", help="download, import and list pretrained weights")
    actions = p.add_subparsers(dest="action", required=True)
    d = actions.add_parser("download", help="fetch a published weight file and verify it")
    d.add_argument("name", choices=("vgg16", "vggface"))
    d.add_argument("--quiet", action="store_true")
    i = actions.add_parser("import", help="validate a local weight file and install it")
    i.add_argument("path")
    i.add_argument(
        "--name",
        choices=("vgg16", "vggface"),
        default=None,
        help="architecture (detected when omitted)",
    )
    actions.add_parser("list", help="show the cache and what is installed")
    p.set_defaults(func=_cmd_weights)

    p = sub.add_parser("train", help="train an attribute classifier from a config")
    p.add_argument("--config", required=True, help="a Python config file, e.g. configs/starter.py")
    p.add_argument("--workdir", required=True, help="checkpoints, metrics and the model go here")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--max-steps", type=int, default=None, help="stop this run after N steps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="override config values, e.g. train.steps=100",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("train-vae", help="train a conditional VAE from a config")
    p.add_argument("--config", required=True, help="e.g. configs/vae_starter.py")
    p.add_argument("--workdir", required=True, help="checkpoints, metrics and the VAE go here")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--max-steps", type=int, default=None, help="stop this run after N steps")
    p.add_argument(
        "--attach", default=None, metavar="BUNDLE", help="also copy the VAE into this model bundle"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override config values")
    p.set_defaults(func=_cmd_train_vae)

    p = sub.add_parser("evaluate", help="per-attribute accuracy of a classifier on a dataset")
    p.add_argument("--model", default="starter", help="model name or bundle path")
    p.add_argument(
        "--data",
        default="synthetic",
        help="synthetic | celeba:PATH | csv:FOLDER:CSV | tfds[:DATA_DIR] | PATH",
    )
    p.add_argument("--split", default="test", choices=("train", "validation", "test"))
    p.add_argument("--n", type=int, default=None, help="examples (required for synthetic)")
    p.add_argument("--seed", type=int, default=12345, help="data seed (synthetic)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--json", default=None, help="also write the report as JSON here")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("score", help="attribute probabilities for images")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", default="starter", help="model name or bundle path")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--all", action="store_true", help="list every attribute, not just likely ones")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser(
        "fit", help="fit the cGMM of a model's activations and store it in its bundle"
    )
    p.add_argument("--model", required=True, help="bundle folder to fit and extend")
    p.add_argument("--data", default="synthetic", help="data source (as for evaluate)")
    p.add_argument("--layer", default="conv3_1")
    p.add_argument("--n", type=int, default=8192, help="images in the statistics pass")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_fit)

    def guidance(p):
        p.add_argument(
            "--guidance",
            type=float,
            default=1.0,
            help="weight of the classifier seeing the named attributes (default 1; 0: off)",
        )

    def common(p, n=True):
        p.add_argument(
            "--model",
            default="starter",
            help="starter, a bundle path, or vgg16 / vggface once imported",
        )
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--steps", type=int, default=None, help="optimization steps")
        p.add_argument("--size", type=int, default=None, help="output side in pixels")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument(
            "--input-size",
            type=int,
            default=128,
            help="working size with published weights (--model vgg16)",
        )
        if n:
            p.add_argument("--n", type=int, default=1, help="faces to draw")
            p.add_argument("--out", default=None, help="a file (one face) or a folder")
            p.add_argument("--grid", default=None, help="also write all faces as one grid")

    p = sub.add_parser("generate", help="draw faces from an attribute description")
    p.add_argument("--attrs", required=True, help='e.g. "youth, black hair, male"')
    p.add_argument("--method", default="conditional", choices=("conditional", "paper", "baseline"))
    p.add_argument(
        "--temperature",
        type=float,
        default=0.7,
        help="diversity: 0 gives the cGMM's mean prediction (default 0.7)",
    )
    p.add_argument(
        "--backend",
        default="cgmm",
        choices=("cgmm", "vae"),
        help="cgmm: targets + feature inversion (default); vae: decode VAE samples",
    )
    p.add_argument(
        "--init",
        default="mean",
        choices=("mean", "vae"),
        help="start inversion from the mean face (default) or a VAE sample (the hybrid)",
    )
    p.add_argument("--vae", default=None, help="a VAE bundle (default: the model's own)")
    guidance(p)
    common(p)
    p.set_defaults(func=_cmd_generate)

    for name, text in (
        ("invert", "reconstruct an image from one layer's activations"),
        ("caricature", "exaggerate what a layer sees in an image"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("image")
        p.add_argument("--layer", default=None, help="layer (default: the cGMM layer)")
        p.add_argument("--out", default=None)
        p.add_argument("--grid", default=None, help="also write input and result side by side")
        common(p, n=False)
        p.set_defaults(func=_cmd_invert_like)

    p = sub.add_parser("visualize", help="what an attribute head or a unit responds to")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--attr", default=None, help="an attribute, e.g. smiling")
    which.add_argument("--unit", default=None, help="LAYER:CHANNEL, e.g. conv3_1:7")
    common(p)
    p.set_defaults(func=_cmd_visualize)

    p = sub.add_parser("edit", help="alter portraits: add or remove attributes")
    p.add_argument("portrait", help="an image, or a folder of images (edited in batches)")
    p.add_argument("--attrs", required=True, help='what to change, e.g. "+smiling,-eyeglasses"')
    p.add_argument(
        "--strength",
        type=float,
        default=2.0,
        help="multiple of the cGMM's predicted change (default 2)",
    )
    p.add_argument("--sweep", default=None, help="a strip of strengths, e.g. 0,1,2,3")
    p.add_argument("--layer", default=None, help="layer (default: the cGMM layer)")
    p.add_argument(
        "--box", default=None, help="face box x,y,w,h in pixels (default: the centred square)"
    )
    p.add_argument(
        "--paste",
        action="store_true",
        help="paste the edited face back into the original at full resolution",
    )
    p.add_argument("--out", required=True, help="output file, or folder for a folder input")
    p.add_argument("--batch-size", type=int, default=8)
    guidance(p)
    p.add_argument("--model", default="starter", help="model name or bundle path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_edit)
    return parser


def _attach_dash_values(argv: Sequence[str]) -> list[str]:
    """``--attrs -smiling`` as ``--attrs=-smiling``: argparse would read a value that
    starts with a dash as an option, but removing an attribute is written that way."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--attrs" and arg.startswith("-"):
            out[-1] = f"--attrs={arg}"
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(_attach_dash_values(sys.argv[1:] if argv is None else argv))
    try:
        return args.func(args)
    except DeepFaceGenError as err:
        print(f"deepface-gen: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("deepface-gen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
