"""The shipped starter classifier: loads from the package, and reads portraits correctly."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepface_gen import cli
from deepface_gen.attributes import CELEBA_ATTRIBUTES
from deepface_gen.data import synth
from deepface_gen.errors import WeightsError
from deepface_gen.io.images import write_image
from deepface_gen.models.classifier import bundled_model_path, load_classifier

JUDGE = Path(__file__).resolve().parents[1] / "experiments" / "models" / "independent"


@pytest.fixture(scope="module")
def starter():
    return load_classifier()


def test_starter_is_shipped_and_small(starter):
    folder = bundled_model_path()
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 25e6
    assert starter.input_size == 64 and len(starter.attributes) == 40
    assert "Attractive" not in starter.known_attributes
    assert starter.manifest["training"]["steps"] > 0


def test_starter_reads_rendered_portraits(starter):
    portraits = synth.sample_portraits(jax.random.key(424242), 32, size=64)
    probs = starter.probabilities(synth.to_uint8(portraits.images))
    truth = np.asarray(portraits.attributes) > 0
    known = [starter.attributes.index(a) for a in starter.known_attributes]
    agreement = ((probs[:, known] > 0.5) == truth[:, known]).mean()
    assert agreement > 0.93


def test_cli_score_recovers_main_attributes(tmp_path, capsys):
    portraits = synth.sample_portraits(jax.random.key(99), 3, size=64)
    paths = []
    for i, image in enumerate(synth.to_uint8(portraits.images)):
        paths.append(str(write_image(tmp_path / f"p{i}.png", image)))
    assert cli.main(["score", *paths, "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    truth = np.asarray(portraits.attributes) > 0
    for i, path in enumerate(paths):
        for name in ("Male", "Smiling", "Eyeglasses", "Wearing_Hat"):
            index = CELEBA_ATTRIBUTES.index(name)
            assert (scores[path][name] > 0.5) == truth[i, index], (path, name)
    assert cli.main(["score", paths[0]]) == 0
    assert paths[0] in capsys.readouterr().out


def test_unknown_model_and_unreadable_image(tmp_path, capsys):
    with pytest.raises(WeightsError, match="no model 'nope'"):
        load_classifier("nope")
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    assert cli.main(["score", str(bad)]) == 2
    assert "bad.jpg: not a readable image" in capsys.readouterr().err


def test_starter_edit_adds_eyeglasses_and_strength_zero_is_exact():
    from deepface_gen.attributes import ATTRIBUTE_INDEX
    from deepface_gen.generation.generator import FaceGenerator

    gen = FaceGenerator.load()
    portraits = synth.sample_portraits(jax.random.key(31), 8, size=64)
    bare = np.asarray(portraits.attributes[:, ATTRIBUTE_INDEX["Eyeglasses"]]) < 0
    images = synth.to_uint8(portraits.images)[bare][:2]
    # 1 reaches the calibrated level on average over portraits; 1.5 is past it for each.
    assert gen.edit_strength == 1.0
    out = gen.edit(images, "+eyeglasses", strengths=(0.0, 1.5), steps=60)
    np.testing.assert_array_equal(out[:, 0], images)
    before = gen.classifier.probabilities(images)[:, ATTRIBUTE_INDEX["Eyeglasses"]]
    after = gen.classifier.probabilities(out[:, 1])[:, ATTRIBUTE_INDEX["Eyeglasses"]]
    assert np.all(before < 0.2) and np.all(after > 0.5)
    # The rest of the portrait stays: most pixels move by less than 8 of 255.
    assert np.mean(np.abs(out[:, 1].astype(int) - images) < 8) > 0.8


def test_shipped_vae_samples_follow_the_description():
    from deepface_gen.attributes import ATTRIBUTE_INDEX
    from deepface_gen.generation.generator import FaceGenerator

    gen = FaceGenerator.load()
    assert gen.vae is not None and gen.vae.config.size == 64
    blond = gen.generate("blond hair, female", n=8, seed=0, backend="vae")
    dark = gen.generate("black hair, female", n=8, seed=0, backend="vae")
    p_blond = gen.classifier.probabilities(blond)[:, ATTRIBUTE_INDEX["Blond_Hair"]]
    p_dark = gen.classifier.probabilities(dark)[:, ATTRIBUTE_INDEX["Blond_Hair"]]
    assert p_blond.mean() > p_dark.mean() + 0.3


@pytest.mark.slow
def test_headline_generation_carries_the_requested_attributes_by_the_independent_judge():
    from deepface_gen.attributes import parse_description
    from deepface_gen.generation.generator import FaceGenerator

    gen = FaceGenerator.load()  # the starter, as `deepface-gen generate` uses it
    judge = load_classifier(JUDGE)
    descriptions = ["youth, black hair, male", "eyeglasses", "smiling woman", "blond hair"]
    faces = gen.generate(descriptions, n=2, seed=0, steps=60)
    seen = judge.probabilities(faces)
    hits = []
    for d, text in enumerate(descriptions):
        spec = parse_description(text)
        for name, value in spec.values.items():
            index = judge.attributes.index(name)
            detected = seen[2 * d : 2 * d + 2, index] > 0.5
            hits += list(detected == (value > 0))
    assert np.mean(hits) >= 0.85, f"the judge saw {np.mean(hits):.2f} of the requested attributes"


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (1, 7, 9, 2)], ids=["even", "odd"])
def test_the_backbones_pooling_is_flax_max_pool_in_value_and_gradient(shape):
    from flax import linen as nn

    from deepface_gen.models.vgg import max_pool_2x2

    x = jax.random.normal(jax.random.key(0), shape)  # distinct values: one max per window
    reference = lambda x: nn.max_pool(x, (2, 2), strides=(2, 2))  # noqa: E731
    np.testing.assert_array_equal(max_pool_2x2(x), reference(x))
    weights = jax.random.normal(jax.random.key(1), reference(x).shape)
    grad = jax.grad(lambda f, x: jnp.sum(weights * f(x)), argnums=1)
    np.testing.assert_array_equal(grad(max_pool_2x2, x), grad(reference, x))
