from pathlib import Path

import pytest

from deepface_gen.config import Config, apply_overrides, load_config
from deepface_gen.errors import DeepFaceGenError

ROOT = Path(__file__).resolve().parents[1]


def test_overrides_typed_and_nested():
    cfg = Config({"seed": 0, "train": {"steps": 10, "lr": 0.1, "freeze": "none"}})
    out = apply_overrides(cfg, ["train.steps=25", "train.lr=3e-4", "train.freeze=conv5", "seed=7"])
    assert out.train.steps == 25 and out.train.lr == 3e-4 and out.train.freeze == "conv5"
    assert out.seed == 7 and cfg.train.steps == 10  # the original is untouched


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.steps=abc", r"train.steps='abc': expected int .*got str"),
        ("train.steps=5.5", r"expected int .*got float"),
        ("model.width=16.0", r"model.width='16.0': expected int"),
        ("model.width=wide", r"expected int"),
        ("train.lr=fast", r"expected float"),
        ("train.shuffle=1", r"expected bool"),
        ("train", "key=value"),
        ("model=3", "is a section"),
    ],
)
def test_overrides_of_the_wrong_type_refused(override, message):
    cfg = Config({"model": {"width": 16}, "train": {"steps": 10, "lr": 0.1, "shuffle": True}})
    with pytest.raises(DeepFaceGenError, match=message):
        apply_overrides(cfg, [override])


def test_overrides_that_fit_their_type():
    cfg = Config({"m": {"init": None, "lr": 0.1, "name": "x", "sizes": (1, 2), "on": False}})
    out = apply_overrides(
        cfg, ["m.init=vgg16", "m.lr=1", "m.name=123", "m.sizes=[3, 4]", "m.on=True"]
    )
    assert out.m.init == "vgg16" and out.m.lr == 1.0 and isinstance(out.m.lr, float)
    assert out.m.name == "123" and out.m.sizes == (3, 4) and out.m.on is True


def test_unknown_keys_refused():
    cfg = Config({"train": {"steps": 10}})
    with pytest.raises(DeepFaceGenError, match="unknown config key 'train.stpes'.*steps"):
        apply_overrides(cfg, ["train.stpes=3"])
    with pytest.raises(DeepFaceGenError, match="unknown config section"):
        apply_overrides(cfg, ["model.width=3"])
    with pytest.raises(DeepFaceGenError, match="key=value"):
        apply_overrides(cfg, ["train.steps"])


def test_shipped_configs_load():
    for path in sorted(Path("configs").glob("*.py")):
        cfg = load_config(path)
        assert {"data", "model", "train", "seed"} <= set(cfg), path.name
    # The CelebA inverter renders VGG16's conv3_1 at 224 px: 56 -> 224 in two upsamplings.
    celeba = load_config("configs/inverter_celeba.py")
    assert celeba.data.size == 224 and len(celeba.model.widths) == 3
    with pytest.raises(DeepFaceGenError, match="no such config"):
        load_config("configs/missing.py")


def test_settings_a_config_leaves_out_come_from_its_trainer_and_can_be_overridden(tmp_path):
    """Every trainer declares its settings as typed dataclasses (``Task.schema``):
    load_config adds the defaults a config file leaves out, so each can be set from the
    command line, and a key the schema does not know is not silently kept."""
    from deepface_gen.training import classifier, identity, inverter, loop, settings, vae

    file = tmp_path / "small.py"
    file.write_text("def get_config():\n    return {'model': {}, 'train': {'steps': 3}}\n")
    with pytest.raises(DeepFaceGenError, match="unknown config key 'model.dtype'"):
        load_config(file, ["model.dtype=bfloat16"])
    defaults = loop.defaults_of(classifier.TASK)
    config = load_config(file, ["model.dtype=bfloat16", "train.keep_every=500"], defaults)
    assert (config.model.dtype, config.model.init) == ("bfloat16", None)
    assert (config.train.keep_every, config.train.eval_every, config.train.steps) == (500, 0, 3)
    assert (config.model.width, config.data.size) == (16, 64)  # the schema's defaults
    settings.check(config, classifier.ClassifierSettings)
    for task in (classifier.TASK, vae.TASK, inverter.TASK, identity.TASK):
        assert loop.defaults_of(task)["train"]["keep_every"] == 0
        assert settings.defaults(task.schema) == loop.defaults_of(task)
    assert load_config(file, ["train.latent_components=4"], loop.defaults_of(vae.TASK))


@pytest.mark.parametrize(
    "name, trainer",
    [("starter", "classifier"), ("independent", "classifier"), ("celeba_vgg16", "classifier"),
     ("celeba_vggface", "classifier"), ("identity", "identity"), ("vae_starter", "vae"),
     ("vae_celeba", "vae"), ("inverter_starter", "inverter"), ("inverter_celeba", "inverter")],
)  # fmt: skip
def test_every_shipped_config_passes_its_trainers_schema(name, trainer):
    """(The CelebA configs once set model.width=0, which the range check refused: the
    README's CelebA command failed before it loaded anything.)"""
    import importlib

    from deepface_gen.training import loop, settings

    task = importlib.import_module(f"deepface_gen.training.{trainer}").TASK
    config = load_config(ROOT / "configs" / f"{name}.py", [], loop.defaults_of(task))
    assert settings.resolve(config, task.schema) == config


@pytest.mark.parametrize(
    "trainer, section, key, value, message",
    [
        ("inverter", "train", "stpes", 3, "unknown setting 'train.stpes' .did you mean 'steps'"),
        ("inverter", None, "modle", {}, "unknown setting 'modle' .did you mean 'model'"),
        ("inverter", "train", "steps", 2.5, "train.steps=2.5: expected int, got float"),
        ("identity", "model", "init", 3, "model.init=3: expected str . None, got int"),
        ("inverter", "model", "widths", [8, "x"], "model.widths=.*expected list.int."),
        ("inverter", "train", "gan_loss", "wgan", "unknown train.gan_loss 'wgan'; use logistic"),
        ("inverter", "train", "r1_every", 0, "train.r1_every must be from 1"),
        ("inverter", "model", "widths", [8, 0], "model.widths must be from 1"),
        ("classifier", "model", "backbone", "resnet", "use compact, vgg16, vggface"),
        ("inverter", None, "data", 3, "'data' is a section of settings"),
    ],
)
def test_a_setting_the_schema_refuses_is_named_in_one_line(trainer, section, key, value, message):
    import importlib

    from deepface_gen.training import settings

    schema = importlib.import_module(f"deepface_gen.training.{trainer}").TASK.schema
    config = Config(settings.defaults(schema))
    settings.check(config, schema)  # the defaults themselves pass
    (config[section] if section else config)[key] = value
    with pytest.raises(DeepFaceGenError, match=message):
        settings.check(config, schema)


def test_show_settings_lists_every_setting_without_a_config(capsys):
    from deepface_gen.cli import main
    from deepface_gen.training import inverter, settings

    assert main(["train-inverter", "--show-settings"]) == 0  # no --config or --workdir
    out = capsys.readouterr().out
    for key, kind, default, allowed, _ in settings.describe(inverter.InverterSettings):
        assert f"{key} " in out and kind in out and default in out and allowed in out
    assert "train.gan_loss" in out and "logistic | hinge" in out and "list[int]" in out


def test_a_checkpoint_saved_before_a_setting_was_listed_still_resumes():
    from deepface_gen.training.loop import _config_difference

    saved = Config({"train": {"steps": 3}}).with_defaults({"train": {"weight_decay": 0.0}})
    current = Config({"train": {"steps": 3, "weight_decay": 0.0}})
    assert _config_difference(saved.to_dict(), current.to_dict()) == []
    assert _config_difference({"train": {"steps": 3}}, current.to_dict())  # without: differs
    # A setting that only observes the run (how often it logs, evaluates, keeps) may change.
    watched = {"train": {"steps": 3, "weight_decay": 0.0, "eval_every": 250, "keep_every": 500}}
    assert _config_difference(current.to_dict(), watched) == []
