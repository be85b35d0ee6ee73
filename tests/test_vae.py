"""The conditional VAE: loss, resume, conditioning, bundles, and the generate backends."""

from __future__ import annotations

import json
import shutil

import jax
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from test_inverter import reweigh

from deepface_gen.attributes import ATTRIBUTE_INDEX
from deepface_gen.config import Config
from deepface_gen.data import synth
from deepface_gen.errors import DeepFaceGenError, WeightsError
from deepface_gen.io import bundles
from deepface_gen.models.vae import VAEConfig, load_vae
from deepface_gen.training.vae import attach, train_vae


def tiny_config(steps: int, size: int = 16, **train) -> Config:
    return Config(
        {
            "seed": 0,
            "data": {"source": "synthetic", "size": size},
            "model": {"widths": [8, 16], "latent": 8},
            "train": {
                "batch_size": 32,
                "steps": steps,
                "learning_rate": 3e-3,
                "warmup_steps": 5,
                "pixel_sigma": 0.1,
                "beta": 1.0,
                "kl_warmup_steps": 20,
                "moment_batches": 4,
                "log_every": 5,
                "checkpoint_every": 10,
                **train,
            },
        }
    )


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    """A 16-pixel VAE trained for a few hundred steps (about 20 s on 2 CPU cores)."""
    workdir = tmp_path_factory.mktemp("vae")
    config = tiny_config(300, eval_every=100, eval_batches=1)
    return train_vae(config, workdir, quiet=True), workdir


def test_vae_loss_falls_and_metrics_are_logged(trained_vae):
    _, workdir = trained_vae
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows[:3]] == [5, 10, 15]
    assert {"loss", "kl", "rmse", "steps_per_second"} <= set(rows[0])
    # The annealed KL makes the raw loss non-monotone; reconstruction error must fall.
    assert rows[-1]["rmse"] < 0.7 * rows[0]["rmse"]
    # The held-out curve (train.eval_every): held-out portraits redrawn better with training.
    held_out = [r for r in rows if "eval_rmse" in r]
    assert [r["step"] for r in held_out] == [100, 200, 300]
    assert all(np.isfinite(r["eval_kl"]) and r["eval_kl"] > 0 for r in held_out)
    assert held_out[-1]["eval_rmse"] < held_out[0]["eval_rmse"] < 255


def test_vae_samples_follow_their_conditioning(trained_vae):
    """A pixel classifier trained on real renders sees more blond hair when asked for it:
    the same latent codes decoded with Blond_Hair on and off (a paired comparison)."""
    bundle, _ = trained_vae
    vae = load_vae(bundle)
    real = synth.sample_portraits(jax.random.key(7), 400, size=16)
    blond = ATTRIBUTE_INDEX["Blond_Hair"]
    judge = LogisticRegression(max_iter=2000, class_weight="balanced").fit(
        np.asarray(real.images).reshape(400, -1), np.asarray(real.attributes[:, blond] > 0)
    )
    latents = jax.random.normal(jax.random.key(3), (32, vae.config.latent))
    conditions = np.tile(vae.attribute_mean, (32, 1)).astype(np.float32)
    conditions[:, ATTRIBUTE_INDEX["Black_Hair"]] = -1.0
    p_blond = {}
    for value in (1.0, -1.0):
        conditions[:, blond] = value
        faces = np.asarray(vae.decode(latents, conditions)) / 255.0
        p_blond[value] = judge.predict_proba(faces.reshape(32, -1))[:, 1]
    assert np.mean(p_blond[1.0] > p_blond[-1.0]) > 0.8  # chance is 0.5
    assert p_blond[1.0].mean() - p_blond[-1.0].mean() > 0.15


def test_vae_resume_reproduces_an_uninterrupted_run(tmp_path):
    config = tiny_config(20)
    whole = train_vae(config, tmp_path / "whole", quiet=True)
    assert train_vae(config, tmp_path / "split", quiet=True, max_steps=10) is None
    with pytest.raises(DeepFaceGenError, match="--resume"):
        train_vae(config, tmp_path / "split", quiet=True)
    resumed = train_vae(config, tmp_path / "split", resume=True, quiet=True)
    a, b = load_vae(whole), load_vae(resumed)
    leaves = jax.tree_util.tree_leaves
    for x, y in zip(leaves(a.params), leaves(b.params), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_load_vae_refuses_damaged_or_missing_files(trained_vae, tmp_path, tiny_bundle):
    bundle, _ = trained_vae
    with pytest.raises(WeightsError, match="no conditional VAE"):
        load_vae(tiny_bundle)
    copy = shutil.copytree(bundle, tmp_path / "copy")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["vae"]["config"]["latent"] = 9
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match="shapes do not match"):
        load_vae(copy)
    (copy / "params.safetensors").write_bytes(b"damaged")
    with pytest.raises(WeightsError, match="checksum"):
        load_vae(copy)


def test_vae_config_checks_its_size():
    with pytest.raises(ValueError, match="divide"):
        VAEConfig(size=20, widths=(8, 16, 32))


def test_generate_with_vae_backend_and_hybrid(trained_vae, tiny_bundle, tmp_path):
    from deepface_gen.generation.generator import FaceGenerator

    bundle, _ = trained_vae
    model = shutil.copytree(tiny_bundle, tmp_path / "model")
    with pytest.raises(DeepFaceGenError, match="no conditional VAE"):
        FaceGenerator.load(model).generate("smiling", backend="vae")
    attach(bundle, model)
    assert "vae" in bundles.verify_bundle(model)
    gen = FaceGenerator.load(model)
    faces = gen.generate("smiling, male", n=3, seed=1, backend="vae")
    assert faces.shape == (3, 16, 16, 3) and faces.dtype == np.uint8
    np.testing.assert_array_equal(faces, gen.generate("smiling, male", n=3, seed=1, backend="vae"))
    assert not np.array_equal(faces[0], faces[1])  # one description, different people
    hybrid = gen.generate("smiling, male", n=3, seed=1, init="vae", steps=4)
    from_mean = gen.generate("smiling, male", n=3, seed=1, steps=4)
    assert hybrid.shape == (3, 16, 16, 3)
    # The hybrid starts from the very VAE faces of the same seed and moves from there.
    to_vae = np.abs(hybrid.astype(int) - faces).mean()
    assert 0 < to_vae < np.abs(from_mean.astype(int) - faces).mean()
    with pytest.raises(DeepFaceGenError, match="unknown backend"):
        gen.generate("smiling", backend="gan")
    with pytest.raises(DeepFaceGenError, match="unknown init"):
        gen.generate("smiling", init="noise")


def test_cli_trains_attaches_and_generates_with_the_vae(tmp_path, tiny_bundle, capsys):
    from deepface_gen import cli
    from deepface_gen.io.images import read_image

    config = tmp_path / "tiny_vae.py"
    config.write_text(f"def get_config():\n    return {tiny_config(10).to_dict()!r}\n")
    model = shutil.copytree(tiny_bundle, tmp_path / "model")
    args = ["train-vae", "--config", str(config), "--workdir", str(tmp_path / "run"), "--quiet"]
    assert cli.main([*args, "--attach", str(model), "train.steps=6"]) == 0
    assert "attached to" in capsys.readouterr().out
    out = tmp_path / "faces"
    code = cli.main(
        ["generate", "--model", str(model), "--attrs", "smiling", "--backend", "vae", "--n", "2"]
        + ["--out", str(out), "--quiet"]
    )
    assert code == 0
    assert read_image(out / "face_001.png").shape == (16, 16, 3)
    no_vae = ["generate", "--model", str(tiny_bundle), "--attrs", "smiling", "--init", "vae"]
    assert cli.main(no_vae) == 2
    assert "no conditional VAE" in capsys.readouterr().err


def test_latent_density_is_fitted_stored_and_sampled(trained_vae, tmp_path):
    from deepface_gen.data.input_pipeline import SyntheticSource
    from deepface_gen.training.vae import fit_latent_density, store_latent_density

    bundle, _ = trained_vae
    copy = tmp_path / "vae"
    shutil.copytree(bundle, copy)
    vae = load_vae(copy)
    source = SyntheticSource(size=16, batch_size=32, seed=3)
    density = fit_latent_density(vae, [source.batch(i) for i in range(4)], components=3)
    assert density.means.shape == (3, 8) and density.cholesky.shape == (3, 8, 8)
    assert density.weights.sum() == pytest.approx(1.0, abs=1e-5)
    store_latent_density(copy, density)
    stored = load_vae(copy)
    assert stored.density is not None
    np.testing.assert_allclose(stored.density.means, density.means, rtol=1e-5)
    conditions = np.zeros((5, 40), np.float32)
    key = jax.random.key(0)
    fitted = np.asarray(stored.sample(conditions, key, prior="fitted"))
    assert fitted.shape == (5, 16, 16, 3)
    gaussian = np.asarray(stored.sample(conditions, key))  # the unit Gaussian by default
    np.testing.assert_array_equal(
        gaussian, np.asarray(stored.sample(conditions, key, prior="gaussian"))
    )
    assert not np.allclose(fitted, gaussian)
    with pytest.raises(WeightsError, match="unknown latent prior 'uniform'"):
        stored.sample(conditions, key, prior="uniform")
    with pytest.raises(WeightsError, match="no fitted latent density"):
        vae.sample(conditions, key, prior="fitted")


def perceptual_config(tiny_bundle, steps: int, **train) -> Config:
    """The tiny VAE with the feature, attribute and adversarial terms read through the
    16-pixel test classifier."""
    terms = {
        "classifier": str(tiny_bundle),
        "feature_layers": ["conv1_1", "conv2_1"],
        "feature_weight": 100.0,
        "attribute_weight": 20.0,
        "adversarial_weight": 10.0,
        "adversarial_start": 3,
    }
    config = tiny_config(steps, **{**terms, **train}).to_dict()
    config["model"]["discriminator"] = [8, 8]
    return Config(config)


def test_perceptual_vae_logs_every_term_records_its_classifier_and_resumes_exactly(
    tiny_bundle, tmp_path
):
    config = perceptual_config(
        tiny_bundle, 12, checkpoint_every=6, log_every=3, prior_latents="shuffled_posterior"
    )
    whole = train_vae(config, tmp_path / "whole", quiet=True)
    rows = [
        json.loads(line) for line in (tmp_path / "whole/metrics.jsonl").read_text().splitlines()
    ]
    assert {"feature", "attribute", "fool", "discriminator", "kl", "rmse"} <= set(rows[0])
    assert all(np.isfinite(r[k]) for r in rows for k in ("feature", "attribute", "fool"))
    record = load_vae(whole).manifest["vae"]["training"]
    assert record["classifier_params"] == bundles.params_digest(bundles.verify_bundle(tiny_bundle))
    # The critic's state is checkpointed with the VAE's: a split run lands on the same weights.
    assert train_vae(config, tmp_path / "split", quiet=True, max_steps=6) is None
    resumed = train_vae(config, tmp_path / "split", resume=True, quiet=True)
    leaves = jax.tree_util.tree_leaves
    for x, y in zip(leaves(load_vae(whole).params), leaves(load_vae(resumed).params), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_a_begun_vae_run_refuses_a_classifier_that_changed_under_it(tiny_bundle, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_bundle, model)
    config = perceptual_config(model, 4, checkpoint_every=2)
    assert train_vae(config, tmp_path / "work", quiet=True, max_steps=2) is None
    reweigh(model)
    with pytest.raises(DeepFaceGenError, match="began with other weights for train.classifier"):
        train_vae(config, tmp_path / "work", resume=True, quiet=True)


def test_vae_trains_with_gs_critic_recipe_resumes_exactly_and_ships_the_average(
    tiny_bundle, tmp_path
):
    """The critic recipe G trains with (hinge loss, lazy R1, DiffAugment, a critic that
    also reads the classifier's features, a weight average) applies to the VAE too: every
    term is finite, a split run lands on the same weights (critic and average are
    checkpointed), and what ships is the average, not the last weights."""
    from deepface_gen.training.loop import defaults_of, restore_step
    from deepface_gen.training.vae import TASK

    recipe = {"gan_loss": "hinge", "r1_weight": 1.0, "r1_every": 2, "diffaugment": True,
              "critic_features": ["conv1_1"], "ema_decay": 0.9}  # fmt: skip
    config = perceptual_config(tiny_bundle, 8, checkpoint_every=4, log_every=4, **recipe)
    whole = train_vae(config, tmp_path / "whole", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "whole/metrics.jsonl").open()]
    assert all(np.isfinite(r[k]) for r in rows for k in ("fool", "discriminator", "feature"))
    assert train_vae(config, tmp_path / "split", quiet=True, max_steps=4) is None
    resumed = train_vae(config, tmp_path / "split", resume=True, quiet=True)
    leaves = jax.tree_util.tree_leaves
    for x, y in zip(leaves(load_vae(whole).params), leaves(load_vae(resumed).params), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    context = TASK.prepare(config.with_defaults(defaults_of(TASK)), tmp_path / "whole")
    state, _ = restore_step(
        tmp_path / "whole", 8, lambda c: TASK.init(c, context, jax.random.key(0))
    )
    shipped = leaves(load_vae(whole).params)
    for x, y in zip(shipped, leaves(state.ema), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not all(
        np.array_equal(x, y) for x, y in zip(shipped, leaves(state.generator.params), strict=True)
    )
    with pytest.raises(DeepFaceGenError, match="critic_features must name layers"):
        train_vae(perceptual_config(tiny_bundle, 4, critic_features=["conv9_9"]), tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_attribute_term_teaches_the_decoder_to_follow_the_classifier(tiny_bundle, tmp_path):
    """With only the attribute term beside the ELBO, faces decoded from the prior carry
    their requested labels to the frozen classifier (lower cross-entropy) far better
    than the same VAE trained without it. The classifier is the trained starter, which
    reads 64 px faces: the 16 px VAE's are resized for it."""
    from deepface_gen.models.classifier import load_classifier
    from deepface_gen.training.perceptual import masked_attribute_loss

    classifier = load_classifier("starter")
    asked = np.asarray(synth.sample_portraits(jax.random.key(11), 64, size=16).attributes)

    def disagreement(bundle) -> float:
        vae = load_vae(bundle)
        latents = jax.random.normal(jax.random.key(5), (64, vae.config.latent))
        side = classifier.input_size
        faces = jax.image.resize(vae.decode(latents, asked), (64, side, side, 3), "bilinear")
        logits = classifier.apply(faces)["attributes"]
        return float(np.mean(masked_attribute_loss(logits, asked, np.ones_like(asked))))

    plain = train_vae(tiny_config(60), tmp_path / "plain", quiet=True)
    taught = train_vae(
        perceptual_config(tiny_bundle, 60, classifier="starter", feature_weight=0.0,
                          adversarial_weight=0.0, attribute_weight=2000.0),
        tmp_path / "taught",
        quiet=True,
    )  # fmt: skip
    assert disagreement(taught) < 0.9 * disagreement(plain)


def test_perceptual_terms_are_checked_before_any_work(tiny_bundle, tmp_path):
    with pytest.raises(DeepFaceGenError, match="feature_layers"):
        train_vae(perceptual_config(tiny_bundle, 4, feature_layers=["conv9_9"]), tmp_path / "a")
    with pytest.raises(DeepFaceGenError, match="attribute_weight"):
        train_vae(perceptual_config(tiny_bundle, 4, attribute_weight=-1.0), tmp_path / "b")
    with pytest.raises(DeepFaceGenError, match="prior_latents"):
        train_vae(perceptual_config(tiny_bundle, 4, prior_latents="uniform"), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_default_prior_is_the_bundles_measured_choice(trained_vae, tmp_path):
    from deepface_gen.data.input_pipeline import SyntheticSource
    from deepface_gen.training.vae import fit_latent_density, store_latent_density

    bundle, _ = trained_vae
    copy = shutil.copytree(bundle, tmp_path / "copy")
    vae = load_vae(copy)
    assert vae.default_prior == "gaussian"  # no density, no choice: the unit Gaussian
    source = SyntheticSource(size=16, batch_size=32, seed=3)
    density = fit_latent_density(vae, [source.batch(i) for i in range(4)], 2)
    conditions = np.tile(vae.attribute_mean, (4, 1)).astype(np.float32)
    key = jax.random.key(8)
    for chosen in ("fitted", "gaussian"):
        store_latent_density(copy, density, default_prior=chosen)
        vae = load_vae(copy)
        assert vae.default_prior == chosen
        np.testing.assert_array_equal(
            vae.sample(conditions, key), vae.sample(conditions, key, prior=chosen)
        )
    with pytest.raises(DeepFaceGenError, match="default_prior"):
        store_latent_density(copy, density, default_prior="uniform")
    assert load_vae(copy).default_prior == "gaussian"  # the refused call changed nothing
