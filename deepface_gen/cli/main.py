"""The ``deepface-gen`` command line.

Each command lives in its own module of this package, its parser (``register``)
beside its handler (``run``); this module assembles them. Errors the user can fix
(:class:`DeepFaceGenError`) print one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from deepface_gen import __version__
from deepface_gen.cli import (
    align,
    attributes,
    calibrate,
    crop_search,
    edit,
    evaluate,
    fit,
    generate,
    identity,
    invert,
    rank,
    serve,
    synth,
    train,
    tsne,
    visualize,
    weights,
)
from deepface_gen.errors import DeepFaceGenError

# In the order `deepface-gen --help` lists them.
COMMANDS = (
    attributes, synth, weights, train, evaluate, fit, generate, invert, visualize, align, edit,
    calibrate, identity, rank, crop_search, tsne, serve,
)  # fmt: skip


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line, like every other error:
    ``deepface-gen: error: generate: argument --n: must be from 1 to 1024, not 0``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("deepface-gen").strip()
        where = f"{command}: " if command else ""
        hint = f" (see deepface-gen {command} --help)" if command else ""
        self.exit(2, f"deepface-gen: error: {where}{message}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = Parser(
        prog="deepface-gen",
        description="Draw faces from sparse attribute descriptions and alter portraits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--no-compilation-cache",
        action="store_true",
        help="do not keep compiled programs on disk (also: DEEPFACE_GEN_COMPILATION_CACHE=0)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    for command in COMMANDS:
        command.register(sub)
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
    try:
        args = parser.parse_args(_attach_dash_values(sys.argv[1:] if argv is None else argv))
    except SystemExit as done:  # --help, --version, or a refused argument (status 2)
        return int(done.code or 0)
    except BrokenPipeError:  # --help or --show-settings piped into `head` and closed early
        sys.stderr.close()
        return 0
    try:
        # Imported here: bundles pull in Flax, which --help and parse errors never need.
        from deepface_gen.io.compilation_cache import (
            enable_compilation_cache,
            enabled_by_environment,
        )

        wants_cache = not args.no_compilation_cache and enabled_by_environment()
        if wants_cache and args.command != "attributes":  # the one command that compiles nothing
            enable_compilation_cache()
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
