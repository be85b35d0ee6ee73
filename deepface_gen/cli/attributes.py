"""`deepface-gen attributes`: the attribute vocabulary, what a model knows, parsing."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("attributes", help="list the attribute vocabulary and its aliases")
    p.add_argument("--parse", metavar="TEXT", help="parse a description and print the result")
    p.add_argument("--json", action="store_true", help="with --parse: print JSON")
    p.add_argument("--model", default=None, help="mark which attributes this model knows")
    p.add_argument(
        "--drawn", action="store_true", help="mark which attributes the synthetic renderer draws"
    )
    p.set_defaults(func=run)
