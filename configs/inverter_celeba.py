"""A learned inverter for a CelebA classifier (VGG16 fine-tuned, cGMM at conv3_1).

    deepface-gen train-inverter --config configs/inverter_celeba.py \
        --workdir runs/inverter_vgg16 --attach runs/vgg16/model \
        model.classifier=runs/vgg16/model data.source=celeba:/path/to/celeba

The starter recipe (configs/inverter_starter.py) for VGG16's conv3_1 (56x56x256 at
224 px: two 2x upsamplings to the image), wider and longer, sized for a GPU. Fit the
cGMM first (``deepface-gen fit``): the trainer projects part of each batch onto its
targets. ``data.size`` must be the classifier's input size.
"""

import runpy
from pathlib import Path


def get_config() -> dict:
    config = runpy.run_path(str(Path(__file__).with_name("inverter_starter.py")))["get_config"]()
    config["data"].update(source="tfds", size=224)
    config["model"].update(classifier="runs/vgg16/model", widths=[256, 128, 64])
    config["model"]["discriminator"] = [64, 128, 256, 256]
    config["train"].update(
        batch_size=64,
        steps=40000,
        learning_rate=5e-4,
        warmup_steps=1000,
        adversarial_start=2000,
        moment_batches=32,
        log_every=50,
        checkpoint_every=1000,
    )
    return config
