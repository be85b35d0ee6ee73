"""`deepface-gen weights`: download, import and list published weights."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
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
        path = pretrained.import_weights(args.path, args.name, args.unverified)
        verdict = pretrained.VERDICTS[pretrained.installed_record(path.stem)["verified"]]
        print(f"installed {args.path} as {path.stem} at {path}: {verdict}")
    else:
        print(f"cache: {bundles.home()}")
        for name, known in pretrained.KNOWN_WEIGHTS.items():
            path = pretrained.cached_weights_path(name)
            verdict = pretrained.installed_record(name).get("verified")
            state = f"installed at {path}" if path.exists() else "not installed"
            if path.exists() and verdict in pretrained.VERDICTS:
                state += f": {pretrained.VERDICTS[verdict]}"
            print(f"{name:<8} {state}\n         {known.citation}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
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
    i.add_argument(
        "--unverified",
        action="store_true",
        help="install a structurally sound file that is not the published weights",
    )
    actions.add_parser("list", help="show the cache and what is installed")
    p.set_defaults(func=run)
