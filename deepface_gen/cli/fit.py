"""`deepface-gen fit`: fit a model's cGMM and store it in its bundle."""

from __future__ import annotations

import argparse

from deepface_gen.cli import common
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation import defaults


def run(args: argparse.Namespace) -> int:
    from deepface_gen import hosts
    from deepface_gen.cgmm.fit import fit_and_store, fit_mixture_and_store
    from deepface_gen.data.input_pipeline import make_source
    from deepface_gen.models.classifier import load_classifier

    hosts.initialize(args.coordinator, args.num_processes, args.process_id, args.join_timeout)
    say = print if hosts.is_main() else lambda *_: None  # every process fits; the first says
    classifier = load_classifier(args.model)
    source = make_source(args.data, "train", classifier.input_size, args.batch_size, args.seed)
    if args.mixture_only and not (args.mixture or args.exemplars):
        raise DeepFaceGenError("--mixture-only with --mixture 0 and --exemplars 0 fits nothing")
    if args.mixture_only:
        from deepface_gen.generation.generator import FaceGenerator

        fitted = FaceGenerator.load(classifier.path).cgmm
        fit_mixture_and_store(
            classifier, source, fitted, args.mixture, args.mixture_examples, args.quiet,
            args.exemplars,
        )  # fmt: skip
        parts = [f"a {args.mixture}-component mixture"] if args.mixture else []
        parts += [f"{args.exemplars} exemplars"] if args.exemplars else []
        say(f"fitted {' and '.join(parts)} at {fitted.layer}; stored in {classifier.path}")
        return 0
    fitted = fit_and_store(
        classifier, source, args.layer, args.n, quiet=args.quiet,
        mixture_components=args.mixture, mixture_examples=args.mixture_examples,
        pca_examples=args.pca_examples, exemplars=args.exemplars, components=args.components,
    )  # fmt: skip
    say(
        f"fitted cGMM at {fitted.layer} {fitted.shape} on {args.n} images"
        + (f" with a {args.mixture}-component mixture" if args.mixture else "")
        + (f", {args.exemplars} exemplars" if args.exemplars else "")
        + f"; stored in {classifier.path}"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser(
        "fit", help="fit the cGMM of a model's activations and store it in its bundle"
    )
    p.add_argument("--model", required=True, help="bundle folder to fit and extend")
    p.add_argument("--data", default="synthetic", help="data source (as for evaluate)")
    p.add_argument("--layer", default=defaults.CGMM_LAYER)
    p.add_argument(
        "--n", type=common.whole(1, common.BIG), default=8192, help="images in the statistics pass"
    )
    p.add_argument(
        "--pca-examples", type=common.whole(2, common.BIG), default=1024,
        help="images whose residuals give the cGMM's PCA basis (read in 4 passes)",
    )  # fmt: skip
    p.add_argument(
        "--components",
        type=common.whole(2, 4096),
        default=defaults.RESIDUAL_COMPONENTS,
        help="principal components of the ridge's residuals the targets are drawn in "
        f"(default {defaults.RESIDUAL_COMPONENTS}; at most --pca-examples - 1 are found)",
    )
    p.add_argument(
        "--mixture",
        type=common.whole(0, 256),
        default=defaults.MIXTURE_COMPONENTS,
        help="Gaussians in the mixture over [attributes, residual coordinates] "
        f"(method 'mixture'; 0: none; default {defaults.MIXTURE_COMPONENTS})",
    )
    p.add_argument(
        "--mixture-examples", type=common.whole(10, common.BIG), default=4096,
        help="images the mixture is fitted on",
    )  # fmt: skip
    p.add_argument(
        "--exemplars",
        type=common.whole(0, common.BIG),
        default=defaults.EXEMPLARS,
        help="training portraits whose residual coordinates are kept, from the mixture's "
        f"images (method 'exemplar'; 0: none; default {defaults.EXEMPLARS})",
    )
    p.add_argument(
        "--mixture-only",
        action="store_true",
        help="add (or refit) the mixture and exemplars of an already fitted cGMM, leaving "
        "the cGMM as it is",
    )
    p.add_argument("--seed", type=common.whole(0, common.SEED_MAX), default=0)
    p.add_argument("--batch-size", type=common.whole(1, 4096), default=128)
    p.add_argument("--quiet", action="store_true")
    common.add_process_options(p)
    p.set_defaults(func=run)
