"""The render loop compiles once per structure: new data (descriptions, seeds,
guidance, strengths, step counts, images, units) runs the program already compiled."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from deepface_gen import inversion
from deepface_gen.analysis.compiles import count_compiles
from deepface_gen.generation.generator import FaceGenerator

FAST = inversion.RenderSettings(steps=6, polish_steps=2, chunk=4)


@pytest.fixture(scope="module")
def gen(tiny_bundle):
    return dataclasses.replace(FaceGenerator.load(tiny_bundle), settings=FAST)


def test_counter_sees_a_compile():
    import jax
    import jax.numpy as jnp

    with count_compiles() as fresh:
        jax.jit(lambda x: x * 3.0 + 1.0)(jnp.ones(7))
    assert fresh.count >= 1


def test_generate_compiles_nothing_for_new_descriptions_seeds_and_guidance(gen):
    gen.generate("smiling", n=2, seed=0, guidance=1.0)  # warm-up: compiles
    with count_compiles() as c:
        gen.generate("old, male, eyeglasses", n=2, seed=7, guidance=2.5, temperature=0.3)
        # 10 + 2 steps: a whole number of chunks of 4, so the same chunk program
        gen.generate({"young": 1, "blond_hair": 1}, n=2, seed=1, guidance=0.5, steps=10)
    assert c.count == 0


def test_generate_baseline_and_paper_compile_once_each(gen):
    for method in ("baseline", "paper"):
        gen.generate("smiling", n=1, seed=0, method=method)
        with count_compiles() as c:
            gen.generate("male, eyeglasses", n=1, seed=3, method=method)
        assert c.count == 0, method


def test_edit_compiles_nothing_for_new_descriptions_and_strengths(gen):
    portraits = gen.generate("young", n=2, seed=5)
    gen.edit(portraits, "+smiling", strengths=(1.0,))
    with count_compiles() as c:
        gen.edit(portraits[::-1], "-eyeglasses,+male", strengths=(2.5,), seed=4, guidance=3.0)
    assert c.count == 0


def test_invert_caricature_visualize_compile_nothing_the_second_time(gen):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 16, 16, 3)).astype(np.uint8)
    gen.invert(images[0], seed=0)
    gen.caricature(images[0], seed=0)
    gen.visualize(attribute="smiling", seed=0)
    gen.visualize(unit="conv2_1:1", seed=0)
    with count_compiles() as c:
        gen.invert(images[1], seed=1)
        gen.caricature(images[1], seed=2)
        gen.visualize(attribute="eyeglasses", seed=3)
        gen.visualize(unit="conv2_1:5", seed=4)
    assert c.count == 0


def test_any_step_count_runs_on_a_few_programs():
    from deepface_gen.inversion.render import chunk_lengths

    assert chunk_lengths(200, 25) == [25] * 8
    assert chunk_lengths(80, 25) == [25, 25, 25, 4, 1]
    assert chunk_lengths(3, 25) == [2, 1]
    lengths = {n for total in range(1, 300) for n in chunk_lengths(total, 25)}
    assert lengths == {25, 16, 8, 4, 2, 1}  # log2(25) + 1 programs cover every count
    assert all(sum(chunk_lengths(total, 25)) == total for total in range(1, 300))


@pytest.mark.parametrize(
    "settings",
    [FAST, dataclasses.replace(FAST, pyramid_levels=1, optimizer="momentum", anchor_weight=1.0)],
    ids=["pyramid-adam-jitter", "pixels-momentum-anchor"],
)
def test_both_loop_forms_take_the_same_steps(gen, settings):
    clf = gen.classifier
    start = inversion.noisy_start(gen.cgmm.mean_image, 2, jax.random.key(2))
    target = clf.apply(np.full((1, 16, 16, 3), 60.0), taps=("conv2_1",))["conv2_1"]
    objective = inversion.feature_match("conv2_1", target)
    stepped, stepped_history = inversion.render(
        clf, objective, start, jax.random.key(0), dataclasses.replace(settings, loop="steps")
    )
    chunked, chunked_history = inversion.render(
        clf, objective, start, jax.random.key(0), dataclasses.replace(settings, loop="chunks")
    )
    assert stepped_history.shape == chunked_history.shape == (3, 2)  # start + 2 chunks of 4
    assert stepped_history[-1].max() < stepped_history[0].min()  # both optimize
    np.testing.assert_allclose(stepped_history, chunked_history, rtol=1e-3)
    assert np.abs(stepped - chunked).max() < 0.5  # 0-255 scale: the same image


def test_the_stepped_loop_runs_any_step_count_on_one_program(gen):
    stepped = dataclasses.replace(FAST, loop="steps")
    image = np.full((16, 16, 3), 90, np.uint8)
    gen_stepped = dataclasses.replace(gen, settings=stepped)
    gen_stepped.invert(image, seed=0)
    with count_compiles() as c:
        for steps in (3, 7, 13):  # chunked: 2+1, 4+2+1, 3x4+1 (new programs)
            dataclasses.replace(gen, settings=dataclasses.replace(stepped, steps=steps)).invert(
                image, seed=1
            )
    assert c.count == 0


def test_the_loop_form_is_chosen_per_backend_and_checked():
    from deepface_gen.inversion.render import loop_form

    auto = inversion.RenderSettings()
    assert loop_form(auto, "cpu") == "steps"
    assert loop_form(auto, "gpu") == loop_form(auto, "tpu") == "chunks"
    assert loop_form(dataclasses.replace(auto, loop="chunks"), "cpu") == "chunks"
    with pytest.raises(ValueError, match="unknown loop form 'fast'; use auto or chunks or steps"):
        inversion.RenderSettings(loop="fast")
