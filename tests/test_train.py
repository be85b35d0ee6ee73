import json

import jax
import numpy as np
import pytest

from deepface_gen import cli
from deepface_gen.analysis.evaluate import AttributeReport, confusion, evaluate
from deepface_gen.config import Config, load_config
from deepface_gen.data.input_pipeline import SyntheticSource
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.models.classifier import load_classifier
from deepface_gen.training.classifier import freeze_labels, train_and_evaluate
from deepface_gen.training.loop import learning_rate_schedule


def tiny_config(**train) -> Config:
    cfg = load_config("configs/starter.py")
    cfg.data.size = 16
    cfg.model.update(width=4, depth=2, feature_layer="pool2", hidden=16)
    cfg.train.update(
        batch_size=8,
        steps=6,
        warmup_steps=1,
        log_every=1,
        checkpoint_every=2,
        balance_batches=1,
        augment_shift=1,
        learning_rate=3e-3,
    )
    cfg.train.update(train)
    return cfg


def _params(bundle):
    return jax.tree_util.tree_leaves(load_classifier(bundle).params)


def test_loss_decreases(tmp_path):
    cfg = tiny_config(steps=40, checkpoint_every=40, learning_rate=1e-2)
    train_and_evaluate(cfg, tmp_path, quiet=True)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "metrics.jsonl").open()]
    assert len(losses) == 40
    assert np.mean(losses[-8:]) < np.mean(losses[:8]) - 0.02


def test_resume_reproduces_uninterrupted_run(tmp_path):
    cfg = tiny_config()
    straight = train_and_evaluate(cfg, tmp_path / "a", quiet=True)
    assert train_and_evaluate(cfg, tmp_path / "b", quiet=True, max_steps=4) is None
    assert sorted(p.name for p in (tmp_path / "b/checkpoints").iterdir())[-1] == "step_00000004"
    resumed = train_and_evaluate(cfg, tmp_path / "b", resume=True, quiet=True)
    for a, b in zip(_params(straight), _params(resumed), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    manifest = load_classifier(resumed).manifest
    assert manifest["training"]["resumed_from_step"] == 4 and manifest["training"]["steps"] == 6


def test_existing_checkpoints_need_resume_and_same_config(tmp_path):
    cfg = tiny_config(steps=2)
    train_and_evaluate(cfg, tmp_path, quiet=True)
    with pytest.raises(DeepFaceGenError, match="pass --resume"):
        train_and_evaluate(cfg, tmp_path, quiet=True)
    other = tiny_config(steps=2, learning_rate=0.5)
    with pytest.raises(DeepFaceGenError, match=r"different config \(train.learning_rate"):
        train_and_evaluate(other, tmp_path, resume=True, quiet=True)


def test_freeze_backbone_keeps_it_fixed(tmp_path):
    cfg = tiny_config(steps=3, freeze="backbone")
    bundle = train_and_evaluate(cfg, tmp_path, quiet=True)
    from deepface_gen.training.classifier import init_params, model_spec

    initial = init_params(model_spec(cfg), cfg, jax.random.fold_in(jax.random.key(cfg.seed), 0))
    trained = load_classifier(bundle).params
    np.testing.assert_array_equal(
        np.asarray(initial["backbone"]["conv1_1"]["kernel"]),
        np.asarray(trained["backbone"]["conv1_1"]["kernel"]),
    )
    assert not np.allclose(
        np.asarray(initial["attribute_head"]["kernel"]),
        np.asarray(trained["attribute_head"]["kernel"]),
    )


def test_freeze_labels_by_block():
    params = {"backbone": {"conv3_1": 0, "conv4_1": 0, "conv5_1": 0}, "attribute_head": {"k": 0}}
    labels = freeze_labels(params, "conv5")
    assert (
        labels["backbone"]["conv4_1"] == "frozen" and labels["backbone"]["conv5_1"] == "trainable"
    )
    assert labels["attribute_head"]["k"] == "trainable"


def test_evaluation_stable_and_consistent(tmp_path):
    bundle = train_and_evaluate(tiny_config(steps=2), tmp_path, quiet=True)
    clf = load_classifier(bundle)
    src = SyntheticSource(size=16, batch_size=8, seed=9, split="test")
    r1, r2 = evaluate(clf, src, 13), evaluate(clf, src, 13)
    assert r1.to_json() == r2.to_json()
    totals = r1.true_pos + r1.false_neg + r1.true_neg + r1.false_pos
    assert (totals == 13).all()  # exactly n, although 13 is not a whole number of batches
    assert "Attractive" not in r1.evaluated  # the renderer does not draw it


def test_confusion_and_balanced_accuracy_by_hand():
    probs = np.array([[0.9], [0.2], [0.1], [0.4]])
    labels = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    tp, fn, tn, fp = confusion(probs, labels, np.ones_like(labels, bool))
    assert (tp, fn, tn, fp) == (1, 1, 2, 0)
    report = AttributeReport(("Smiling",), tp, fn, tn, fp, ("Smiling",))
    # positives: 1 of 2 found (0.5); negatives: 2 of 2 (1.0); plain accuracy 3 of 4
    np.testing.assert_allclose(report.balanced_accuracy, [0.75])
    np.testing.assert_allclose(report.accuracy, [0.75])
    skewed = AttributeReport(("Smiling",), tp, fn + 8, tn, fp, ("Smiling",))
    assert skewed.balanced_accuracy[0] == pytest.approx((1 / 10 + 1.0) / 2)
    assert skewed.accuracy[0] == pytest.approx(3 / 12)  # balanced accuracy differs


def test_cli_train_and_evaluate(tmp_path, capsys):
    work = tmp_path / "w"
    args = [
        "train",
        "--config",
        "configs/starter.py",
        "--workdir",
        str(work),
        "--quiet",
        "data.size=16",
        "model.width=4",
        "model.depth=2",
        "model.feature_layer=pool2",
        "model.hidden=8",
        "train.steps=2",
        "train.batch_size=4",
        "train.balance_batches=1",
    ]
    assert cli.main(args) == 0
    assert "trained model written" in capsys.readouterr().out
    manifest = json.loads((work / "model" / "manifest.json").read_text())
    assert manifest["face_layout"]["name"] == "synthetic portraits"  # photos align to it
    assert (
        cli.main(
            [
                "evaluate",
                "--model",
                str(work / "model"),
                "--n",
                "8",
                "--quiet",
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "mean" in out and json.loads((tmp_path / "r.json").read_text())["evaluated"]
    assert (
        cli.main(
            ["train", "--config", "configs/starter.py", "--workdir", str(work), "train.stpes=3"]
        )
        == 2
    )
    assert "unknown config key" in capsys.readouterr().err


def test_cli_max_steps_prints_a_continuation_that_runs_as_printed(tmp_path, capsys):
    import shlex

    work = tmp_path / "run"
    overrides = ["data.size=16", "model.width=4", "model.depth=2", "model.feature_layer=pool2",
                 "model.hidden=8", "train.steps=4", "train.batch_size=4",
                 "train.balance_batches=1", "train.checkpoint_every=2"]  # fmt: skip
    first = ["train", "--config", "configs/starter.py", "--workdir", str(work), "--quiet",
             "--max-steps", "2", *overrides]  # fmt: skip
    assert cli.main(first) == 0
    printed = capsys.readouterr().out.split("continue with: ")[1].strip()
    argv = shlex.split(printed)
    assert argv[0] == "deepface-gen" and "train.steps=4" in argv
    assert cli.main([*argv[1:], "--quiet"]) == 0
    assert "trained model written" in capsys.readouterr().out


def test_fine_tuning_from_a_keras_file_freezes_below_conv5(tmp_path):
    from test_weights import write_keras_h5

    from deepface_gen.models.vgg import compact_config
    from deepface_gen.models.vgg import init_params as vgg_init

    cfg = tiny_config(steps=3, freeze="conv5", learning_rate=5e-2)
    cfg.data.size = 32
    cfg.model.update(width=4, depth=5, feature_layer="pool5", hidden=8)
    published = jax.tree_util.tree_map(
        np.asarray, vgg_init(compact_config(4, 5, 32), jax.random.key(7))
    )
    cfg.model.init = str(write_keras_h5(tmp_path / "tiny_vgg.h5", published))
    bundle = train_and_evaluate(cfg, tmp_path / "run", quiet=True)
    trained = load_classifier(bundle).params["backbone"]
    for layer in ("conv1_1", "conv2_1", "conv3_1", "conv3_2", "conv4_1", "conv4_2"):
        np.testing.assert_array_equal(trained[layer]["kernel"], published[layer]["kernel"])
    for layer in ("conv5_1", "conv5_2"):  # loaded, then trained
        assert not np.array_equal(trained[layer]["kernel"], published[layer]["kernel"])
    assert np.abs(trained["conv5_1"]["kernel"] - published["conv5_1"]["kernel"]).max() < 1.0


@pytest.mark.slow
def test_training_in_bfloat16_records_it_and_stays_finite(tmp_path):
    # Sharding over devices and processes: tests/test_hosts.py (two processes, one CPU each).
    config = tiny_config(steps=3)
    config.model.dtype = "bfloat16"
    bundle = train_and_evaluate(config, tmp_path / "run", quiet=True)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["training"]["config"]["model"]["dtype"] == "bfloat16"
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    losses = [json.loads(line)["loss"] for line in lines]
    assert len(losses) == 3 and np.isfinite(losses).all()


def test_a_batch_that_does_not_divide_over_the_devices_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(jax, "device_count", lambda: 2)
    with pytest.raises(DeepFaceGenError, match="batch size 7 must divide by 2 devices"):
        train_and_evaluate(tiny_config(batch_size=7), tmp_path, quiet=True)


def test_metrics_are_window_means_with_learning_rate_and_validation(tmp_path):
    tiny = [
        "data.size=16", "model.width=4", "model.depth=2", "model.feature_layer=pool2",
        "model.hidden=8", "train.steps=6", "train.batch_size=8", "train.warmup_steps=2",
        "train.balance_batches=1",
    ]  # fmt: skip

    def run(folder, *extra):
        config = load_config("configs/starter.py", [*tiny, *extra])
        train_and_evaluate(config, tmp_path / folder, quiet=True)
        lines = (tmp_path / folder / "metrics.jsonl").read_text().splitlines()
        return config, [json.loads(line) for line in lines]

    _, every_step = run("a", "train.log_every=1")
    config, rows = run("b", "train.log_every=3", "train.eval_every=6", "train.eval_batches=2")
    assert [r["step"] for r in rows] == [3, 6]
    first_three = np.mean([r["loss"] for r in every_step[:3]])
    assert rows[0]["loss"] == pytest.approx(first_three, rel=1e-5)
    schedule = learning_rate_schedule(config)
    assert rows[0]["learning_rate"] == pytest.approx(float(schedule(2)))
    assert "eval_loss" not in rows[0]
    assert rows[1]["eval_loss"] > 0 and 0.0 <= rows[1]["eval_accuracy"] <= 1.0
    assert 0.0 <= rows[1]["accuracy"] <= 1.0


def test_checkpoints_are_orbax_step_folders_and_unfinished_ones_are_ignored(tmp_path):
    from deepface_gen.training.loop import CHECKPOINT_DIR

    cfg = tiny_config(steps=4, checkpoint_every=1)
    assert train_and_evaluate(cfg, tmp_path, quiet=True, max_steps=3) is None
    folder = tmp_path / CHECKPOINT_DIR
    # keep-2: the newest two steps, each with its state and the config it was trained with
    assert sorted(p.name for p in folder.iterdir()) == ["step_00000002", "step_00000003"]
    saved = json.loads((folder / "step_00000003/config/metadata").read_text())
    assert saved["train"]["steps"] == 4 and (folder / "step_00000003/state").is_dir()
    # A write cut short leaves Orbax's temporary folder, never a finished-looking one.
    (folder / "step_00000004.orbax-checkpoint-tmp-1234567").mkdir()
    resumed = train_and_evaluate(cfg, tmp_path, resume=True, quiet=True)
    assert load_classifier(resumed).manifest["training"]["resumed_from_step"] == 3
    # Checkpoints of the single-file format that came before are refused by name.
    old = tmp_path / "old"
    (old / CHECKPOINT_DIR).mkdir(parents=True)
    (old / CHECKPOINT_DIR / "step_00000002.msgpack").write_bytes(b"\x80")
    with pytest.raises(DeepFaceGenError, match="older version"):
        train_and_evaluate(cfg, old, resume=True, quiet=True)


def test_every_trainer_runs_through_the_one_driver(tmp_path):
    """The four trainers are the shared driver bound to a task; resuming a finished run
    returns its model as exported instead of training or exporting again."""
    import functools

    from deepface_gen.training import classifier, identity, inverter, loop, vae

    for trainer in (classifier.train_and_evaluate, vae.train_vae, inverter.train_inverter,
                    identity.train_identity):  # fmt: skip
        assert isinstance(trainer, functools.partial) and trainer.func is loop.train
        assert isinstance(trainer.args[0], loop.Task)
    cfg = tiny_config(steps=2)
    bundle = train_and_evaluate(cfg, tmp_path, quiet=True)
    manifest = (bundle / "manifest.json").read_text()
    again = train_and_evaluate(cfg, tmp_path, resume=True, quiet=True)
    assert again == bundle and (bundle / "manifest.json").read_text() == manifest
    record = json.loads(manifest)["training"]
    assert {"config", "steps", "resumed_from_step", "device", "jax_version"} <= set(record)


def test_reschedule_continues_a_run_under_a_longer_cosine(tmp_path, capsys):
    work = tmp_path / "run"
    tiny = ["data.size=16", "model.width=4", "model.depth=2", "model.feature_layer=pool2",
            "model.hidden=8", "train.batch_size=4", "train.warmup_steps=1",
            "train.balance_batches=1", "train.checkpoint_every=2", "train.log_every=1"]  # fmt: skip
    base = ["train", "--config", "configs/starter.py", "--workdir", str(work), "--quiet"]
    assert cli.main([*base, *tiny, "train.steps=4"]) == 0
    longer = [*tiny, "train.steps=8"]
    assert cli.main([*base, "--resume", *longer]) == 2  # a plain resume refuses a new length
    assert "--reschedule lets train.steps differ" in capsys.readouterr().err
    assert cli.main([*base, "--reschedule", *longer]) == 2
    assert "pass --resume with it" in capsys.readouterr().err
    assert cli.main([*base, "--resume", "--reschedule", *tiny, "train.steps=3"]) == 2
    assert "not past the resumed step 4" in capsys.readouterr().err

    assert cli.main([*base, "--resume", "--reschedule", *longer]) == 0
    rows = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 9))
    old = learning_rate_schedule(load_config("configs/starter.py", [*tiny, "train.steps=4"]))
    new = learning_rate_schedule(load_config("configs/starter.py", longer))
    for row in rows:  # the first four steps on the old curve, the rest on the new one
        schedule = old if row["step"] <= 4 else new
        assert row["learning_rate"] == pytest.approx(float(schedule(row["step"] - 1)), rel=1e-5)
    record = load_classifier(work / "model").manifest["training"]
    assert record["steps"] == 8 and record["resumed_from_step"] == 4
