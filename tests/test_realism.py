"""Realism measures: FID's formula, the unbiased KID, and VGG16 as the feature net."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from deepface_gen.analysis.realism import (
    FeatureNet,
    frechet_distance,
    kernel_distance,
    vgg16_features,
)
from deepface_gen.models.classifier import Backbone
from deepface_gen.models.preprocessing import STARTER
from deepface_gen.models.vgg import compact_config, init_params


def test_kernel_distance_is_unbiased_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    draws = [
        kernel_distance(rng.normal(size=(400, 8)), rng.normal(size=(400, 8))) for _ in range(20)
    ]
    # Unbiased: two samples of one distribution average 0 (each draw's sd is about 0.01).
    assert abs(np.mean(draws)) < 0.005 and min(draws) < 0
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    assert kernel_distance(a, b + 0.5) > 0.5
    assert kernel_distance(a, b + 1.0) > kernel_distance(a, b + 0.5)
    with pytest.raises(ValueError, match="at least two samples"):
        kernel_distance(a[:1], b)


def test_kernel_distance_matches_the_definition_on_a_small_case():
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    b = np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 0.0]])

    def k(x, y):
        return (x @ y / 2 + 1) ** 3

    within_a = (k(a[0], a[1]) + k(a[1], a[0])) / 2
    within_b = sum(k(b[i], b[j]) for i in range(3) for j in range(3) if i != j) / 6
    across = np.mean([k(x, y) for x in a for y in b])
    assert kernel_distance(a, b) == pytest.approx(within_a + within_b - 2 * across)


def test_frechet_distance_matches_closed_forms():
    a = np.random.default_rng(0).normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Same covariance, shifted mean: the distance is the squared shift.
    assert frechet_distance(a, a + np.array([1.0, 2.0, 0.0])) == pytest.approx(5.0, rel=1e-6)
    # N(0, I) vs N(0, 4I) in 3-D: tr(I + 4I - 2*2I) = 3.
    assert frechet_distance(a, 2.0 * a) == pytest.approx(3.0, rel=0.05)


def test_feature_net_pools_one_layer_of_resized_images():
    config = compact_config(8, 2, 32)
    net = FeatureNet(Backbone(config, init_params(config, jax.random.key(0)), STARTER, "tiny"),
                     layer="conv2_1", scale=2.0)  # fmt: skip
    images = np.random.default_rng(0).integers(0, 256, (5, 20, 20, 3)).astype(np.uint8)
    features = net.features(images, batch_size=2)
    assert features.shape == (5, 16)
    assert np.isfinite(features).all() and (features >= 0).all()  # averaged ReLUs
    np.testing.assert_allclose(net.features(images[:1]), features[:1], rtol=1e-5, atol=1e-6)


def test_vgg16_features_tell_faces_from_noise(vgg16_file):
    from deepface_gen.data import synth

    net = vgg16_features(vgg16_file, size=64)
    faces = synth.to_uint8(synth.sample_portraits(jax.random.key(0), 24, size=64).images)
    noise = np.random.default_rng(0).integers(0, 256, (12, 64, 64, 3)).astype(np.uint8)
    f = net.features(np.concatenate([faces, noise]))
    assert f.shape == (36, 512)
    assert kernel_distance(f[:12], f[12:24]) < kernel_distance(f[:12], f[24:])
