"""Which frozen network's features could tell G's faces from the portraits: a linear probe.

    python experiments/probe_separability.py [--portraits 1024] [--vgg16 PATH.h5] \
        [--out experiments/results]

G's critic reads the pixels and the starter classifier's own features, and
``bench_critic.py`` finds it blind once G answers it. Before another network is wired
into the critic, this asks which features hold the difference at all. Held-out real
portraits and the shipped G's redraws of them (the ceiling of what ``net`` draws) go
through each network; each layer's map becomes a texture summary (per channel, the mean
and the spread over space), and a logistic regression learns real against redrawn on
half of the portraits (each portrait with its own redraw) and is read on the other half:
the area under its ROC curve, 0.5 where the layer holds no difference a line can find.
VGG16-ImageNet is read as the reference of what the realism measure sees; it measures,
so it may never train anything, and no critic may read it. Its architecture with random
weights (Flax's default LeCun-normal initialization) and the pixels' power spectrum are read
beside it: whether what separates them lies in the trained weights, or in the
architecture, the resizing, or the frequencies alone. Writes ``separability.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np
from bench_critic import ranked_above
from bench_generate import SHARED_VGG16, real_portraits, redraw
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepface_gen.analysis.realism import vgg16_features
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.models.classifier import forward
from deepface_gen.models.identity import load_identity_model

HELD_OUT_SEED = 778  # apart from the training stream, bench_generate's pools and bench_critic's
CLASSIFIER_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv3_2", "conv4_1", "conv4_2")
IDENTITY_LAYERS = CLASSIFIER_LAYERS  # the same architecture family: like for like
VGG16_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def texture_summary(maps: np.ndarray) -> np.ndarray:
    """(N, 2C): each channel's mean and spread over space of feature maps (N, h, w, C)."""
    maps = np.asarray(maps, np.float64)
    return np.concatenate([maps.mean(axis=(1, 2)), maps.std(axis=(1, 2))], axis=1)


def power_spectrum(images: np.ndarray) -> np.ndarray:
    """(N, S * (S // 2 + 1)): the log power of each grey image's 2-D Fourier transform
    (its mean removed), every frequency its own column."""
    grey = np.asarray(images, np.float64).mean(axis=-1)
    grey = grey - grey.mean(axis=(1, 2), keepdims=True)
    return np.log(np.abs(np.fft.rfft2(grey)) ** 2 + 1e-3).reshape(len(grey), -1)


def probe_auc(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> float:
    """Test AUC of a logistic regression telling ``real`` rows from ``fake`` ones, trained
    on half the pairs (row i of each is one portrait and its redraw) and read on the rest."""
    n = len(real)
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[: n // 2], order[n // 2 :]
    x = np.concatenate([real[train], fake[train]])
    y = np.r_[np.ones(len(train)), np.zeros(len(train))]
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    probe.fit(x, y)
    return ranked_above(probe.decision_function(real[test]), probe.decision_function(fake[test]))


def summaries(apply, images: np.ndarray, layers: tuple[str, ...], batch: int = 128) -> dict:
    """{layer: (N, 2C)} texture summaries of ``apply(images) -> {layer: maps}``, in batches."""
    parts: dict = {layer: [] for layer in layers}
    for i in range(0, len(images), batch):
        maps = apply(images[i : i + batch])
        for layer in layers:
            parts[layer].append(texture_summary(maps[layer]))
    return {layer: np.concatenate(p) for layer, p in parts.items()}


def feature_networks(classifier, vgg16_weights: str) -> dict:
    """{name: (apply(images) -> {layer: maps}, layers)} for every frozen network here:
    the starter classifier, the identity model, and VGG16-ImageNet where its weights are."""
    identity = load_identity_model()
    networks = {
        "starter classifier (G's feature loss and critic read it)": (
            lambda x: classifier.outputs(x, taps=CLASSIFIER_LAYERS), CLASSIFIER_LAYERS),
        "identity model": (
            lambda x: identity.apply(np.asarray(x, np.float32), taps=IDENTITY_LAYERS),
            IDENTITY_LAYERS),
    }  # fmt: skip
    if Path(vgg16_weights).exists():
        net = vgg16_features(vgg16_weights).backbone
        side = net.input_size
        untrained = net.module.init(jax.random.key(0), np.zeros((1, side, side, 3)))["params"]

        def vgg16(params):
            def apply(x):
                x = jax.image.resize(np.asarray(x, np.float32), (len(x), side, side, 3), "linear")
                return forward(net.module, net.preprocessing, params, x, VGG16_LAYERS)

            return apply

        networks["VGG16-ImageNet (measures realism: a reference, never a critic)"] = (
            vgg16(net.params), VGG16_LAYERS)  # fmt: skip
        networks["VGG16's architecture, untrained (random weights)"] = (
            vgg16(untrained), VGG16_LAYERS)  # fmt: skip
    return networks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--portraits", type=int, default=1024)
    parser.add_argument("--vgg16", default=str(SHARED_VGG16))
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    generator = FaceGenerator.load("starter")
    classifier, layer = generator.classifier, generator.cgmm.layer
    real, _ = real_portraits(HELD_OUT_SEED, args.portraits, generator.size)
    codes = classifier.outputs(real, taps=(layer,))[layer]
    redrawn = redraw(generator.inverter, codes)
    colours = probe_auc(texture_summary(real.astype(np.float32)),
                        texture_summary(redrawn.astype(np.float32)))  # fmt: skip
    spectra = probe_auc(power_spectrum(real), power_spectrum(redrawn))
    networks = {"pixels (colour means and spreads)": {"pixels": colours},
                "pixels (power spectrum)": {"pixels": spectra}}  # fmt: skip
    report: dict = {"portraits": args.portraits, "networks": networks}
    for name, (apply, layers) in feature_networks(classifier, args.vgg16).items():
        on_real, on_fake = summaries(apply, real, layers), summaries(apply, redrawn, layers)
        networks[name] = {layer: probe_auc(on_real[layer], on_fake[layer]) for layer in layers}
        print(name, {k: round(v, 3) for k, v in networks[name].items()}, flush=True)
    out = Path(args.out) / "separability.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
