"""The starter classifier: a compact VGG trained from scratch on synthetic portraits.

    deepface-gen train --config configs/starter.py --workdir runs/starter

This is the model shipped inside the package (``deepface_gen/assets/starter``).
"""


def get_config() -> dict:
    return {
        "seed": 0,
        "data": {"source": "synthetic", "size": 64},
        "model": {
            "backbone": "compact",
            "width": 16,
            "depth": 4,
            "feature_layer": "pool4",
            "pool": "flatten",
            "hidden": 256,
            "num_identities": 0,
            "dropout": 0.0,
            "dtype": "float32",
            "init": None,
        },
        "train": {
            "batch_size": 128,
            "steps": 3000,
            "learning_rate": 2e-3,
            "warmup_steps": 150,
            "weight_decay": 1e-4,
            "freeze": "none",
            "augment_shift": 3,
            "balance_batches": 8,
            "log_every": 25,
            "checkpoint_every": 250,
            # Loss and accuracy on held-out batches every N steps, logged beside the
            # training loss (0: off; the starter ran without).
            "eval_every": 0,
            "eval_batches": 4,
        },
    }
