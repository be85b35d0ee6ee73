import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepface_gen import cli, inversion
from deepface_gen.errors import DeepFaceGenError, DescriptionError
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.inversion import priors
from deepface_gen.io.images import read_image, write_image
from deepface_gen.models.classifier import Classifier
from deepface_gen.models.preprocessing import STARTER
from deepface_gen.models.vgg import AttributeClassifier, HeadConfig, compact_config

FAST = inversion.RenderSettings(steps=30, polish_steps=5, chunk=10)


@pytest.fixture(scope="module")
def gen(tiny_bundle):
    return dataclasses.replace(FaceGenerator.load(tiny_bundle), settings=FAST)


def test_inversion_recovers_input_of_a_small_network():
    backbone, head = compact_config(16, 1, 16), HeadConfig("pool1", "flatten", 0)
    params = AttributeClassifier(backbone, head).init(jax.random.key(1), jnp.zeros((1, 16, 16, 3)))
    clf = Classifier(backbone, head, STARTER, params["params"], (), (), {}, None)
    y, x = np.mgrid[0:16, 0:16]
    image = np.stack([8 * x + 60, 8 * y + 40, 200 - 6 * (x + y)], -1).astype(np.float32)[None]
    target = clf.apply(image, taps=("conv1_1",))["conv1_1"]
    settings = inversion.RenderSettings(
        steps=300,
        polish_steps=50,
        learning_rate=3.0,
        jitter=0,
        alpha_weight=0.0,
        tv_weight=0.0,
        chunk=50,
        pyramid_levels=1,
    )
    start = inversion.noisy_start(np.full((16, 16, 3), 127.5), 1, jax.random.key(5))
    result, history = inversion.render(
        clf, inversion.feature_match("conv1_1", target), start, jax.random.key(0), settings
    )
    assert history[-1, 0] < 0.01 * history[0, 0]  # the objective fell a hundredfold
    assert np.abs(result - image).mean() < 6.0  # and the pixels came back


def test_generate_same_seed_same_faces(gen):
    a = gen.generate("smiling, male", n=2, seed=3)
    b = gen.generate("smiling, male", n=2, seed=3)
    c = gen.generate("smiling, male", n=2, seed=4)
    assert a.shape == (2, 16, 16, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 1
    assert np.abs(a[0].astype(int) - a[1]).mean() > 1  # one description, different faces


def test_every_bit_of_a_seed_counts():
    from deepface_gen.generation.seeds import seed_key

    for seed in (0, 7, 2**32 - 1):  # below 2**32: exactly jax.random.key
        expected = jax.random.key_data(jax.random.key(seed))
        np.testing.assert_array_equal(jax.random.key_data(seed_key(seed)), expected)
    low, high = seed_key(3), seed_key(2**32 + 3)  # jax.random.key would make these equal
    assert not np.array_equal(jax.random.key_data(low), jax.random.key_data(high))


def test_generate_many_descriptions_and_methods(gen):
    faces = gen.generate(["young", {"smiling": 1, "male": -1}], n=2, seed=0)
    assert faces.shape == (4, 16, 16, 3)
    for method in ("paper", "baseline"):
        assert gen.generate("young", n=1, method=method).shape == (1, 16, 16, 3)
    with pytest.raises(DeepFaceGenError, match="unknown method"):
        gen.generate("young", method="dream")


def test_generate_refuses_bad_descriptions(gen):
    with pytest.raises(DescriptionError, match="contradictory"):
        gen.generate("male, female")
    with pytest.raises(DescriptionError, match="did you mean"):
        gen.generate("smilling")


def test_model_without_attribute_refused(gen):
    narrowed = dataclasses.replace(gen.classifier, known_attributes=("Male",))
    with pytest.raises(DescriptionError, match="has not learned Smiling"):
        dataclasses.replace(gen, classifier=narrowed).generate("smiling")


def test_invert_caricature_visualize_do_what_they_say(gen):
    clf = gen.classifier
    mean_face = gen.cgmm.mean_image[None]

    def acts(images, layer):
        return np.asarray(clf.apply(np.asarray(images, np.float32), taps=(layer,))[layer])

    face = gen.generate("young", seed=1)[0]
    target = acts(face[None], "conv1_1")
    inverted = gen.invert(face, layer="conv1_1")
    assert inverted.shape == (16, 16, 3) and inverted.dtype == np.uint8
    # The reconstruction's activations are nearer the face's than the start's were.
    assert np.sum((acts(inverted[None], "conv1_1") - target) ** 2) < 0.5 * np.sum(
        (acts(mean_face, "conv1_1") - target) ** 2
    )

    layer = gen.cgmm.layer
    reference = np.maximum(acts(face[None], layer), 0).ravel()
    exaggerated = gen.caricature(face)
    assert acts(exaggerated[None], layer).ravel() @ reference > reference @ reference

    logit = lambda images: np.asarray(clf.apply(np.asarray(images, np.float32))["attributes"])
    smiling = gen.visualize(attribute="smiling", n=2)
    index = clf.attributes.index("Smiling")
    assert smiling.shape == (2, 16, 16, 3)
    assert (logit(smiling)[:, index] > logit(mean_face)[0, index]).all()

    unit = gen.visualize(unit="conv2_1:3")
    assert unit.shape == (1, 16, 16, 3)
    assert acts(unit, "conv2_1")[..., 3].mean() > acts(mean_face, "conv2_1")[..., 3].mean()
    with pytest.raises(DeepFaceGenError, match="channels"):
        gen.visualize(unit="conv2_1:999")
    with pytest.raises(DeepFaceGenError, match="LAYER:CHANNEL"):
        gen.visualize(unit="conv2_1")


def test_cli_generate_writes_images(tiny_bundle, tmp_path, capsys, monkeypatch):
    out = tmp_path / "face.png"
    args = [
        "generate",
        "--attrs",
        "youth, black hair, male",
        "--model",
        str(tiny_bundle),
        "--steps",
        "5",
        "--out",
        str(out),
        "--quiet",
        "--size",
        "32",
    ]
    assert cli.main(args) == 0
    assert read_image(out).shape == (32, 32, 3)
    folder = tmp_path / "many"
    assert (
        cli.main(
            [
                "generate",
                "--attrs",
                "smiling",
                "--model",
                str(tiny_bundle),
                "--n",
                "3",
                "--steps",
                "5",
                "--out",
                str(folder),
                "--grid",
                str(tmp_path / "g.png"),
                "--quiet",
            ]
        )
        == 0
    )
    assert len(list(folder.glob("*.png"))) == 3 and (tmp_path / "g.png").exists()
    # A grid alone writes the grid alone, nothing into the working folder.
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    grid_only = ["generate", "--attrs", "smiling", "--model", str(tiny_bundle), "--n", "2"]
    assert cli.main([*grid_only, "--steps", "2", "--grid", str(tmp_path / "only.png")]) == 0
    assert (tmp_path / "only.png").exists() and not list((tmp_path / "empty").iterdir())
    assert cli.main(["generate", "--attrs", "male, female", "--model", str(tiny_bundle)]) == 2
    assert "contradictory" in capsys.readouterr().err


def test_cli_invert_caricature_visualize(tiny_bundle, tmp_path):
    image = write_image(tmp_path / "in.png", np.full((40, 30, 3), 120, np.uint8))
    for command in ("invert", "caricature"):
        out = tmp_path / f"{command}.png"
        assert (
            cli.main(
                [
                    command,
                    str(image),
                    "--model",
                    str(tiny_bundle),
                    "--steps",
                    "3",
                    "--out",
                    str(out),
                    "--grid",
                    str(tmp_path / f"{command}_g.png"),
                    "--quiet",
                ]
            )
            == 0
        )
        assert read_image(out).shape == (16, 16, 3)
    out = tmp_path / "v.png"
    assert (
        cli.main(
            [
                "visualize",
                "--attr",
                "smiling",
                "--model",
                str(tiny_bundle),
                "--steps",
                "3",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert out.exists()


def test_model_without_cgmm_says_how_to_fit(tmp_path):
    from deepface_gen.attributes import CELEBA_ATTRIBUTES
    from deepface_gen.io import bundles

    backbone, head = compact_config(4, 1, 16), HeadConfig("pool1", "flatten", 0)
    params = AttributeClassifier(backbone, head).init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
    bundles.save_bundle(
        tmp_path / "m",
        params,
        {
            "kind": "attribute_classifier",
            "backbone": backbone.to_json(),
            "head": head.to_json(),
            "preprocessing": STARTER.to_json(),
            "attributes": list(CELEBA_ATTRIBUTES),
        },
    )
    with pytest.raises(DeepFaceGenError, match="deepface-gen fit"):
        FaceGenerator.load(tmp_path / "m")


def test_cli_invert_and_unit_with_vgg16(vgg16_file, tmp_path, capsys):
    from deepface_gen.models import pretrained

    pretrained.import_weights(vgg16_file)
    image = write_image(
        tmp_path / "in.png", np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    )
    out = tmp_path / "inv.png"
    assert (
        cli.main(
            [
                "invert",
                str(image),
                "--model",
                "vgg16",
                "--input-size",
                "32",
                "--layer",
                "conv2_1",
                "--steps",
                "3",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert read_image(out).shape == (32, 32, 3)
    assert (
        cli.main(
            [
                "visualize",
                "--unit",
                "conv3_1:5",
                "--model",
                "vgg16",
                "--input-size",
                "32",
                "--steps",
                "3",
                "--out",
                str(tmp_path / "u.png"),
                "--quiet",
            ]
        )
        == 0
    )
    assert cli.main(["visualize", "--attr", "smiling", "--model", "vgg16"]) == 2
    assert "no attribute heads" in capsys.readouterr().err


def test_anchor_keeps_pixels_near_start_and_pyramid_reduces_objective(gen):
    clf = gen.classifier
    start = inversion.noisy_start(gen.cgmm.mean_image, 1, jax.random.key(2))
    target = clf.apply(np.full((1, 16, 16, 3), 60.0), taps=("conv2_1",))["conv2_1"]
    objective = inversion.feature_match("conv2_1", target)
    free = dataclasses.replace(FAST, steps=40, jitter=0)
    held = dataclasses.replace(free, anchor_weight=1e4)
    moved, history = inversion.render(clf, objective, start, jax.random.key(0), free)
    kept, _ = inversion.render(clf, objective, start, jax.random.key(0), held)
    assert history[-1, 0] < history[0, 0]  # the pyramid parameterization optimizes
    assert np.abs(kept - start).mean() < 0.3 * np.abs(moved - start).mean()


def test_attribute_likelihood_saturates_and_ignores_unrequested():
    values = np.zeros((2, 40), np.float32)
    values[:, 3] = [1.0, -2.0]
    objective = inversion.attribute_likelihood(values, weight=1.0)
    logits = np.zeros((2, 40), np.float32)
    at_zero = np.asarray(objective({"attributes": logits}))
    np.testing.assert_allclose(at_zero, [np.log(2.0), 2.0 * np.log(2.0)], rtol=1e-5)
    logits[:, 3] = [20.0, -20.0]  # both clearly as requested
    logits[:, 7] = 50.0  # not requested: no effect
    np.testing.assert_allclose(objective({"attributes": logits}), [0.0, 0.0], atol=1e-6)


def test_change_smoothness_prior_is_zero_at_the_start_and_smooths_edits(gen):
    clf = gen.classifier
    start = jnp.asarray(gen.generate("young", seed=2), jnp.float32)
    target = clf.apply(np.full((1, 16, 16, 3), 60.0), taps=("conv2_1",))["conv2_1"]
    objective = inversion.feature_match("conv2_1", target, 20.0)
    free = dataclasses.replace(FAST, steps=40, jitter=0, tv_weight=0.0, alpha_weight=0.0)
    smooth = dataclasses.replace(free, change_tv_weight=50.0)
    rough, _ = inversion.render(clf, objective, start, jax.random.key(0), free)
    calm, _ = inversion.render(clf, objective, start, jax.random.key(0), smooth)
    tv = priors.total_variation
    assert float(tv(calm - start)[0]) < 0.5 * float(tv(rough - start)[0])


def test_edit_strength_zero_keeps_portrait_and_shapes(gen):
    portrait = gen.generate("young", seed=5)
    out = gen.edit(portrait, "+smiling,-eyeglasses", strengths=(0.0, 1.5), steps=20)
    assert out.shape == (1, 2, 16, 16, 3) and out.dtype == np.uint8
    unchanged = np.abs(out[0, 0].astype(int) - portrait[0]).mean()
    changed = np.abs(out[0, 1].astype(int) - portrait[0]).mean()
    assert unchanged < 4.0 and changed > unchanged
    with pytest.raises(DescriptionError, match="did you mean"):
        gen.edit(portrait, "+smilling")


def test_cli_edit_file_sweep_folder_and_paste(tiny_bundle, tmp_path, capsys):
    rng = np.random.default_rng(0)
    portrait = write_image(tmp_path / "in" / "p1.png", rng.integers(0, 255, (40, 30, 3), np.uint8))
    write_image(tmp_path / "in" / "p2.jpg", rng.integers(0, 255, (20, 20, 3), np.uint8))
    base = ["--model", str(tiny_bundle), "--steps", "3", "--quiet", "--attrs", "+smiling"]
    assert cli.main(["edit", str(portrait), "--out", str(tmp_path / "e.png"), *base]) == 0
    assert read_image(tmp_path / "e.png").shape == (16, 16, 3)
    assert (
        cli.main(
            [
                "edit",
                str(portrait),
                "--sweep",
                "0,0.5,1,1.5",
                "--out",
                str(tmp_path / "s.png"),
                *base,
            ]
        )
        == 0
    )
    strip = read_image(tmp_path / "s.png")
    assert strip.shape[1] == 5 * (16 + 2) + 2  # the input and four strengths
    assert (
        cli.main(
            [
                "edit",
                str(portrait),
                "--paste",
                "--box",
                "2,5,24,24",
                "--out",
                str(tmp_path / "full.png"),
                *base,
            ]
        )
        == 0
    )
    assert read_image(tmp_path / "full.png").shape == (40, 30, 3)
    assert cli.main(["edit", str(tmp_path / "in"), "--out", str(tmp_path / "out"), *base]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p1.png", "p2.png"]
    # A removal starts with a dash, as the README writes it: not read as an option.
    remove = [*base[:-1], "-smiling,+eyeglasses"]
    assert cli.main(["edit", str(portrait), "--out", str(tmp_path / "r.png"), *remove]) == 0
    assert (
        cli.main(
            ["edit", str(portrait), "--box", "0,0,99,99", "--out", str(tmp_path / "x.png"), *base]
        )
        == 2
    )
    assert "does not fit" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    assert cli.main(["edit", str(bad), "--out", str(tmp_path / "y.png"), *base]) == 2
    assert "not a readable image" in capsys.readouterr().err


def test_focus_keeps_each_attribute_change_where_it_is_strongest():
    from deepface_gen.generation import edit as algebra

    # One attribute's change over 4 locations of 2 channels, strengths 4, 2, 1 and 0.
    row = np.array([[4, 0], [0, 2], [0.6, 0.8], [0, 0]], np.float32).reshape(-1)
    ridge = jnp.asarray(np.stack([row, 2 * row, np.arange(8, dtype=np.float32)]))
    np.testing.assert_allclose(algebra.focused_ridge(ridge, (2, 2, 2), 0.0), ridge)
    top = np.asarray(algebra.focused_ridge(ridge, (2, 2, 2), 1.0))
    # The strongest location keeps all of it; the others a share of strength / peak.
    expected = np.array([[4, 0], [0, 2 * 0.5], [0.6 * 0.25, 0.8 * 0.25], [0, 0]]).reshape(-1)
    np.testing.assert_allclose(top[0], expected, rtol=1e-6)
    np.testing.assert_allclose(top[1], 2 * expected, rtol=1e-6)  # each row on its own scale
    np.testing.assert_array_equal(top[2], np.asarray(ridge)[2])  # the bias is untouched
    # At the median (strength 1.5) the two strongest keep everything, the third 1/1.5.
    median = np.asarray(algebra.focused_ridge(ridge, (2, 2, 2), 0.5))
    np.testing.assert_allclose(median[0], row * np.repeat([1, 1, 1 / 1.5, 1], 2), rtol=1e-6)


def test_edit_algebra_is_linear_in_strength_and_moves_only_named_attributes():
    from deepface_gen.attributes import ATTRIBUTE_INDEX, as_spec
    from deepface_gen.generation import edit as algebra

    rng = np.random.default_rng(0)
    own = jnp.asarray(rng.uniform(0.5, 2.0, (3, 12)), jnp.float32)  # post-ReLU activations
    current = jnp.asarray(rng.uniform(-1, 1, (3, 40)), jnp.float32)
    ridge = jnp.asarray(rng.normal(0, 0.1, (41, 12)), jnp.float32)
    spec = as_spec("+smiling,-eyeglasses")
    wanted = algebra.wanted_attributes(current, spec)
    changed = np.flatnonzero(np.any(np.asarray(wanted) != np.asarray(current), axis=0))
    assert set(changed) <= {ATTRIBUTE_INDEX["Smiling"], ATTRIBUTE_INDEX["Eyeglasses"]}
    assert np.all(np.asarray(wanted)[:, ATTRIBUTE_INDEX["Smiling"]] == 1.0)
    targets = np.asarray(
        algebra.edit_targets(own, current, wanted, ridge, jnp.array([0.0, 0.1, 0.2]))
    )
    np.testing.assert_allclose(targets[:, 0], own, rtol=1e-6)  # strength 0: the portrait itself
    np.testing.assert_allclose(targets[:, 2] - targets[:, 0], 2 * (targets[:, 1] - targets[:, 0]),
                               rtol=1e-4, atol=1e-6)  # fmt: skip
    delta = (np.asarray(wanted) - np.asarray(current)) @ np.asarray(ridge)[:-1]
    np.testing.assert_allclose(targets[:, 1] - targets[:, 0], 0.1 * delta, rtol=1e-4, atol=1e-6)
    values = np.asarray(algebra.guidance_values(spec, jnp.array([0.0, 2.0]), 3))
    assert (
        values.shape == (6, 40)
        and not values[0].any()
        and values[1, ATTRIBUTE_INDEX["Smiling"]] == 2
    )


def test_colour_centre_is_the_mean_face_or_the_networks_data_mean_never_mid_gray():
    from deepface_gen.generation.tools import colour_centre
    from deepface_gen.models.classifier import Backbone
    from deepface_gen.models.preprocessing import CAFFE_VGG16

    vgg = Backbone(compact_config(4, 1, 16), {}, CAFFE_VGG16, "vgg16")
    centre = colour_centre(vgg, None)
    assert centre.shape == (16, 16, 3)
    np.testing.assert_allclose(centre[0, 0], [123.68, 116.779, 103.939], rtol=1e-5)  # RGB order
    face = np.full((16, 16, 3), 40.0, np.float32)
    np.testing.assert_array_equal(colour_centre(vgg, face), face)


def test_the_cli_and_the_library_share_one_set_of_defaults():
    from deepface_gen.generation import defaults, methods

    generate = cli.build_parser().parse_args(["generate", "--attrs", "x"])
    edit = cli.build_parser().parse_args(["edit", "p.png", "--attrs", "x", "--out", "o.png"])
    # An unset method or temperature is None: the plan resolves it for the model.
    assert (generate.temperature, generate.guidance, generate.method) == (
        None, defaults.GUIDANCE, None)  # fmt: skip
    assert (generate.backend, generate.init) == (defaults.BACKEND, defaults.INIT)
    # An unset strength is None: the model's own (1 where it calibrates strength).
    assert (edit.strength, edit.guidance) == (None, defaults.GUIDANCE)
    assert tuple(methods.METHODS) == defaults.METHODS
    from deepface_gen.generation.requests import EditOptions, GenerateOptions

    assert (GenerateOptions().temperature, GenerateOptions().guidance) == (
        None, defaults.GUIDANCE)  # fmt: skip
    assert (EditOptions().guidance, EditOptions().smoothness) == (
        defaults.GUIDANCE, defaults.EDIT_SMOOTHNESS)  # fmt: skip


def test_options_are_named_once_and_unknown_ones_refused(tiny_bundle):
    from deepface_gen.generation import defaults, methods
    from deepface_gen.generation.requests import default_temperature

    gen = FaceGenerator.load(tiny_bundle)
    with pytest.raises(DeepFaceGenError, match="unknown generate option 'temprature'.*temperature"):
        gen.generate("smiling", temprature=0.5)
    with pytest.raises(DeepFaceGenError, match="unknown edit option 'strenght'"):
        gen.edit(np.zeros((1, 16, 16, 3), np.uint8), "+smiling", strenght=2.0)
    with pytest.raises(ValueError, match="'conditional' is already registered"):
        methods.register("conditional")(methods.conditional)
    with pytest.raises(DeepFaceGenError) as refused:
        gen.plan("smiling", steps=0)
    assert refused.value.field == "steps"  # the error says which option it is about
    with pytest.raises(DeepFaceGenError) as refused:
        gen.plan("smiling", render="sketch")
    assert refused.value.field == "render"
    plan = gen.plan("smiling", n=2, seed=3, temperature=0.7, steps=4)
    assert (plan.n, plan.seed, plan.temperature, plan.steps) == (2, 3, 0.7, 4)
    # An unset method is the mixture's where the model has one, and an unset
    # temperature the measured one for the way the faces are drawn.
    plan = gen.plan("smiling")
    assert (plan.method, plan.temperature) == (defaults.METHOD, defaults.BORROWED_TEMPERATURE)
    assert gen.plan("smiling", method="paper").temperature == defaults.TEMPERATURE
    plain = dataclasses.replace(gen, cgmm=dataclasses.replace(gen.cgmm, mixture=None))
    assert plain.plan("smiling").method == defaults.FALLBACK_METHOD
    bare = dataclasses.replace(plain, cgmm=dataclasses.replace(plain.cgmm, exemplars=None))
    assert bare.plan("smiling").temperature == defaults.TEMPERATURE  # nothing to borrow
    # The hybrid's targets take its VAE faces' attributes: the shared temperature.
    assert default_temperature("cgmm", "vae", borrows=True) == defaults.TEMPERATURE
