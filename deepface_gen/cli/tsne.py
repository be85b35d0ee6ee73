"""`deepface-gen tsne`: a map of a folder of faces (or synthetic ones) by the
classifier's features."""

from __future__ import annotations

import argparse
import json

from deepface_gen import checks
from deepface_gen.cli import common


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from deepface_gen.analysis import feature_map
    from deepface_gen.attributes import as_spec
    from deepface_gen.errors import DeepFaceGenError
    from deepface_gen.io.images import atomic_write_bytes, write_image
    from deepface_gen.models.classifier import load_classifier

    spec = as_spec(args.color_by)
    if len(spec.values) != 1:
        raise DeepFaceGenError("--color-by takes one attribute, e.g. --color-by male")
    (attribute,) = spec.values
    if (args.folder is None) == (args.synthetic is None):
        raise DeepFaceGenError("give a FOLDER or --synthetic N (one of them)")
    checks.output_file(args.out, "--out")
    checks.output_data_file(args.json, "--json")
    classifier = load_classifier(args.model)
    classifier.require_known(spec.values, "--color-by")
    paths: list[str] = []
    if args.folder is not None:
        from deepface_gen.analysis.ranking import score_folder

        collection = score_folder(classifier, args.folder, limit=args.max, quiet=args.quiet,
                                  recursive=args.recursive)  # fmt: skip
        print(collection.summary())
        thumbnails, outputs = collection.thumbnails, collection.outputs
        paths = [str(p) for p in collection.paths]
    else:
        import jax

        from deepface_gen.data import synth

        portraits = synth.sample_portraits(
            jax.random.key(args.seed), args.synthetic, size=classifier.input_size
        )
        thumbnails = synth.to_uint8(portraits.images)
        outputs = classifier.outputs(thumbnails)
    points = feature_map.embed(outputs["features"], args.seed)
    label = f"the classifier's probability of {attribute.replace('_', ' ').lower()}"
    values = outputs["probabilities"][:, classifier.attributes.index(attribute)]
    print(f"wrote {write_image(args.out, feature_map.scatter_map(points, values, label=label))}")
    grid_path = common.suffixed(args.out, "_grid")
    print(f"wrote {write_image(grid_path, feature_map.thumbnail_map(points, thumbnails))}")
    if args.json:
        payload = {
            "color_by": attribute,
            "points": np.round(points, 3).tolist(),
            "values": np.round(values, 4).tolist(),
            "paths": paths,
        }
        atomic_write_bytes(args.json, json.dumps(payload).encode())
        print(f"wrote {args.json}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = sub.add_parser("tsne", help="a t-SNE map of faces by the classifier's features")
    p.add_argument("folder", nargs="?", default=None, help="a folder of face images")
    p.add_argument(
        "--synthetic", type=common.whole(5, 5000), default=None,
        help="map N synthetic portraits instead of a folder",
    )  # fmt: skip
    p.add_argument("--recursive", action="store_true", help="also read the folder's subfolders")
    p.add_argument("--color-by", required=True, help="one attribute, e.g. male")
    p.add_argument("--model", default="starter")
    p.add_argument("--max", type=common.whole(5, 5000), default=2000, help="read at most N images")
    p.add_argument("--seed", type=common.whole(0, common.SEED_MAX), default=0)
    p.add_argument("--out", required=True, help="the scatter (.png); OUT_grid.png: thumbnails")
    p.add_argument("--json", default=None, help="also write the positions, as JSON")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)
