"""Exemplars: a kernel density over training portraits' residual coordinates, drawn
among the portraits that carry the named attributes; storage and the ``exemplar`` method."""

from __future__ import annotations

import dataclasses
import shutil

import jax
import numpy as np
import pytest

from deepface_gen import FaceGenerator, cli
from deepface_gen.attributes import ATTRIBUTE_INDEX, NUM_ATTRIBUTES, parse_description
from deepface_gen.cgmm import exemplars as exemplars_lib
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.cgmm.exemplars import Exemplars
from deepface_gen.errors import DeepFaceGenError


def hand_built(p: int) -> Exemplars:
    """Four portraits: 0 and 1 smile, 2 and 3 do not; 1 and 3 wear glasses."""
    labels = -np.ones((4, NUM_ATTRIBUTES), np.float32)
    labels[[0, 1], ATTRIBUTE_INDEX["Smiling"]] = 1.0
    labels[[1, 3], ATTRIBUTE_INDEX["Eyeglasses"]] = 1.0
    coordinates = np.arange(4 * p, dtype=np.float32).reshape(4, p) / (4 * p)
    return Exemplars(labels, coordinates)


def test_stored_arrays_round_trip_and_bad_shapes_are_refused():
    kept = hand_built(3)
    back = Exemplars.from_arrays(kept.arrays())
    np.testing.assert_array_equal(back.labels, kept.labels)
    np.testing.assert_allclose(back.coordinates, kept.coordinates, atol=1e-3)  # float16
    with pytest.raises(DeepFaceGenError, match="disagree in shape"):
        Exemplars.from_arrays({"labels": kept.labels[:, :5], "coordinates": kept.coordinates})
    with pytest.raises(DeepFaceGenError, match="disagree in shape"):
        Exemplars.from_arrays({"labels": kept.labels, "coordinates": kept.coordinates[:3]})


def test_a_description_draws_among_the_portraits_that_carry_it():
    kept = hand_built(3)
    spec = parse_description("smiling, eyeglasses")
    assert exemplars_lib.agreeing(kept.labels, spec.vector(), spec.mask()).tolist() == [
        False, True, False, False,
    ]  # fmt: skip
    # Nobody smiles without glasses and wears a hat: those agreeing with most are kept.
    spec = parse_description("smiling, no eyeglasses, hat")
    assert exemplars_lib.agreeing(kept.labels, spec.vector(), spec.mask()).tolist() == [
        True, False, False, False,
    ]  # fmt: skip
    nothing = np.zeros(NUM_ATTRIBUTES, bool)
    assert exemplars_lib.agreeing(kept.labels, np.zeros(NUM_ATTRIBUTES), nothing).all()


def test_faces_borrow_from_different_portraits_while_the_description_has_them():
    lenders = np.array([1, 4, 6, 11, 17])
    weights = np.zeros(20, np.float32)
    weights[lenders] = 0.2
    weights = jax.numpy.asarray(weights)
    for seed in range(8):
        key = jax.random.key(seed)
        five = np.asarray(exemplars_lib.distinct_rows(key, weights, 5))
        assert sorted(five) == lenders.tolist()  # five faces, the five portraits
        eight = np.asarray(exemplars_lib.distinct_rows(key, weights, 8))
        assert set(eight) == set(lenders.tolist())  # every one before any repeats
        np.testing.assert_array_equal(exemplars_lib.distinct_rows(key, weights, 8), eight)
    # With many portraits, a draw that repeats nobody is the independent draw itself.
    many = jax.numpy.full(4000, 1 / 4000)
    key = jax.random.key(0)
    alone = np.asarray(jax.random.choice(key, 4000, (4,), p=many))
    assert len(set(alone)) == 4
    np.testing.assert_array_equal(exemplars_lib.distinct_rows(key, many, 4), alone)


def test_the_starter_draws_six_people_for_a_rare_description():
    # 17 bank portraits wear a hat and a moustache; drawn independently, 6 faces shared
    # one about every other time, and faces borrowing one portrait look alike.
    cgmm = FaceGenerator.load("starter").cgmm
    spec = parse_description("male, wearing hat, mustache")
    assert exemplars_lib.lenders(cgmm.exemplars.labels, spec.vector(), spec.mask()).sum() < 30
    for seed in range(4):
        _, anchors = cgmm_lib.borrowed_many(
            cgmm, spec.vector()[None], spec.mask()[None], jax.random.key(seed)[None], 6,
            anchored=8,
        )  # fmt: skip
        assert len({tuple(np.round(row, 5)) for row in np.asarray(anchors)[0]}) == 6


def test_the_exemplar_method_draws_six_people_for_a_rare_description():
    # The exemplar method moves each drawn portrait by a kernel's width: two faces drawn
    # from one portrait are one person, so its draw takes different portraits too.
    cgmm = FaceGenerator.load("starter").cgmm
    spec = parse_description("male, wearing hat, mustache")
    weights = exemplars_lib.draw_weights(cgmm.exemplars.labels, spec.vector(), spec.mask())
    coordinates = jax.numpy.asarray(cgmm.exemplars.coordinates)
    for seed in range(4):
        rows, partners = exemplars_lib.drawn_pairs(jax.random.key(seed), coordinates, weights, 6, 0)
        assert len(set(np.asarray(rows).tolist())) == 6
        assert (np.asarray(weights)[np.asarray(rows)] > 0).all()  # all carry the description
        np.testing.assert_array_equal(partners, rows)


def test_a_blurry_portrait_lends_only_when_blur_is_asked_for():
    kept = hand_built(3)
    kept.labels[1, ATTRIBUTE_INDEX["Blurry"]] = 1.0  # the one smiling with glasses is blurred
    smiling = parse_description("smiling")
    assert exemplars_lib.lenders(kept.labels, smiling.vector(), smiling.mask()).tolist() == [
        True, False, False, False,
    ]  # fmt: skip
    blurred = parse_description("smiling, blurry")
    assert exemplars_lib.lenders(kept.labels, blurred.vector(), blurred.mask()).tolist() == [
        False, True, False, False,
    ]  # fmt: skip
    # Where only flawed portraits agree, they lend rather than none.
    glasses = parse_description("smiling, eyeglasses")
    assert exemplars_lib.lenders(kept.labels, glasses.vector(), glasses.mask()).tolist() == [
        False, True, False, False,
    ]  # fmt: skip
    weights = np.asarray(exemplars_lib.draw_weights(kept.labels, smiling.vector(), smiling.mask()))
    np.testing.assert_allclose(weights, [1.0, 0.0, 0.0, 0.0])


def test_the_starter_draws_no_blurred_face_unless_asked():
    cgmm = FaceGenerator.load("starter").cgmm
    blurry = ATTRIBUTE_INDEX["Blurry"]
    assert (cgmm.exemplars.labels[:, blurry] > 0).any()  # the bank holds blurred portraits
    specs = [parse_description(d) for d in ("smiling", "old man", "blurry")]
    keys = jax.random.split(jax.random.key(0), len(specs))
    completions, _ = cgmm_lib.borrowed_many(
        cgmm, np.stack([s.vector() for s in specs]), np.stack([s.mask() for s in specs]), keys,
        64,
    )  # fmt: skip
    assert not (np.asarray(completions[:2, :, blurry]) > 0).any()
    assert (np.asarray(completions[2, :, blurry]) > 0).all()


def test_targets_are_the_ridge_at_the_drawn_portrait_plus_its_residual():
    generator = FaceGenerator.load("starter")
    cgmm = generator.cgmm
    p = len(cgmm.component_std)
    kept = hand_built(p)
    spec = parse_description("smiling, eyeglasses")  # only portrait 1
    values, named = spec.vector(), spec.mask()
    key = jax.random.key(3)
    drawn = exemplars_lib.sample_targets(kept, cgmm, values, named, key, 4, 1.0, 0.0)
    assert drawn.shape == (4, *cgmm.shape)
    x = np.where(named, values, kept.labels[1])
    residual = (kept.coordinates[1] * cgmm.component_std) @ cgmm.components
    expected = np.maximum(np.append(x, 1.0) @ cgmm.ridge + residual, 0.0)
    np.testing.assert_allclose(np.asarray(drawn).reshape(4, -1), np.tile(expected, (4, 1)),
                               rtol=1e-4, atol=1e-3)  # fmt: skip
    # Temperature 0 is the ridge alone; a kernel makes draws differ; a key repeats them.
    cold = exemplars_lib.sample_targets(kept, cgmm, values, named, key, 1, 0.0, 0.5)
    ridge_only = np.maximum(np.append(x, 1.0) @ cgmm.ridge, 0.0)
    np.testing.assert_allclose(np.asarray(cold).reshape(-1), ridge_only, rtol=1e-4, atol=1e-3)
    warm = exemplars_lib.sample_targets(kept, cgmm, values, named, key, 2, 1.0, 0.5)
    assert not np.allclose(warm[0], warm[1])
    again = exemplars_lib.sample_targets(kept, cgmm, values, named, key, 2, 1.0, 0.5)
    np.testing.assert_array_equal(np.asarray(warm), np.asarray(again))
    with pytest.raises(DeepFaceGenError, match="residual coordinates"):
        exemplars_lib.sample_targets(hand_built(p + 1), cgmm, values, named, key, 1, 1.0, 0.0)


def test_a_blend_lies_between_two_agreeing_portraits_and_needs_a_partner():
    cgmm = FaceGenerator.load("starter").cgmm
    kept = hand_built(len(cgmm.component_std))
    key = jax.random.key(5)

    def targets(description: str, n: int) -> np.ndarray:
        spec = parse_description(description)
        drawn = exemplars_lib.sample_targets(
            kept, cgmm, spec.vector(), spec.mask(), key, n, 1.0, 0.0, neighbours=8, mix=(0.5, 0.5)
        )
        return np.asarray(drawn).reshape(n, -1)

    # Portraits 0 and 1 smile: each face is halfway between them, whichever was drawn
    # first, with the unnamed labels (eyeglasses) of the one it was blended with.
    spec = parse_description("smiling")
    residual = (kept.coordinates[[0, 1]].mean(0) * cgmm.component_std) @ cgmm.components
    either = [np.maximum(np.append(np.where(spec.mask(), spec.vector(), kept.labels[k]), 1.0)
                         @ cgmm.ridge + residual, 0.0) for k in (0, 1)]  # fmt: skip
    for face in targets("smiling", 6):
        assert min(np.abs(face - e).max() for e in either) < 1e-3
    rows, partners = exemplars_lib.drawn_pairs(
        key, kept.coordinates, exemplars_lib.draw_weights(kept.labels, spec.vector(),
                                                          spec.mask()), 6, 3)  # fmt: skip
    assert set(np.asarray(rows).tolist()) <= {0, 1}
    np.testing.assert_array_equal(np.asarray(partners), 1 - np.asarray(rows))
    # Only portrait 1 smiles with glasses: with nobody to blend with, it is drawn alone.
    spec = parse_description("smiling, eyeglasses")
    alone = (kept.coordinates[1] * cgmm.component_std) @ cgmm.components
    expected = np.maximum(np.append(np.where(spec.mask(), spec.vector(), kept.labels[1]), 1.0)
                          @ cgmm.ridge + alone, 0.0)  # fmt: skip
    np.testing.assert_allclose(targets("smiling, eyeglasses", 3), np.tile(expected, (3, 1)),
                               rtol=1e-4, atol=1e-3)  # fmt: skip


def test_starter_exemplar_faces_carry_what_was_asked_and_differ():
    generator = FaceGenerator.load("starter")
    assert generator.cgmm.exemplars is not None and len(generator.cgmm.exemplars) >= 1024
    faces = generator.generate("eyeglasses, male", n=8, seed=1, method="exemplar", render="net")
    assert faces.shape == (8, generator.size, generator.size, 3)
    read = generator.classifier.probabilities(faces)
    assert np.mean(read[:, ATTRIBUTE_INDEX["Eyeglasses"]] > 0.5) >= 0.75
    assert np.mean(read[:, ATTRIBUTE_INDEX["Male"]] > 0.5) >= 0.75
    spread = np.std(faces.astype(np.float32), axis=0).mean()
    assert spread > 10.0  # eight people, not one face eight times
    again = generator.generate("eyeglasses, male", n=8, seed=1, method="exemplar", render="net")
    np.testing.assert_array_equal(faces, again)


def test_fit_cli_keeps_exemplars_and_a_model_without_them_says_how(tiny_bundle, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_bundle, model)
    before = FaceGenerator.load(model)
    bare = dataclasses.replace(before.cgmm, exemplars=None)
    nothing_named = (np.zeros(NUM_ATTRIBUTES), np.zeros(NUM_ATTRIBUTES, bool))
    with pytest.raises(DeepFaceGenError, match="no stored exemplars.*fit --model"):
        cgmm_lib.targets(bare, *nothing_named, jax.random.key(0), 1, "exemplar")
    args = ["fit", "--model", str(model), "--mixture-only", "--mixture", "0", "--exemplars", "40"]
    assert cli.main([*args, "--mixture-examples", "64", "--batch-size", "32", "--quiet"]) == 0
    assert "40 exemplars" in capsys.readouterr().out
    gen = FaceGenerator.load(model)
    assert len(gen.cgmm.exemplars) == 40
    assert gen.cgmm.exemplars.coordinates.shape[1] == len(gen.cgmm.component_std)
    np.testing.assert_array_equal(gen.cgmm.ridge, before.cgmm.ridge)
    faces = gen.generate("smiling, male", n=2, method="exemplar", steps=2)
    assert faces.shape == (2, 16, 16, 3)
    refused = ["fit", "--model", str(model), "--mixture-only", "--mixture", "0", "--exemplars", "0"]
    assert cli.main(refused) != 0
    assert "fits nothing" in capsys.readouterr().err
