import pytest

from deepface_gen.config import Config, apply_overrides, load_config
from deepface_gen.errors import DeepFaceGenError


def test_overrides_typed_and_nested():
    cfg = Config({"seed": 0, "train": {"steps": 10, "lr": 0.1, "freeze": "none"}})
    out = apply_overrides(cfg, ["train.steps=25", "train.lr=3e-4", "train.freeze=conv5", "seed=7"])
    assert out.train.steps == 25 and out.train.lr == 3e-4 and out.train.freeze == "conv5"
    assert out.seed == 7 and cfg.train.steps == 10  # the original is untouched


def test_unknown_keys_refused():
    cfg = Config({"train": {"steps": 10}})
    with pytest.raises(DeepFaceGenError, match="unknown config key 'train.stpes'.*steps"):
        apply_overrides(cfg, ["train.stpes=3"])
    with pytest.raises(DeepFaceGenError, match="unknown config section"):
        apply_overrides(cfg, ["model.width=3"])
    with pytest.raises(DeepFaceGenError, match="key=value"):
        apply_overrides(cfg, ["train.steps"])


def test_shipped_configs_load():
    for name in ("starter", "celeba_vgg16", "celeba_vggface"):
        cfg = load_config(f"configs/{name}.py")
        assert {"data", "model", "train", "seed"} <= set(cfg)
    with pytest.raises(DeepFaceGenError, match="no such config"):
        load_config("configs/missing.py")
