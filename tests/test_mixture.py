"""The mixture over [attributes, residual coordinates]: closed-form conditioning,
sampling, fitting, storage in a bundle and the ``mixture`` method."""

from __future__ import annotations

import dataclasses
import shutil

import jax
import numpy as np
import pytest

from deepface_gen import FaceGenerator, cli
from deepface_gen.attributes import NUM_ATTRIBUTES
from deepface_gen.cgmm import fitting
from deepface_gen.cgmm import mixture as mixture_lib
from deepface_gen.cgmm.mixture import Mixture
from deepface_gen.errors import DeepFaceGenError

P = 3  # residual coordinates in the hand-built mixtures


def two_modes() -> Mixture:
    """Component 0: attribute 0 present and coordinate 0 at +2; component 1: absent, -2.
    Attribute 1 follows attribute 0 within each component (covariance 0.5)."""
    dims = NUM_ATTRIBUTES + P
    means = np.zeros((2, dims))
    means[0, 0], means[0, 1], means[0, NUM_ATTRIBUTES] = 1.0, 1.0, 2.0
    means[1, 0], means[1, 1], means[1, NUM_ATTRIBUTES] = -1.0, -1.0, -2.0
    cov = np.tile(np.eye(dims) * 0.1, (2, 1, 1))
    cov[:, 0, 1] = cov[:, 1, 0] = 0.05
    return Mixture(np.array([0.5, 0.5]), means, cov)


def test_conditioning_reweights_components_and_shifts_their_means():
    mixture = two_modes()
    values, named = np.zeros(NUM_ATTRIBUTES), np.zeros(NUM_ATTRIBUTES, bool)
    values[0], named[0] = 1.0, True
    log_w, means, chols = mixture_lib.condition(mixture, values, named)
    weights = np.exp(log_w)
    assert weights[0] > 0.999 and weights.sum() == pytest.approx(1.0)
    # Unnamed attribute 1 given attribute 0 = 1 in component 1: -1 + 0.5 * (1 - (-1)) = 0.
    assert means[1, 0] == pytest.approx(0.0, abs=1e-3)
    assert means[0, 0] == pytest.approx(1.0, abs=1e-3)
    # The conditional covariance of attribute 1 shrinks by 0.05^2 / 0.1.
    cov = chols[0] @ chols[0].T
    assert cov[0, 0] == pytest.approx(0.1 - 0.025 + mixture_lib.JITTER, rel=1e-3)
    assert means.shape == (2, NUM_ATTRIBUTES - 1 + P)
    # Nothing named: the mixture's own weights.
    log_w, _, _ = mixture_lib.condition(mixture, values, np.zeros(NUM_ATTRIBUTES, bool))
    np.testing.assert_allclose(np.exp(log_w), [0.5, 0.5])


class FakeCGMM:
    """Just what ``sample_targets`` reads: identity ridge-free coordinates."""

    shape = (1, 1, P)
    ridge = np.zeros((NUM_ATTRIBUTES + 1, P), np.float32)
    components = np.eye(P, dtype=np.float32)
    component_std = np.ones(P, np.float32)


def test_samples_follow_the_named_mode_and_a_seed_reproduces_them():
    mixture, cgmm = two_modes(), FakeCGMM()
    values, named = np.zeros(NUM_ATTRIBUTES), np.zeros(NUM_ATTRIBUTES, bool)
    values[0], named[0] = -1.0, True
    key = jax.random.key(3)
    targets = mixture_lib.sample_targets(mixture, cgmm, values, named, key, n=64)
    assert targets.shape == (64, 1, 1, P)
    # Absent: component 1, coordinate 0 near -2, so after the ReLU it is 0.
    assert float(np.asarray(targets)[:, 0, 0, 0].max()) < 0.5
    values[0] = 1.0
    present = np.asarray(mixture_lib.sample_targets(mixture, cgmm, values, named, key, n=64))
    assert present[:, 0, 0, 0].mean() == pytest.approx(2.0, abs=0.3)
    again = mixture_lib.sample_targets(mixture, cgmm, values, named, key, n=64)
    np.testing.assert_array_equal(present, np.asarray(again))
    cold = mixture_lib.sample_targets(mixture, cgmm, values, named, key, n=64, temperature=0.0)
    np.testing.assert_allclose(np.asarray(cold)[:, 0, 0, 0], 2.0, atol=1e-4)


def test_draws_given_whole_attribute_vectors_condition_each_face_on_its_own():
    mixture, cgmm = two_modes(), FakeCGMM()
    attributes = np.zeros((128, NUM_ATTRIBUTES), np.float32)
    attributes[:64, :2], attributes[64:, :2] = 1.0, -1.0  # a face of each mode per half
    key = jax.random.key(4)
    drawn = np.asarray(mixture_lib.sample_given(mixture, cgmm, attributes, key, 1.0))
    assert drawn.shape == (128, 1, 1, P)
    assert drawn[:64, 0, 0, 0].mean() == pytest.approx(2.0, abs=0.3)  # component 0
    assert drawn[64:, 0, 0, 0].max() < 0.5  # component 1, near -2 before the ReLU
    np.testing.assert_array_equal(
        drawn, np.asarray(mixture_lib.sample_given(mixture, cgmm, attributes, key, 1.0))
    )
    # Each face's components, means and spread are what conditioning on all 40 gives.
    for face in (0, 64):
        log_w, means, chols = mixture_lib.condition(
            mixture, attributes[face], np.ones(NUM_ATTRIBUTES, bool)
        )
        _, attribute_means, _, _, coordinate_means, gains, given_chols = (
            mixture_lib.attribute_conditionals(mixture)
        )
        shift = attributes[face][None] - attribute_means
        given_means = coordinate_means + np.einsum("kpa,ka->kp", gains, shift)
        np.testing.assert_allclose(given_means, means, atol=1e-5)
        np.testing.assert_allclose(given_chols, chols, atol=1e-5)
    cold = np.asarray(mixture_lib.sample_given(mixture, cgmm, attributes, key, 0.0))
    np.testing.assert_allclose(cold[:64, 0, 0, 0], 2.0, atol=1e-4)


def test_fit_finds_two_clusters_and_refuses_too_few_examples():
    rng = np.random.default_rng(0)
    a = np.where(rng.random(400) < 0.5, 1.0, -1.0)
    y = np.zeros((400, NUM_ATTRIBUTES + P))
    y[:, 0] = a
    y[:, NUM_ATTRIBUTES] = 2.0 * a + 0.1 * rng.normal(size=400)
    fitted = fitting.fit_mixture(y, 2)
    centres = sorted(fitted.means[:, NUM_ATTRIBUTES])
    assert centres == pytest.approx([-2.0, 2.0], abs=0.1)
    again = Mixture.from_arrays(fitted.arrays())
    np.testing.assert_allclose(again.means, fitted.means, rtol=1e-5)
    with pytest.raises(DeepFaceGenError, match="need at least 500 examples"):
        fitting.fit_mixture(y, 50)
    with pytest.raises(DeepFaceGenError, match="disagree in shape"):
        Mixture.from_arrays({**fitted.arrays(), "weights": np.ones(3)})


def test_fit_cli_refits_the_mixture_and_the_method_uses_it(tiny_bundle, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_bundle, model)
    before = FaceGenerator.load(model)
    without = dataclasses.replace(before, cgmm=dataclasses.replace(before.cgmm, mixture=None))
    with pytest.raises(DeepFaceGenError, match="no fitted mixture"):
        without.generate("smiling", method="mixture", steps=1)
    args = ["fit", "--model", str(model), "--mixture-only", "--mixture", "3"]
    assert cli.main([*args, "--mixture-examples", "64", "--batch-size", "32", "--quiet"]) == 0
    assert "3-component mixture" in capsys.readouterr().out
    gen = FaceGenerator.load(model)
    assert gen.cgmm.mixture is not None and gen.cgmm.mixture.components == 3
    # The cGMM itself is left as it was.
    np.testing.assert_array_equal(gen.cgmm.ridge, before.cgmm.ridge)
    faces = gen.generate("smiling, male", n=2, method="mixture", steps=2)
    assert faces.shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(
        faces, gen.generate("smiling, male", n=2, method="mixture", steps=2)
    )


def test_stored_mixture_is_fitted_on_coordinates_the_caller_read(tiny_bundle, tmp_path):
    """bench_mixture --write hands over the coordinates it swept with: the source is not
    read again, and the bundle stores a mixture and exemplars of exactly those rows."""
    from deepface_gen.cgmm.fit import fit_mixture_and_store

    model = shutil.copytree(tiny_bundle, tmp_path / "model")
    generator = FaceGenerator.load(model)
    rows = len(generator.cgmm.component_std)
    y = np.random.default_rng(0).normal(size=(60, NUM_ATTRIBUTES + rows))
    y[:, :NUM_ATTRIBUTES] = np.sign(y[:, :NUM_ATTRIBUTES])
    fitted = fit_mixture_and_store(
        generator.classifier, None, generator.cgmm, 2, exemplars=5, coordinates=y
    )
    stored = FaceGenerator.load(model).cgmm
    assert stored.mixture.components == fitted.mixture.components == 2
    np.testing.assert_allclose(stored.exemplars.coordinates, y[:5, NUM_ATTRIBUTES:], atol=2e-3)
    np.testing.assert_allclose(stored.mixture.means, fitted.mixture.means, rtol=1e-3, atol=1e-4)


def test_anchored_coordinates_are_kept_and_the_rest_drawn_given_them():
    """Anchoring coordinate 0 picks the component whose mode it lies in and shifts the
    coordinates that covary with it, as conditioning a Gaussian on it does."""
    dims = NUM_ATTRIBUTES + P
    a = NUM_ATTRIBUTES
    means = np.zeros((2, dims))
    means[0, a], means[0, a + 2] = 2.0, 1.0  # component 0: coordinate 0 at +2, 2 at 1
    means[1, a], means[1, a + 2] = -2.0, 3.0  # component 1: -2 and 3
    cov = np.tile(np.eye(dims) * 0.1, (2, 1, 1))
    cov[:, a, a + 1] = cov[:, a + 1, a] = 0.05  # coordinate 1 follows coordinate 0
    mixture, cgmm = Mixture(np.array([0.5, 0.5]), means, cov), FakeCGMM()
    attributes = np.zeros((2, NUM_ATTRIBUTES), np.float32)  # say nothing of the component
    anchors = np.array([[2.4], [-1.6]], np.float32)  # 0.4 above each component's mode
    cold = np.asarray(
        mixture_lib.sample_given(mixture, cgmm, attributes, jax.random.key(0), 0.0, anchors)
    )[:, 0, 0]
    assert cold[0, 0] == pytest.approx(2.4) and cold[1, 0] == 0.0  # kept (then the ReLU)
    gain = 0.05 / (0.1 + mixture_lib.JITTER)
    np.testing.assert_allclose(cold[:, 1], [0.4 * gain, 0.4 * gain], rtol=1e-4)
    np.testing.assert_allclose(cold[:, 2], [1.0, 3.0], atol=1e-4)  # each its own component
    # No anchors: the draw given the attributes alone, as before.
    plain = mixture_lib.sample_given(mixture, cgmm, attributes, jax.random.key(0), 0.0)
    np.testing.assert_allclose(
        np.asarray(plain),
        mixture_lib.sample_given(mixture, cgmm, attributes, jax.random.key(0), 0.0,
                                 np.zeros((2, 0), np.float32)),
    )  # fmt: skip
    with pytest.raises(DeepFaceGenError, match="can anchor 0 to 2"):
        mixture_lib.attribute_conditionals(mixture, P)
