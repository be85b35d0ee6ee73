"""The ceiling of the targets: G on real portraits' activations once they are projected
onto the cGMM's family of targets, for residual bases of several sizes.

    python experiments/bench_family.py [--components 64,128,256,512] [--pca-examples 4096]

Every target ``generate`` hands G lies in one family: the ridge's prediction for an
attribute vector plus a combination of the first P principal components of the ridge's
residuals (the starter keeps P = 64). Whatever the cGMM draws, ``net`` cannot draw
better than G draws the *projections* of real portraits onto that family: a real
portrait's own activations with everything outside the P components removed. This
benchmark measures that ceiling as bench_generate.py measures methods (its 32
descriptions, the same-description portraits drawn ``FLOOR_DRAWS`` times, each distance
a ratio to the floor), for the stored basis and for a basis refitted with more
components (``fitting.residual_pca``, as ``deepface-gen fit`` computes it), beside G on
the activations themselves (the ceiling of any family). Writes ``target_family.json``
and ``target_family.png`` (hat-wearers first: what a small family loses is easiest to
see in a hat's brim). Then ``net``'s own faces (the default targets, drawn
``FLOOR_DRAWS`` times) through the model and through copies of it refitted at each of
``--refit`` (cGMM, mixture and exemplars, as ``deepface-gen fit --components P`` fits
them; G unchanged), measured the same way: what a larger family buys the faces
``generate`` draws.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from bench_generate import (
    DESCRIPTIONS,
    FLOOR_DRAWS,
    add_measure_options,
    mean_realism,
    measure_faces,
    measurement_setup,
    portraits_like,
    redraw,
)

from deepface_gen.attributes import CELEBA_ATTRIBUTES, parse_description
from deepface_gen.cgmm import fitting
from deepface_gen.cgmm.fit import fit_and_store
from deepface_gen.data.input_pipeline import make_source
from deepface_gen.generation import defaults
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.io.images import make_grid, write_image
from deepface_gen.models.classifier import load_classifier
from deepface_gen.training.inverter import Projection, project_codes

FIT_SEED = 7  # the refitted basis reads training portraits no benchmark sample shares


def project(activations: np.ndarray, labels: np.ndarray, ridge: np.ndarray, basis: np.ndarray):
    """Activations (N, h, w, c) as the family ridge(labels) + span(basis rows) holds them
    (``project_codes``, the projection G trains on, ReLU and all), and the fraction of
    their residual variance the basis keeps."""
    projection = Projection(jnp.asarray(ridge), jnp.asarray(basis), jnp.ones(len(basis)))
    codes = jnp.asarray(activations)
    moved = project_codes(codes, jnp.asarray(labels, jnp.float32), projection, jnp.ones(len(codes)))
    x = np.concatenate([labels, np.ones((len(labels), 1))], 1)
    residual = activations.reshape(len(activations), -1).astype(np.float64) - x @ ridge
    left = residual - residual @ basis.T.astype(np.float64) @ basis.astype(np.float64)
    explained = 1.0 - float((left**2).sum() / (residual**2).sum())
    return np.asarray(moved), explained


def refitted(
    bundle: Path, layer: str, components: int, pca_examples: int, folder: Path
) -> FaceGenerator:
    """A copy of ``bundle`` in ``folder`` with its cGMM at ``layer``, mixture and exemplars
    refitted at ``components`` residual components, everything else as ``deepface-gen fit`` defaults
    (the mixture on 16,384 portraits: its Gaussians are over 40 + P coordinates)."""
    copy = shutil.copytree(bundle, folder / f"refit_{components}")
    classifier = load_classifier(copy)
    source = make_source("synthetic", "train", classifier.input_size, 128, 0)
    fit_and_store(
        classifier, source, layer, 8192, quiet=False,
        mixture_components=defaults.MIXTURE_COMPONENTS, mixture_examples=16384,
        pca_examples=pca_examples, exemplars=defaults.EXEMPLARS, components=components,
    )  # fmt: skip
    return FaceGenerator.load(copy)


def figure(columns: dict[str, np.ndarray], labels: np.ndarray, rows: int = 8) -> np.ndarray:
    """``rows`` portraits (hat-wearers first), one column per drawing, at 2x."""
    hats = np.flatnonzero(labels[:, CELEBA_ATTRIBUTES.index("Wearing_Hat")] > 0)[::2]
    others = np.arange(5, len(labels), 97)
    shown = np.concatenate([hats[: rows // 2], others])[:rows]
    tiles = [faces[i] for i in shown for faces in columns.values()]
    captions = [name if r == 0 else "" for r in range(rows) for name in columns]
    return make_grid(
        tiles, columns=len(columns), captions=captions, zoom=2,
        title="G on real portraits' activations projected onto the targets' family, "
        "by the number of residual components kept",
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measure_options(parser)
    parser.add_argument("--components", default="64,128,256,512")
    parser.add_argument("--pca-examples", type=int, default=4096)
    parser.add_argument(
        "--refit", default="256", help="residual components to refit a copy of the model at, "
        "for net's faces through it (empty: the model's alone)",
    )  # fmt: skip
    args = parser.parse_args()
    generator, judge, realism = measurement_setup(args)
    cgmm, classifier, inverter = generator.cgmm, generator.classifier, generator.inverter
    specs = [parse_description(d) for d in DESCRIPTIONS]
    # The floor, as bench_generate.same_description_floor reads it, keeping the labels.
    portraits, labels, _ = portraits_like(specs, args.seeds * FLOOR_DRAWS, generator.size)
    floor = measure_faces(portraits, judge, realism, specs, args.seeds, FLOOR_DRAWS)
    activations = np.asarray(classifier.outputs(portraits, taps=(cgmm.layer,))[cgmm.layer])

    def measured(acts: np.ndarray) -> tuple[dict, np.ndarray]:
        faces = redraw(inverter, acts)
        return mean_realism(faces, realism, len(specs), FLOOR_DRAWS), faces

    sizes = sorted({int(p) for p in args.components.split(",")})
    source = make_source("synthetic", "train", classifier.input_size, 64, FIT_SEED)
    refit, _ = fitting.residual_pca(
        classifier, source, cgmm.ridge, cgmm.layer, args.pca_examples, max(sizes), quiet=False
    )
    report = {"floor": floor, "pca_examples": args.pca_examples, "rows": {}}
    real, real_faces = measured(activations)
    report["rows"]["activations"] = {**real, "components": None, "explained": 1.0}
    columns = {"real": portraits, "G on real": real_faces}
    bases = {f"stored {len(cgmm.components)}": cgmm.components}
    bases.update({f"refit {p}": refit[:p] for p in sizes})
    for name, basis in bases.items():
        projected, explained = project(activations, labels, cgmm.ridge, basis)
        measures, columns[name] = measured(projected)
        report["rows"][name] = {**measures, "components": len(basis), "explained": explained}
        print(f"{name}: kept {explained:.3f} of the residual variance, "
              f"VGG16 KID {measures.get('vgg16_kid', float('nan')):.4g}", flush=True)  # fmt: skip
    report["net"] = {}
    with tempfile.TemporaryDirectory() as folder:
        drawers = {"model": generator}
        bundle = Path(classifier.path)
        for p in sorted({int(p) for p in args.refit.split(",") if p}):
            drawers[f"refit {p}"] = refitted(bundle, cgmm.layer, p, args.pca_examples, Path(folder))
        for name, drawer in drawers.items():
            faces = np.concatenate([
                drawer.generate(specs[i : i + 4], n=args.seeds * FLOOR_DRAWS, seed=0,
                                render="net")
                for i in range(0, len(specs), 4)
            ])  # fmt: skip
            measures = measure_faces(faces, judge, realism, specs, args.seeds, FLOOR_DRAWS)
            components = len(drawer.cgmm.components)
            report["net"][name] = {**measures, "components": components}
            kid = measures.get("vgg16_kid", float("nan"))
            print(f"net, {name} ({components} components): VGG16 KID {kid:.4g}", flush=True)
    out = Path(args.out)
    write_image(out / "target_family.png", figure(columns, labels))
    (out / "target_family.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out / 'target_family.json'}")


if __name__ == "__main__":
    main()
