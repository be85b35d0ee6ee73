"""`deepface-gen evaluate` and `score`: what a classifier sees."""

from __future__ import annotations

import argparse
import json
import sys

from deepface_gen.cli import common

# The synthetic source is endless: without --n, evaluate this many of its portraits.
SYNTHETIC_EXAMPLES = 4096


def run_evaluate(args: argparse.Namespace) -> int:
    from deepface_gen.analysis.evaluate import evaluate
    from deepface_gen.data.input_pipeline import make_source
    from deepface_gen.io.images import atomic_write_bytes
    from deepface_gen.models.classifier import load_classifier

    classifier = load_classifier(args.model)
    source = make_source(
        args.data, args.split, classifier.input_size, args.batch_size, seed=args.seed, shuffle=False
    )
    examples = args.n
    if examples is None and source.num_examples is None:
        examples = SYNTHETIC_EXAMPLES
    report = evaluate(classifier, source, examples, quiet=args.quiet)
    print(report.table())
    if args.json:
        atomic_write_bytes(args.json, json.dumps(report.to_json(), indent=2).encode())
        print(f"wrote {args.json}")
    return 0


def run_score(args: argparse.Namespace) -> int:
    import numpy as np

    from deepface_gen.cgmm import domain
    from deepface_gen.models.classifier import load_classifier

    classifier = load_classifier(args.model)
    images = np.stack([common.read_portrait(args, p, classifier)[1].crop for p in args.images])
    check = domain.load_for(classifier)
    seen = classifier.outputs(images, taps=(check[0].layer,) if check else ())
    probabilities = seen["probabilities"]
    known = [a for a in classifier.attributes if a in classifier.known_attributes]
    distances = domain.activation_distance(check[0], seen[check[0].layer]) if check else None
    if check:
        for path, distance in zip(args.images, distances, strict=True):
            if distance > check[1]:
                message = domain.out_of_domain_message(str(path), distance, check[1])
                print(f"deepface-gen: warning: {message}", file=sys.stderr)
    if args.json:
        result = {}
        for i, (path, p) in enumerate(zip(args.images, probabilities, strict=True)):
            entry = {a: round(float(p[classifier.attributes.index(a)]), 4) for a in known}
            if check:
                entry["domain_distance"] = round(float(distances[i]), 3)
                entry["in_domain"] = bool(distances[i] <= check[1])
            result[str(path)] = entry
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("evaluate", help="per-attribute accuracy of a classifier on a dataset")
    p.add_argument("--model", default="starter", help="model name or bundle path")
    p.add_argument(
        "--data",
        default="synthetic",
        help="synthetic | celeba:PATH | csv:FOLDER:CSV | tfds[:DATA_DIR] | PATH",
    )
    p.add_argument("--split", default="test", choices=("train", "validation", "test"))
    p.add_argument(
        "--n",
        type=common.whole(1, common.BIG),
        default=None,
        help=f"examples (default: the whole split; {SYNTHETIC_EXAMPLES} of the endless "
        "synthetic source)",
    )
    p.add_argument(
        "--seed", type=common.whole(0, common.SEED_MAX), default=12345, help="data seed (synthetic)"
    )
    p.add_argument("--batch-size", type=common.whole(1, 4096), default=128)
    p.add_argument("--json", default=None, help="also write the report as JSON here")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_evaluate)

    p = sub.add_parser("score", help="attribute probabilities for images")
    p.add_argument("images", nargs="+")
    p.add_argument("--model", default="starter", help="model name or bundle path")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--all", action="store_true", help="list every attribute, not just likely ones")
    common.add_align_options(p)
    p.set_defaults(func=run_score)
