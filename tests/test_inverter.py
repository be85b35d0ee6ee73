"""The learned inverter: its model, its trainer (shared loop, attach), and the render
modes it enables (net and refine) for generate and edit."""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepface_gen import FaceGenerator, cli
from deepface_gen.config import load_config
from deepface_gen.errors import DeepFaceGenError, WeightsError
from deepface_gen.io import bundles
from deepface_gen.models.inverter import (
    Generator,
    InverterConfig,
    init_generator,
    load_inverter,
)
from deepface_gen.training.inverter import (
    Projection,
    attach,
    batch_codes,
    checkpoint_inverter,
    family_agreement,
    project_codes,
    train_inverter,
)
from deepface_gen.training.loop import checkpoint_steps
from deepface_gen.training.perceptual import normalized_feature_loss

TINY = [
    "data.size=16",
    "model.layer=conv2_1",
    "model.widths=[8, 8]",
    "model.discriminator=[8, 8]",
    "train.batch_size=4",
    "train.steps=4",
    "train.warmup_steps=1",
    "train.adversarial_start=1",
    "train.feature_layers=['conv1_1', 'conv2_1']",
    "train.moment_batches=1",
    "train.log_every=1",
    "train.checkpoint_every=2",
]


def tiny_config(model, *extra):
    return load_config("configs/inverter_starter.py", [*TINY, f"model.classifier={model}", *extra])


@pytest.fixture(scope="module")
def model_with_inverter(tiny_bundle, tmp_path_factory):
    """A copy of the tiny bundle with a (barely) trained inverter attached."""
    root = tmp_path_factory.mktemp("inverter")
    model = root / "model"
    shutil.copytree(tiny_bundle, model)
    held_out = ("train.eval_every=2", "train.eval_batches=1")
    bundle = train_inverter(tiny_config(model, *held_out), root / "work", quiet=True)
    attach(bundle, model)
    return model


def test_config_needs_a_power_of_two_upsampling_with_one_width_each():
    assert InverterConfig("conv3_1", (16, 16, 64), 64, (8, 8, 8)).upsamplings == 2
    with pytest.raises(ValueError, match="power-of-two multiple"):
        InverterConfig("conv3_1", (16, 16, 64), 48, (8, 8))
    with pytest.raises(ValueError, match="needs 3 widths"):
        InverterConfig("conv3_1", (16, 16, 64), 64, (8, 8))


def test_generator_draws_pixels_in_range_at_the_image_size():
    config = InverterConfig("conv2_1", (8, 8, 16), 32, (8, 8, 8))
    params = init_generator(config, jax.random.key(0))
    codes = jax.random.normal(jax.random.key(1), (3, 8, 8, 16)) * 50
    pixels = Generator(config).apply({"params": params}, codes)
    assert pixels.shape == (3, 32, 32, 3)
    assert float(pixels.min()) >= 0.0 and float(pixels.max()) <= 255.0


def test_feature_loss_is_relative_and_zero_for_a_perfect_match():
    real = {"a": jnp.ones((2, 4, 4, 3)), "b": 100.0 * jnp.ones((2, 2, 2, 5))}
    assert np.allclose(normalized_feature_loss(real, real, ("a", "b")), 0.0)
    off = {"a": 2.0 * real["a"], "b": 2.0 * real["b"]}
    # Each layer off by 100% of itself counts 1, whatever its scale.
    assert np.allclose(normalized_feature_loss(off, real, ("a", "b")), 2.0)


def test_projection_lands_on_the_cgmm_family_of_targets():
    rng = np.random.default_rng(0)
    d = 12
    ridge = jnp.asarray(rng.normal(size=(41, d)), jnp.float32)
    basis = np.linalg.qr(rng.normal(size=(d, 3)))[0].T  # 3 orthonormal rows
    projection = Projection(ridge, jnp.asarray(basis, jnp.float32), jnp.ones(3))
    labels = jnp.asarray(rng.choice([-1.0, 1.0], size=(2, 40)), jnp.float32)
    mean = np.concatenate([labels, np.ones((2, 1))], 1) @ np.asarray(ridge)
    inside = mean + rng.normal(size=(2, 3)) @ basis  # already a target (before the ReLU)
    codes = jnp.asarray(inside, jnp.float32).reshape(2, 1, 1, d)
    moved = project_codes(codes, labels, projection, jnp.ones(2))
    np.testing.assert_allclose(moved.reshape(2, d), np.maximum(inside, 0), atol=1e-4)
    shrunk = project_codes(codes, labels, projection, jnp.zeros(2))
    np.testing.assert_allclose(shrunk.reshape(2, d), np.maximum(mean, 0), atol=1e-4)


def test_each_row_is_kept_projected_or_drawn_from_the_cgmm_given_its_labels():
    rng = np.random.default_rng(1)
    n, d = 400, 12
    ridge = np.asarray(rng.normal(size=(41, d)), np.float32)
    ridge[-1] += 50.0  # a large bias: no ReLU clips, so the family is exactly linear
    basis = jnp.asarray(np.linalg.qr(rng.normal(size=(d, 3)))[0].T, jnp.float32)
    projection = Projection(jnp.asarray(ridge), basis, jnp.asarray([3.0, 2.0, 1.0]))
    labels = jnp.asarray(rng.choice([-1.0, 1.0], size=(n, 40)), jnp.float32)
    codes = jnp.asarray(rng.normal(size=(n, 1, 1, d)) + 50.0, jnp.float32)  # off the family
    key = jax.random.key(0)
    kept, drawn, projected = batch_codes(codes, labels, projection, (0.0, 0.0), key)
    np.testing.assert_array_equal(kept, codes)
    assert not np.any(drawn) and not np.any(projected)
    all_drawn, drawn, projected = batch_codes(codes, labels, projection, (0.0, 1.0), key)
    assert np.all(drawn) and not np.any(projected)
    # Drawn codes lie in the cGMM's family of targets for their own labels...
    on_family = project_codes(all_drawn, labels, projection, jnp.ones(n))
    np.testing.assert_allclose(on_family, all_drawn, atol=1e-3)
    # ...with residual coordinates of about the temperature times each component's spread.
    mean = np.concatenate([labels, np.ones((n, 1))], 1) @ ridge
    coords = (np.asarray(all_drawn).reshape(n, d) - mean) @ np.asarray(basis).T
    spread = coords.std(axis=0) / np.asarray(projection.component_std)
    assert np.all((spread > 0.4) & (spread < 0.7))  # temperatures uniform in (0.3, 0.8)
    mixed, drawn, projected = batch_codes(codes, labels, projection, (0.5, 0.5), key)
    assert 0.4 < float(np.mean(drawn)) < 0.6
    # No row is kept as it was: each is projected or drawn, never both.
    changed = np.abs(np.asarray(mixed) - np.asarray(codes)).reshape(n, -1).max(axis=1) > 1e-3
    assert np.all(changed)
    np.testing.assert_array_equal(np.asarray(projected), ~np.asarray(drawn))


def test_family_agreement_weighs_what_lies_outside_the_family_apart():
    rng = np.random.default_rng(2)
    d = 10
    basis = np.linalg.qr(rng.normal(size=(d, 3)))[0].T  # (3, d) orthonormal rows
    codes = rng.normal(size=(4, 1, 2, 5)) + 3.0
    inside = (rng.normal(size=(4, 3)) @ basis).reshape(codes.shape)
    outside = rng.normal(size=(4, d))
    outside = (outside - outside @ basis.T @ basis).reshape(codes.shape)
    energy = np.sum(codes.reshape(4, -1) ** 2, axis=1)
    as_jax = [jnp.asarray(a, jnp.float32) for a in (codes + inside + outside, codes, basis)]
    whole = family_agreement(*as_jax, 1.0)
    # At weight 1 it is the relative squared error of the whole code, as before the weight.
    expected = np.sum((inside + outside).reshape(4, -1) ** 2, axis=1) / energy
    np.testing.assert_allclose(whole, expected, rtol=1e-4)
    # At 0, what G adds outside the family costs nothing; inside, everything still counts.
    only_inside = np.sum(inside.reshape(4, -1) ** 2, axis=1) / energy
    np.testing.assert_allclose(family_agreement(*as_jax, 0.0), only_inside, rtol=1e-4)
    free = [jnp.asarray(a, jnp.float32) for a in (codes + outside, codes, basis)]
    np.testing.assert_allclose(family_agreement(*free, 0.0), 0.0, atol=1e-5)


def test_drawn_codes_train_and_a_batch_cannot_be_overshared(tiny_bundle, tmp_path):
    from deepface_gen.models.classifier import load_classifier
    from deepface_gen.training.inverter import check_inverter_config

    model = tmp_path / "model"
    shutil.copytree(tiny_bundle, model)
    # Drawn rows and, with projected_from_code, projected ones learn from their code alone.
    config = tiny_config(
        model,
        "train.sampled_fraction=0.5",
        "train.steps=2",
        "train.projected_from_code=True",
        "train.out_of_family_weight=0.1",
    )
    train_inverter(config, tmp_path / "work", quiet=True)
    records = [json.loads(line) for line in (tmp_path / "work" / "metrics.jsonl").open()]
    assert all(np.isfinite(r["feature"]) and np.isfinite(r["fool"]) for r in records)
    over = tiny_config(model, "train.sampled_fraction=0.6", "train.projected_fraction=0.6")
    with pytest.raises(DeepFaceGenError, match="at most 1"):
        check_inverter_config(over, load_classifier(model))


def test_a_run_saved_before_a_setting_existed_still_reads(model_with_inverter, monkeypatch):
    from deepface_gen.training import loop
    from deepface_gen.training.inverter import checkpoint_inverter

    original = loop.checkpoint_config

    def saved_without_it(workdir, step=None):
        config = original(workdir, step)
        del config["train"]["sampled_fraction"]
        return config

    monkeypatch.setattr(loop, "checkpoint_config", saved_without_it)
    inverter = checkpoint_inverter(model_with_inverter.parent / "work", 4)
    assert inverter.record["training"]["config"]["train"]["sampled_fraction"] == 0.0


def test_training_logs_the_deepsim_terms_and_exports_a_loadable_inverter(model_with_inverter):
    inverter = load_inverter(model_with_inverter)
    assert inverter.layer == "conv2_1"
    assert inverter.config.code_shape == (8, 8, 16) and inverter.config.size == 16
    assert inverter.code_scale.shape == (16,) and (inverter.code_scale > 0).all()
    assert (inverter.code_high > 0).all()
    work = model_with_inverter.parent / "work"
    records = [line for line in (work / "metrics.jsonl").read_text().splitlines() if line]
    assert len(records) == 4
    for key in ("feature", "pixel", "fool", "discriminator", "rmse"):
        assert key in records[-1]


def test_the_held_out_evaluation_measures_the_g_that_ships(model_with_inverter):
    from deepface_gen.data.input_pipeline import make_source
    from deepface_gen.models.classifier import load_classifier

    work = model_with_inverter.parent / "work"
    rows = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [("eval_rmse" in row) for row in rows] == [False, True, False, True]  # every 2 steps
    last = rows[-1]
    # Redraw the same held-out batch with the exported G: the numbers the log has.
    classifier, inverter = load_classifier(model_with_inverter), load_inverter(model_with_inverter)
    images = make_source("synthetic", "validation", 16, 4, 0, shuffle=False).batch(0).images
    real = classifier.apply(images, taps=("conv1_1", "conv2_1"))
    fake = inverter.render(real["conv2_1"])
    drawn = classifier.apply(np.asarray(fake), taps=("conv1_1", "conv2_1"))
    feature = float(jnp.mean(normalized_feature_loss(drawn, real, ("conv1_1", "conv2_1"))))
    rmse = float(jnp.sqrt(jnp.mean((fake - images.astype(np.float32)) ** 2)))
    assert last["eval_feature"] == pytest.approx(feature, rel=1e-3)
    assert last["eval_rmse"] == pytest.approx(rmse, rel=1e-3)
    assert 0 < last["eval_rmse"] < 255


def test_stopped_training_resumes_and_refuses_a_changed_config(tiny_bundle, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_bundle, model)
    work = tmp_path / "work"
    assert train_inverter(tiny_config(model), work, quiet=True, max_steps=2) is None
    with pytest.raises(DeepFaceGenError, match="different config"):
        train_inverter(tiny_config(model, "train.pixel_weight=3.0"), work, resume=True, quiet=True)
    # What only observes the run may change: a long run starts its learning curve halfway.
    watched = ("train.eval_every=1", "train.eval_batches=1", "train.log_every=2")
    bundle = train_inverter(tiny_config(model, *watched), work, resume=True, quiet=True)
    assert load_inverter(bundle).record["training"]["resumed_from_step"] == 2
    rows = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "eval_rmse" in row] == [3, 4]


def reweigh(bundle) -> None:
    """Give a classifier bundle other weights, as a later release's ``starter`` has."""
    arrays = bundles.load_bundle_file(bundle, bundles.PARAMS_FILE)
    arrays["params"] = jax.tree_util.tree_map(lambda a: np.asarray(a) * 1.01, arrays["params"])
    bundles.save_bundle(bundle, arrays, bundles.read_manifest(bundle))


def test_a_begun_run_refuses_a_classifier_that_changed_under_it(tiny_bundle, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_bundle, model)
    work = tmp_path / "work"
    assert train_inverter(tiny_config(model), work, quiet=True, max_steps=1) is None
    reweigh(model)
    refused = "began with other weights for model.classifier"
    with pytest.raises(DeepFaceGenError, match=refused):
        train_inverter(tiny_config(model), work, resume=True, quiet=True)
    with pytest.raises(DeepFaceGenError, match=refused):  # nor exported or measured
        checkpoint_inverter(work, 1)
    assert checkpoint_steps(work) == [1]  # refused before anything was written
    # A new run reads the weights as they are now.
    assert train_inverter(tiny_config(model), tmp_path / "new", quiet=True, max_steps=1) is None


def test_config_checks_come_before_any_work(tiny_bundle, tmp_path):
    with pytest.raises(DeepFaceGenError, match="data.size 64 must be the classifier's input"):
        train_inverter(tiny_config(tiny_bundle, "data.size=64"), tmp_path / "a")
    with pytest.raises(DeepFaceGenError, match="feature_layers .*must name layers"):
        train_inverter(tiny_config(tiny_bundle, "train.feature_layers=['conv9_1']"), tmp_path / "b")
    with pytest.raises(DeepFaceGenError, match="has no layer conv5_1"):
        train_inverter(tiny_config(tiny_bundle, "model.layer=conv5_1"), tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_attach_refuses_a_classifier_with_other_weights(model_with_inverter, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(model_with_inverter, other)
    arrays = bundles.load_bundle_file(other, bundles.PARAMS_FILE)
    arrays["params"] = jax.tree_util.tree_map(lambda a: np.asarray(a) + 1.0, arrays["params"])
    manifest = bundles.read_manifest(other)
    bundles.save_bundle(other, arrays, manifest)
    with pytest.raises(WeightsError, match="another classifier's weights"):
        attach(model_with_inverter, other)
    # A bundle whose inverter no longer matches its weights is refused at load, by name.
    with pytest.raises(WeightsError, match="inverter was trained for other weights"):
        FaceGenerator.load(other)


def test_net_render_is_one_deterministic_pass_and_the_default(model_with_inverter):
    gen = FaceGenerator.load(model_with_inverter)
    net = gen.generate("smiling, male", n=3, seed=5, render="net")
    assert net.shape == (3, 16, 16, 3) and net.dtype == np.uint8
    np.testing.assert_array_equal(net, gen.generate("smiling, male", n=3, seed=5, render="net"))
    np.testing.assert_array_equal(net, gen.generate("smiling, male", n=3, seed=5))
    other = gen.generate("smiling, male", n=3, seed=6, render="net")
    assert np.abs(net.astype(int) - other).mean() > 0  # another seed, other targets
    # What net draws is G applied to the very targets inversion would chase.
    target = gen.inverter.render(jnp.ones((1, 8, 8, 16)))
    assert target.shape == (1, 16, 16, 3)


def test_refine_lowers_the_objective_from_the_net_image(model_with_inverter):
    from deepface_gen import inversion
    from deepface_gen.generation import methods
    from deepface_gen.generation.renderers import refine_settings
    from deepface_gen.generation.requests import parse_descriptions

    gen = FaceGenerator.load(model_with_inverter)
    spec = parse_descriptions("smiling", gen.known_attributes)
    request = methods.Request(tuple(spec), 2, jax.random.key(0))
    objective = methods.METHODS["conditional"](gen.cgmm, request)
    target = objective.target(gen.cgmm.layer)
    settings = refine_settings(20)
    images, history = inversion.render(
        gen.classifier, objective, target, jax.random.key(1), settings, True,
        gen.cgmm.mean_image, generator=gen.inverter,
    )  # fmt: skip
    assert images.shape == (2, 16, 16, 3)
    assert (history[-1] < history[0]).all()
    refined = gen.generate("smiling", n=2, seed=0, render="refine", steps=20)
    assert refined.shape == (2, 16, 16, 3)
    assert not np.array_equal(refined, gen.generate("smiling", n=2, seed=0, render="net"))


def test_render_modes_refuse_what_they_cannot_do(model_with_inverter, tiny_bundle):
    gen = FaceGenerator.load(model_with_inverter)
    with pytest.raises(DeepFaceGenError, match="unknown render 'sketch'"):
        gen.generate("smiling", render="sketch")
    with pytest.raises(DeepFaceGenError, match="method 'baseline' has no target"):
        gen.generate("smiling", method="baseline", render="net")
    plain = FaceGenerator.load(tiny_bundle)
    with pytest.raises(DeepFaceGenError, match="has no learned inverter.*train-inverter"):
        plain.generate("smiling", render="net")
    # Without an inverter the default is pixel optimization, and it still works.
    assert plain.generate("smiling", steps=2).shape == (1, 16, 16, 3)


def test_edit_renders_through_the_inverter(model_with_inverter):
    gen = FaceGenerator.load(model_with_inverter)
    faces = gen.generate("male", n=2, seed=0)
    edited = gen.edit(faces, "+smiling", strengths=(0.0, 2.0), render="net")
    assert edited.shape == (2, 2, 16, 16, 3)
    # Strength 0 redraws the portrait as G sees it: the same for both uses of it.
    again = gen.edit(faces, "+smiling", strengths=(0.0,), render="net")
    np.testing.assert_array_equal(edited[:, 0], again[:, 0])
    assert not np.array_equal(edited[:, 0], edited[:, 1])


def test_cli_trains_attaches_and_renders(tiny_bundle, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_bundle, model)
    args = ["train-inverter", "--config", "configs/inverter_starter.py"]
    args += ["--workdir", str(tmp_path / "work"), "--quiet", "--attach", str(model)]
    assert cli.main([*args, *TINY, f"model.classifier={model}"]) == 0
    assert "attached to" in capsys.readouterr().out
    out = tmp_path / "net.png"
    gen_args = ["generate", "--attrs", "smiling", "--model", str(model), "--quiet"]
    assert cli.main([*gen_args, "--render", "net", "--out", str(out)]) == 0
    assert out.exists()
    assert cli.main([*gen_args, "--render", "sketch"]) == 2
    assert "invalid choice: 'sketch'" in capsys.readouterr().err


def test_net_and_refine_compile_nothing_for_new_descriptions_and_seeds(model_with_inverter):
    from deepface_gen.analysis.compiles import count_compiles

    gen = FaceGenerator.load(model_with_inverter)
    for render in ("net", "refine"):
        gen.generate("smiling", n=2, seed=0, render=render, steps=4)
        with count_compiles() as compiles:
            gen.generate("male, eyeglasses", n=2, seed=7, render=render, steps=4, guidance=2.0)
        assert compiles.count == 0, render


@pytest.mark.slow
def test_shipped_inverter_redraws_portraits_the_classifier_reads_alike():
    from deepface_gen.data import synth

    gen = FaceGenerator.load()  # the starter, with its learned inverter
    assert gen.inverter is not None and gen.inverter.layer == gen.cgmm.layer
    portraits = synth.to_uint8(synth.sample_portraits(jax.random.key(404), 16, size=64).images)
    layer = gen.cgmm.layer
    codes = gen.classifier.outputs(portraits, taps=(layer,))[layer]
    redrawn = np.round(np.asarray(gen.inverter.render(codes))).astype(np.uint8)
    error = np.sqrt(np.mean((redrawn.astype(float) - portraits) ** 2))
    mean_face = np.sqrt(np.mean((gen.cgmm.mean_image[None] - portraits) ** 2))
    assert error < 0.5 * mean_face, (error, mean_face)  # measured: 12 against 44
    seen = gen.classifier.probabilities(portraits) > 0.5
    again = gen.classifier.probabilities(redrawn) > 0.5
    assert (seen == again).mean() >= 0.9  # measured: 0.95


def test_masked_attribute_loss_reads_only_known_labels():
    from deepface_gen.training.perceptual import masked_attribute_loss

    labels = jnp.array([[1.0, -1.0, 1.0]])
    right = jnp.array([[20.0, -20.0, -20.0]])  # the third is wrong but unknown
    mask = jnp.array([[1.0, 1.0, 0.0]])
    assert float(masked_attribute_loss(right, labels, mask)[0]) < 1e-6
    assert float(masked_attribute_loss(-right, labels, mask)[0]) == pytest.approx(20.0, rel=1e-3)


def test_feature_function_resizes_other_sides_to_the_classifier_input(tiny_bundle):
    from deepface_gen.models.classifier import load_classifier
    from deepface_gen.training.perceptual import feature_function

    classifier = load_classifier(tiny_bundle)
    features = feature_function(classifier, ("conv2_1",))
    small = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3)) * 255.0
    large = jax.image.resize(small, (2, 32, 32, 3), "bilinear")
    a = features(classifier.params, small)
    b = features(classifier.params, large)
    assert a["conv2_1"].shape == b["conv2_1"].shape and a["attributes"].shape == (2, 40)
    # Up then down again is nearly the identity on smooth content: features agree closely.
    assert np.corrcoef(np.ravel(a["conv2_1"]), np.ravel(b["conv2_1"]))[0, 1] > 0.8
