"""The shipped identity embedding: a compact VGG (the starter's backbone to start from)
trained with CosFace over 2,000 synthetic people.

    deepface-gen train-identity --config configs/identity.py --workdir runs/identity

The exported ``runs/identity/model`` is what ships as ``deepface_gen/assets/identity``.
Held-out verification: ``python experiments/bench_identity.py``.
"""


def get_config() -> dict:
    return {
        "seed": 0,
        # A fixed pool of 2,000 people on the training split; held-out people come
        # from the test split's own pool, so none is seen in training.
        "data": {"source": "synthetic:2000", "size": 64},
        "model": {
            "width": 16,
            "depth": 4,
            "feature_layer": "pool4",
            "pool": "flatten",
            "hidden": 256,
            "dim": 128,
            "scale": 30.0,
            "init": "starter",
        },
        "train": {
            "batch_size": 128,
            "steps": 1200,
            "learning_rate": 2e-3,
            "warmup_steps": 100,
            "weight_decay": 1e-4,
            "freeze": "none",
            "margin": 0.35,
            "augment_shift": 3,
            "log_every": 25,
            "checkpoint_every": 200,
        },
    }
