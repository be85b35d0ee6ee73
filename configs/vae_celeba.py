"""A conditional VAE on CelebA (aligned faces, centre-cropped to 64x64).

    deepface-gen train-vae --config configs/vae_celeba.py --workdir runs/vae_celeba \
        data.source=celeba:/path/to/celeba      # or the default, tensorflow-datasets

The starter recipe (configs/vae_starter.py), wider and longer, sized for a GPU
(about an hour on one). The feature and attribute terms read the CelebA classifier
(``train.classifier``; its 224 px input gets the 64 px faces resized). Attach it to a
CelebA classifier bundle with
``--attach`` to use it from ``generate --backend vae`` with that model.
"""

import runpy
from pathlib import Path


def get_config() -> dict:
    config = runpy.run_path(str(Path(__file__).with_name("vae_starter.py")))["get_config"]()
    config["data"]["source"] = "tfds"
    config["model"].update(widths=[64, 128, 256, 256], latent=128)
    config["train"].update(
        classifier="runs/vgg16/model",
        batch_size=128,
        steps=30000,
        learning_rate=5e-4,
        warmup_steps=500,
        kl_warmup_steps=2000,
        moment_batches=200,
        log_every=50,
        checkpoint_every=1000,
    )
    return config
