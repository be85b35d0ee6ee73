"""The identity embedding: verification measures, CosFace training, FaceVis, embedding
inversion, the `identity` command, and the shipped model's held-out quality."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepface_gen import cli, inversion
from deepface_gen.analysis import identity as analysis
from deepface_gen.analysis.verification import closest_person, pair_scores, verification
from deepface_gen.config import load_config
from deepface_gen.data import synth
from deepface_gen.data.input_pipeline import SyntheticSource
from deepface_gen.errors import DeepFaceGenError, WeightsError
from deepface_gen.generation.identity import face_vis, invert_embeddings
from deepface_gen.io.images import read_image, write_image
from deepface_gen.models.classifier import load_classifier
from deepface_gen.models.identity import load_identity_model
from deepface_gen.training.identity import cosface_loss, train_identity

FAST = inversion.RenderSettings(steps=12, polish_steps=4, chunk=4)


@pytest.fixture(scope="session")
def tiny_identity(tmp_path_factory):
    """A 16-pixel identity embedding trained a few steps on 6 synthetic people."""
    workdir = tmp_path_factory.mktemp("identity")
    config = load_config(
        "configs/identity.py",
        [
            "data.source=synthetic:6", "data.size=16", "model.width=4", "model.depth=2",
            "model.feature_layer=pool2", "model.hidden=16", "model.dim=8", "model.init=None",
            "train.steps=6", "train.batch_size=16", "train.warmup_steps=1",
            "train.log_every=2", "train.checkpoint_every=3",
        ],
    )  # fmt: skip
    return train_identity(config, workdir, quiet=True)


# --- verification -------------------------------------------------------------------


def test_verification_of_separated_people_is_perfect_and_of_noise_is_chance():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(50), 4)
    centres = rng.normal(size=(50, 16))
    good = verification(centres[ids] + 0.05 * rng.normal(size=(200, 16)), ids, far=1e-3)
    assert good["roc_auc"] == pytest.approx(1.0)
    assert good["tar_at_far"] == pytest.approx(1.0)
    assert good["same_pairs"] == 50 * 6 and good["different_pairs"] == 200 * 199 // 2 - 300
    noise = verification(rng.normal(size=(200, 16)), ids, far=1e-2)
    assert 0.4 < noise["roc_auc"] < 0.6
    assert noise["tar_at_far"] < 0.1


def test_tar_at_far_is_the_accept_rate_at_the_threshold_it_reports():
    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(40), 5)
    e = rng.normal(size=(40, 8))[ids] + 0.9 * rng.normal(size=(200, 8))
    result = verification(e, ids, far=1e-2)
    scores, same = pair_scores(e, ids)
    accepted = scores >= result["threshold"]
    assert np.mean(accepted[~same]) <= 1e-2
    assert np.mean(accepted[same]) == pytest.approx(result["tar_at_far"])


def test_verification_refuses_data_without_both_kinds_of_pair():
    with pytest.raises(DeepFaceGenError, match="same- and different-person pairs"):
        verification(np.eye(4), np.arange(4))
    with pytest.raises(DeepFaceGenError, match="cannot measure a false-accept rate"):
        verification(np.eye(6), np.array([0, 0, 1, 1, 2, 2]), far=1e-3)


def test_closest_person_uses_mean_gallery_embeddings():
    gallery = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    nearest, cosines = closest_person(
        np.array([[0.2, 1.0], [1.0, 0.0]]), gallery, np.array([3, 3, 7, 7])
    )
    assert nearest.tolist() == [7, 3]
    assert cosines.shape == (2, 2)


# --- training -----------------------------------------------------------------------


def test_cosface_margin_raises_the_loss_and_unknown_people_do_not_count():
    logits = jnp.array([[5.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    labels = jnp.array([0, 1])
    plain = float(cosface_loss(logits, labels, scale=10.0, margin=0.0))
    margin = float(cosface_loss(logits, labels, scale=10.0, margin=0.3))
    assert margin > plain
    alone = float(cosface_loss(logits[:1], labels[:1], 10.0, 0.3))
    assert float(cosface_loss(logits, jnp.array([0, -1]), 10.0, 0.3)) == pytest.approx(alone)


def test_photos_of_a_person_keep_their_face_and_lasting_attributes():
    people_key = jax.random.key(5)
    batch = synth.sample_scene(jax.random.key(1), 32, 4, people_key)
    person = int(batch.person_ids[0])
    again = synth.scene_of_people(jax.random.key(9), jnp.array([person, person]), 4, people_key)
    for field in ("face_width", "eye_spacing", "skin_tone"):
        a = getattr(batch.identity, field)[0]
        assert np.allclose(getattr(again.identity, field), a)
    lasting = [
        i for i, n in enumerate(synth.CELEBA_ATTRIBUTES) if n not in synth.TRANSIENT_ATTRIBUTES
    ]
    assert np.array_equal(
        again.attributes[:, lasting], np.repeat(batch.attributes[:1, lasting], 2, 0)
    )
    assert not np.allclose(again.nuisance.shift[0], again.nuisance.shift[1])  # new photos


def test_portraits_of_refuses_people_outside_the_pool():
    source = SyntheticSource(16, 4, 0, "train", num_people=3)
    assert source.portraits_of(np.array([0, 2])).shape == (2, 16, 16, 3)
    with pytest.raises(DeepFaceGenError, match="numbered 0 to 2"):
        source.portraits_of(np.array([3]))


def test_trained_bundle_loads_with_its_people_and_is_not_a_classifier(tiny_identity):
    model = load_identity_model(tiny_identity)
    assert model.num_identities == 6 and model.input_size == 16
    assert model.people == {"source": "synthetic:6", "seed": 0, "size": 16}
    e = model.embed(np.zeros((3, 16, 16, 3), np.uint8))
    assert e.shape == (3, 8)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    with pytest.raises(WeightsError, match="not a classifier"):
        load_classifier(tiny_identity)
    with pytest.raises(WeightsError, match="not an identity embedding"):
        load_identity_model("starter")


def test_identity_training_refuses_a_source_without_people(tmp_path):
    config = load_config("configs/identity.py", ["data.source=synthetic"])
    with pytest.raises(DeepFaceGenError, match="synthetic:2000"):
        train_identity(config, tmp_path, quiet=True)
    config = load_config("configs/identity.py", ["model.width=8"])
    with pytest.raises(DeepFaceGenError, match="has backbone compact-w16-d4"):
        train_identity(config, tmp_path / "b", quiet=True)


# --- objectives and the momentum optimizer -------------------------------------------


def test_identity_objectives_compute_what_they_say():
    logits = jnp.array([[2.0, 0.0, -1.0]])
    value = inversion.identity_softmax(jnp.array([0]), 3)({"identity": logits})
    assert float(value[0]) == pytest.approx(-float(jax.nn.log_softmax(logits)[0, 0]))
    e = jnp.array([[0.6, 0.8]])
    assert float(inversion.embedding_match(e * 3.0)({"embedding": e})[0]) == pytest.approx(0.0)
    assert float(inversion.embedding_match(-e)({"embedding": e})[0]) == pytest.approx(2.0)


def test_momentum_optimizer_moves_by_rate_whatever_the_objective_scale(tiny_identity):
    model = load_identity_model(tiny_identity)
    settings = inversion.RenderSettings(
        steps=2, polish_steps=0, chunk=2, optimizer="momentum", learning_rate=0.5,
        jitter=0, alpha_weight=0.0, tv_weight=0.0, pyramid_levels=1,
    )  # fmt: skip
    start = jnp.broadcast_to(jnp.asarray(model.mean_image), (1, 16, 16, 3))
    objective = inversion.identity_softmax(jnp.array([1]), 6)
    key = jax.random.key(0)
    a, _ = inversion.render(model, objective, start, key, settings)
    b, _ = inversion.render(model, objective * 100.0, start, key, settings)
    # (Two steps: over more, ReLU kinks amplify float rounding in a random tiny net.)
    assert np.allclose(a, b, atol=1e-2)
    assert np.abs(a - np.asarray(start)).max() > 1.0


# --- FaceVis and embedding inversion -------------------------------------------------


def test_face_vis_raises_the_persons_probability_over_the_mean_face(tiny_identity):
    model = load_identity_model(tiny_identity)
    settings = inversion.RenderSettings(steps=40, polish_steps=0, chunk=20, optimizer="momentum",
                                        learning_rate=1.0)  # fmt: skip
    images = face_vis(model, [2, 4], seed=0, settings=settings)
    assert images.shape == (2, 16, 16, 3) and images.dtype == np.uint8
    after = analysis.person_probabilities(model, images)
    before = analysis.person_probabilities(model, model.mean_image[None])[0]
    assert after[0, 2] > before[2] and after[1, 4] > before[4]
    with pytest.raises(DeepFaceGenError, match="0 to 5"):
        face_vis(model, [6])


def test_view_people_puts_face_vis_beside_real_portraits(tiny_identity):
    model = load_identity_model(tiny_identity)
    views = analysis.view_people(model, [1, 3], photos=2, settings=FAST)
    assert [v.person for v in views] == [1, 3]
    assert views[0].portraits.shape == (2, 16, 16, 3)
    assert 1 <= views[0].rank <= 6 and 0.0 <= views[0].probability <= 1.0
    sheet = analysis.people_sheet(views)
    assert sheet.shape[1] > 3 * 16 and sheet.shape[0] > 2 * 16


def test_embedding_inversion_moves_towards_the_photos_embedding(tiny_identity):
    model = load_identity_model(tiny_identity)
    photos = SyntheticSource(16, 2, 3, "test", num_people=2).batch(0).images
    seen = analysis.see_photos(model, list(photos), settings=FAST)
    start = model.embed(model.mean_image[None])[0]
    before = model.embed(photos) @ start
    assert seen.seen.shape == (2, 16, 16, 3)
    assert np.all(seen.cosine > before)
    # Any size of photo is centre-cropped and resized, as every command does.
    big = np.repeat(np.repeat(photos[0], 3, 0), 3, 1)
    assert invert_embeddings(model, [big], settings=FAST).shape == (1, 16, 16, 3)


# --- the command line ----------------------------------------------------------------


def test_identity_command_writes_a_sheet_and_json(tiny_identity, tmp_path):
    out, numbers = tmp_path / "person.png", tmp_path / "person.json"
    code = cli.main([
        "identity", "--person", "0", "5", "--model", str(tiny_identity), "--out", str(out),
        "--json", str(numbers), "--steps", "8", "--portraits", "3", "--quiet", "--zoom", "1",
        "--prior", "pixels",
    ])  # fmt: skip
    assert code == 0
    sheet = read_image(out)
    assert sheet.shape[0] > 2 * 16 and sheet.shape[1] > 4 * 16
    summary = json.loads(numbers.read_text())
    assert [p["person"] for p in summary["people"]] == [0, 5]
    assert all(0.0 <= p["probability"] <= 1.0 for p in summary["people"])


def test_identity_command_renders_what_a_photo_keeps(tiny_identity, tmp_path):
    photo = tmp_path / "photo.png"
    write_image(photo, SyntheticSource(40, 1, 0, "test", num_people=1).batch(0).images[0])
    out, numbers = tmp_path / "seen.png", tmp_path / "seen.json"
    code = cli.main([
        "identity", str(photo), "--model", str(tiny_identity), "--out", str(out),
        "--json", str(numbers), "--steps", "8", "--quiet", "--prior", "pixels",
    ])  # fmt: skip
    assert code == 0 and out.exists()
    assert -1.0 <= json.loads(numbers.read_text())["photos"][0]["cosine_seen_to_photo"] <= 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.png"], "give --person K"),
        (["photo.png", "--person", "1", "--out", "x.png"], "not both"),
        (["--person", "9", "--out", "x.png"], "0 to 5"),
        (["--person", "1", "--out", "x.txt"], "--out"),
        (["--person", *["1"] * 1025, "--out", "x.png"], "at most"),
        (["missing.png", "--out", "x.png"], "missing.png"),
        (["--person", "1", "--out", "x.png", "--prior", "starter"], "draws 64 px faces"),
    ],
)
def test_identity_command_refuses_bad_requests(
    tiny_identity, tmp_path, monkeypatch, capsys, args, message
):
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "photo.png", np.zeros((20, 20, 3), np.uint8))
    prior = [] if "--prior" in args else ["--prior", "pixels"]
    assert cli.main(["identity", *args, "--model", str(tiny_identity), "--quiet", *prior]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_identity_command_refuses_a_classifier_bundle(tmp_path, capsys):
    assert (
        cli.main(
            ["identity", "--person", "1", "--model", "starter", "--out", str(tmp_path / "x.png")]
        )
        == 2
    )
    assert "not an identity embedding" in capsys.readouterr().err


# --- the shipped model ---------------------------------------------------------------


def test_shipped_identity_model_verifies_held_out_people():
    model = load_identity_model()
    result = analysis.verify_held_out(model, people=60, photos=6, seed=1)
    assert result["roc_auc"] >= 0.98, result
    assert result["mean_cosine_same"] > result["mean_cosine_different"] + 0.3


def test_shipped_face_vis_is_classified_as_its_person():
    model = load_identity_model()
    views = analysis.view_people(model, [3, 1234], photos=0)
    for view in views:
        assert view.rank == 1, (view.person, view.rank, view.probability)
        assert view.probability > 100 * view.mean_face_probability


def test_shipped_embedding_inversion_keeps_the_person():
    from dataclasses import replace

    from deepface_gen.generation.identity import FACEVIS_CODE_SETTINGS, image_prior

    model = load_identity_model()
    settings = replace(FACEVIS_CODE_SETTINGS, steps=60)
    summary, seen = analysis.identify_seen(
        model, people=4, gallery_photos=2, seed=3, settings=settings, prior=image_prior(model)
    )
    assert summary["seen_identified"] >= 0.75, summary
    assert summary["seen_cosine_to_own_person"] > summary["seen_cosine_to_other_people"] + 0.3
    assert seen.seen.shape == (4, 64, 64, 3)
