"""Border anchors: the basis a mixture face's borrowed coordinates are read in, the
mixture rotated into it, and the background a lending portrait fixes."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from deepface_gen import FaceGenerator
from deepface_gen.attributes import NUM_ATTRIBUTES
from deepface_gen.cgmm import anchors as anchors_lib
from deepface_gen.cgmm import mixture as mixture_lib
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.cgmm.mixture import Mixture


def test_the_border_is_the_top_rows_and_the_upper_sides():
    mask = anchors_lib.border_mask(16, 16)
    assert mask[:2].all() and not mask[2:, 3:13].any()  # the middle and below the top
    assert mask[:10, :3].all() and mask[:10, 13:].all() and not mask[10:].any()  # no shoulders
    assert anchors_lib.border_mask(4, 4).sum() >= 4  # small maps keep a border


def test_the_basis_keeps_the_broad_coordinates_then_the_directions_that_move_the_border():
    rng = np.random.default_rng(0)
    count, shape, broad, border = 12, (5, 5, 3), 3, 4
    components = rng.normal(size=(count, int(np.prod(shape))))
    std = rng.uniform(0.5, 2.0, count)
    basis = anchors_lib.drawing_basis(components, std, shape, broad, border)
    np.testing.assert_allclose(basis @ basis.T, np.eye(count), atol=1e-10)  # orthonormal
    np.testing.assert_allclose(basis[:broad], np.eye(count)[:broad])  # broad ones as they are
    np.testing.assert_allclose(basis[broad:, :broad], 0.0, atol=1e-10)  # the rest beyond them
    # How far one unit along a direction moves the border activations: the border rows
    # move them more than any later row, the first the most of all.
    at_border = (
        (std[:, None] * components)
        .reshape(count, *shape)[:, anchors_lib.border_mask(*shape[:2])]
        .reshape(count, -1)
    )
    moved = np.linalg.norm(basis[broad:] @ at_border, axis=1)
    assert moved[0] == pytest.approx(moved.max())
    assert moved[:border].min() > moved[border:].max()
    with pytest.raises(ValueError, match="leave no coordinate drawn"):
        anchors_lib.drawing_basis(components, std, shape, 8, 4)


class FakeCGMM:
    """What ``sample_given`` reads: the coordinates are the activations."""

    shape = (1, 1, 3)
    ridge = np.zeros((NUM_ATTRIBUTES + 1, 3), np.float32)
    components = np.eye(3, dtype=np.float32)
    component_std = np.ones(3, np.float32)


def test_a_mixture_drawn_in_a_rotated_basis_draws_what_it_drew():
    rng = np.random.default_rng(1)
    dims = NUM_ATTRIBUTES + 3
    means = np.zeros((2, dims))
    means[0, 0], means[0, NUM_ATTRIBUTES:] = 1.0, [2.0, 3.0, 4.0]  # attribute 0 picks
    means[1, 0], means[1, NUM_ATTRIBUTES:] = -1.0, [3.0, 2.0, 5.0]
    spread = rng.normal(size=(3, 3))
    cov = np.tile(np.eye(dims) * 0.1, (2, 1, 1))
    cov[:, NUM_ATTRIBUTES:, NUM_ATTRIBUTES:] = 0.1 * np.eye(3) + spread @ spread.T / 4
    mixture, cgmm = Mixture(np.array([0.5, 0.5]), means, cov), FakeCGMM()
    basis = np.linalg.qr(rng.normal(size=(3, 3)))[0].T
    # The rotation is undone exactly: rotating back restores the mixture.
    back = mixture_lib.rotated(mixture_lib.rotated(mixture, basis), basis.T)
    np.testing.assert_allclose(back.covariances, mixture.covariances, atol=1e-12)
    attributes = np.zeros((4000, NUM_ATTRIBUTES), np.float32)
    attributes[:2000, 0], attributes[2000:, 0] = 1.0, -1.0
    key = jax.random.key(2)

    def drawn(temperature, rotation):
        return np.asarray(mixture_lib.sample_given(
            mixture, cgmm, attributes, key, temperature, basis=rotation))[:, 0, 0]  # fmt: skip

    # At temperature 0, each face is its component's mean, in either basis.
    np.testing.assert_allclose(drawn(0.0, basis), drawn(0.0, None), atol=1e-5)
    np.testing.assert_allclose(drawn(0.0, None)[:2000], np.tile([2.0, 3.0, 4.0], (2000, 1)))
    # At temperature 1, each component's spread, in either basis (other noise, same law).
    for rotation in (None, basis):
        spread_drawn = np.cov(drawn(1.0, rotation)[:2000].T)
        np.testing.assert_allclose(spread_drawn, cov[0, NUM_ATTRIBUTES:, NUM_ATTRIBUTES:],
                                   atol=0.06)  # fmt: skip


@pytest.fixture(scope="module")
def starter() -> FaceGenerator:
    return FaceGenerator.load()


def _lent_draws(cgmm, lender: int, n: int = 256) -> np.ndarray:
    """``n`` targets (n, *shape) drawn for one exemplar lending its labels and anchors:
    what is left to the draw (each face its own noise)."""
    labels = np.repeat(cgmm.exemplars.labels[lender][None, None], n, axis=1)
    count = cgmm_lib.anchored_count(cgmm, "mixture")
    anchors = np.repeat(cgmm_lib.lent_coordinates(cgmm)[lender, :count][None, None], n, axis=1)
    drawn = mixture_lib.sample_given_many(
        cgmm.mixture, cgmm, labels, jax.random.key(lender)[None], np.ones(1), anchors=anchors,
        basis=cgmm_lib.drawing_basis(cgmm),
    )  # fmt: skip
    return np.asarray(drawn[0])


def test_border_anchors_fix_the_lenders_background_and_leave_the_face_drawn(starter):
    assert starter.cgmm.border_anchored == anchors_lib.BORDER_ANCHORED > 0  # the default
    plain = dataclasses.replace(starter.cgmm, border_anchored=0)
    anchored = dataclasses.replace(plain, border_anchored=8)
    assert cgmm_lib.anchored_count(anchored, "mixture") == plain.anchored + 8
    assert cgmm_lib.drawing_basis(plain) is None  # none borrowed: the draw as it was
    border = anchors_lib.border_mask(*plain.shape[:2])
    face = np.zeros_like(border)
    face[4:12, 5:11] = True  # the middle of the map: the face
    ratios = []
    for lender in (0, 1, 2):
        before, after = _lent_draws(plain, lender), _lent_draws(anchored, lender)
        ratios.append([after[:, region].var(0).sum() / before[:, region].var(0).sum()
                       for region in (border, face)])  # fmt: skip
    at_border, at_face = np.mean(ratios, axis=0)
    assert at_border < 0.5, ratios  # the background is the lender's
    assert at_face > 0.8, ratios  # the face is still drawn
