"""CelebA attributes on VGG-Face features (fc7), fine-tuned from conv5 as DeepFace did.

    deepface-gen weights import rcmalli_vggface_tf_vgg16.h5
    deepface-gen train --config configs/celeba_vggface.py --workdir runs/vggface \
        data.source=celeba:/path/to/celeba      # or data.source=tfds

Sized for a GPU; on a CPU lower data.size (e.g. 128) and train.steps.
"""


def get_config() -> dict:
    return {
        "seed": 0,
        "data": {"source": "tfds", "size": 224},
        "model": {
            "backbone": "vggface",
            "width": 0,
            "depth": 0,
            "feature_layer": "fc7",
            "pool": "avg",
            "hidden": 512,
            "num_identities": 0,
            "dropout": 0.3,
            "dtype": "bfloat16",
            "init": "vggface",
        },
        "train": {
            "batch_size": 64,
            "steps": 20000,
            "learning_rate": 1e-4,
            "warmup_steps": 500,
            "weight_decay": 5e-4,
            "freeze": "conv5",
            "augment_shift": 8,
            "balance_batches": 20,
            "log_every": 50,
            "checkpoint_every": 1000,
        },
    }
