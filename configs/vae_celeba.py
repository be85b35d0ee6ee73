"""A conditional VAE on CelebA (aligned faces, centre-cropped to 64x64).

    deepface-gen train-vae --config configs/vae_celeba.py --workdir runs/vae_celeba \
        data.source=celeba:/path/to/celeba      # or the default, tensorflow-datasets

Sized for a GPU (about an hour on one); the 40 CelebA labels condition it.
Attach it to a CelebA classifier bundle with ``--attach`` to use it from
``generate --backend vae`` with that model.
"""


def get_config() -> dict:
    return {
        "seed": 0,
        "data": {"source": "tfds", "size": 64},
        "model": {"widths": [64, 128, 256, 256], "latent": 128},
        "train": {
            "batch_size": 128,
            "steps": 30000,
            "learning_rate": 5e-4,
            "warmup_steps": 500,
            "pixel_sigma": 0.1,
            "beta": 1.0,
            "kl_warmup_steps": 2000,
            "moment_batches": 200,
            "log_every": 50,
            "checkpoint_every": 1000,
        },
    }
