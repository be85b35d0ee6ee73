"""The deepface-gen command line: one module per command, assembled in ``main``."""

from deepface_gen.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
