"""The learned renderer's training recipe (critic losses, R1, DiffAugment, the feature
critic, weight averaging, warm starts, kept checkpoints) and the edit that draws only
its change through the renderer."""

from __future__ import annotations

import dataclasses
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_inverter import tiny_config

from deepface_gen import FaceGenerator, inversion
from deepface_gen.analysis.drawing import line_chart
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation import calibration, defaults, renderers
from deepface_gen.generation import edit as edit_algebra
from deepface_gen.io import bundles
from deepface_gen.models.discriminator import Critic
from deepface_gen.models.inverter import (
    Generator,
    Inverter,
    InverterConfig,
    add_sensor_noise,
    grows_into,
    init_generator,
    load_inverter,
    noise_keys,
    save_inverter,
    widen_params,
)
from deepface_gen.training.inverter import (
    START_FOLDER,
    attach,
    checkpoint_inverter,
    checkpoint_run,
    train_inverter,
)
from deepface_gen.training.loop import checkpoint_config, checkpoint_steps
from deepface_gen.training.perceptual import (
    critic_loss,
    diff_augment,
    fool_loss,
    log_power_spectrum,
    r1_penalty,
    spectral_loss,
    update_ema,
)

RECIPE = [
    "train.gan_loss=hinge",
    "train.r1_weight=1.0",
    "train.r1_every=2",
    "train.diffaugment=True",
    "train.critic_features=['conv1_1']",
    "train.ema_decay=0.9",
    "train.spectral_weight=0.5",
    "train.keep_every=2",
    "train.checkpoint_every=1",
]


def test_critic_losses_at_chance_and_when_sure():
    zero = (jnp.zeros((2, 3, 3)),)
    # At zero logits: logistic 2 log 2 (real + fake), hinge 1 + 1, per map.
    assert float(critic_loss(zero, (zero,), "logistic")) == pytest.approx(2 * np.log(2), 1e-6)
    assert float(critic_loss(zero + zero, (zero + zero,), "hinge")) == pytest.approx(4.0)
    sure_real, sure_fake = (jnp.full((2, 3, 3), 5.0),), (jnp.full((2, 3, 3), -5.0),)
    assert float(critic_loss(sure_real, (sure_fake,), "hinge")) == 0.0
    assert float(critic_loss(sure_real, (sure_fake,), "logistic")) < 0.02
    # The generator's side: hinge is -D(fake) per image; logistic is softplus(-D).
    np.testing.assert_allclose(fool_loss(jnp.full((2, 3, 3), 2.0), "hinge"), [-2.0, -2.0])
    np.testing.assert_allclose(fool_loss(jnp.zeros((2, 3, 3))), [np.log(2)] * 2, rtol=1e-6)


def test_r1_penalty_is_the_squared_gradient_norm_in_unit_pixels():
    # A critic whose mean logit is w . x in [-1, 1] units has gradient w everywhere.
    w = jax.random.normal(jax.random.key(0), (4, 4, 3))
    score = lambda params, pixels: (jnp.sum((pixels / 127.5 - 1.0) * params, (1, 2, 3)),)
    real = jax.random.uniform(jax.random.key(1), (3, 4, 4, 3), maxval=255.0)
    assert float(r1_penalty(score, w, real)) == pytest.approx(float(jnp.sum(w**2)), rel=1e-4)


def _portraits(key: jax.Array, n: int, size: int = 32, grain: float = 3.0) -> jax.Array:
    """(n, size, size, 3) images of coarse blobs under a sensor's white grain."""
    blobs, noise = jax.random.split(key)
    coarse = jax.random.uniform(blobs, (n, size // 8, size // 8, 3), minval=60.0, maxval=200.0)
    smooth = jax.image.resize(coarse, (n, size, size, 3), "cubic")
    return smooth + grain * jax.random.normal(noise, smooth.shape)


def test_spectral_loss_sees_a_grid_and_missing_grain_in_the_chosen_rows():
    size, n = 32, 32
    portraits = _portraits(jax.random.key(0), n, size)
    checker = (-1.0) ** (np.arange(size)[:, None] + np.arange(size)[None, :])
    grid = checker[None, :, :, None]
    # A checkerboard's energy sits at the highest frequency on both axes.
    spectrum = log_power_spectrum(127.5 + 20.0 * grid)[0]
    assert np.unravel_index(int(jnp.argmax(spectrum)), spectrum.shape) == (size // 2, size // 2)
    every = jnp.ones(n, bool)
    assert float(spectral_loss(portraits, portraits, every)) == 0.0
    with_grid = [float(spectral_loss(portraits + a * grid, portraits, every)) for a in (1, 2, 4)]
    assert 0 < with_grid[0] < with_grid[1] < with_grid[2]
    # Drawings without the portraits' grain lie further than another draw of portraits.
    other = _portraits(jax.random.key(1), n, size)
    smooth = _portraits(jax.random.key(1), n, size, grain=0.0)
    assert float(spectral_loss(smooth, portraits, every)) > 3 * float(
        spectral_loss(other, portraits, every)
    )
    # Rows left out do not count, however far their spectrum lies.
    rows = jnp.arange(2 * n) < n
    both = jnp.concatenate([portraits, smooth]), jnp.concatenate([portraits, portraits])
    assert float(spectral_loss(*both, rows)) == 0.0
    # Its gradient points straight at the grid: descending it takes the grid out.
    gradient = jax.grad(lambda x: spectral_loss(x, portraits, every))(portraits + 4 * grid)
    along = jnp.broadcast_to(grid, gradient.shape)
    cosine = jnp.sum(gradient * along) / (jnp.linalg.norm(gradient) * jnp.linalg.norm(along))
    assert float(cosine) > 0.99


def test_diff_augment_keeps_shape_and_range_and_follows_its_key():
    images = jax.random.uniform(jax.random.key(2), (4, 16, 16, 3), maxval=255.0)
    a = diff_augment(jax.random.key(3), images)
    assert a.shape == images.shape
    np.testing.assert_array_equal(a, diff_augment(jax.random.key(3), images))
    assert not np.allclose(a, diff_augment(jax.random.key(4), images))
    # Differentiable: the critic's gradient reaches the rendered pixels.
    grad = jax.grad(lambda x: jnp.sum(diff_augment(jax.random.key(3), x)))(images)
    assert float(jnp.abs(grad).sum()) > 0


def test_weight_average_starts_fast_and_settles_at_its_decay():
    ema, params = {"w": jnp.zeros(3)}, {"w": jnp.ones(3)}
    # Step 0: the rate is capped at 1/10, so the average moves 90% of the way.
    np.testing.assert_allclose(update_ema(ema, params, 0.999, jnp.array(0))["w"], 0.9)
    late = update_ema(ema, params, 0.999, jnp.array(10**6))["w"]
    np.testing.assert_allclose(late, 0.001, rtol=1e-3)


def test_critic_reads_pixels_and_each_feature_layer():
    critic = Critic((8, 8), ("conv1_1", "conv2_1"), feature_width=8)
    pixels = jnp.zeros((2, 16, 16, 3))
    feats = {"conv1_1": jnp.ones((2, 16, 16, 4)), "conv2_1": jnp.ones((2, 8, 8, 8))}
    params = critic.init(jax.random.key(0), pixels, feats)
    logits = critic.apply(params, pixels, feats)
    assert [m.shape for m in logits] == [(2, 4, 4), (2, 8, 8), (2, 4, 4)]


@pytest.fixture(scope="module")
def recipe_run(tiny_bundle, tmp_path_factory):
    """A tiny run with every recipe switch on, and the model it exported."""
    root = tmp_path_factory.mktemp("recipe")
    model = root / "model"
    shutil.copytree(tiny_bundle, model)
    bundle = train_inverter(tiny_config(model, *RECIPE), root / "work", quiet=True)
    return model, root / "work", bundle


def test_recipe_trains_keeps_checkpoints_and_ships_the_average(recipe_run):
    model, work, bundle = recipe_run
    # keep_every=2 keeps steps 2 and 4 beside the newest two (3, 4).
    assert checkpoint_steps(work) == [2, 3, 4]
    assert checkpoint_config(work, 2).train.gan_loss == "hinge"
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["spectral"]) and r["spectral"] > 0 for r in records if "feature" in r)
    exported = load_inverter(bundle)
    last = checkpoint_inverter(work, 4)  # the checkpoint's average, as the export ships
    for a, b in zip(jax.tree.leaves(exported.params), jax.tree.leaves(last.params), strict=True):
        np.testing.assert_array_equal(a, b)
    earlier = checkpoint_inverter(work, 2)
    assert not np.array_equal(jax.tree.leaves(earlier.params)[0], jax.tree.leaves(last.params)[0])
    np.testing.assert_array_equal(earlier.code_scale, exported.code_scale)
    with pytest.raises(DeepFaceGenError, match="no checkpoint of step 1"):
        checkpoint_inverter(work, 1)


def test_a_checkpoint_s_critic_is_read_back_and_judged(recipe_run, load_bench):
    model, work, bundle = recipe_run
    run = checkpoint_run(work, 4)
    assert run.state.step == 4 and run.config.train.critic_features == ["conv1_1"]
    for a, b in zip(jax.tree.leaves(run.state.ema),
                    jax.tree.leaves(checkpoint_inverter(work, 4).params), strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)  # the average is what ships
    portraits = np.random.default_rng(0).integers(0, 256, (6, run.arch.size, run.arch.size, 3))
    verdicts = load_bench("bench_critic").critic_verdicts(run, portraits.astype(np.uint8))
    assert list(verdicts) == ["pixels", "conv1_1"]  # one per logit map
    for verdict in verdicts.values():
        assert 0.0 <= verdict["patch_auc"] <= 1.0 and 0.0 <= verdict["image_auc"] <= 1.0
        assert verdict["real_spread"] > 0.0


def continued(recipe_run, workdir, *overrides: str):
    """(model, bundle): the recipe run's G attached to its model and trained 2 more
    steps in ``workdir`` with ``overrides``."""
    model, _, bundle = recipe_run
    attach(bundle, model)
    config = tiny_config(model, f"train.init_from={model}", "train.steps=2", *overrides)
    return model, train_inverter(config, workdir, quiet=True)


def test_warm_start_continues_a_trained_inverter_and_counts_its_steps(recipe_run, tmp_path):
    model, more = continued(recipe_run, tmp_path / "w")
    record = load_inverter(more).record["training"]
    assert record["steps"] == 2 and record["total_steps"] == 6
    # G keeps the input scale it learned on.
    np.testing.assert_array_equal(load_inverter(more).code_scale, load_inverter(model).code_scale)
    # A wider G continues it (test_a_wider_g_starts_as_the_same_g); a narrower one cannot.
    with pytest.raises(DeepFaceGenError, match="model.widths the same or wider"):
        train_inverter(
            tiny_config(model, f"train.init_from={model}", "model.widths=[4, 8]"),
            tmp_path / "x",
        )
    with pytest.raises(DeepFaceGenError, match="no bundle folder"):
        train_inverter(tiny_config(model, "train.init_from=nowhere"), tmp_path / "y")


def test_a_run_keeps_the_g_it_began_from_when_another_ships_under_that_name(recipe_run, tmp_path):
    # train.init_from names the classifier ("starter" in the shipped config): the G
    # attached to it when the run began, whatever a later release attaches there.
    model, _, bundle = recipe_run
    attach(bundle, model)
    began = load_inverter(model)
    config = tiny_config(model, f"train.init_from={model}", "train.steps=2")
    work = tmp_path / "w"
    assert train_inverter(config, work, quiet=True, max_steps=1) is None
    assert load_inverter(work / START_FOLDER).code_scale.tolist() == began.code_scale.tolist()
    training = {**began.record["training"], "total_steps": 100}
    record = {**began.record, "training": training}
    later = Inverter(began.config, began.params, began.code_scale * 2, began.code_high, record)
    save_inverter(tmp_path / "later", later)
    attach(tmp_path / "later", model)
    try:
        assert checkpoint_inverter(work, 1).record["training"]["total_steps"] == 4 + 1
        resumed = load_inverter(train_inverter(config, work, resume=True, quiet=True))
        assert resumed.record["training"]["total_steps"] == 4 + 2  # not 100 + 2
        np.testing.assert_array_equal(resumed.code_scale, began.code_scale)
        # A new run takes what the name means now.
        fresh = tmp_path / "fresh"
        assert train_inverter(config, fresh, quiet=True, max_steps=1) is None
        assert checkpoint_inverter(fresh, 1).record["training"]["total_steps"] == 100 + 1
    finally:
        attach(bundle, model)  # the module's other tests continue the recipe run's G


def test_noise_inputs_sample_texture_per_face_and_start_as_the_same_g():
    plain = InverterConfig("conv2_1", (8, 8, 16), 32, (8, 8, 8))
    noisy = dataclasses.replace(plain, noise=True)
    assert "noise" not in plain.to_json()  # bundles from before noise inputs read the same
    assert InverterConfig.from_json(noisy.to_json()) == noisy
    params = init_generator(noisy, jax.random.key(0))
    codes = jax.random.normal(jax.random.key(1), (3, 8, 8, 16))
    keys = noise_keys(3, jax.random.key(2))
    base = {name: value for name, value in params.items() if not name.startswith("noise_")}
    # At zero strength (where training starts) the noise changes nothing.
    np.testing.assert_allclose(
        Generator(noisy).apply({"params": params}, codes, keys),
        Generator(plain).apply({"params": base}, codes),
        rtol=0, atol=1e-4,
    )  # fmt: skip
    loud = {**params, **{f"noise_{i}": {"strength": jnp.ones(8)} for i in range(3)}}

    def draw(codes, keys=None):
        return np.asarray(Generator(noisy).apply({"params": loud}, codes, keys))

    first, again = draw(codes, keys), draw(codes, keys)
    np.testing.assert_array_equal(first, again)  # the same keys, the same faces
    other = draw(codes, noise_keys(3, jax.random.key(3)))
    assert np.abs(first - other).mean() > 1.0  # other keys, other texture
    # Without keys every face gets the same fixed noise, wherever it sits in a batch.
    fixed = draw(codes)
    np.testing.assert_allclose(draw(codes[::-1])[::-1], fixed, atol=1e-3)


def test_sensor_noise_is_each_face_s_own_level_added_after_g_draws():
    plain = InverterConfig("conv2_1", (8, 8, 16), 32, (8, 8, 8))
    camera = dataclasses.replace(plain, sensor_noise=0.05)
    assert "sensor_noise" not in plain.to_json()  # older bundles read the same
    assert InverterConfig.from_json(camera.to_json()) == camera
    grey = jnp.full((64, 16, 16, 3), 128.0)
    keys = noise_keys(64, jax.random.key(0))
    noisy = np.asarray(add_sensor_noise(grey, keys, 0.05))
    np.testing.assert_array_equal(noisy, add_sensor_noise(grey, keys, 0.05))  # keys decide
    levels = noisy.reshape(64, -1).std(axis=1)
    assert levels.max() <= 0.05 * 255 * 1.1 and levels.min() < 0.2 * 0.05 * 255
    assert np.ptp(levels) > 0.5 * 0.05 * 255  # levels spread over the range: one per face
    assert abs(noisy.mean() - 128.0) < 0.5  # noise, not a colour shift
    ends = add_sensor_noise(jnp.zeros((2, 8, 8, 3)).at[1].set(255.0), keys[:2], 0.5)
    assert float(ends.min()) == 0.0 and float(ends.max()) == 255.0  # clipped to pixels
    # G draws the same scene; only the camera's noise differs between keys.
    params = init_generator(camera, jax.random.key(1))
    codes = jax.random.normal(jax.random.key(2), (3, 8, 8, 16))
    scene = Generator(plain).apply({"params": params}, codes)
    inverter = load_inverter_like(camera, params)
    first = np.asarray(inverter.render(codes, keys=noise_keys(3, jax.random.key(3))))
    other = np.asarray(inverter.render(codes, keys=noise_keys(3, jax.random.key(4))))
    assert np.abs(first - other).mean() > 0.1
    assert np.abs((first + other) / 2 - scene).mean() < np.abs(first - other).mean()
    np.testing.assert_array_equal(inverter.render(codes), inverter.render(codes))  # fixed keys
    # A drawing made elsewhere (refine's) gets the same camera; a G without one keeps it.
    keys = noise_keys(3, jax.random.key(3))
    np.testing.assert_allclose(inverter.camera(scene, keys), first, atol=1e-3)
    plain_inverter = load_inverter_like(plain, params)
    np.testing.assert_array_equal(plain_inverter.camera(scene, keys), scene)


def load_inverter_like(config: InverterConfig, params: dict):
    """An Inverter of ``config`` with ``params`` and unit code scale (no bundle)."""
    channels = config.code_shape[-1]
    return Inverter(config, params, np.ones(channels, np.float32),
                    np.ones(channels, np.float32), {})  # fmt: skip


def test_clean_targets_teach_g_the_portraits_without_their_noise(tiny_bundle, tmp_path):
    from deepface_gen.training import inverter as trainer

    config = tiny_config(tiny_bundle, "train.clean_targets=True", "model.sensor_noise=0.02")
    context = trainer._prepare(config)
    source = trainer._source(config, context)
    batch = source.batch(0)
    assert batch.clean is not None
    run = trainer._setup(config, context, source, jax.random.key(0))
    feed = {"images": batch.images, "attributes": batch.attributes,
            "label_mask": batch.label_mask, "identity": batch.identity}  # fmt: skip

    # Against all-black and all-white targets G's pixel errors add up to the whole range:
    # the pixel loss reads the clean targets, not the recorded portraits.
    def pixel_loss(clean: np.ndarray) -> float:
        state = trainer._init_state(config, context, None)
        return float(run.step(state, {**feed, "clean": clean})[1]["pixel"])

    pixel = [pixel_loss(np.zeros_like(batch.clean)), pixel_loss(np.full_like(batch.clean, 255))]
    assert sum(pixel) == pytest.approx(1.0, abs=1e-4)
    bundle = train_inverter(config, tmp_path / "w", quiet=True)
    assert load_inverter(bundle).config.sensor_noise == 0.02
    with pytest.raises(DeepFaceGenError, match="only the synthetic source draws"):
        train_inverter(tiny_config(tiny_bundle, "train.clean_targets=True",
                                   f"data.source=celeba:{tmp_path}"), tmp_path / "x")  # fmt: skip
    assert not (tmp_path / "x").exists()


def test_a_wider_g_starts_as_the_same_g(recipe_run, tmp_path):
    narrow = InverterConfig("conv2_1", (8, 8, 16), 32, (8, 4, 4))
    wide = dataclasses.replace(narrow, widths=(16, 8, 12), noise=True)
    assert grows_into(narrow, wide) and not grows_into(wide, narrow)
    assert not grows_into(narrow, dataclasses.replace(wide, layer="conv3_1"))
    trained = init_generator(narrow, jax.random.key(0))
    grown = widen_params(init_generator(wide, jax.random.key(1)), trained)
    kernel = grown["ResidualBlock_0"]["Conv_0"]["kernel"]
    assert kernel.shape == (3, 3, 16, 16)
    np.testing.assert_array_equal(
        kernel[:, :, :8, :8], trained["ResidualBlock_0"]["Conv_0"]["kernel"]
    )
    assert not np.any(kernel[:, :, 8:, :8]) and np.any(kernel[:, :, :, 8:])  # new in -> old out: 0
    codes = jax.random.normal(jax.random.key(2), (3, 8, 8, 16))
    np.testing.assert_allclose(
        Generator(wide).apply({"params": grown}, codes, noise_keys(3, jax.random.key(3))),
        Generator(narrow).apply({"params": trained}, codes),
        rtol=0, atol=1e-3,
    )  # fmt: skip
    # A run continues the trained G at twice the widths, and counts its steps.
    _, wider = continued(recipe_run, tmp_path / "w", "model.widths=[16, 16]")
    inverter = load_inverter(wider)
    assert inverter.config.widths == (16, 16)
    assert inverter.record["training"]["total_steps"] == 6


def test_a_run_adds_noise_inputs_to_a_g_trained_without_them(recipe_run, tmp_path):
    model, noisy = continued(recipe_run, tmp_path / "w", "model.noise=True")
    inverter = load_inverter(noisy)
    assert inverter.config.noise
    strengths = [inverter.params[f"noise_{i}"]["strength"] for i in range(2)]
    assert all(s.shape == (8,) and np.isfinite(s).all() for s in strengths)
    assert any(np.abs(s).max() > 0 for s in strengths)  # trained from zero
    codes = jnp.ones((3, *inverter.config.code_shape))
    keys = noise_keys(3, jax.random.key(4))
    drawn = np.asarray(inverter.render(codes, keys=keys))
    np.testing.assert_array_equal(drawn, inverter.render(codes, keys=keys))
    # Each face's noise is its own key's, in any batch: one face alone draws the same.
    np.testing.assert_allclose(inverter.render(codes[1:2], keys=keys[1:2])[0], drawn[1], atol=1e-3)
    with pytest.raises(ValueError, match="one noise key per face: 3 faces, 2 keys"):
        inverter.render(codes, keys=keys[:2])
    # A G with noise inputs cannot continue as one without them.
    with pytest.raises(DeepFaceGenError, match="make model.layer match"):
        train_inverter(tiny_config(model, f"train.init_from={noisy}"), tmp_path / "x")
    # Generating, each face's noise comes from its plan's seed, batched or alone.
    with_noise = tmp_path / "with_noise"
    shutil.copytree(model, with_noise)
    attach(noisy, with_noise)
    gen = FaceGenerator.load(with_noise)
    loud = {
        **gen.inverter.params,
        **{f"noise_{i}": {"strength": 20 * jnp.ones(8)} for i in range(2)},
    }
    gen = dataclasses.replace(gen, inverter=dataclasses.replace(gen.inverter, params=loud))
    plans = [gen.plan("male", seed=1, render="net"), gen.plan(["female", "bald"], n=2, seed=2)]
    for plan, faces in zip(plans, gen.generate_many(plans), strict=True):
        np.testing.assert_allclose(faces, gen.draw(plan), atol=1)
    quiet = dataclasses.replace(gen, inverter=dataclasses.replace(gen.inverter, params={
        **loud, **{f"noise_{i}": {"strength": jnp.zeros(8)} for i in range(2)}}))  # fmt: skip
    assert np.abs(gen.draw(plans[1]).astype(int) - quiet.draw(plans[1])).mean() > 1
    # The same target under two render keys: two samples of the texture.
    objective = inversion.feature_match(gen.cgmm.layer, codes, 1.0)
    one, other = (
        renderers.render_target(gen.classifier, gen.inverter, objective, "net",
                                jax.random.key(k), None, gen.cgmm.mean_image).astype(int)
        for k in (0, 1)
    )  # fmt: skip
    assert np.abs(one - other).mean() > 1


def test_recipe_settings_are_checked_before_any_work(tiny_bundle, tmp_path):
    for bad, message in (
        ("train.gan_loss=wasserstein", "train.gan_loss 'wasserstein'; use logistic, hinge"),
        ("train.r1_weight=-1.0", "r1_weight"),
        ("train.ema_decay=1.0", "ema_decay"),
        ("train.critic_features=['conv9_9']", "critic_features must name layers"),
    ):
        with pytest.raises(DeepFaceGenError, match=message):
            train_inverter(tiny_config(tiny_bundle, bad), tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_paste_change_touches_only_where_the_rendered_change_lies():
    portraits = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3), maxval=255.0)
    before = jnp.full((2, 32, 32, 3), 100.0)
    after = before.at[:, 4:10, 4:10].add(60.0)  # a change in one corner only
    blur = edit_algebra.blur_matrix(32, 1.0)
    # detail 1: the change as drawn, so inside it the whole change is added.
    out = edit_algebra.paste_change(portraits, before, after, blur, blur, 1.0, 0.1, 0.35)
    # Far from the change the portrait's own pixels stay exactly.
    np.testing.assert_array_equal(out[:, 20:, 20:], portraits[:, 20:, 20:])
    np.testing.assert_allclose(
        out[:, 6:8, 6:8], jnp.clip(portraits[:, 6:8, 6:8] + 60.0, 0, 255), atol=1e-3
    )
    # No change, no edit (at the default calming and mask).
    np.testing.assert_array_equal(
        edit_algebra.paste_change(portraits, before, before, blur, blur), portraits
    )


def test_opaque_change_covers_what_lay_beneath():
    # A hat over hair: where the change is large, the edit shows G's drawing of the
    # edited portrait, not the old pixels plus the difference.
    portraits = jax.random.uniform(jax.random.key(1), (1, 32, 32, 3), maxval=255.0)
    before = jnp.full((1, 32, 32, 3), 100.0)
    after = before.at[:, 2:14, 2:14].set(220.0)  # a change of 120 in one corner
    blur = edit_algebra.blur_matrix(32, 1.0)
    added = edit_algebra.paste_change(portraits, before, after, blur, blur, 1.0)
    covered = edit_algebra.paste_change(portraits, before, after, blur, blur, 1.0,
                                        0.1, 0.35, 30.0, 60.0)  # fmt: skip
    np.testing.assert_allclose(covered[:, 5:11, 5:11], after[:, 5:11, 5:11], atol=1e-3)
    assert float(jnp.abs(added[:, 5:11, 5:11] - after[:, 5:11, 5:11]).max()) > 20.0
    # Untouched pixels stay the portrait's own either way.
    np.testing.assert_array_equal(covered[:, 24:, 24:], portraits[:, 24:, 24:])
    # Below its threshold nothing is covered.
    magnitude = edit_algebra.change_magnitude(after - before, blur)
    assert float(edit_algebra.opacity(magnitude, 200.0, 400.0).max()) == 0.0


def test_calm_change_keeps_a_colour_shift_and_damps_speckle():
    smooth = edit_algebra.blur_matrix(32, 1.0)
    shift = jnp.full((1, 32, 32, 3), 40.0)  # a hair colour: the same shift everywhere
    np.testing.assert_allclose(edit_algebra.calm_change(shift, smooth, 0.5), shift, atol=1e-3)
    checker = (jnp.indices((32, 32)).sum(0) % 2 * 2.0 - 1.0) * 30.0  # +-30 pixel speckle
    speckle = jnp.broadcast_to(checker[None, :, :, None], (1, 32, 32, 3))
    calmed = edit_algebra.calm_change(speckle, smooth, 0.5)
    # Interior pixels: the blur all but cancels the checker, half of the detail is kept.
    interior = jnp.abs(calmed[:, 4:-4, 4:-4])
    assert float(interior.max()) < 0.6 * 30.0 and float(interior.min()) > 0.4 * 30.0
    # detail 1 returns the change itself.
    np.testing.assert_allclose(edit_algebra.calm_change(speckle, smooth, 1.0), speckle, atol=1e-3)


@pytest.fixture(scope="module")
def model_with_g(tiny_bundle, tmp_path_factory):
    """A copy of the tiny bundle with a (barely) trained inverter attached."""
    root = tmp_path_factory.mktemp("change")
    model = root / "model"
    shutil.copytree(tiny_bundle, model)
    attach(train_inverter(tiny_config(model), root / "w", quiet=True), model)
    return model


def test_edit_focus_moves_the_portrait_by_the_focused_change(model_with_g):
    from deepface_gen.generation.editing import moved_targets
    from deepface_gen.generation.requests import EditOptions, parse_descriptions

    with pytest.raises(DeepFaceGenError, match="focus"):
        EditOptions.named(focus=1.5).check()
    gen = FaceGenerator.load(model_with_g)
    faces = gen.generate("male", n=2, seed=0)
    layer = gen.cgmm.layer
    seen = gen.classifier.outputs(faces, taps=(layer,))
    spec = parse_descriptions("+eyeglasses", gen.known_attributes)[0]
    own = np.asarray(seen[layer]).reshape(2, -1)
    ridge = jnp.asarray(gen.cgmm.ridge)
    moves = {}
    for focus in (0.0, 1.0):
        target = moved_targets(gen, seen, layer, spec, jnp.array([1.0]), None, focus)
        focused = edit_algebra.focused_ridge(ridge, tuple(gen.cgmm.shape), focus)
        current = 2.0 * jnp.asarray(seen["probabilities"]) - 1.0
        wanted = edit_algebra.wanted_attributes(current, spec)
        expected = np.maximum(own + np.asarray((wanted - current) @ focused[:-1]), 0.0)
        np.testing.assert_allclose(np.asarray(target).reshape(2, -1), expected, atol=1e-4)
        moves[focus] = np.linalg.norm(np.asarray(target).reshape(2, -1) - own)
    assert 0 < moves[1.0] < moves[0.0]  # a part of the global change
    edited = {f: gen.edit(faces, "+eyeglasses", strengths=(0.0, 3.0), render="change", focus=f)
              for f in (0.0, 1.0)}  # fmt: skip
    np.testing.assert_array_equal(edited[1.0][:, 0], faces)  # strength 0 is still exact
    assert not np.array_equal(edited[0.0][:, 1], edited[1.0][:, 1])


def test_change_render_keeps_the_portrait_at_strength_zero(model_with_g):
    gen = FaceGenerator.load(model_with_g)
    faces = gen.generate("male", n=2, seed=0)
    edited = gen.edit(faces, "+smiling", strengths=(0.0, 3.0), render="change")
    assert edited.shape == (2, 2, 16, 16, 3)
    np.testing.assert_array_equal(edited[:, 0], faces)  # not even G's redraw of it
    assert not np.array_equal(edited[:, 1], faces)
    with pytest.raises(DeepFaceGenError, match="unknown render 'delta'.*change"):
        gen.edit(faces, "+smiling", render="delta")
    with pytest.raises(DeepFaceGenError, match="unknown render 'change'"):
        gen.generate("smiling", render="change")  # drawing a face has no portrait to keep


def test_polish_starts_from_the_change_render_and_moves_toward_the_edit(model_with_g):
    gen = FaceGenerator.load(model_with_g)
    faces = gen.generate("male", n=2, seed=0)
    kept = gen.edit(faces, "+eyeglasses", strengths=(0.0,), render="polish")
    np.testing.assert_array_equal(kept[:, 0], faces)  # strength 0: every gradient is zero
    changed = gen.edit(faces, "+eyeglasses", strengths=(3.0,), render="change")[:, 0]
    polished = gen.edit(faces, "+eyeglasses", strengths=(3.0,), render="polish")[:, 0]
    none = gen.edit(faces, "+eyeglasses", strengths=(3.0,), render="polish", steps=1)[:, 0]
    assert not np.array_equal(polished, changed)  # the pixel steps moved it
    # Fewer steps stay nearer the change render; the default's steps go further.
    moved = lambda x: np.abs(x.astype(float) - changed.astype(float)).mean()  # noqa: E731
    assert moved(none) < moved(polished)
    assert defaults.POLISH_STEPS > 1 and "polish" in defaults.EDIT_RENDERS


def test_line_chart_draws_each_series_in_its_colour():
    chart = line_chart(
        {"a": (np.array([0, 1, 2]), np.array([1.0, 2.0, 1.5])),
         "b": (np.array([0, 2]), np.array([0.5, 0.7]))},  # fmt: skip
        "title", "steps", "ratio", reference=("target", 1.2),
    )  # fmt: skip
    assert chart.shape == (320, 480, 3) and chart.dtype == np.uint8
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert np.all(chart == colour, axis=-1).sum() > 50


def test_a_chosen_checkpoint_is_exported_and_attached_without_training(recipe_run, tmp_path):
    from deepface_gen import cli

    model, work, _ = recipe_run
    target = tmp_path / "model"
    shutil.copytree(model, target)
    argv = ["train-inverter", "--config", "configs/inverter_starter.py", "--workdir", str(work),
            "--export-step", "2", "--attach", str(target)]  # fmt: skip
    assert cli.main(argv) == 0
    exported = load_inverter(work / "model_step_2")
    assert exported.record["training"]["total_steps"] == 2
    attached = load_inverter(target)
    for a, b in zip(jax.tree.leaves(attached.params),
                    jax.tree.leaves(checkpoint_inverter(work, 2).params), strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    assert cli.main([*argv[:6], "--export-step", "7"]) == 2  # no such checkpoint


def test_crossing_interpolates_where_the_curve_reaches_its_goal():
    assert calibration.crossing([0, 1, 2], [0.1, 0.5, 0.9], 0.7) == pytest.approx(1.5)
    assert calibration.crossing([0, 1, 2], [0.1, 0.2, 0.3], 0.9) == 2.0  # never: the end
    # Reached between the first two points already.
    assert calibration.crossing([0, 1, 2], [0.1, 0.8, 0.9], 0.45) == pytest.approx(0.5)


def test_gains_scale_each_attribute_part_of_the_change():
    ridge = jax.random.normal(jax.random.key(0), (41, 6))
    own, current = jnp.zeros((1, 6)), jnp.zeros((1, 40))
    wanted = current.at[0, 31].set(1.0)  # Smiling
    plain = edit_algebra.edit_targets(own + 10, current, wanted, ridge, jnp.array([1.0]))
    gains = calibration.gains({"attributes": {"Smiling": {"gain": 2.0}}})  # one gain: both ways
    assert np.all(gains[:, 31] == 2.0) and np.all(np.delete(gains, 31, axis=1) == 1.0)
    doubled = edit_algebra.edit_targets(own + 10, current, wanted, ridge, jnp.array([2.0]))
    gained = edit_algebra.edit_targets(
        own + 10, current, wanted, ridge, jnp.array([1.0]), jnp.asarray(gains)
    )
    np.testing.assert_allclose(gained, doubled, rtol=1e-6)
    assert not np.allclose(plain, doubled)
    assert calibration.gains(None) is None


def test_adding_and_removing_follow_their_own_gains():
    ridge = jax.random.normal(jax.random.key(1), (41, 6))
    current = jnp.zeros((2, 40)).at[1, 31].set(1.0)  # one portrait without a smile, one with
    wanted = current.at[:, 31].set(jnp.array([1.0, -1.0]))  # add it, remove it
    record = {"attributes": {"Smiling": {"gain_add": 3.0, "gain_remove": 0.5, "gain": 1.75}}}
    gains = jnp.asarray(calibration.gains(record))
    moved = edit_algebra.edit_direction(current, wanted, ridge, gains)
    plain = edit_algebra.edit_direction(current, wanted, ridge)
    np.testing.assert_allclose(moved[0], 3.0 * plain[0], rtol=1e-5)
    np.testing.assert_allclose(moved[1], 0.5 * plain[1], rtol=1e-5)


def test_a_level_asks_for_less_than_the_typical_probability():
    curves = {"add": [0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95],  # at RAW_STRENGTHS
              "remove": [0.9, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1]}  # fmt: skip
    typical = calibration.direction_gains(curves, 0.95, 0.1, None)
    assert typical == pytest.approx((4.0, 4.0))  # rises to 0.95 and falls to 0.1 only at 4
    at_level = calibration.direction_gains(curves, 0.95, 0.1, 0.8)
    assert at_level == pytest.approx((2.0, 3.0))  # rises to 0.8 at 2, falls to 0.2 at 3
    # A level above the typical probability stops at the typical one.
    assert calibration.direction_gains(curves, 0.6, 0.4, 0.8) == pytest.approx((1.5, 1.5))
    # An attribute read at once still moves: never below the grid's first step.
    assert calibration.direction_gains(curves, 0.1, 0.9, 0.8) == pytest.approx((0.5, 0.5))


def test_calibration_is_measured_stored_and_followed_by_edit(model_with_g, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(model_with_g, model)
    gen = FaceGenerator.load(model)
    assert gen.edit_gains is None
    result = calibration.calibrate(gen, names=["Smiling", "Eyeglasses"], pool=96, portraits=6)
    entry = result["attributes"]["Smiling"]
    assert len(entry["add"]) == len(result["strengths"]) == len(entry["remove"])
    assert 0.5 <= entry["gain"] <= max(result["strengths"])
    bundles.update_record(model, "inverter", {"edit_calibration": result})
    calibrated = FaceGenerator.load(model)
    assert result["level"] == calibration.LEVEL
    assert calibrated.edit_gains[:, 31] == pytest.approx([entry["gain_add"], entry["gain_remove"]])
    faces = gen.generate("male", n=1, seed=0)
    # Strength 1 with the gain is the raw strength of the gain without it.
    a = calibrated.edit(faces, {"Smiling": 1.0}, strengths=(1.0,), render="change")
    b = gen.edit(faces, {"Smiling": 1.0}, strengths=(entry["gain_add"],), render="change")
    np.testing.assert_allclose(a.astype(int), b.astype(int), atol=1)
    # With no strength asked for, a calibrated model edits at 1, a raw one at EDIT_STRENGTH.
    assert (calibrated.edit_strength, gen.edit_strength) == (1.0, defaults.EDIT_STRENGTH)
    np.testing.assert_array_equal(calibrated.edit(faces, {"Smiling": 1.0}, render="change"), a)


def test_calibrate_edits_stores_what_strength_means_in_a_model(model_with_g, tiny_bundle,
                                                               tmp_path, capsys):  # fmt: skip
    from deepface_gen import cli

    model = tmp_path / "model"
    shutil.copytree(model_with_g, model)
    argv = ["calibrate-edits", "--model", str(model), "--pool", "64", "--portraits", "4"]
    assert cli.main([*argv, "--data", "synthetic:40", "--level", "0.7", "--quiet"]) == 0
    assert "to a probability of 0.7; stored in" in capsys.readouterr().out
    calibrated = FaceGenerator.load(model)
    record = calibrated.inverter.record["edit_calibration"]
    assert (record["level"], record["data"]) == (0.7, "synthetic:40")
    assert calibrated.edit_strength == 1.0 and calibrated.edit_gains.shape == (2, 40)
    assert np.all(calibrated.edit_gains >= calibration.RAW_STRENGTHS[1])
    # The shipped starter is not rewritten, a model without G has nothing to calibrate
    # through, and a level must be a probability.
    assert cli.main(["calibrate-edits", "--model", "starter"]) == 2
    assert "shipped inside the package" in capsys.readouterr().err
    assert cli.main(["calibrate-edits", "--model", str(tiny_bundle)]) == 2
    assert "no learned inverter" in capsys.readouterr().err
    assert cli.main([*argv, "--level", "1.5"]) == 2
    assert "probability in (0, 1) or 'typical', not '1.5'" in capsys.readouterr().err


def test_portraits_to_calibrate_on_come_from_any_data_source():
    images, labels, known = calibration.labelled_portraits("synthetic:30", 16, 8, seed=3)
    assert images.shape == (8, 16, 16, 3) and images.dtype == np.uint8
    assert labels.shape == known.shape == (8, 40) and set(np.unique(labels)) <= {-1.0, 1.0}
    drawn, drawn_labels, _ = calibration.labelled_portraits("synthetic", 16, 8, seed=3)
    assert drawn.shape == images.shape and not np.array_equal(drawn, images)  # another stream
